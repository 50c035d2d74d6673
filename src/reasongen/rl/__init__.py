"""Reinforcement learning for generators: GRPO over a policy interface (`grpo.py`)."""
