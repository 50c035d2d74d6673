"""CLIP score as a reward for real images: the cosine between CLIP's image and text embeddings, raw (not
x 100, not clipped), as T2I-CompBench's CLIPScore computes it. Weights load from a local
transformers folder (e.g. a download of openai/clip-vit-base-patch32), safetensors only; nothing is
fetched. It stands in for T2I-R1's HPS v2.1 expert, whose checkpoint is a pickled open_clip file that
this project does not load.
"""

from __future__ import annotations

import numpy as np
import torch

from ..backbones.local import load_local_model


class ClipScoreReward:
    def __init__(self, folder, device: str = "cpu"):
        from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel

        self.model = load_local_model(CLIPModel, folder, "CLIP", "e.g. a download of openai/clip-vit-base-patch32", device)
        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        self.image_processor = AutoImageProcessor.from_pretrained(folder, local_files_only=True)
        self.device = device

    @torch.no_grad()
    def __call__(self, images, prompts, metadata=None) -> list[float]:
        text = self.tokenizer(list(prompts), return_tensors="pt", padding=True, truncation=True,
                              max_length=self.model.config.text_config.max_position_embeddings)  # fmt: skip
        pixels = self.image_processor(images=[np.asarray(im) for im in images], return_tensors="pt").pixel_values
        img = self.model.get_image_features(pixel_values=pixels.to(self.device))
        txt = self.model.get_text_features(input_ids=text.input_ids.to(self.device), attention_mask=text.attention_mask.to(self.device))
        img = getattr(img, "pooler_output", img)
        txt = getattr(txt, "pooler_output", txt)
        img, txt = torch.nn.functional.normalize(img, dim=-1), torch.nn.functional.normalize(txt, dim=-1)
        return (img * txt).sum(-1).float().cpu().tolist()
