"""`reasongen demo` under load, on 127.0.0.1: a few clients call its Gradio API at once for a fixed
time, through `gradio_client`, with the oracle (no model to load, so the figures measure the
server: its queue, the evaluator's verdict and the result panels). Every request must be answered
with a result; an oversized prompt and malformed requests must each get a message, not a crash or
a hang, and the server must still answer after them.

The figures (requests, failures, p50 and p95 latency) are printed; `pytest -s` shows them, and
`python tests/test_demo_load.py` runs the load alone and prints them. docs/reliability.md holds
the measured ones, with the machine they were measured on.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CLIENTS = 4
SECONDS = 20.0
START_TIMEOUT_S = 300  # importing torch and Gradio on a busy 2-core machine
ANSWER_TIMEOUT_S = 60  # an answer to a bad request: a message within this, or the server hangs
PROMPTS = ["a photo of a cross", "a photo of a circle and a square", "a photo of two squares", "a photo of a brown circle",
           "a photo of a square left of a hexagon", "a photo of a green triangle and a white heart"]  # shapes-geneval's first of each tag


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_demo(log: Path) -> tuple[subprocess.Popen, str]:
    """`reasongen demo` on a free local port, once its page answers: (process, url)."""
    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    url = f"http://127.0.0.1:{port}/"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-c", "from reasongen.cli import main; main()", "demo", "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, env=env)  # fmt: skip
    deadline = time.time() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the demo exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as res:
                if res.status == 200:
                    return proc, url
        except OSError:
            pass
        if time.time() > deadline:
            stop_demo(proc)
            raise RuntimeError(f"the demo did not answer on {url} in {START_TIMEOUT_S} s")
        time.sleep(1)


def stop_demo(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def client(url: str):
    from gradio_client import Client

    return Client(url, verbose=False, analytics_enabled=False, download_files=False)


def generate(c, prompt: str, seed: int = 0, method: str = "oracle"):
    """One request to the page's Generate: the outputs, the message first."""
    return c.predict(method, prompt, seed, 20, 5.0, None, api_name="/generate")


def load(url: str, clients: int = CLIENTS, seconds: float = SECONDS) -> dict:
    """`clients` threads, each with its own client, sending requests one after another for
    `seconds`: the latencies of the answered ones and what went wrong with the others."""
    latencies, failures, lock = [], [], threading.Lock()
    ready = [client(url) for _ in range(clients)]  # connected before the clock starts
    stop = time.monotonic() + seconds

    def worker(k: int):
        i = 0
        while time.monotonic() < stop:
            prompt, seed = PROMPTS[(k + i) % len(PROMPTS)], 1000 * k + i
            start = time.monotonic()
            try:
                out = generate(ready[k], prompt, seed)
                ok = isinstance(out, (list, tuple)) and str(out[0]).startswith("run ") and "oracle done in" in out[0]
                what = None if ok else f"{prompt!r}: {str(out)[:200]}"
            except Exception as e:  # noqa: BLE001  (every failure is counted and reported)
                what = f"{prompt!r}: {type(e).__name__}: {str(e)[:200]}"
            took = time.monotonic() - start
            with lock:
                (failures.append(what) if what else latencies.append(took))
            i += 1

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - began
    ordered = sorted(latencies)

    def pct(q):
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")

    return {"clients": clients, "seconds": round(wall, 1), "requests": len(latencies) + len(failures), "failures": len(failures),
            "failed": failures[:5], "p50_s": round(pct(0.50), 3), "p95_s": round(pct(0.95), 3),
            "max_s": round(ordered[-1], 3) if ordered else None, "per_s": round(len(latencies) / wall, 2)}  # fmt: skip


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    for name in ("gradio", "gradio_client"):
        pytest.importorskip(name)
    log = tmp_path_factory.mktemp("demo-load") / "server.log"
    try:
        proc, url = start_demo(log)
    except RuntimeError as e:
        pytest.fail(str(e))
    yield {"url": url, "proc": proc, "log": log}
    stop_demo(proc)


