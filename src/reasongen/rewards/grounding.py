"""T2I-R1's GroundingDINO expert at real scale, through transformers' `GroundingDinoForObjectDetection`
from a local folder (e.g. a download of IDEA-Research/grounding-dino-tiny; safetensors only, nothing
is fetched).

As the official expert does, the query is the prompt's nouns, here the classes of its clauses, as
"circle . star ."; each box belongs to the class whose tokens it scores highest (the max over that
class's tokens); boxes under 0.3 (the official box threshold) are dropped, then NMS at IoU 0.5 per
class (the official counting step). The partial credit is `DetectorReward`'s, the same rules as the
ShapesWorld expert.
"""

from __future__ import annotations

import numpy as np
import torch

from ..backbones.local import load_local_model
from ..eval.geneval import Detection, filter_detections
from .shapes import DetectorReward

BOX_THRESHOLD, NMS_IOU = 0.3, 0.5


class GroundingDinoReward(DetectorReward):
    def __init__(self, folder, device: str = "cpu", box_threshold: float = BOX_THRESHOLD, nms_iou: float = NMS_IOU):
        from transformers import AutoProcessor, GroundingDinoForObjectDetection

        self.model = load_local_model(GroundingDinoForObjectDetection, folder, "GroundingDINO",
                                      "e.g. a download of IDEA-Research/grounding-dino-tiny", device)  # fmt: skip
        super().__init__(detector=None, threshold=box_threshold)
        self.processor = AutoProcessor.from_pretrained(folder, local_files_only=True)
        self.device, self.nms_iou = device, nms_iou

    def found(self, image, meta: dict) -> list:
        classes = list(dict.fromkeys(c["class"] for c in meta["include"]))
        kept = filter_detections(self.detect(image, classes), self.threshold, max_overlap=self.nms_iou)
        return [d for dets in kept.values() for d in dets]

    @torch.no_grad()
    def detect(self, image: np.ndarray, classes: list[str]) -> list[Detection]:
        """Every query's box, labelled with its best class; masks are the boxes (one array each)."""
        text = " . ".join(classes) + " ."
        inputs = self.processor(images=image, text=text, return_tensors="pt").to(self.device)
        offsets = self.processor.tokenizer(text, return_offsets_mapping=True)["offset_mapping"]
        spans, start = [], 0
        for cls in classes:  # the tokens of each class name, by character offsets
            a = text.index(cls, start)
            start = a + len(cls)
            spans.append([i for i, (s, e) in enumerate(offsets) if e > s and s >= a and e <= start])
        out = self.model(**inputs)
        probs = out.logits[0].sigmoid()  # (queries, text tokens)
        per_class = torch.stack([probs[:, span].max(-1).values for span in spans], -1)
        scores, best = per_class.max(-1)
        H, W = image.shape[:2]
        cx, cy, w, h = out.pred_boxes[0].unbind(-1)
        boxes = torch.stack([(cx - w / 2) * W, (cy - h / 2) * H, (cx + w / 2) * W, (cy + h / 2) * H], -1).clamp(min=0)
        dets = []
        for score, k, box in zip(scores.tolist(), best.tolist(), boxes.tolist()):
            mask = np.zeros((H, W), dtype=bool)
            x1, y1, x2, y2 = (int(round(v)) for v in box)
            mask[y1:y2, x1:x2] = True
            dets.append(Detection(classes[k], tuple(box), float(score), mask))
        return dets
