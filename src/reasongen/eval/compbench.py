"""T2I-CompBench (Karine-Huang/T2I-CompBench): its prompt files, its output layout, its scoring
arithmetic restated from the official scripts, and the ShapesWorld analogue scored by the exact detector.

Layout (GORS_finetune/inference_eval.py): every image of a category in `<dir>/samples/`, named
`{prompt}_{index:06d}.png`, the index counting images across prompts (prompt i, image j of n:
i * n + j). Each evaluator recovers the prompt from the name (the part before the first "_") and
writes one `{"question_id", "answer"}` per image; the category's score is the mean answer.

The scoring rules, per image:
- BLIP-VQA (colour, shape, texture): one question "{noun phrase}?" per noun phrase of the prompt
  (up to 8), answer P(yes) / (P(yes) + P(no)) rounded to 4 decimals; the image scores the product.
- UniDet 2D spatial: the first detection of each of the two objects; `0.25 s1 + 0.25 s2 + pos / 2`
  with both found (s = detection confidence), `0.25 s` with one, 0 with none; below 0.5 it is 0.
- UniDet 3D spatial ("in front of", "behind", "hidden"): the 2D rule's weights (no 0.5 cut) with a
  depth position: DPT's inverse depth, min-max normalised, averaged inside each box; the relation's
  depth order earns 1 when the boxes' IoU is over 0.5, IoU / 0.5 when it is in (0, 0.5), else 0.
- UniDet numeracy: per named object (weight 1 / #objects) 0.5 if detected and 0.5 more if the count
  of its boxes (near-duplicates merged) equals the number asked.
- CLIPScore (non-spatial): the raw cosine of CLIP's image and text embeddings.
- 3-in-1 (complex): the mean of attribute (BLIP-VQA), spatial (UniDet) and action (CLIP) scores
  over the parts the prompt has (complex_val_spatial: spatial + attribute; complex_val_action:
  action + attribute; the rest all three).

The ShapesWorld analogue (`world/compbench.py`) keeps the arithmetic and swaps the models for the
world's detector: a noun phrase's "P(yes)" is 1 when an object of its class and colour is detected,
else 0; UniDet's boxes and confidences are the detector's, cut at UniDet's 0.5.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import numpy as np

from ..world.compbench import CATEGORIES as SHAPES_CATEGORIES
from ..world.compbench import RELATION_WORDS
from .geneval import Detection, filter_detections
from .layout import LayoutError, load_rgb

# The official categories, named as its prompt files are (`{category}_val.txt`).
CATEGORIES = ("color", "shape", "texture", "spatial", "non_spatial", "complex", "3d_spatial", "numeracy")
BENCHMARKS = ("shapes", "t2i-compbench")
IMAGES_PER_PROMPT = 10  # the official protocol: 10 images per prompt
MAX_NOUN_PHRASES = 8  # BLIP_vqa.py's np_num
SKIPPED_PHRASES = ("top", "the side", "the left", "the right")  # never asked about
UNIDET_THRESHOLD = 0.5  # UniDet's confidence cut
SPATIAL_CUT = 0.5  # a 2D-spatial image score below this is 0
NEAR_PIXELS = 150  # the "near" distance, in pixels of the official ~512 px images
SPATIAL_3D_WORDS = ("in front of", "behind", "hidden")  # 3D_spatial_eval.py's vocabulary, looked for in this order
IOU_3D = 0.5  # the 3D rule's overlap threshold: full credit above it, IoU / 0.5 below
SPATIAL_WORDS = ("on side of", "next to", "near", "on the left of", "on the right of", "on the bottom of", "on the top of", "on top of")
NUMBER_WORDS = ("a", "an", "one", "two", "three", "four", "five", "six", "seven", "eight")
SYNONYMS = {"boy": "person", "girl": "person", "man": "person", "woman": "person", "ship": "boat", "telivision": "tv",
            "goldfish": "fish", "painting": "picture"}  # fmt: skip


# -- prompt files ------------------------------------------------------------------------------


def shipped_folder() -> Path:
    """The shipped copy of T2I-CompBench's `examples/dataset/` prompt files (MIT)."""
    return Path(str(resources.files("reasongen") / "data" / "benchmarks" / "t2i_compbench"))


