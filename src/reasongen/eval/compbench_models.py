"""T2I-CompBench's official evaluators over models from local transformers folders (nothing is
fetched; safetensors only): BLIP-VQA, a detector standing in for UniDet, DPT depth (3D spatial),
CLIPScore and 3-in-1. The arithmetic lives in `compbench.py`; this module asks the models and parses
the prompts.

Differences from the official code, each forced by what transformers and PyPI carry:
- UniDet (a detectron2 model trained on four merged detection datasets) has no transformers port.
  OWLv2 / OWL-ViT, open-vocabulary detectors, stand in: each image is queried with the object names
  the prompt mentions, and a box's label is its best query. Their confidences are sigmoid scores on
  another scale than UniDet's softmax ones (a good OWLv2 box often scores 0.3 to 0.6), which the 2D
  spatial formula uses directly, so the cut is an option (`threshold`, default 0.1 for OWLv2 against
  UniDet's 0.5) and scores are not comparable with UniDet's numbers.
- spaCy's `en_core_web_sm` (noun chunks and part-of-speech tags) is a GitHub download, not a PyPI
  package. When spaCy and that model are installed they are used as the official scripts use them;
  otherwise a rule parser reads T2I-CompBench's prompt forms: noun phrases are the stretches between
  "and", "with", prepositions, commas and copulas; a phrase's noun is its last word; adjectives are a
  fixed list of colour, shape, size and material words.
- BLIP: transformers' `BlipForQuestionAnswering` (e.g. Salesforce/blip-vqa-base) with its processor
  (384 px; the official checkpoint is model_base_vqa_capfilt_large at 480 px). P(yes) / (P(yes) +
  P(no)) is read from the first answer token as the official `vqa_prob` does.
- Depth (3d_spatial): transformers' `DPTForDepthEstimation`, e.g. Intel/dpt-hybrid-midas (its safetensors
  copy), transformers' conversion of DPT-Hybrid MiDaS, which the official loads as
  dpt_hybrid-midas-501f0c75.pt. As there: the image squashed to 480 x 480 (bilinear,
  mean = std = 0.5), the inverse depth min-max normalised per image, brought back to the image size
  bilinearly with aligned corners and cut to 8 bits as the official PNG round trip does (truncated).
  The official then resizes that PNG again to UniDet's input frame (short side 479, long side at most
  480) and reads UniDet's boxes there; here boxes and depth stay in the image's own pixels, the same
  picture up to integer truncation of box edges. It runs in fp32 (the official: fp16 autocast).
  OWLv2 boxes are clipped to the image first, as detectron2 clips UniDet's.

Not differences, though they look like bugs: the 3D rule's mean depth slices the map as
[x_min:x_max, y_min:y_max] (rows by x), with the box's axes swapped; `compbench.box_depth` keeps it,
since the official numbers measure that. Objects are picked from the detections by the official
substring scan (`compbench.pick_pair`), and the 3D score has no 0.5 cut, unlike 2D spatial.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..backbones.local import load_local_model
from . import compbench as cb
from .layout import load_rgb

_BREAKS = re.compile(r"\s*(?:[,;.!?]|\b(?:and|with|on|in|of|near|next to|at|under|beside|behind|above|below|by|from|to|into|onto|"
                     r"over|is|are|was|were|has|have)\b)\s*")  # fmt: skip
_DETERMINERS = {"a", "an", "the", "some", "one", "two", "three", "four", "five", "six", "seven", "eight", "its", "their"}
ADJECTIVES = frozenset({"red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white",
    "gray", "grey", "golden", "silver", "round", "square", "rectangular", "triangular", "oval", "circular",
    "spherical", "cubic", "cylindrical", "conical", "big", "small", "large", "tiny", "tall", "short", "long", "wide",
    "narrow", "wooden", "metallic", "plastic", "glass", "leather", "fabric", "fluffy", "furry", "rubber", "stone",
    "ceramic", "paper", "velvet", "soft", "hard", "smooth", "rough", "shiny"})


@lru_cache(maxsize=1)
def _spacy():
    """spaCy's en_core_web_sm when installed (the official parser), else None: the rule parser runs."""
    try:
        import spacy

        return spacy.load("en_core_web_sm")
    except (ImportError, OSError):
        return None


