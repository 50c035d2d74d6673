"""T2I-R1 (arXiv 2505.00703): a semantic CoT, then image tokens, both trained with BiCoT-GRPO."""
