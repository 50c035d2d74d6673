"""GenEval's real detector stack through transformers: Mask2Former (COCO instances) + CLIP colours.

GenEval (djghosh13/geneval, evaluation/evaluate_images.py) runs mmdetection's Mask2Former Swin-S
COCO instance model and open_clip's ViT-L/14 (openai) as a zero-shot colour classifier. This module
gives the same two steps over transformers checkpoints (e.g. facebook/mask2former-swin-small-coco-instance
and openai/clip-vit-large-patch14); GenEval's rules themselves live in `geneval.py`.

Detection (`detect`) — post-processing choice. transformers' `post_process_instance_segmentation`
scores hypotheses the way mmdet does, but it upsamples the mask logits to a hard-coded 384 x 384
(whatever the processor's size, padding included), binarises and scores them there, nearest-resizes
the binary masks and drops empty masks. So the per-query scores are computed here from
`class_queries_logits` / `masks_queries_logits` as mmdet's `MaskFormerFusionHead.instance_postprocess`
does, after mmdet's upsampling (`Mask2FormerHead.simple_test` + fusion head):
  - mask logits upsampled bilinearly to the padded input, the padding cropped (from `pixel_mask`),
    upsampled bilinearly to the original image size;
  - top-k (k = number of queries, mmdet's max_per_image = 100 = num_queries) over queries x classes of
    the softmax class scores, no-object column excluded;
  - mask = logit > 0 (sigmoid > 0.5); score = class score x mean sigmoid inside the mask;
  - box = mmdet's `mask2bbox`: (x_min, y_min, x_max + 1, y_max + 1), so that PIL's crop is the mask's
    tight box. Nothing is thresholded: GenEval's 0.3 / 0.9 cuts come later. The only hypotheses left
    out are empty masks (mmdet gives them box 0 and score exactly 0, which no cut keeps) and labels
    with no GenEval class (e.g. COCO panoptic stuff).

Colours (`classify_colors`): GenEval's `ImageCrops` + clip_benchmark's `zero_shot_classifier` /
`run_classification`: the image is composited over a "#999" RGB image through the detection's mask,
cropped to its box, encoded, L2-normalised and matched against a per-class classifier (for each of
the 10 colours, three templates encoded, each normalised, averaged, normalised again); argmax.

Known differences from GenEval's numbers: the transformers Mask2Former weights are the port of the
original Mask2Former release (not OpenMMLab's retrained checkpoint) and its processor resizes to the
checkpoint's size (mmdet: short side 800, long side <= 1333, pad to 32); image processors use the PIL
backend (open_clip's transform is PIL bicubic resize + centre crop too). clip_benchmark runs CLIP
under CUDA autocast (fp16); we do the same on CUDA and stay in fp32 on CPU.
"""

from __future__ import annotations

import contextlib
import re
from typing import Sequence

import numpy as np
from PIL import Image

from ..world.vocab import COLOR_NAMES
from .geneval import Detection

# GenEval's object_names.txt, in its order.
GENEVAL_CLASSES = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed",
    "dining table", "toilet", "tv", "laptop", "computer mouse", "tv remote", "computer keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase",
    "scissors", "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip

# Checkpoint label spellings (COCO, detectron2, VOC) that name a GenEval class differently.
# Keys are normalised by `_key` (lower case, letters only), so "potted_plant" == "pottedplant".
_ALIASES = {
    "mouse": "computer mouse", "remote": "tv remote", "remotecontrol": "tv remote",
    "keyboard": "computer keyboard", "hairdryer": "hair drier", "motorbike": "motorcycle",
    "aeroplane": "airplane", "sofa": "couch", "tvmonitor": "tv", "television": "tv",
    "mobilephone": "cell phone", "doughnut": "donut", "tennisracquet": "tennis racket",
    "diningtable": "dining table", "pottedplant": "potted plant",
}  # fmt: skip

BACKGROUND = "#999"  # GenEval's bgcolor default: (153, 153, 153)
_MISSING_WEIGHTS = (
    "the mask2former detector needs two sets of weights: a transformers Mask2Former COCO instance "
    "checkpoint and a CLIP checkpoint. Pass both, as local folders or hub ids: on the command line "
    "--mask2former PATH_OR_ID and --clip PATH_OR_ID, in Python model=... and clip=... (e.g. "
    "facebook/mask2former-swin-small-coco-instance and openai/clip-vit-large-patch14, GenEval's "
    "Swin-S and ViT-L/14). The 'shapes' detector needs no weights."
)