def noun_phrases(prompt: str) -> list[str]:
    """The noun phrases BLIP-VQA asks about, official skip list applied, at most 8."""
    nlp = _spacy()
    if nlp is not None:
        chunks = [c.text for c in nlp(prompt).noun_chunks]
    else:
        chunks = [p for p in _BREAKS.split(prompt.strip()) if p and not set(p.lower().split()) <= _DETERMINERS]
        chunks = [p for p in chunks if not (len(p.split()) == 1 and p.lower().endswith("ing"))]  # a lone verb form
    return [c for c in chunks if c not in cb.SKIPPED_PHRASES][: cb.MAX_NOUN_PHRASES]


def spatial_objects(prompt: str, vocabulary=cb.SPATIAL_WORDS) -> tuple[str | None, str | None, str | None]:
    """(object 1, object 2, relation words) of a spatial prompt: the first and last noun, and the first
    of the relation phrases in `vocabulary` (2D: `SPATIAL_WORDS`, 3D: `SPATIAL_3D_WORDS`, both scanned
    in their official order) that the prompt holds; girl / boy / man / woman read as person."""
    words = next((w for w in vocabulary if w in prompt), None)
    nlp = _spacy()
    if nlp is not None:
        nouns = [t.text for t in nlp(prompt) if t.pos_ == "NOUN"]
    else:
        # The relation phrase is a break ("a chair hidden by a mouse": "hidden" is no noun).
        text = prompt.replace(words, ",") if words else prompt
        sides = ("the left", "the right", "the top", "the bottom", "side")
        nouns = [p.split()[-1] for p in noun_phrases(text) if p.lower() not in sides]
    if not nouns:
        return None, None, words
    person = {"girl", "boy", "man", "woman"}
    return tuple("person" if n in person else n for n in (nouns[0], nouns[-1])) + (words,)


def without_adjectives(prompt: str) -> str:
    """The prompt with its adjectives removed (CLIPScore's text for complex prompts)."""
    nlp = _spacy()
    if nlp is not None:
        return " ".join(t.text for t in nlp(prompt) if t.pos_ != "ADJ")
    return " ".join(w for w in re.findall(r"\w+|[^\w\s]", prompt) if w.lower() not in ADJECTIVES)


def numeracy_objects(prompt: str, vocabulary: list[tuple[str, str]]) -> list[tuple[str, int]]:
    """(object, number) pairs by the official scan: a number word ("a", "an", "one" .. "eight")
    followed by a one- or two-word name from new_objects.txt (singular or plural)."""
    singular, plural = [s for s, _ in vocabulary], [p for _, p in vocabulary]
    tokens = re.findall(r"\w+|[^\w\s]", prompt)
    out = []
    for i, tok in enumerate(tokens):
        if tok not in cb.NUMBER_WORDS or i + 1 >= len(tokens):
            continue
        number = cb.NUMBER_WORDS.index(tok) - 1 if tok not in ("a", "an") else 1
        two = " ".join(tokens[i + 1 : i + 3]) if i < len(tokens) - 2 else None
        if two in singular or two in plural:
            out.append((singular[plural.index(two)], number) if two in plural and tok not in ("a", "an", "one") else (two, 1))
        elif tokens[i + 1] in singular or tokens[i + 1] in plural:
            name = tokens[i + 1]
            out.append((name, 1) if name in singular and tok in ("a", "an", "one") else (singular[plural.index(name)] if name in plural else name, number))
    return out


def read_vocabulary(folder: str | Path | None = None) -> list[tuple[str, str]]:
    """new_objects.txt: "singular - plural" per line, lower-cased."""
    path = Path(folder or cb.shipped_folder()) / "new_objects.txt"
    return [tuple(w.strip().lower() for w in line.split(" - ")[:2]) for line in cb._lines(path)]


# -- the models --------------------------------------------------------------------------------


