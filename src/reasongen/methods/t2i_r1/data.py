"""The Janus model's training data on ShapesWorld: prompt -> semantic CoT -> image tokens, and
image -> caption.

Each record is a prompt of the seven tags (`reason` from its in-distribution split only), the
oracle's CoT (`reasoners/oracle.py`), the target render's VQ codes, the metadata (which the rewards
read in GRPO), and for the base's pretraining the render itself, its caption (`world.describe`) and
the mask of the tokens its objects cover (for an object-weighted loss).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from ...reasoners.oracle import semantic_cot
from ...images import to_tensor
from ...locks import holds_folder, write_atomic
from ...train.data import built_already
from ...world.dataset import draw_record
from ...world.describe import describe
from ...world.render import object_mask
from ...world.vocab import ALL_TAGS


@holds_folder("data build")
def build_records(out_dir: str | Path, vq, n: int, size: int = 64, seed: int = 0, batch_size: int = 64) -> Path:
    """Write `records.json` (prompts, CoTs, captions, metadata) and `codes.safetensors` (codes N x tokens,
    the renders N x size x size x 3 and their objects' token masks N x tokens)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    info_path, codes_path = out_dir / "records.json", out_dir / "codes.safetensors"
    if built_already(info_path, codes_path, "records", n, size, seed):
        return codes_path
    metas, captions, codes, renders = [], [], [], []
    for start in tqdm(range(0, n, batch_size), desc="t2i-r1 records", unit="batch"):
        images = []
        for i in range(start, min(start + batch_size, n)):
            meta, scene = draw_record(seed, i, ALL_TAGS, "in_distribution")
            metas.append(meta)
            captions.append(describe(scene))
            images.append(scene.render(size))
        with torch.no_grad():
            out = vq.encode(to_tensor(np.stack(images)))
        codes.append(out.image_tokens.view(len(images), -1).to(torch.int32))
        renders += images
    codes, renders = torch.cat(codes).contiguous(), np.stack(renders)
    cell = size // int(round(codes.shape[1] ** 0.5))  # pixels per token along a side
    tensors = {"codes": codes, "images": torch.from_numpy(renders), "objects": torch.from_numpy(object_mask(renders, cell)).view(n, -1)}
    write_atomic(codes_path, lambda tmp: save_file(tensors, tmp))  # each file whole or absent
    info = {"n": n, "size": size, "seed": seed, "prompts": [m["prompt"] for m in metas],
            "cots": [semantic_cot(m) for m in metas], "captions": captions, "metadata": metas}  # fmt: skip
    write_atomic(info_path, json.dumps(info))  # last: with it, the records are whole
    return codes_path


class BiCoTRecords:
    def __init__(self, out_dir: str | Path):
        out_dir = Path(out_dir)
        tensors = load_file(out_dir / "codes.safetensors")
        self.codes = tensors["codes"].long()
        self.images, self.objects = tensors.get("images"), tensors.get("objects")  # absent in folders built before 2026-12-07
        self.info = json.loads((out_dir / "records.json").read_text())

    @property
    def has_pretraining_parts(self) -> bool:
        return self.images is not None and "captions" in self.info

    def __len__(self) -> int:
        return self.info["n"]

    def metadata_batches(self) -> "MetadataBatches":
        """The same records as GRPO reads them: a batch is their metadata (prompt and clauses)."""
        return MetadataBatches(self.info["metadata"])

    def batch(self, indices) -> dict:
        idx = list(indices)
        batch = {"codes": self.codes[idx], **{k: [self.info[k][i] for i in idx] for k in ("prompts", "cots", "metadata")}}
        if self.has_pretraining_parts:
            batch.update(images=self.images[idx], objects=self.objects[idx], captions=[self.info["captions"][i] for i in idx])
        return batch


class MetadataBatches:
    def __init__(self, metadata: list[dict]):
        self.metadata = metadata

    def __len__(self) -> int:
        return len(self.metadata)

    def batch(self, indices) -> list[dict]:
        return [self.metadata[i] for i in indices]
