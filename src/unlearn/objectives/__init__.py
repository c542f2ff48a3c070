"""Unlearning objectives: pure loss functions (``losses``) and the registry of named terms."""
