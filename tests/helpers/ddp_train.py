"""Run by tests/test_train_loop.py under `accelerate launch --num_processes 2 --cpu`: a few steps of
the project's loop on a tiny Wan transformer; each rank writes its weights and the data it saw."""

import json
import sys
from pathlib import Path

import torch
from accelerate import PartialState

sys.path.insert(0, str(Path(__file__).parent))
from tiny_task import TinyFlowData, TinyFlowTask, tiny_model  # noqa: E402

from reasongen.train.loop import TrainConfig, train  # noqa: E402

out = Path(sys.argv[1])
data = TinyFlowData(64)
cfg = TrainConfig(str(out / "run"), steps=4, batch_size=8, lr=1e-3, checkpoint_every=100, log_every=1)
model = train(tiny_model(), TinyFlowTask(), data, cfg, progress=False)
state = PartialState()  # the state the loop's Accelerator set up
flat = torch.cat([p.detach().flatten() for p in model.parameters()])
(out / f"rank{state.process_index}.json").write_text(
    json.dumps({"weights": flat.tolist(), "seen": data.seen, "world": state.num_processes})
)
