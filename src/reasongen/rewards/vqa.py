"""T2I-R1's VQA expert at real scale: GIT (transformers' `GitForCausalLM`, e.g. a download of
microsoft/git-large-vqav2) from a local folder; safetensors only, nothing is fetched.

As the official expert does, it asks one question per object, "{phrase}?" with the phrase "a red
circle" where the prompt asks a colour and "a circle" otherwise, and scores the answer as
P(yes) / (P(yes) + P(no)) of GIT's first answer token; the image's score is the mean over objects.
Position and counting prompts score 0 from this expert, as in the official code (and as
`AttributeReward`, its ShapesWorld analogue).
"""

from __future__ import annotations

import torch

from ..backbones.local import load_local_model
from ..world.vocab import with_article


class VQAReward:
    def __init__(self, folder, device: str = "cpu"):
        from transformers import AutoProcessor, GitForCausalLM

        self.model = load_local_model(GitForCausalLM, folder, "VQA", "e.g. a download of microsoft/git-large-vqav2", device)
        self.processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
        tok = self.processor.tokenizer
        self.yes, self.no = (tok.convert_tokens_to_ids(w) for w in ("yes", "no"))
        if tok.unk_token_id in (self.yes, self.no):
            raise ValueError(f"{folder}: the tokenizer has no 'yes' / 'no' token; this is not a VQA checkpoint")
        self.device = device

    def __call__(self, images, prompts, metadata):
        if metadata is None:
            raise ValueError("the VQA reward reads each prompt's metadata (its include clauses); got none")
        return [self.score(image, meta) for image, meta in zip(images, metadata)]

    @staticmethod
    def questions(meta: dict) -> list[str]:
        clauses = meta["include"]
        if meta.get("tag") in ("position", "counting") or any("position" in c for c in clauses) or meta.get("exclude"):
            return []
        return [with_article(f"{c['color']} {c['class']}" if c.get("color") else c["class"]) + "?" for c in clauses]

    @torch.no_grad()
    def score(self, image, meta: dict) -> float:
        questions = self.questions(meta)
        if not questions:
            return 0.0
        pixels = self.processor(images=[image] * len(questions), return_tensors="pt").pixel_values.to(self.device)
        tok = self.processor.tokenizer
        ids = [[tok.cls_token_id] + tok(q, add_special_tokens=False).input_ids for q in questions]
        n = max(len(i) for i in ids)  # right-padded: each question's last real token gives its answer
        input_ids = torch.tensor([i + [tok.pad_token_id] * (n - len(i)) for i in ids], device=self.device)
        mask = torch.tensor([[1] * len(i) + [0] * (n - len(i)) for i in ids], device=self.device)
        logits = self.model(input_ids=input_ids, attention_mask=mask, pixel_values=pixels).logits
        # GIT's logits cover the image tokens, then the text: question j's last token sits at L - n + len - 1
        last = logits[torch.arange(len(ids)), torch.tensor([logits.shape[1] - n + len(i) - 1 for i in ids])]
        p = last[:, [self.yes, self.no]].softmax(-1)[:, 0]
        return float(p.mean())