def _lines(path: Path) -> list[str]:
    if not path.is_file():
        raise LayoutError(f"{path}: not found; pass --prompts DIR, a copy of T2I-CompBench's examples/dataset folder")
    return [line.strip("\n").split("\t")[0] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _complex_key(prompt: str) -> str:
    return prompt.split(".")[0].lower()  # how 3_in_1.py matches prompts across its files


def read_prompts(category: str, folder: str | Path | None = None) -> list[dict]:
    """The official validation prompts of a category as records `{"tag": category, "prompt"}`; a
    complex record also says which parts 3-in-1 averages (`"parts"`)."""
    if category not in CATEGORIES:
        raise ValueError(f"--category {category!r}: T2I-CompBench's categories are {', '.join(CATEGORIES)}")
    folder = Path(folder) if folder else shipped_folder()
    records = [{"tag": category, "prompt": p} for p in _lines(folder / f"{category}_val.txt")]
    if category == "complex":
        spatial = {_complex_key(p) for p in _lines(folder / "complex_val_spatial.txt")}
        action = {_complex_key(p) for p in _lines(folder / "complex_val_action.txt")}
        for r in records:
            key = _complex_key(r["prompt"])
            r["parts"] = ["attribute", "spatial"] if key in spatial else ["attribute", "action"] if key in action else ["attribute", "spatial", "action"]
    return records


def shapes_prompts(category: str) -> list[dict]:
    """The ShapesWorld analogue of a category (the shipped `shapes-compbench` set)."""
    from ..world.benchmarks import shipped_path

    if category not in SHAPES_CATEGORIES:
        raise ValueError(f"--category {category!r}: the ShapesWorld analogue has {', '.join(SHAPES_CATEGORIES)} "
                         "(texture, non_spatial and 3d_spatial have no counterpart in the world); use --benchmark t2i-compbench")  # fmt: skip
    lines = shipped_path("shapes-compbench").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["tag"] == category]


def benchmark_prompts(benchmark: str, category: str, folder: str | Path | None = None) -> list[dict]:
    if benchmark == "shapes":
        return shapes_prompts(category)
    if benchmark == "t2i-compbench":
        return read_prompts(category, folder)
    raise ValueError(f"--benchmark {benchmark!r}: choose shapes (the ShapesWorld analogue) or t2i-compbench (the real prompts)")


# -- layout ------------------------------------------------------------------------------------

_NAME = re.compile(r"(?P<prompt>[^_/]+)_(?P<index>\d+)\.png")


def image_name(index: int, meta: dict, j: int, n: int) -> str:
    """`{prompt}_{i * n + j:06d}.png`; a prompt holding "_" or "/" could not be read back from it."""
    prompt = meta["prompt"]
    if "_" in prompt or "/" in prompt:
        raise ValueError(f"prompt {prompt!r} holds '_' or '/', which T2I-CompBench's file names cannot carry")
    return f"{prompt}_{index * n + j:06d}.png"


def scan_folder(root: str | Path) -> list[tuple[Path, str, int]]:
    """(path, prompt, question_id) of every image in `<root>/samples`, in question_id order."""
    samples = Path(root) / "samples"
    if not samples.is_dir():
        raise LayoutError(f"{root}: no samples/ folder; pass the output folder of `reasongen sample compbench` "
                          "(T2I-CompBench's layout: DIR/samples/{prompt}_{index:06d}.png)")  # fmt: skip
    found = [(p, m) for p in samples.iterdir() if (m := _NAME.fullmatch(p.name))]
    if not found:
        raise LayoutError(f"{samples}: no images named like 'a red circle_000000.png'")
    found.sort(key=lambda pm: int(pm[1]["index"]))
    return [(p, m["prompt"], int(m["index"])) for p, m in found]


# -- the official arithmetic -------------------------------------------------------------------


def blip_image_score(answers) -> float:
    """BLIP-VQA's image score: the product of its questions' answers, each rounded to 4 decimals as
    the official script writes them; a question slot with no noun phrase (None) counts 1."""
    score = 1.0
    for a in answers:
        score *= 1.0 if a is None else round(float(a), 4)
    return score


def box_iou(box1, box2) -> float:
    """Plain box IoU (no +1 pixel), as the 2D-spatial rule computes it."""
    ix = max(0.0, min(box1[2], box2[2]) - max(box1[0], box2[0]))
    iy = max(0.0, min(box1[3], box2[3]) - max(box1[1], box2[1]))
    inter = ix * iy
    union = (box1[2] - box1[0]) * (box1[3] - box1[1]) + (box2[2] - box2[0]) * (box2[3] - box2[1]) - inter
    return inter / union if union else 0.0