class BlipVQA:
    """P(yes) / (P(yes) + P(no)) of BLIP's first answer token for "{noun phrase}?"."""

    def __init__(self, folder, device: str = "cpu"):
        from transformers import AutoProcessor, BlipForQuestionAnswering

        self.model = load_local_model(BlipForQuestionAnswering, folder, "BLIP VQA", "--blip DIR, e.g. a download of Salesforce/blip-vqa-base", device)
        self.processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
        tok = self.processor.tokenizer
        self.yes, self.no = tok.convert_tokens_to_ids("yes"), tok.convert_tokens_to_ids("no")
        if tok.unk_token_id in (self.yes, self.no):
            raise ValueError(f"{folder}: the tokenizer has no 'yes' / 'no' token; this is not a BLIP VQA checkpoint")
        self.device = device

    @torch.no_grad()
    def __call__(self, image: np.ndarray, questions: list[str]) -> list[float]:
        if not questions:
            return []
        # BLIP's pre_question: lower case, these marks dropped.
        questions = [re.sub(r'[.!"()*#:;~]', "", q.lower()).rstrip(" ") for q in questions]
        inputs = self.processor(images=[image] * len(questions), text=questions, return_tensors="pt", padding=True).to(self.device)
        image_embeds = self.model.vision_model(pixel_values=inputs.pixel_values).last_hidden_state
        image_mask = torch.ones(image_embeds.shape[:-1], dtype=torch.long, device=image_embeds.device)
        question = self.model.text_encoder(input_ids=inputs.input_ids, attention_mask=inputs.attention_mask,
                                           encoder_hidden_states=image_embeds, encoder_attention_mask=image_mask)[0]  # fmt: skip
        bos = torch.full((len(questions), 1), self.model.decoder_start_token_id, device=question.device)
        logits = self.model.text_decoder(input_ids=bos, encoder_hidden_states=question, encoder_attention_mask=inputs.attention_mask).logits
        p = logits[:, 0, :].softmax(-1)
        return (p[:, self.yes] / (p[:, self.yes] + p[:, self.no])).float().cpu().tolist()


class OwlDetector:
    """OWLv2 / OWL-ViT queried with object names: [(name, score, (x1, y1, x2, y2))], best first."""

    def __init__(self, folder, device: str = "cpu", threshold: float = 0.1):
        from transformers import AutoConfig, AutoModelForZeroShotObjectDetection, AutoProcessor

        if not Path(folder, "config.json").is_file():
            raise ValueError(f"no detector checkpoint at {folder}: pass --detector DIR, a local transformers folder "
                             "(e.g. a download of google/owlv2-base-patch16-ensemble)")  # fmt: skip
        kind = AutoConfig.from_pretrained(folder, local_files_only=True).model_type
        if kind not in ("owlv2", "owlvit"):
            raise ValueError(f"{folder} holds a {kind!r} model; the UniDet stand-in is OWLv2 or OWL-ViT")
        self.model = load_local_model(AutoModelForZeroShotObjectDetection, folder, "detector", "OWLv2", device)
        self.processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
        self.padded = kind == "owlv2"  # OWLv2 pads to a square (bottom, right); its boxes are relative to it
        self.device, self.threshold = device, threshold

    @torch.no_grad()
    def __call__(self, image: np.ndarray, names: list[str]) -> list[tuple[str, float, tuple]]:
        names = list(dict.fromkeys(names))
        inputs = self.processor(text=[[f"a photo of a {n}" for n in names]], images=image, return_tensors="pt").to(self.device)
        out = self.model(**inputs)
        scores, labels = out.logits[0].sigmoid().max(-1)
        h, w = image.shape[:2]
        sx, sy = (max(h, w),) * 2 if self.padded else (w, h)
        cx, cy, bw, bh = out.pred_boxes[0].unbind(-1)
        boxes = torch.stack([(cx - bw / 2) * sx, (cy - bh / 2) * sy, (cx + bw / 2) * sx, (cy + bh / 2) * sy], -1)
        boxes = torch.minimum(boxes.clamp(min=0), torch.tensor([w, h, w, h], dtype=boxes.dtype, device=boxes.device))  # as detectron2 clips UniDet's
        found = [(names[k], s, tuple(b)) for s, k, b in zip(scores.tolist(), labels.tolist(), boxes.tolist()) if s > self.threshold]
        return sorted(found, key=lambda f: -f[1])


