"""The attacks ``unlearn attack`` runs, by the names users pass, and what each one changes.

A name may stand for several measured attacks: ``quantize-4bit`` is NF4 and FP4, ``jailbreak`` one
attack per wrapper. ``model`` attacks change the weights and are evaluated on the forget split and
utility; ``prompt`` attacks rewrite the forget questions (one fused evaluation pass for all of
them); ``probe`` attacks read the model differently (multiple-choice letters, the logit lens).
"""

from __future__ import annotations

from unlearn.attacks.prompts import JAILBREAKS

GROUPS = {
    "relearn": "model", "relearn-unrelated": "model", "relearn-kfold": "model", "quantize-4bit": "model",
    "quantize-8bit": "model", "paraphrase": "prompt", "few-shot": "prompt", "jailbreak": "prompt",
    "multiple-choice": "probe", "logit-lens": "probe",
}
DESCRIPTIONS = {
    "relearn": "fine-tune on part of the forget set, measure the held-out part (Hu et al. 2024)",
    "relearn-unrelated": "fine-tune on general text unrelated to the forget set (Lucki et al. 2024)",
    "relearn-kfold": "fine-tune on K-1 folds of the forget set, measure the held-out fold, for every fold "
                     "(Deeb & Roger 2024)",
    "quantize-nf4": "weights rounded to 4-bit NormalFloat by bitsandbytes (Zhang et al. 2025)",
    "quantize-fp4": "weights rounded to 4-bit float by bitsandbytes (Zhang et al. 2025)",
    "quantize-int8": "weights rounded to LLM.int8's row-wise 8 bits by bitsandbytes (Zhang et al. 2025)",
    "paraphrase": "the forget questions paraphrased",
    "few-shot": "other forget question-answer pairs in the prompt (in-context relearning)",
    "multiple-choice": "the true answer among the wrong ones as A-D, chosen by the letter's likelihood; the "
                       "floor is the control's accuracy (without a control: chance)",
    "logit-lens": "each layer's residual stream decoded by the final norm and unembedding; the probability of the "
                  "answer's first fact token at the layer best on a held-out half of the questions",
}


def kind(name: str) -> str:
    """``model``, ``prompt`` or ``probe`` for a measured attack name such as ``quantize-nf4``."""
    if name.startswith("quantize-"):
        return "model"
    if name.startswith("jailbreak-"):
        return "prompt"
    return GROUPS[name]


def description(name: str) -> str:
    if name.startswith("jailbreak-"):
        return f"the forget question inside the '{name.removeprefix('jailbreak-')}' jailbreak wrapper"
    return DESCRIPTIONS[name]


def expand(groups: list[str], jailbreaks: list[str]) -> list[str]:
    """The measured attacks of ``groups`` (``all`` = every group), in the catalog's order."""
    unknown = [g for g in groups if g != "all" and g not in GROUPS]
    if unknown:
        raise ValueError(f"unknown attack '{unknown[0]}' (known: all, {', '.join(GROUPS)})")
    chosen = list(GROUPS) if "all" in groups else [g for g in GROUPS if g in groups]
    names = []
    for group in chosen:
        if group == "quantize-4bit":
            names += ["quantize-nf4", "quantize-fp4"]
        elif group == "quantize-8bit":
            names.append("quantize-int8")
        elif group == "jailbreak":
            names += [f"jailbreak-{wrapper}" for wrapper in jailbreaks]
        else:
            names.append(group)
    return names


def check_jailbreaks(wrappers: list[str]) -> list[str]:
    unknown = [w for w in wrappers if w not in JAILBREAKS]
    if unknown:
        raise ValueError(f"unknown jailbreak wrapper '{unknown[0]}' (known: {', '.join(JAILBREAKS)})")
    return wrappers
