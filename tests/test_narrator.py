import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import numpy as np
import pytest

from reasongen.methods.reasondiff.narrator import ChatNarrator, format_narration, openai_chat, oracle_narration, parse_narration
from reasongen.world.video import sample_clip


def test_a_well_formed_answer_reads_back_exactly():
    n = parse_narration(format_narration(2, ["a", "b", "c", "d", "e"]), 5)
    assert (n.anchor, n.narratives, n.problems) == (2, ["a", "b", "c", "d", "e"], [])


@pytest.mark.parametrize("answer,anchor,says", [
    ('Sure! {"anchor": 1, "narratives": ["a", "b", "c", "d", "e"]} Hope this helps.', 1, "other text"),
    ('{"anchor": "3", "narratives": ["a", "b", "c", "d", "e"]}', 3, "read as 3"),
    ('{"anchor": 9, "narratives": ["a", "b", "c", "d", "e"]}', 4, "clamped to 4"),
    ('{"anchor": "late", "narratives": ["a", "b", "c", "d", "e"]}', 0, "not a frame index"),
    ('{"anchor": 2, "narratives": ["a", "b"]}', 2, "last repeated"),
    ('{"anchor": 2, "narratives": ["a", "b", "c", "d", "e", "f", "g"]}', 2, "dropped"),
    ("I cannot tell.", 0, "no JSON object"),
])  # fmt: skip
def test_malformed_answers_are_repaired_or_fall_back_with_a_reason(answer, anchor, says):
    n = parse_narration(answer, 5, fallback_text="a circle moves")
    assert n.anchor == anchor and len(n.narratives) == 5
    assert any(says in p for p in n.problems), n.problems


def test_oracle_uses_the_clips_own_captions():
    clip = sample_clip(np.random.default_rng(0), 9, "recolour")
    n = oracle_narration(clip, 6)
    assert n.anchor == 6 and n.narratives == list(clip.frame_captions)
    with pytest.raises(ValueError, match="outside"):
        oracle_narration(clip, 9)


def test_openai_compatible_backend_sends_the_image_and_examples():
    seen = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            seen["path"] = self.path
            seen["body"] = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            answer = format_narration(1, ["x"] * 5)
            payload = json.dumps({"choices": [{"message": {"content": answer}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.handle_request, daemon=True).start()
    narrator = ChatNarrator(openai_chat(f"http://127.0.0.1:{server.server_port}/v1", "any-model"),
                            examples=[("a star grows", 5, format_narration(0, ["s"] * 5))])  # fmt: skip
    n = narrator("a circle turns red", np.zeros((64, 64, 3), np.uint8), 5)
    server.server_close()
    assert n.anchor == 1 and n.narratives == ["x"] * 5 and not n.problems
    msgs = seen["body"]["messages"]
    assert seen["path"] == "/v1/chat/completions" and len(msgs) == 3 and msgs[1]["role"] == "assistant"
    assert msgs[-1]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")


def test_world_examples_are_exact_answers_not_taken_from_the_benchmark():
    from reasongen.world.benchmarks import read_video_cases
    from reasongen.methods.reasondiff.narrator import world_examples

    examples = world_examples(3, num_frames=17)
    for text, frames, answer in examples:
        told = parse_narration(answer, frames)
        assert frames == 17 and len(told.narratives) == 17 and not told.problems and 0 <= told.anchor < 17
    assert len({answer for *_, answer in examples}) == 3 and world_examples(3, num_frames=17) == examples
    benchmark = {format_narration(c.anchor, c.clip.frame_captions) for c in read_video_cases("shapes-video-unpaired")}
    assert not benchmark & {answer for *_, answer in examples}


def test_a_local_mllm_narrates_through_its_chat_template(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent / "helpers"))
    from tiny_llava import save_tiny_llava

    from reasongen.methods.reasondiff.narrator import INSTRUCTION, transformers_chat, world_examples

    save_tiny_llava(tmp_path / "mllm", ['{"anchor":', "0", "1", '"narratives":', "[", "]", "}", *INSTRUCTION.split()])
    chat = transformers_chat(tmp_path / "mllm", max_new_tokens=8)
    narrator = ChatNarrator(chat, world_examples(1, num_frames=5))
    image = np.zeros((64, 64, 3), np.uint8)
    n = narrator("a circle turns red", image, 5)
    # a random model writes no JSON: the narration falls back, five frames long, and says why
    assert n.anchor == 0 and n.narratives == ["a circle turns red"] * 5 and any("no JSON object" in p for p in n.problems)
    answer = chat(narrator.messages("a circle turns red", 5), image)
    assert isinstance(answer, str) and answer == chat(narrator.messages("a circle turns red", 5), image)  # greedy
    with pytest.raises(ValueError, match="Qwen2.5-VL"):
        transformers_chat(tmp_path / "none")


def _serve(handler_body, requests: int = 1):
    """A one-request local server whose POST handler is `handler_body(handler)`."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            handler_body(self)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=lambda: [server.handle_request() for _ in range(requests)], daemon=True).start()
    return server


def test_chat_backend_refuses_redirects_oversized_and_malformed_answers_and_slow_servers():
    import time

    def redirect(h):
        h.send_response(302)
        h.send_header("Location", "http://example.invalid/steal")
        h.end_headers()

    def huge(h):
        h.send_response(200)
        h.end_headers()
        h.wfile.write(b"x" * 5000)

    def garbage(h):
        h.send_response(200)
        h.end_headers()
        h.wfile.write(b"<html>not json</html>")

    def slow(h):
        time.sleep(1.5)
        h.send_response(200)
        h.end_headers()

    for body, says, kw in ((redirect, "redirect to http://example.invalid/steal refused", {}),
                           (huge, "exceeds 1000 bytes", {"max_response_bytes": 1000}),
                           (garbage, "not an OpenAI chat completion", {}), (slow, "timed out", {"timeout": 0.5})):  # fmt: skip
        server = _serve(body)
        chat = openai_chat(f"http://127.0.0.1:{server.server_port}/v1", "m", **kw)
        with pytest.raises(ValueError, match=says) as e:
            chat([{"role": "user", "content": "hi"}], None)
        assert f"127.0.0.1:{server.server_port}" in str(e.value) and len(str(e.value)) < 400
        server.server_close()
    with pytest.raises(ValueError, match="http"):
        openai_chat("file:///etc/passwd", "m")
