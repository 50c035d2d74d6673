"""LoRA through PEFT on the Wan DiT, and the real-scale path it serves: a local diffusers Wan2.1
folder (here a tiny one written by diffusers' own `WanPipeline.save_pretrained`, umT5 included) as
the base of `reasongen train cof --lora-rank`."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from reasongen.backbones.lora import add_lora, has_lora
from reasongen.backbones.text import tiny_text_encoder
from reasongen.backbones.wan import build_transformer, build_vae
from reasongen.cli import app
from reasongen.methods.cof.pipeline import CoFPipeline
from reasongen.train.checkpoint import latest_checkpoint

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from wan_folders import tiny_wan_t2v_folder  # noqa: E402

runner = CliRunner()


def run(*args):
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output + repr(res.exception)
    return res.output


def tiny_cof(**config):
    torch.manual_seed(0)
    vae, transformer = build_vae("tiny"), build_transformer("tiny")
    settings = dict(height=32, width=32, num_inference_steps=2, guidance_scale=3.0, sampler="euler")
    return CoFPipeline(transformer, vae, tiny_text_encoder(max_length=16), **{**settings, **config})


def test_lora_trains_only_the_adapter_and_starts_as_the_base():
    torch.manual_seed(0)
    dit = build_transformer("tiny")
    base = {k: v.clone() for k, v in dit.state_dict().items()}
    x, t, ctx = torch.randn(1, 4, 2, 8, 8), torch.tensor([500.0]), torch.randn(1, 5, 32)
    before = dit(x, t, ctx, return_dict=False)[0]
    trainable = add_lora(dit, rank=2)
    names = [n for n, p in dit.named_parameters() if p.requires_grad]
    assert trainable == sum(p.numel() for p in dit.parameters() if p.requires_grad) and all(".lora_" in n for n in names)
    # every attention projection and both feed-forward layers of each block
    assert {n.split(".lora_")[0].split(".", 2)[2] for n in names} == {
        f"attn{i}.{m}" for i in (1, 2) for m in ("to_q", "to_k", "to_v", "to_out.0")} | {"ffn.net.0.proj", "ffn.net.2"}  # fmt: skip
    assert torch.equal(dit(x, t, ctx, return_dict=False)[0], before)  # B = 0: the adapter starts as the identity
    opt = torch.optim.AdamW([p for p in dit.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(2):
        dit(x, t, ctx, return_dict=False)[0].square().mean().backward()
        opt.step()
        opt.zero_grad()
    assert not torch.allclose(dit(x, t, ctx, return_dict=False)[0], before)
    kept = {k.replace(".base_layer", ""): v for k, v in dit.state_dict().items() if ".lora_" not in k}
    assert kept.keys() == base.keys() and all(torch.equal(kept[k], base[k]) for k in base)
    with pytest.raises(ValueError, match="already carries a LoRA"):
        add_lora(dit, rank=2)
    with pytest.raises(ValueError, match="rank 0"):
        add_lora(build_transformer("tiny"), rank=0)


def test_a_lora_pipeline_saves_its_adapter_and_base_and_loads_back(tmp_path):
    base = tiny_cof()
    base.save_pretrained(tmp_path / "base")
    pipe = CoFPipeline.from_pretrained(tmp_path / "base")
    add_lora(pipe.transformer, rank=2, alpha=6)  # alpha != rank: the scale must survive the round trip
    with torch.no_grad():
        for name, p in pipe.transformer.named_parameters():
            if ".lora_B" in name:
                p.normal_(0, 0.2)
    with pytest.raises(ValueError, match="base_model"):
        pipe.save_pretrained(tmp_path / "nobase")
    pipe.base_model = (tmp_path / "base").resolve()
    pipe.save_pretrained(tmp_path / "lora")
    index = json.loads((tmp_path / "lora" / "model_index.json").read_text())
    assert index["base_model"] == str((tmp_path / "base").resolve()) and not (tmp_path / "lora" / "transformer").exists()
    adapter = load_file(tmp_path / "lora" / "transformer_lora" / "pytorch_lora_weights.safetensors")
    assert adapter and all(k.startswith("transformer.") and ".lora_" in k for k in adapter)  # diffusers' pipeline LoRA format

    back = CoFPipeline.from_pretrained(tmp_path / "lora")
    assert has_lora(back.transformer) and back.base_model == (tmp_path / "base").resolve()
    seed = 3
    ours = pipe("a photo of a star", generator=torch.Generator().manual_seed(seed), output_type="np").images[0]
    again = back("a photo of a star", generator=torch.Generator().manual_seed(seed), output_type="np").images[0]
    plain = base("a photo of a star", generator=torch.Generator().manual_seed(seed), output_type="np").images[0]
    np.testing.assert_allclose(again, ours, atol=1e-5)
    assert np.abs(plain - ours).max() > 1e-3  # the adapter is what makes the difference

    (tmp_path / "base").rename(tmp_path / "moved")
    with pytest.raises(FileNotFoundError, match="base_model"):
        CoFPipeline.from_pretrained(tmp_path / "lora")


@pytest.mark.slow
def test_train_cof_lora_over_a_diffusers_wan_folder(tmp_path):
    wan = tmp_path / "wan"
    tiny_wan_t2v_folder(wan)
    run("cof", "data", "--out", tmp_path / "data", "--vae", wan / "vae", "--n", 8, "--workers", 1, "--variants", "cof")
    args = ["train", "cof", "--data", tmp_path / "data", "--vae", wan / "vae", "--output-dir", tmp_path / "run", "--steps", 3,
            "--batch-size", 4, "--checkpoint-every", 2, "--init-from", wan, "--lora-rank", 2, "--lora-alpha", 4,
            "--gradient-checkpointing"]  # fmt: skip
    run(*args)
    pipeline = tmp_path / "run" / "pipeline"
    index = json.loads((pipeline / "model_index.json").read_text())
    assert index["base_model"] == str(wan.resolve()) and index["text_encoder"] == "umt5" and index["flow_shift"] == 5.0
    assert not (pipeline / "transformer").exists() and not (pipeline / "text_encoder").exists()
    # the checkpoint holds the adapter (and buffers), not the frozen base
    state = load_file(latest_checkpoint(tmp_path / "run" / "checkpoints") / "model.safetensors")
    assert state and all(".lora_" in k or "rope" in k for k in state)
    out = tmp_path / "img.png"
    run("generate", "a photo of a red circle", "-o", out, "--model", pipeline, "--steps", 2)
    assert out.is_file()
    # diffusers' own pipeline takes the adapter as it is, and then computes what ours does
    from diffusers import WanPipeline

    wan_pipe = WanPipeline.from_pretrained(wan)
    wan_pipe.load_lora_weights(pipeline / "transformer_lora", weight_name="pytorch_lora_weights.safetensors")
    ours = CoFPipeline.from_pretrained(pipeline).transformer
    x, t, ctx = torch.randn(1, 4, 1, 8, 8), torch.tensor([500.0]), torch.randn(1, 5, 32)
    with torch.no_grad():
        torch.testing.assert_close(wan_pipe.transformer(x, t, ctx, return_dict=False)[0], ours(x, t, ctx, return_dict=False)[0])
        assert (ours(x, t, ctx, return_dict=False)[0] - WanPipeline.from_pretrained(wan).transformer(x, t, ctx, return_dict=False)[0]).abs().max() > 0
    # a second LoRA on a LoRA pipeline is refused; training it further keeps it a LoRA over the same base
    res = runner.invoke(app, [str(a) for a in args[:6]] + ["--output-dir", str(tmp_path / "two"), "--steps", "1", "--batch-size", "4",
                                                           "--init-from", str(pipeline), "--lora-rank", "2"])  # fmt: skip
    assert res.exit_code == 2 and "already carries a LoRA" in res.output, res.output
    run(*args[:6], "--output-dir", tmp_path / "more", "--steps", 1, "--batch-size", 4, "--init-from", pipeline)
    assert json.loads((tmp_path / "more" / "pipeline" / "model_index.json").read_text())["base_model"] == str(wan.resolve())
    for bad, says in ((["--lora-rank", "2"], "--init-from"), (["--init-from", str(tmp_path / "data")], "--init-from"),
                      (["--lora-alpha", "4"], "add --lora-rank"), (["--init-from", str(wan), "--lora-rank", "-1"], "rank -1")):
        res = runner.invoke(app, [str(a) for a in args[:6]] + ["--output-dir", str(tmp_path / "bad"), "--steps", "1", *bad])
        assert res.exit_code == 2 and says in res.output, res.output
