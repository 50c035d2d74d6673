import json

import pytest
import torch

from reasongen.backbones.janus import JanusT2I, build_janus
from reasongen.backbones.text import shapes_tokenizer
from reasongen.methods.t2i_r1.format import SequenceFormat
from reasongen.methods.t2i_r1.policy import BiCoTPolicy
from reasongen.rl.grpo import GRPOTask
from reasongen.train.loop import TrainConfig, train


def byte_tokenizer():
    """A byte-level tokenizer (every text round-trips) with Janus's special tokens, for the chat layout."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(["<pad>", "</s>", "<s>", "<begin_of_image>"])}
    for b in pre_tokenizers.ByteLevel.alphabet():
        vocab.setdefault(b, len(vocab))
    tok = Tokenizer(models.BPE(vocab, []))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", bos_token="<s>",
                                   additional_special_tokens=["<begin_of_image>"])  # fmt: skip


def test_sequence_layouts():
    tok = shapes_tokenizer()
    plain = SequenceFormat(tok)
    cot = "one blue triangle left of one black circle"
    a = plain.image_prefix("a photo of a sky-coloured triangle", cot)
    b = plain.image_prefix_after("a photo of a sky-coloured triangle", plain.cot_ids(cot))
    assert a == b and a[-1] == plain.boi and a[0] == tok.bos_token_id
    assert plain.cot_text(plain.cot_ids(cot)) == cot
    chat = SequenceFormat(byte_tokenizer(), "janus-pro")
    text = chat.tokenizer.decode(chat.image_prefix("a red star", "one red star"))
    assert text == "<s><|User|>: a red star. one red star\n\n<|Assistant|>:<begin_of_image>"
    asked = chat.tokenizer.decode(chat.cot_prefix("a red star"))
    assert asked.startswith("<s>You are a helpful assistant") and '"a red star"' in asked and asked.endswith("<|Assistant|>:")
    with pytest.raises(ValueError, match="format"):
        SequenceFormat(tok, "chatml")


@pytest.fixture(scope="module")
def janus():
    torch.manual_seed(0)
    tok = shapes_tokenizer()
    return JanusT2I(build_janus("tiny", tok), tok)


@pytest.mark.parametrize("levels", ["both", "image", "cot"])
def test_log_probs_cover_the_chosen_levels(janus, levels):
    policy = BiCoTPolicy(janus, SequenceFormat(janus.tokenizer), levels=levels, max_cot_tokens=6)
    roll = policy.rollout(["a photo of a star", "a photo of two hearts"], 3, torch.Generator().manual_seed(0))
    assert len(roll) == 6 and len(roll.images) == 6 and roll.images[0].shape == (64, 64, 3)
    assert roll.prompts[:3] == ["a photo of a star"] * 3 and len(roll.texts) == 6
    logp, mask = policy.log_probs(roll)
    cot_lengths = [len(c) for c in roll.data["cots"]]
    expected = {"both": max(cot_lengths) + 64, "image": 64, "cot": max(cot_lengths)}[levels]
    assert logp.shape == mask.shape == (6, expected)
    counted = mask.sum(1).tolist()
    assert counted == [(c if levels != "image" else 0) + (64 if levels != "cot" else 0) for c in cot_lengths]


def test_direct_policy_and_bad_options(janus):
    fmt = SequenceFormat(janus.tokenizer)
    direct = BiCoTPolicy(janus, fmt, levels="image", use_cot=False)
    roll = direct.rollout(["a photo of a star"], 2, torch.Generator().manual_seed(0))
    assert roll.texts is None and roll.data["image_prefixes"][0][-1] == fmt.boi
    with pytest.raises(ValueError, match="use_cot"):
        BiCoTPolicy(janus, fmt, levels="both", use_cot=False)
    with pytest.raises(ValueError, match="levels"):
        BiCoTPolicy(janus, fmt, levels="all")


def test_t2i_r1_grpo_step_through_the_loop(tmp_path, janus):
    import copy

    fmt = SequenceFormat(janus.tokenizer)
    model = copy.deepcopy(janus.model)
    reference = BiCoTPolicy(JanusT2I(copy.deepcopy(janus.model).eval().requires_grad_(False), janus.tokenizer), fmt, max_cot_tokens=4)

    def brightness(images, prompts, metadata):  # any image reward will do for the mechanics
        return torch.tensor([float(im.mean()) / 255 for im in images]), {}

    class Prompts:
        def __len__(self):
            return 4

        def batch(self, idx):
            return [{"prompt": "a photo of a star", "tag": "single_object"} for _ in idx]

    task = GRPOTask(lambda m: BiCoTPolicy(JanusT2I(m, janus.tokenizer), fmt, max_cot_tokens=4), brightness,
                    group_size=2, beta=0.01, reference=reference)  # fmt: skip
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    train(model, task, Prompts(), TrainConfig(str(tmp_path), steps=2, batch_size=2, lr=1e-3, log_every=1), progress=False)
    logs = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert len(logs) == 2 and all("reward" in r and "kl" in r for r in logs)
    changed = [n for n, p in model.named_parameters() if not torch.equal(p, before[n])]
    assert any("language_model" in n for n in changed) and any("generation_head" in n for n in changed)


def test_the_cot_limit_follows_the_checkpoint(janus):
    """T2I-R1 samples CoTs up to 1024 tokens on Janus-Pro; ShapesWorld's small models stop at 64. A
    set limit wins, and a context too short for any CoT says so."""
    from reasongen.methods.t2i_r1.format import cot_token_limit
    from reasongen.methods.t2i_r1.pipeline import T2IR1Pipeline

    assert cot_token_limit(16384, 576, "janus-pro") == 1024  # Janus-Pro-7B: 16,384 positions, 576 image tokens
    assert cot_token_limit(2048, 576, "janus-pro") == 2048 - 512 - 576 - 1
    assert cot_token_limit(16384, 576, "plain") == 64
    with pytest.raises(ValueError, match="no room for a CoT"):
        cot_token_limit(1024, 576, "janus-pro")
    chat = SequenceFormat(byte_tokenizer(), "janus-pro")
    with pytest.raises(ValueError, match="512 positions leaves no room"):  # the tiny model's context, in the Janus-Pro layout
        BiCoTPolicy(janus, chat)
    assert BiCoTPolicy(janus, SequenceFormat(janus.tokenizer)).max_cot_tokens == 64
    assert BiCoTPolicy(janus, chat, max_cot_tokens=7).max_cot_tokens == 7
    pipe = T2IR1Pipeline(janus.model, janus.tokenizer)
    assert pipe.max_cot_tokens == 64 and T2IR1Pipeline(janus.model, janus.tokenizer, max_cot_tokens=9).max_cot_tokens == 9
