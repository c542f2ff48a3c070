"""Load, adapt (LoRA) and save causal language models."""
