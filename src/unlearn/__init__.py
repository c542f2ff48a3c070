"""llm-unlearn: remove what a language model learned from a forget set, and measure it."""

__version__ = "0.1.0"
