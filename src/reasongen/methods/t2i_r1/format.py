"""How T2I-R1's two stages are laid out as token sequences.

- `plain` (ShapesWorld's small models): `<s> prompt </s>` then the CoT (ended by `</s>`), and for the
  image `<s> prompt </s> [cot </s>] <begin_of_image>`. The model learns the task from the layout
  itself; a written instruction would be words outside its vocabulary.
- `janus-pro` (real checkpoints, Janus's "deepseek" chat format): the CoT is asked for with a
  reasoning instruction, `"{system}\\n\\n<|User|>: {instruction}\\n\\n<|Assistant|>:"`; the image is
  asked for with an empty system prompt and the user turn `"{prompt}. {cot}"`, then
  `<begin_of_image>` (the official T2I-R1 code's layout).

Captioning (the ShapesWorld base's understanding task) lays an image out as Janus does, its
placeholders between `<begin_of_image>` and `<end_of_image>`: `<s> <begin_of_image> <image_placeholder>
x N <end_of_image>` then the caption, ended by `</s>`.

The reasoning instruction is our own wording of what T2I-R1's asks: brief and precise, every object
(with its colour, number and shape when the prompt gives them, and their spatial relations), nothing
the prompt does not state, at most 50 words, no explanation.
"""

from __future__ import annotations

SYSTEM = "You are a helpful assistant that receives an image prompt and generate a visualization of the prompt."
INSTRUCTION = (
    'Describe the image for this prompt: "{prompt}". Be brief and precise: name every object, with its '
    "colour, number and shape if the prompt gives them, and how the objects are placed if it says so. "
    "Add nothing the prompt does not state. Do not miss an object. At most 50 words. "
    "Answer with the description only."
)
FORMATS = ("plain", "janus-pro")

# T2I-R1's GRPO settings (its grpo config): prompts up to 512 tokens, semantic CoTs up to 1024.
T2I_R1_PROMPT_TOKENS, T2I_R1_COT_TOKENS = 512, 1024
# ShapesWorld's oracle CoTs are at most 9 tokens with their </s> (3,000 records of every tag); a
# small model that rambles is cut off here rather than at 1024, which would only cost time.
SHAPES_COT_TOKENS = 64


def cot_token_limit(max_positions: int, image_tokens: int, kind: str) -> int:
    """The most CoT tokens a checkpoint samples when none is set: T2I-R1's 1024 on a real Janus-Pro
    (`janus-pro` layout), as far as the context leaves room after a 512-token prompt and the image;
    64 on ShapesWorld's small models (`plain`)."""
    if kind == "plain":
        return SHAPES_COT_TOKENS
    room = max_positions - T2I_R1_PROMPT_TOKENS - image_tokens - 1  # the 1: <begin_of_image>
    if room < 1:
        raise ValueError(f"a context of {max_positions} positions leaves no room for a CoT after a {T2I_R1_PROMPT_TOKENS}-token "
                         f"prompt and {image_tokens} image tokens; set max_cot_tokens")  # fmt: skip
    return min(T2I_R1_COT_TOKENS, room)


class SequenceFormat:
    def __init__(self, tokenizer, kind: str = "plain", boi_token: str = "<begin_of_image>"):
        if kind not in FORMATS:
            raise ValueError(f"unknown sequence format {kind!r}; choose from {', '.join(FORMATS)}")
        self.tokenizer, self.kind = tokenizer, kind
        self.boi = tokenizer.convert_tokens_to_ids(boi_token)
        self.eos = tokenizer.eos_token_id

    def _ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False).input_ids

    def _chat(self, system: str, user: str) -> list[int]:
        text = (f"{system}\n\n" if system else "") + f"<|User|>: {user}\n\n<|Assistant|>:"
        return [self.tokenizer.bos_token_id] + self._ids(text)

    def cot_prefix(self, prompt: str) -> list[int]:
        """What the CoT is sampled after."""
        if self.kind == "plain":
            return [self.tokenizer.bos_token_id] + self._ids(prompt) + [self.eos]
        return self._chat(SYSTEM, INSTRUCTION.format(prompt=prompt))

    def caption_prefix(self, num_image_tokens: int) -> list[int]:
        """What a caption is written after: the image's placeholders (the ShapesWorld layout)."""
        if self.kind != "plain":
            raise ValueError("captioning is the ShapesWorld base's pretraining task (format plain); real Janus-Pro comes pretrained")
        image = [self.boi] + [self.tokenizer.convert_tokens_to_ids("<image_placeholder>")] * num_image_tokens
        return [self.tokenizer.bos_token_id] + image + [self.tokenizer.convert_tokens_to_ids("<end_of_image>")]

    def cot_ids(self, cot: str) -> list[int]:
        """A CoT as the tokens the model writes (ended by end-of-text)."""
        return self._ids(" " + cot if self.kind == "janus-pro" else cot) + [self.eos]

    def cot_text(self, ids: list[int]) -> str:
        return self.tokenizer.decode([t for t in ids if t != self.eos], skip_special_tokens=True).strip()

    def image_prefix_after(self, prompt: str, cot_ids: list[int]) -> list[int]:
        """The image prefix for a CoT the model wrote (its ids, ended by end-of-text or not)."""
        if self.kind == "plain":  # the CoT stays in context exactly as written
            ids = cot_ids if cot_ids and cot_ids[-1] == self.eos else cot_ids + [self.eos]
            return self.cot_prefix(prompt) + ids + [self.boi]
        return self.image_prefix(prompt, self.cot_text(cot_ids))

    def image_prefix(self, prompt: str, cot: str | None) -> list[int]:
        """What the image tokens are sampled after (ends with <begin_of_image>); `cot` None: direct."""
        if self.kind == "plain":
            ids = [self.tokenizer.bos_token_id] + self._ids(prompt) + [self.eos]
            if cot is not None:
                ids += self.cot_ids(cot)
            return ids + [self.boi]
        user = prompt if cot is None else f"{prompt}. {cot}"
        return self._chat("", user) + [self.boi]
