"""Robustness attacks: does forgotten knowledge come back?

Each attack changes the model (relearning, quantization) or the prompt (paraphrase, multiple
choice, few-shot, jailbreak wrappers); the evaluator then measures the forget split again, and
``recovery`` says how much of what unlearning removed came back. Built so far: the recovery
measure (``recovery``), the prompt builders (``prompts``) and the forget-record rewrites
(``rewrites``); the ``unlearn attack`` command,
the model-changing attacks and the report section are still to come (issue 13).
"""
