"""Training checkpoints: safetensors for every tensor, JSON for the rest, written atomically.

A checkpoint is a folder `step-XXXXXXXX/` holding `model.safetensors`, `optimizer.safetensors`
(+ `optimizer.json` for its non-tensor parts), `ema.safetensors` when an EMA is kept, and
`state.json` (step, config, anything else the loop needs). It is written into a temporary folder
and renamed into place, so a kill never leaves a half-written checkpoint behind; nothing is ever
unpickled when reading one back.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

STEP_DIR = re.compile(r"step-(\d{8})")


def _flatten_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Split `optimizer.state_dict()` into tensors (for safetensors) and JSON-able metadata."""
    tensors, meta_state = {}, {}
    for pid, pstate in state["state"].items():
        meta_state[str(pid)] = {}
        for name, value in pstate.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{name}"] = value.detach().cpu().contiguous()
            else:
                meta_state[str(pid)][name] = value
    return tensors, {"state": meta_state, "param_groups": state["param_groups"]}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict = {int(pid): dict(values) for pid, values in meta["state"].items()}
    for key, value in tensors.items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def _own_storage(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Tensors ready for safetensors, which refuses tensors that share memory (tied weights, such
    as an LM head tied to its embeddings): each gets its own copy; loading writes the same values
    back into the one tied parameter."""
    out, seen = {}, set()
    for k, v in tensors.items():
        v = v.detach().cpu()
        ptr = v.untyped_storage().data_ptr() if v.numel() else None
        out[k] = v.clone() if ptr in seen else v.contiguous()
        seen.add(ptr)
    return out


def save_checkpoint(
    root: str | Path,
    step: int,
    model_state: dict[str, torch.Tensor],
    optimizer_state: dict | None = None,
    ema_state: dict[str, torch.Tensor] | None = None,
    state: dict | None = None,
    keep_last: int = 2,
) -> Path:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"step-{step:08d}"
    tmp = root / f".step-{step:08d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file(_own_storage(model_state), tmp / "model.safetensors")
    if optimizer_state is not None:
        tensors, meta = _flatten_optimizer(optimizer_state)
        save_file(tensors, tmp / "optimizer.safetensors")
        (tmp / "optimizer.json").write_text(json.dumps(meta))
    if ema_state is not None:
        save_file(_own_storage(ema_state), tmp / "ema.safetensors")
    (tmp / "state.json").write_text(json.dumps({"step": step, **(state or {})}, indent=1))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for old in list_checkpoints(root)[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(root: str | Path) -> list[Path]:
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and STEP_DIR.fullmatch(p.name))


def latest_checkpoint(root: str | Path) -> Path | None:
    found = list_checkpoints(root)
    return found[-1] if found else None


def load_checkpoint(path: str | Path) -> dict:
    """Everything a checkpoint holds: model, optimizer (or None), ema (or None), state."""
    path = Path(path)
    if not (path / "model.safetensors").is_file():
        raise FileNotFoundError(f"{path}: not a checkpoint (no model.safetensors)")
    out = {"model": load_file(path / "model.safetensors"), "optimizer": None, "ema": None}
    if (path / "optimizer.safetensors").is_file():
        meta = json.loads((path / "optimizer.json").read_text())
        out["optimizer"] = _unflatten_optimizer(load_file(path / "optimizer.safetensors"), meta)
    if (path / "ema.safetensors").is_file():
        out["ema"] = load_file(path / "ema.safetensors")
    out["state"] = json.loads((path / "state.json").read_text())
    return out
