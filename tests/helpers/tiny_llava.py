"""A tiny random LLaVA (CLIP vision tower + Llama) saved as a local transformers folder with a
word-level tokenizer and a chat template: the stand-in for a real image-text-to-text checkpoint
(T2I-R1's ORM, ReasonDiff's MLLM narrator) in tests."""

import torch


def save_tiny_llava(folder, words: list[str]) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration,
                              LlavaProcessor, PreTrainedTokenizerFast)  # fmt: skip

    vocab = {w: i for i, w in enumerate(dict.fromkeys(["[PAD]", "[UNK]", "<image>", "USER", "ASSISTANT", ":", *words]))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    template = ("{% for m in messages %}USER : {% for c in m['content'] %}{% if c['type'] == 'image' %}<image> "
                "{% else %}{{ c['text'] }}{% endif %}{% endfor %} {% endfor %}{% if add_generation_prompt %}ASSISTANT :{% endif %}")
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]", extra_special_tokens={"image_token": "<image>"})
    processor = LlavaProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
                               tokenizer=tok, patch_size=8, vision_feature_select_strategy="default", chat_template=template,
                               image_token="<image>", num_additional_image_tokens=1)  # fmt: skip  (the CLS token)
    cfg = LlavaConfig(vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                                     image_size=32, patch_size=8),
                      text_config=LlamaConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                              num_attention_heads=2, num_key_value_heads=2, pad_token_id=0),
                      image_token_index=vocab["<image>"], vision_feature_layer=-1)  # fmt: skip
    torch.manual_seed(0)
    LlavaForConditionalGeneration(cfg).save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
