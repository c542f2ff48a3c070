"""Robustness attacks: does forgotten knowledge come back?

Each attack changes the model (relearning, quantization) or the prompt (paraphrase, multiple
choice, few-shot, jailbreak wrappers); the evaluator then measures the forget split again, and
``recovery`` says how much of what unlearning removed came back. Built so far: the recovery
measure (``recovery``), the prompt builders (``prompts``), the forget-record rewrites
(``rewrites``) and the quantization round trips (``quantize``); the ``unlearn attack`` command,
relearning, the logit lens and the report section are still to come (issue 13).
"""