def position_score(words: str | None, box1, box2, iou_threshold: float = 0.1, near: float = NEAR_PIXELS) -> float:
    """The 2D-spatial position score of object 1 relative to object 2 (boxes x1, y1, x2, y2; y down).

    Offsets are centre of 2 minus centre of 1. "next to" / "on side of" / "near": 1 when either
    offset is under `near`, else near / the larger offset. A direction needs its sign and its axis to
    dominate; then 1 when the boxes' IoU is under 0.1, else 0.1 / IoU. Anything else scores 0
    (including "on top of" without "the", which the official list names but never scores)."""
    dx = (box2[0] + box2[2]) / 2 - (box1[0] + box1[2]) / 2
    dy = (box2[1] + box2[3]) / 2 - (box1[1] + box1[3]) / 2
    if words in ("next to", "on side of", "near"):
        return 1.0 if abs(dx) < near or abs(dy) < near else near / max(abs(dx), abs(dy))
    sign_ok = {"on the right of": dx < 0, "on the left of": dx > 0, "on the bottom of": dy < 0, "on the top of": dy > 0}
    if not sign_ok.get(words, False):
        return 0.0
    horizontal = words in ("on the right of", "on the left of")
    if (abs(dx) > abs(dy)) if horizontal else (abs(dy) > abs(dx)):
        iou = box_iou(box1, box2)
        return 1.0 if iou < iou_threshold else iou_threshold / iou
    return 0.0


def box_depth(depth, box) -> float | None:
    """Mean depth inside a box (x1, y1, x2, y2) as the official 3D rule reads it, None for an empty slice.

    Official quirk, kept: the map (rows = y, columns = x) is sliced [int(x1):int(x2), int(y1):int(y2)],
    i.e. with the box's axes swapped. On a square image that reads the box mirrored in the diagonal; on
    a wide one a box whose x1 is past the image's height reads nothing. The official mean of an empty
    slice is NaN, which fails every depth test; None here does the same in `depth_position_score`."""
    region = np.asarray(depth)[int(box[0]) : int(box[2]), int(box[1]) : int(box[3])]  # x on rows: the official indexing
    return float(region.mean()) if region.size else None


def depth_position_score(words: str | None, box1, box2, depth, iou_cut: float = IOU_3D) -> float:
    """The 3D-spatial position score of object 1 relative to object 2 from their boxes and a depth map
    (larger = nearer, as DPT's inverse depth is). "in front of" needs object 1's mean depth above object
    2's, "behind" and "hidden" below it (strictly; a tie fails). With the order right: 1 when the boxes'
    IoU is over 0.5, IoU / 0.5 when it is over 0 and under 0.5; no overlap, or an IoU of exactly 0.5
    (the official tests are strict on both sides), scores 0. Other relation words score 0."""
    if words not in SPATIAL_3D_WORDS:
        return 0.0
    d1, d2 = box_depth(depth, box1), box_depth(depth, box2)
    if d1 is None or d2 is None:
        return 0.0
    if not (d1 > d2 if words == "in front of" else d1 < d2):
        return 0.0
    iou = box_iou(box1, box2)
    if iou > iou_cut:
        return 1.0
    return iou / iou_cut if 0 < iou < iou_cut else 0.0


def pick_pair(labels: list[str], name1: str, name2: str) -> tuple[int | None, int | None]:
    """Which detections (best first) stand for the two objects, by the official UniDet scan: a label
    stands for a name it contains (substring: "car" matches "carrot"). With both names matched, the
    scan stops at the first index by which both have been, and each object takes its last match up
    to there, so a second box of object 1 ranked before object 2's first box replaces object 1's
    best one. With one name matched, its first match; with none, (None, None)."""
    hits1 = [i for i, label in enumerate(labels) if name1 in label]
    hits2 = [i for i, label in enumerate(labels) if name2 in label]
    if hits1 and hits2:
        stop = max(hits1[0], hits2[0])
        return max(i for i in hits1 if i <= stop), max(i for i in hits2 if i <= stop)
    return (hits1[0] if hits1 else None), (hits2[0] if hits2 else None)


