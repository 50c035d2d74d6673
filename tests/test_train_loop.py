import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from reasongen.train.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint, save_checkpoint
from reasongen.train.loop import EpochSampler, TrainConfig, train

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from tiny_task import TinyFlowData, TinyFlowTask, tiny_model  # noqa: E402


def weights(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


class Killed(Exception):
    pass


class KilledAfter(TinyFlowData):
    """Raises on its `calls`-th batch: a run killed mid-way."""

    def __init__(self, n, calls):
        super().__init__(n)
        self.calls = calls

    def batch(self, indices):
        self.calls -= 1
        if self.calls < 0:
            raise Killed
        return super().batch(indices)


def config(tmp, **kw):
    return TrainConfig(str(tmp), steps=6, batch_size=4, lr=1e-3, checkpoint_every=2, log_every=1,
                       ema_decay=0.9, lr_decay="cosine", warmup_steps=2, **kw)  # fmt: skip


def test_a_cool_down_holds_the_rate_then_falls_to_zero_at_the_end():
    cfg = TrainConfig("unused", steps=100, lr=1e-3, warmup_steps=10, cooldown_steps=20)
    rates = [cfg.lr_at(step) for step in range(100)]
    assert rates[0] == pytest.approx(1e-4) and rates[9] == rates[79] == 1e-3  # warm-up, then the constant rate
    assert rates[80] == 1e-3 and rates[90] == pytest.approx(1e-3 * (1 - 0.5**0.5))  # 1 - sqrt(progress)
    assert all(a > b for a, b in zip(rates[80:], rates[81:])) and 0 < rates[99] < 3e-4
    assert TrainConfig("unused", steps=100, lr=1e-3).lr_at(99) == 1e-3  # none asked: constant to the end


def test_killed_and_resumed_run_equals_uninterrupted_run(tmp_path):
    whole = train(tiny_model(), TinyFlowTask(), TinyFlowData(32), config(tmp_path / "a"), progress=False)
    with pytest.raises(Killed):  # dies during step 4: checkpoints at 2 (and none at 4 yet)
        train(tiny_model(), TinyFlowTask(), KilledAfter(32, 3), config(tmp_path / "b"), progress=False)
    assert [p.name for p in list_checkpoints(tmp_path / "b" / "checkpoints")] == ["step-00000002"]
    resumed = train(tiny_model(seed=123), TinyFlowTask(), TinyFlowData(32), config(tmp_path / "b"), progress=False)
    assert torch.equal(weights(whole), weights(resumed))
    # the killed run logged steps 1-3; the resumed one redoes step 3 from its checkpoint at 2 and
    # drops the killed run's row for it, so the log reads as the uninterrupted run's
    def log(run):
        rows = [json.loads(line) for line in (tmp_path / run / "log.jsonl").read_text().splitlines()]
        return [(r["step"], r["loss"]) for r in rows]

    assert [step for step, _ in log("b")] == [1, 2, 3, 4, 5, 6]
    assert log("b") == log("a")


def test_a_checkpoint_leaves_out_frozen_weights_and_the_resumed_run_is_still_exact(tmp_path):
    def half_frozen(seed=0):
        model = tiny_model(seed)
        model.blocks.requires_grad_(False)  # as a LoRA base or stage 2's DiT: rebuilt from its start on resume
        return model

    whole = train(half_frozen(), TinyFlowTask(), TinyFlowData(32), config(tmp_path / "a"), progress=False)
    with pytest.raises(Killed):
        train(half_frozen(), TinyFlowTask(), KilledAfter(32, 3), config(tmp_path / "b"), progress=False)
    saved = load_checkpoint(latest_checkpoint(tmp_path / "b" / "checkpoints"))["model"]
    assert saved and not any(k.startswith("blocks.") for k in saved) and "proj_out.weight" in saved
    resumed = train(half_frozen(), TinyFlowTask(), TinyFlowData(32), config(tmp_path / "b"), progress=False)
    assert torch.equal(weights(whole), weights(resumed))
    assert torch.equal(weights(whole.blocks), weights(tiny_model().blocks))  # the frozen part never moved


def test_training_moves_the_loss(tmp_path):
    cfg = TrainConfig(str(tmp_path), steps=40, batch_size=8, lr=3e-3, checkpoint_every=100, log_every=10)
    train(tiny_model(), TinyFlowTask(), TinyFlowData(8), cfg, progress=False)
    log = [json.loads(line)["loss"] for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert log[-1] < 0.9 * log[0]


class StepLoggingTask(TinyFlowTask):
    """Logs the step it is at, so a record shows which steps it summarises."""

    def set_step(self, step):
        self.step = step

    def loss(self, model, batch, generator):
        loss, logs = super().loss(model, batch, generator)
        return loss, {**logs, "seen": float(self.step)}


def test_a_log_record_is_the_mean_of_its_steps(tmp_path):
    cfg = TrainConfig(str(tmp_path), steps=6, batch_size=4, lr=1e-3, checkpoint_every=100, log_every=3)
    train(tiny_model(), StepLoggingTask(), TinyFlowData(8), cfg, progress=False)
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [(r["step"], r["seen"]) for r in log] == [(3, 1.0), (6, 4.0)]  # mean of steps 0-2, then 3-5


def test_checkpoints_are_safetensors_atomic_and_pruned(tmp_path):
    model = tiny_model()
    opt = torch.optim.AdamW(model.parameters())
    model(torch.randn(1, 4, 1, 8, 8), torch.tensor([500.0]), torch.randn(1, 3, 32), return_dict=False)[0].sum().backward()
    opt.step()
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, model.state_dict(), opt.state_dict(), state={"note": "x"}, keep_last=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000002", "step-00000003"]
    (tmp_path / ".step-00000004.tmp").mkdir()  # a write that was killed: ignored
    ck = load_checkpoint(latest_checkpoint(tmp_path))
    assert ck["state"] == {"step": 3, "note": "x"}
    assert sorted(os.listdir(latest_checkpoint(tmp_path))) == [
        "model.safetensors", "optimizer.json", "optimizer.safetensors", "state.json"]  # fmt: skip
    opt2 = torch.optim.AdamW(tiny_model().parameters())
    opt2.load_state_dict(ck["optimizer"])
    for a, b in zip(opt.state.values(), opt2.state.values()):
        assert torch.equal(a["exp_avg"], b["exp_avg"]) and float(a["step"]) == float(b["step"])


def test_sampler_covers_each_epoch_once():
    s = EpochSampler(10, 4, seed=0)
    first = [i for step in range(5) for i in s.indices(step)]
    assert sorted(first[:10]) == list(range(10)) and sorted(first[10:20]) == list(range(10))
    assert s.indices(3) == EpochSampler(10, 4, seed=0).indices(3)


def test_a_model_without_trainable_parameters_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no trainable parameters"):
        train(tiny_model().requires_grad_(False), TinyFlowTask(), TinyFlowData(8), config(tmp_path), progress=False)


@pytest.mark.slow
def test_two_processes_keep_identical_weights(tmp_path):
    """Two CPU processes through `accelerate launch` (gloo): DDP keeps the replicas identical while
    each reads its own half of every batch."""
    accelerate = shutil.which("accelerate", path=os.path.dirname(sys.executable)) or "accelerate"
    script = Path(__file__).parent / "helpers" / "ddp_train.py"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_PORT": "29517"}
    # on a machine without GPUs, accelerate's multi-GPU launcher is torchrun; the loop then runs gloo
    cmd = [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "--main_process_port", "29517", str(script), str(tmp_path)]  # fmt: skip
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    r0, r1 = (json.loads((tmp_path / f"rank{i}.json").read_text()) for i in (0, 1))
    assert r0["world"] == r1["world"] == 2
    assert r0["weights"] == r1["weights"]
    assert r0["weights"] != weights(tiny_model()).tolist()  # they did train
    assert set(r0["seen"]).isdisjoint(r1["seen"][:4])  # the first batch was split, not duplicated
    assert len(r0["seen"]) == len(r1["seen"]) == 4 * 4


def test_a_second_run_into_a_live_runs_folder_is_refused_and_a_dead_runs_lock_is_taken_over(tmp_path):
    """Two processes: one holds the folder's lock; training into it is refused with its pid. Once it
    is killed (SIGKILL), its lock file stays and the next run takes it over."""
    import signal

    from reasongen.locks import FolderBusy, folder_lock

    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from reasongen.locks import folder_lock\n"
                               f"with folder_lock({str(tmp_path)!r}):\n    print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(FolderBusy, match=f"pid {holder.pid}"):
        train(tiny_model(), TinyFlowTask(), TinyFlowData(8), config(tmp_path))
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert (tmp_path / ".reasongen.lock").exists()
    train(tiny_model(), TinyFlowTask(), TinyFlowData(8), config(tmp_path))  # the stale lock is taken over
    with folder_lock(tmp_path):
        pass


def test_the_ema_warms_up_so_a_short_run_keeps_little_of_the_initialisation(tmp_path):
    cfg = TrainConfig(str(tmp_path), steps=3, batch_size=4, lr=1e-2, checkpoint_every=100, log_every=1, ema_decay=0.999)
    assert [cfg.ema_decay_at(s) for s in (0, 1, 90)] == [0.1, 2 / 11, 0.91]
    assert cfg.ema_decay_at(100_000) == 0.999
    # weights that are an EMA already (a warm restart) go on averaging at the decay they had reached
    assert TrainConfig(str(tmp_path), steps=3, ema_decay=0.999, ema_steps_before=90).ema_decay_at(0) == 0.91
    init = weights(tiny_model())
    ema_model = train(tiny_model(), TinyFlowTask(), TinyFlowData(32), cfg, progress=False)
    raw = load_checkpoint(latest_checkpoint(tmp_path / "checkpoints"))["model"]
    raw_model = tiny_model()
    raw_model.load_state_dict(raw)
    # a constant 0.999 would leave the EMA within 0.3% of the initialisation; warmed up, it is near the trained weights
    moved, trained = (weights(ema_model) - init).norm(), (weights(raw_model) - init).norm()
    assert moved > 0.5 * trained