class DptDepth:
    """DPT's relative inverse depth (larger = nearer) of an image, as the official 3D script makes it:
    an (H, W) map in [0, 1] at the image's size (module doc)."""

    SIZE = 480  # the official transform: Resize([480, 480]), the aspect ratio not kept

    def __init__(self, folder, device: str = "cpu"):
        from transformers import AutoConfig, AutoImageProcessor, DPTForDepthEstimation

        example = "--depth DIR, e.g. a download of Intel/dpt-hybrid-midas"
        has_config = Path(folder, "config.json").is_file()  # without one, load_local_model says so
        kind = AutoConfig.from_pretrained(folder, local_files_only=True).model_type if has_config else "dpt"
        if kind != "dpt":
            raise ValueError(f"{folder} holds a {kind!r} model; --depth takes a DPT depth checkpoint ({example})")
        self.model = load_local_model(DPTForDepthEstimation, folder, "DPT depth", example, device)
        self.processor = AutoImageProcessor.from_pretrained(folder, local_files_only=True)
        self.device = device

    @torch.no_grad()
    def __call__(self, image: np.ndarray) -> np.ndarray:
        from transformers.image_utils import PILImageResampling

        # The official transform, whatever the folder's processor says: 480 x 480 bilinear, (x - 0.5) / 0.5.
        inputs = self.processor(images=image, return_tensors="pt", size={"height": self.SIZE, "width": self.SIZE},
                                keep_aspect_ratio=False, ensure_multiple_of=1, resample=PILImageResampling.BILINEAR,
                                do_rescale=True, do_normalize=True, image_mean=[0.5] * 3, image_std=[0.5] * 3, do_pad=False)  # fmt: skip
        depth = self.model(pixel_values=inputs.pixel_values.to(self.device)).predicted_depth[0].float()
        lo, hi = depth.min(), depth.max()
        depth = (depth - lo) / (hi - lo) if hi > lo else torch.zeros_like(depth)  # flat: no depth order (official: NaN)
        h, w = image.shape[:2]
        depth = torch.nn.functional.interpolate(depth[None, None], size=(h, w), mode="bilinear", align_corners=True)
        return np.floor(255 * depth[0, 0].clamp(0, 1).cpu().numpy()) / 255  # the official 8-bit PNG round trip


# -- the official categories ---------------------------------------------------------------------


