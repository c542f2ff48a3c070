"""Probe attacks: each model read in another way than by its answers, and the readings scored.

``multiple-choice``: each forget question with its true answer among the wrong ones as options A-D;
the letter the model finds likeliest is its choice. ``logit-lens``: each layer's residual stream
decoded by the final norm and the unembedding, read at the answer's first fact token.

A probe reads every model (unlearned, original, control) into one JSON file each; ``score``
compares the readings. A probe has no unattacked reading, so its floor (the control's reading,
without a control chance or the output layer) serves as both control columns of the recovery.
"""

from __future__ import annotations

import numpy as np

from unlearn.attacks.catalog import Scoring
from unlearn.attacks.prompts import LETTERS, multiple_choice_prompt
from unlearn.attacks.summary import metric_entry
from unlearn.evaluation.choice import letter_logprobs
from unlearn.evaluation.logit_lens import logit_lens
from unlearn.metrics.choice import chance_level, chosen_letter
from unlearn.metrics.lens import held_out_layer


def _options(forget: list[dict], seed: int) -> list[tuple[str, str]]:
    """(prompt, correct letter) per question, the options' order seeded per question."""
    return [multiple_choice_prompt(r["question"], r["answer"], r["perturbed_answer"], seed + i)
            for i, r in enumerate(forget)]


def choice_prompts(forget: list[dict], args, seed: int) -> list[tuple[str, str]]:
    """What the probe scores after each prompt: one letter."""
    return [(prompt, "A") for prompt, _ in _options(forget, seed)]


def read_choices(run, model, tokenizer, args) -> dict:
    """Each forget question as A-D options, the letter the model finds likeliest, per question."""
    prompts = _options(run.forget, run.settings.seed)
    scores = letter_logprobs(model, tokenizer, run.prompt_format(tokenizer), [p for p, _ in prompts], LETTERS,
                             run.settings.batch_size, run.max_length(model))
    rows = []
    for (prompt, correct), record, letters in zip(prompts, run.forget, scores):
        options = min(len(LETTERS), 1 + len(record["perturbed_answer"]))
        shown = {letter: letters[letter] for letter in LETTERS[:options]}
        rows.append({"question": record["question"], "prompt": prompt, "correct": correct,
                     "letter_logprobs": shown, "chosen": chosen_letter(shown), "chance": chance_level(options)})
    return {"examples": rows}


def choice_metrics(readings: dict[str, dict], args, scoring: Scoring) -> tuple[dict, dict]:
    """Accuracy of the unlearned and original models, against the control's accuracy (without a
    control: chance, the floor a model that forgot would sit at): recovery = E(a, floor) / E(o, floor)."""
    def accuracy(role: str) -> list[float]:
        return [float(e["chosen"] == e["correct"]) for e in readings[role]["examples"]]

    attacked, ceiling = accuracy("unlearned"), accuracy("original")
    control = "control" in readings
    floor = accuracy("control") if control else [e["chance"] for e in readings["unlearned"]["examples"]]
    entry = metric_entry(attacked, floor, ceiling, scoring.min_gap, scoring.interval_options, "", floor, floor)
    return {"choice_accuracy": {**entry, "floor": "control" if control else "chance"}}, {}


def lens_prompts(forget: list[dict], args, seed: int) -> list[tuple[str, str]]:
    """The lens reads the answer's first fact token after the question."""
    return [(r["question"], r["answer"]) for r in forget]


def read_lens(run, model, tokenizer, args) -> dict:
    return logit_lens(model, tokenizer, run.prompt_format(tokenizer), run.forget, run.max_length(model),
                      run.settings.batch_size)


def lens_metrics(readings: dict[str, dict], args, scoring: Scoring) -> tuple[dict, dict]:
    """The unlearned model at the layer chosen on a held-out half of the questions against its output
    layer, on the other half, with the original's output layer as the ceiling, on the probability of
    the answer's first fact token; the control read at the same layer and at its output layer."""
    unlearned, original, control = readings["unlearned"], readings["original"], readings.get("control")
    column = "fact_token_probability"
    values = np.array([e[column] for e in unlearned["examples"]], dtype=float)
    ceiling = np.array([e[column][-1] for e in original["examples"]], dtype=float)
    values[~np.isfinite(ceiling)] = np.nan
    details = {"layers": unlearned["layers"], "unlearned_per_layer": unlearned["per_layer"],
               "original_per_layer": original["per_layer"]}
    if control:
        details["control_per_layer"] = control["per_layer"]
    chosen = held_out_layer(values, scoring.seed)
    if chosen is None:
        return {column: metric_entry([], [], [], scoring.min_gap, scoring.interval_options,
                                     "the logit lens chooses its layer on half the questions and reports the other "
                                     "half: it needs 2 questions whose fact token survived truncation")}, details
    layer, rows = chosen
    details.update(layer=layer + 1, layer_chosen_on=int(np.isfinite(values).all(axis=1).sum()) - len(rows))
    controls = (None, None)
    if control:
        scores = np.array([e[column] for e in control["examples"]], dtype=float)
        controls = (scores[rows, layer], scores[rows, -1])
    return {column: metric_entry(values[rows, layer], values[rows, -1], ceiling[rows], scoring.min_gap,
                                 scoring.interval_options, "", *controls)}, details