def test_four_clients_for_twenty_seconds_get_every_answer(demo, record_property):
    figures = load(demo["url"])
    print("demo load:", json.dumps(figures))
    for key in ("requests", "failures", "p50_s", "p95_s"):
        record_property(key, figures[key])
    assert figures["requests"] >= CLIENTS and figures["failures"] == 0, figures
    assert demo["proc"].poll() is None and "Traceback" not in demo["log"].read_text()


def test_an_oversized_prompt_is_answered_with_a_message(demo):
    c = client(demo["url"])
    for size in (201, 100_000, 2_000_000):  # just over the limit, far over, and 2 MB in one request
        start = time.monotonic()
        out = generate(c, "a photo of a red circle " * (size // 24) + "x" * (size % 24))
        assert time.monotonic() - start < ANSWER_TIMEOUT_S
        assert out[0] == f"error: the prompt has {size} characters; keep it to 200 (ShapesWorld prompts are short)", str(out)[:300]
    assert generate(c, "a photo of a red circle")[0].startswith("run ")  # still serving


def _post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=ANSWER_TIMEOUT_S) as res:
            return res.status, res.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def _events(url: str) -> str:
    with urllib.request.urlopen(url, timeout=ANSWER_TIMEOUT_S) as res:
        return res.read().decode(errors="replace")


@pytest.mark.parametrize("body, content_type", [
    (b"{not json", "application/json"),  # not JSON
    (b'{"data": "a photo of a red circle"}', "application/json"),  # data not a list
    (b'{"data": ["oracle"]}', "application/json"),  # five inputs missing
    (b'{"data": ["oracle", "a photo of a red circle", "zero", 20, 5.0, null]}', "application/json"),  # a seed that is no number
    (b'{"data": ["dream", "a photo of a red circle", 0, 20, 5.0, null]}', "application/json"),  # no such method
    (b'{"data": ["oracle", 12, 0, 20, 5.0, null]}', "application/json"),  # a prompt that is no text
    (b"\xff\xfe\x00garbage", "application/octet-stream"),  # not even text
], ids=["not-json", "data-not-a-list", "inputs-missing", "seed-not-a-number", "unknown-method", "prompt-not-text", "bytes"])  # fmt: skip
def test_a_malformed_request_is_answered_with_a_message(demo, body, content_type):
    """Straight HTTP to Gradio's API (`POST /gradio_api/call/generate`, then its event stream):
    refused with a 4xx and a body that says why (a body that is not UTF-8 used to get a 500 from
    FastAPI's own handler: demo/app.py's `app_kwargs`), or accepted and ended by an error event
    (Gradio's checks of the inputs: an unknown method is named; for missing inputs or a seed that is
    no number the event carries no text, as the app runs with show_error=False) or by the page's
    `error: ...` message; never a 5xx, a dropped connection or a hang."""
    api = demo["url"] + "gradio_api/call/generate"
    start = time.monotonic()
    status, text = _post(api, body, content_type)
    if status == 200:
        event_id = json.loads(text)["event_id"]
        stream = _events(f"{api}/{event_id}")
        said = [json.loads(line[len("data: "):]) for line in stream.splitlines() if line.startswith("data: ")]
        ended = stream.split("event: ")[-1].split("\n", 1)[0].strip()
        assert ended == "error" or (ended == "complete" and str(said[-1][0]).startswith("error: ")), stream[:500]
    else:
        assert 400 <= status < 500 and text.strip(), (status, text[:300])
    assert time.monotonic() - start < ANSWER_TIMEOUT_S
    assert demo["proc"].poll() is None
    assert generate(client(demo["url"]), "a photo of a red circle")[0].startswith("run ")  # still serving


if __name__ == "__main__":  # the figures alone: python tests/test_demo_load.py [clients] [seconds]
    import tempfile

    clients = int(sys.argv[1]) if len(sys.argv) > 1 else CLIENTS
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else SECONDS
    proc, url = start_demo(Path(tempfile.mkdtemp()) / "server.log")
    try:
        print(json.dumps(load(url, clients, seconds)))
    finally:
        stop_demo(proc)