def _key(name: str) -> str:
    return re.sub(r"[^a-z]", "", name.lower())


_BY_KEY = {_key(name): name for name in GENEVAL_CLASSES} | _ALIASES


def geneval_name(label: str) -> str | None:
    """GenEval's name for a checkpoint label, or None when it names no GenEval class."""
    return _BY_KEY.get(_key(label))


class Mask2FormerDetector:
    """GenEval's Mask2Former + CLIP evaluator stack over transformers checkpoints (see module doc)."""

    name = "mask2former"
    classes = GENEVAL_CLASSES
    colors = COLOR_NAMES

    def __init__(
        self, model: str | None = None, clip: str | None = None, device: str = "cpu", allow_download: bool = False
    ):
        if model is None or clip is None:
            raise ValueError(_MISSING_WEIGHTS)
        import torch
        import transformers as tf

        self._torch = torch
        self.device = torch.device(device)
        self.allow_download = allow_download
        # PIL backend: the same result with or without torchvision installed, and open_clip's transform is PIL.
        processor = tf.AutoImageProcessor.from_pretrained
        self.processor = self._load(processor, model, backend="pil", trust_remote_code=False)
        self.model = self._load_model(tf.Mask2FormerForUniversalSegmentation, model, "mask2former")
        self.clip_processor = self._load(processor, clip, backend="pil", trust_remote_code=False)
        self.tokenizer = self._load(tf.AutoTokenizer.from_pretrained, clip, trust_remote_code=False)
        self.clip = self._load_model(tf.CLIPModel, clip, "clip")
        # checkpoint label id -> GenEval name; labels naming no GenEval class are left out.
        self.label_names = {
            int(i): geneval_name(label) for i, label in self.model.config.id2label.items() if geneval_name(label)
        }
        self._classifiers: dict[str, object] = {}

    # -- loading ------------------------------------------------------------------------------
    def _load(self, loader, value: str, **kwargs):
        try:
            return loader(value, local_files_only=not self.allow_download, **kwargs)
        except OSError as err:
            hint = "pass a local folder holding it"
            if not self.allow_download:
                hint += " or allow download (allow_download=True)"
            raise ValueError(f"cannot load {value!r}: {str(err).splitlines()[0]} -- {hint}") from err

    def _load_model(self, cls, value: str, model_type: str):
        from transformers import AutoConfig

        config = self._load(AutoConfig.from_pretrained, value, trust_remote_code=False)
        if config.model_type != model_type:  # transformers would load it anyway, with random weights
            raise ValueError(f"{value!r} holds a {config.model_type!r} checkpoint, expected {model_type!r}")
        model, info = self._load(
            cls.from_pretrained, value, config=config, use_safetensors=True, dtype=self._torch.float32,
            output_loading_info=True,
        )  # fmt: skip
        missing = sorted(k for k in info["missing_keys"] if not k.startswith("criterion."))  # the loss is unused
        if missing:
            raise ValueError(
                f"{value!r} lacks {len(missing)} weights of {cls.__name__} (e.g. {missing[:3]}); they would be random"
            )
        return model.to(self.device).eval()

    # -- Detector protocol --------------------------------------------------------------------
    def check_size(self, width: int, height: int, where: str) -> None:
        # The processor resizes any image; only degenerate ones are refused.
        if min(width, height) < 16:
            raise ValueError(f"{where}: image is {width}x{height}; the mask2former detector needs at least 16 px a side")

    def check_image(self, image: np.ndarray, where: str) -> None:
        ok = isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        if not ok or min(image.shape[:2]) == 0:
            what = type(image).__name__
            if isinstance(image, np.ndarray):
                what = f"shape {image.shape}, dtype {image.dtype}"
            raise ValueError(f"{where}: the mask2former detector reads H x W x 3 uint8 RGB images, got {what}")

    def detect(self, image: np.ndarray) -> list[Detection]:
        self.check_image(image, "detect")
        torch = self._torch
        with torch.no_grad():
            inputs = self.processor(images=Image.fromarray(image), return_tensors="pt")
            out = self.model(
                pixel_values=inputs["pixel_values"].to(self.device), pixel_mask=inputs["pixel_mask"].to(self.device)
            )
            return self._instances(
                out.class_queries_logits[0], out.masks_queries_logits[0], inputs["pixel_mask"][0], image.shape[:2]
            )

    def _instances(self, class_logits, mask_logits, pixel_mask, size) -> list[Detection]:
        """mmdet's instance post-processing, no score threshold (see module doc)."""
        import torch.nn.functional as F

        num_queries, num_classes = class_logits.shape[0], class_logits.shape[1] - 1
        scores = class_logits.softmax(-1)[:, :-1]  # last column: no object
        top_scores, top = scores.flatten().topk(min(num_queries, scores.numel()))
        labels, queries = (top % num_classes).tolist(), top // num_classes
        keep = [i for i, label in enumerate(labels) if label in self.label_names]
        if not keep:
            return []
        logits = mask_logits[queries[keep]][None]  # 1 x K x h/4 x w/4
        logits = F.interpolate(logits, size=tuple(pixel_mask.shape), mode="bilinear", align_corners=False)
        valid_h, valid_w = int(pixel_mask.any(1).sum()), int(pixel_mask.any(0).sum())
        logits = logits[..., :valid_h, :valid_w]  # drop the padding, then back to the image's own size
        logits = F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)[0]
        masks = logits > 0
        mask_scores = (logits.sigmoid() * masks).flatten(1).sum(1) / (masks.flatten(1).sum(1) + 1e-6)
        det_scores = (top_scores[keep] * mask_scores).tolist()
        found = []
        for i, mask, score in zip(keep, masks.cpu().numpy(), det_scores):
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            if rows.size == 0:
                continue  # empty mask: score 0, never kept by GenEval
            box = (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))
            found.append(Detection(self.label_names[labels[i]], box, score, mask))
        return found

    def classify_colors(self, image: np.ndarray, found: Sequence[Detection], cls: str) -> list[str]:
        self.check_image(image, "classify_colors")
        if not found:
            return []
        picture = Image.fromarray(image)
        blank = Image.new("RGB", picture.size, color=BACKGROUND)
        crops = []
        for det in found:  # GenEval's ImageCrops: paste over #999 through the mask, crop to the box
            masked = picture
            if det.mask is not None:
                if det.mask.shape != image.shape[:2]:
                    raise ValueError(f"classify_colors: mask shape {det.mask.shape} != image {image.shape[:2]}")
                masked = Image.composite(picture, blank, Image.fromarray(np.asarray(det.mask, dtype=bool)))
            crops.append(masked.crop(det.box[:4]))
        with self._torch.no_grad(), self._autocast():
            logits = 100.0 * self._image_features(crops) @ self.color_classifier(cls)  # clip_benchmark's logits
        return [self.colors[i] for i in logits.argmax(1).tolist()]

    # -- CLIP ---------------------------------------------------------------------------------
    def _autocast(self):
        # clip_benchmark wraps CLIP in torch.cuda.amp.autocast (fp16); fp32 elsewhere.
        if self.device.type == "cuda":
            return self._torch.autocast("cuda", dtype=self._torch.float16)
        return contextlib.nullcontext()

    def _image_features(self, crops: list[Image.Image]):
        """L2-normalised CLIP image embeddings of PIL crops, N x dim."""
        pixels = self.clip_processor(images=crops, return_tensors="pt")["pixel_values"].to(self.device)
        return self._torch.nn.functional.normalize(_pooled(self.clip.get_image_features(pixel_values=pixels)), dim=-1)

    def color_classifier(self, cls: str):
        """clip_benchmark's zero_shot_classifier over GenEval's colours for `cls`: dim x 10, unit columns."""
        if cls not in self._classifiers:
            torch, F = self._torch, self._torch.nn.functional
            templates = [f"a photo of a {{c}} {cls}", f"a photo of a {{c}}-colored {cls}", "a photo of a {c} object"]
            max_length = self.clip.config.text_config.max_position_embeddings  # open_clip's context length, 77
            columns = []
            with torch.no_grad(), self._autocast():
                for color in self.colors:
                    texts = [t.format(c=color) for t in templates]
                    tokens = self.tokenizer(
                        texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
                    ).to(self.device)
                    text = _pooled(self.clip.get_text_features(**tokens))
                    column = F.normalize(text, dim=-1).mean(0)
                    columns.append(column / column.norm())
            self._classifiers[cls] = torch.stack(columns, dim=1).float()
        return self._classifiers[cls]


def _pooled(output):
    # transformers 5 returns a BaseModelOutputWithPooling (projected features in pooler_output); 4.x a tensor.
    return output if hasattr(output, "shape") else output.pooler_output
