"""Robustness attacks: does forgotten knowledge come back?

``unlearn attack`` (``run.py``) changes the model (relearning, quantization), the prompt
(paraphrase, few-shot, jailbreak wrappers) or how it is read (multiple-choice letters, the logit
lens), measures the forget split again with the evaluator, and reports per attack how much of what
unlearning removed came back (``recovery.py``, ``summary.py``). ``catalog.py`` registers the
attacks, each with its kind, description, own settings and functions (implemented in
``relearn.py``, ``quantize.py``, ``rewrites.py``, ``probes.py``); a new attack is one
registration there, and the runner, summary, tables and reports follow.
"""