class OfficialCompBench:
    """Scores an image of a real T2I-CompBench prompt by its category's official metric."""

    name = "official"

    def __init__(self, category: str, blip=None, clip=None, detector=None, prompts=None, device: str = "cpu",
                 depth=None):  # fmt: skip
        need = {"color": ["blip"], "shape": ["blip"], "texture": ["blip"], "spatial": ["detector"], "numeracy": ["detector"],
                "non_spatial": ["clip"], "complex": ["blip", "detector", "clip"], "3d_spatial": ["detector", "depth"]}.get(category)  # fmt: skip
        if need is None:
            raise ValueError(f"--category {category!r}: the official evaluator scores {', '.join(cb.CATEGORIES)}")
        given = {"blip": blip, "clip": clip, "detector": detector, "depth": depth}
        missing = [f"--{k} DIR" for k in need if not given[k]]
        if missing:
            raise ValueError(f"the official {category} metric needs {' and '.join(missing)} (local transformers folders; see docs/benchmarks.md)")
        from ..rewards.clip import ClipScoreReward  # T2I-CompBench's CLIPScore: the raw cosine

        self.category = category
        self.blip = BlipVQA(blip, device) if "blip" in need else None
        self.clip = ClipScoreReward(clip, device) if "clip" in need else None
        self.depth = DptDepth(depth, device) if "depth" in need else None  # loaded first: a bad --depth fails early
        self.detector = OwlDetector(detector, device) if "detector" in need else None
        self.vocabulary = read_vocabulary(prompts) if category == "numeracy" else None

    def attribute(self, image, prompt: str) -> float:
        phrases = noun_phrases(prompt)
        answers = self.blip(image, [f"{p}?" for p in phrases])
        return cb.blip_image_score(answers + [None] * (cb.MAX_NOUN_PHRASES - len(answers)))

    def spatial(self, image, prompt: str) -> float:
        obj1, obj2, words = spatial_objects(prompt)
        if obj1 is None:
            return 0.0
        found = self.detector(image, [obj1, obj2])
        d1, d2 = (next((f for f in found if f[0] == o), None) for o in (obj1, obj2))
        if d1 is None or d2 is None:
            return cb.spatial_image_score(d1 and d1[1], d2 and d2[1], 0.0)
        return cb.spatial_image_score(d1[1], d2[1], cb.position_score(words, d1[2], d2[2]))

    def spatial_3d(self, image, prompt: str) -> float:
        """The 3D rule: the 2D weights without the 0.5 cut, the position from depth; the depth model
        runs only when both objects are found (otherwise the position is never read)."""
        obj1, obj2, words = spatial_objects(prompt, cb.SPATIAL_3D_WORDS)
        if obj1 is None:
            return 0.0
        found = self.detector(image, [obj1, obj2])
        i1, i2 = cb.pick_pair([f[0] for f in found], obj1, obj2)
        s1, s2 = (None if i is None else found[i][1] for i in (i1, i2))
        if s1 is None or s2 is None:
            return cb.spatial_image_score(s1, s2, 0.0, cut=0.0)
        position = cb.depth_position_score(words, found[i1][2], found[i2][2], self.depth(image))
        return cb.spatial_image_score(s1, s2, position, cut=0.0)

    def numeracy(self, image, prompt: str) -> float:
        wanted = numeracy_objects(prompt, self.vocabulary)
        if not wanted:
            return 0.0
        found = self.detector(image, [cb.SYNONYMS.get(n, n) for n, _ in wanted])
        return cb.numeracy_image_score(wanted, cb.merge_duplicates([f[0] for f in found], [f[2] for f in found]))

    def __call__(self, image: np.ndarray, meta: dict) -> float:
        prompt, category = meta["prompt"], self.category
        if category in ("color", "shape", "texture"):
            return self.attribute(image, prompt)
        if category == "spatial":
            return self.spatial(image, prompt)
        if category == "3d_spatial":
            return self.spatial_3d(image, prompt)
        if category == "numeracy":
            return self.numeracy(image, prompt)
        if category == "non_spatial":
            return float(self.clip([image], [prompt])[0])
        parts = meta.get("parts") or ["attribute", "spatial", "action"]
        spatial = self.spatial(image, prompt) if "spatial" in parts else None
        action = float(self.clip([image], [without_adjectives(prompt)])[0]) if "action" in parts else None
        return cb.three_in_one(parts, self.attribute(image, prompt), spatial, action)


def evaluate_official_folder(root, category: str, blip=None, clip=None, detector=None, prompts=None, device: str = "cpu",
                             progress: bool = True, depth=None) -> tuple[list[dict], dict]:  # fmt: skip
    """Score any T2I-CompBench output folder (ours or the official scripts') by the official metric of
    `category`; the prompt comes from each file name, as there."""
    from tqdm import tqdm

    images = cb.scan_folder(root)
    scorer = OfficialCompBench(category, blip, clip, detector, prompts, device, depth)
    parts = {cb._complex_key(r["prompt"]): r.get("parts") for r in cb.read_prompts("complex", prompts)} if category == "complex" else {}
    rows = []
    for path, prompt, qid in tqdm(images, desc=f"scoring {category}", unit="img", disable=not progress):
        meta = {"tag": category, "prompt": prompt, "parts": parts.get(cb._complex_key(prompt))}
        rows.append({"question_id": qid, "answer": scorer(load_rgb(path), meta), "prompt": prompt})
    return rows, cb.summarize(rows, category, "t2i-compbench", scorer.name)