def spatial_image_score(s1: float | None, s2: float | None, pos: float, cut: float = SPATIAL_CUT) -> float:
    """0.25 s1 + 0.25 s2 + pos / 2 with both objects found (s: detection confidence), 0.25 s with one,
    0 with none; a total under `cut` is 0 (2D: 0.5; the 3D script has no cut, `cut=0`)."""
    if s1 is not None and s2 is not None:
        score = 0.25 * s1 + 0.25 * s2 + pos / 2
    elif s1 is not None or s2 is not None:
        score = 0.25 * (s1 if s1 is not None else s2)
    else:
        score = 0.0
    return 0.0 if score < cut else score


def merge_duplicates(labels: list[str], boxes: list) -> list[str]:
    """Numeracy's de-duplication: a box is dropped when a kept box of the same label overlaps it with
    IoU over 0.9, or covers over 90 % of either box (areas with the +1 pixel convention)."""

    def same(a, b):
        ix = max(0, min(a[2], b[2]) - max(a[0], b[0]) + 1)
        iy = max(0, min(a[3], b[3]) - max(a[1], b[1]) + 1)
        inter = ix * iy
        area_a, area_b = (a[2] - a[0] + 1) * (a[3] - a[1] + 1), (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
        return inter / (area_a + area_b - inter) > 0.9 or inter / area_a > 0.9 or inter / area_b > 0.9

    kept: list[tuple[str, object]] = []
    for label, box in zip(labels, boxes):
        if not any(label == k and same(box, kb) for k, kb in kept):
            kept.append((label, box))
    return [k for k, _ in kept]


def numeracy_image_score(wanted: list[tuple[str, int]], detected: list[str]) -> float:
    """Per wanted (object, number), weight 1 / len(wanted): 0.5 when the object is among the detected
    labels, 0.5 more when exactly `number` of them are. A wanted name that is not a label but is part
    of one (e.g. "dog" in "hot dog") takes that label over, as the official loop does."""
    if not wanted:
        return 0.0  # the official script divides by zero here; nothing asked, nothing earned
    detected, score, weight = list(detected), 0.0, 1.0 / len(wanted)
    for name, number in wanted:
        name = SYNONYMS.get(name, name)
        if name not in detected:
            detected = [name if name in d else d for d in detected]
        if name in detected:
            score += 0.5 * weight
            if detected.count(name) == number:
                score += 0.5 * weight
    return score


def three_in_one(parts, attribute: float, spatial: float | None = None, action: float | None = None) -> float:
    """3-in-1: (spatial + attribute) / 2, (action + attribute) / 2, or the mean of all three."""
    values = {"attribute": attribute, "spatial": spatial, "action": action}
    missing = [p for p in parts if values[p] is None]
    if missing:
        raise ValueError(f"3-in-1 needs the {', '.join(missing)} score of this prompt")
    return sum(values[p] for p in parts) / len(parts)


# -- the ShapesWorld analogue ------------------------------------------------------------------

_WORDS_OF = {rel: words for words, rel in RELATION_WORDS.items()}


class ShapesCompBench:
    """Scores an image of a `shapes-compbench` record with the ShapesWorld detector, by the official
    arithmetic (module doc): BLIP's P(yes) becomes an exact 0 / 1, UniDet's boxes the detector's."""

    name = "shapes"

    def __init__(self, detector=None, threshold: float = UNIDET_THRESHOLD):
        if detector is None:
            from .shapes_detector import ShapesDetector

            detector = ShapesDetector()
        self.detector, self.threshold = detector, threshold

    def __call__(self, image: np.ndarray, meta: dict) -> float:
        detected = filter_detections(self.detector.detect(image), self.threshold)
        category = meta["tag"]
        if category in ("color", "shape"):
            return self.attribute(image, detected, meta["include"])
        if category == "spatial":
            return self.spatial(detected, meta["include"], image.shape[0])
        if category == "numeracy":
            dets = [d for ds in detected.values() for d in sorted(ds, key=lambda d: -d.score)]
            wanted = [(c["class"], c["count"]) for c in meta["include"]]
            return numeracy_image_score(wanted, merge_duplicates([d.cls for d in dets], [d.box for d in dets]))
        if category == "complex":
            return three_in_one(["attribute", "spatial"], self.attribute(image, detected, meta["include"]),
                                self.spatial(detected, meta["include"], image.shape[0]))  # fmt: skip
        raise ValueError(f"record {meta.get('prompt')!r} has category {category!r}; the ShapesWorld analogue has {', '.join(SHAPES_CATEGORIES)}")

    def attribute(self, image, detected: dict[str, list[Detection]], clauses) -> float:
        """The product over noun phrases of 1 if an object of its class (and colour) is there, else 0."""
        answers = []
        for c in clauses:
            found = detected.get(c["class"], [])
            ok = bool(found) and ("color" not in c or c["color"] in self.detector.classify_colors(image, found, c["class"]))
            answers.append(1.0 if ok else 0.0)
        return blip_image_score(answers)

    def spatial(self, detected: dict[str, list[Detection]], clauses, size: int) -> float:
        """Object 1 is the positioned one (include[1]), object 2 its target (include[0])."""
        target, mover = clauses
        d1, d2 = (detected.get(c["class"], [None])[0] for c in (mover, target))
        if d1 is None or d2 is None:
            return spatial_image_score(d1 and d1.score, d2 and d2.score, 0.0)
        pos = position_score(_WORDS_OF[mover["position"][0]], d1.box, d2.box, near=NEAR_PIXELS * size / 512)
        return spatial_image_score(d1.score, d2.score, pos)


# -- scoring a folder --------------------------------------------------------------------------


def read_folder_records(root: str | Path) -> list[dict]:
    """The records `reasongen sample compbench` wrote beside the samples (`<root>/metadata.jsonl`)."""
    path = Path(root) / "metadata.jsonl"
    if not path.is_file():
        raise LayoutError(f"{path}: missing; the ShapesWorld evaluator reads the clauses `reasongen sample compbench` writes there")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def evaluate_shapes_folder(root: str | Path, category: str, scorer=None, progress: bool = True) -> tuple[list[dict], dict]:
    """Score a ShapesWorld-analogue folder: per-image rows (the official `{"question_id", "answer"}`
    plus the prompt) and the summary (`score`: the mean; seen and unseen compositions apart)."""
    from tqdm import tqdm

    from ..world.heldout import record_split

    if category not in SHAPES_CATEGORIES:
        raise ValueError(f"--category {category!r}: the ShapesWorld evaluator scores {', '.join(SHAPES_CATEGORIES)}")
    images = scan_folder(root)
    by_prompt = {r["prompt"]: r for r in read_folder_records(root)}
    scorer = scorer or ShapesCompBench()
    rows = []
    for path, prompt, qid in tqdm(images, desc=f"scoring {category}", unit="img", disable=not progress):
        meta = by_prompt.get(prompt)
        if meta is None or "include" not in meta:
            raise LayoutError(f"{path}: its prompt {prompt!r} has no ShapesWorld clauses in {Path(root) / 'metadata.jsonl'}; "
                              "sample with --benchmark shapes, or score real prompts with --evaluator official")  # fmt: skip
        if meta["tag"] != category:
            raise LayoutError(f"{path}: a {meta['tag']} prompt, not {category}; pass --category {meta['tag']}")
        rows.append({"question_id": qid, "answer": scorer(load_rgb(path), meta), "prompt": prompt, "split": record_split(meta)})
    return rows, summarize(rows, category, "shapes", scorer.name)


def summarize(rows: list[dict], category: str, benchmark: str, evaluator: str) -> dict:
    """The category score (mean answer over images), as the official scripts print it, with counts
    and, where rows carry a `split`, seen and unseen compositions apart."""
    if not rows:
        raise ValueError("no images to score")
    summary = {"score": float(np.mean([r["answer"] for r in rows])), "category": category, "benchmark": benchmark,
               "evaluator": evaluator, "n_images": len(rows), "n_prompts": len({r["prompt"] for r in rows})}  # fmt: skip
    splits = {}
    for r in rows:
        if "split" in r:
            splits.setdefault(r["split"], []).append(r["answer"])
    if splits:
        summary["compositions"] = {s: {"score": float(np.mean(v)), "n_images": len(v)} for s, v in sorted(splits.items())}
    return summary


def format_summary(summary: dict) -> str:
    """The category's score line (`reasongen eval compbench`) and, where there are some, each composition split's."""
    lines = [f"{summary['category']}: {summary['score']:.4f} over {summary['n_images']} images ({summary['n_prompts']} prompts, "
             f"{summary['evaluator']} evaluator)"]  # fmt: skip
    lines += [f"  {split} compositions: {part['score']:.4f} ({part['n_images']} images)" for split, part in summary.get("compositions", {}).items()]
    return "\n".join(lines)
