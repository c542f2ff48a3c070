"""Recovery: the share of the knowledge unlearning removed that an attack brings back, beyond what
the same attack gives a control model that never saw the forget data.

Why a control. An attack can raise a forget score without bringing any knowledge back: few-shot
prompts and relearning teach the answer template ("X was born in 1971" scores ROUGE-L recall 0.83
with the wrong year), and a model that never knew the facts can beat chance at multiple choice.
The control (the retain or retrained model) is attacked in the same way; only what the unlearned
model gains beyond it counts.

Notation, per forget score s (higher = more knowledge), means over the same questions:
``a`` the unlearned model under the attack, ``u`` it without the attack, ``o`` the original model
(under the same prompt for prompt attacks and probes; without attack for weight attacks, whose
effect on the original is not measured), ``a_C`` the control under the attack, ``c`` it without.
Knowledge is the excess over the control under the same conditions, floored at zero::

    E(x, y) = max(x - y, 0)
    recovery = (E(a, a_C) - E(u, c)) / (E(o, a_C) - E(u, c))

0 = the attacked unlearned model knows no more beyond the attacked control than it knew without
the attack; 1 = its excess is back to the original's. The floor at zero is what makes a model that
only learns the template score 0: scoring below the control (a refusal against the control's
wrong-but-templated answers) is answer format, not negative knowledge, so a refusal that turns
into a templated wrong answer brings nothing back. Subtracting ``E(u, c)`` makes an attack that
changes nothing score 0 even when unlearning left some knowledge behind. A probe (multiple choice,
logit lens) has no unattacked reading: its ``u`` and ``c`` are taken as equal (no baseline).

Without a control, ``a_C = c = 0`` (a model without the knowledge scores 0; multiple choice:
chance) and the formula is the earlier one, ``(a - u) / (o - u)``, against the unattacked floor.

Not computed when the denominator, the knowledge gap ``E(o, a_C) - E(u, c)``, is below ``min_gap``
(signed: unlearning removed less than that beyond the control, or the attack alone gives the control
as much as the original knows), or when the lower end of the gap's own interval is: a ratio whose
denominator cannot be told from zero has an unbounded confidence set (Fieller), so its point value
would be printed with a precision it does not have (20 multiple-choice questions, original 0.25
against the control's 0.15, made 2 of 20 correct answers read as "recovery 2.00"). All five columns
are on the same questions, so both intervals resample the questions once for all of them (a paired
bootstrap, the same resamples for the gap and the recovery).
"""

from __future__ import annotations

MIN_GAP = 0.05  # smallest knowledge gap a recovery is computed for
# Recovery on these is the headline: they score the fact itself. ROUGE, probability and similarity
# also reward the answer's format; they are reported beside the control's attacked score.
FACT_METRICS = ("fact_accuracy", "choice_accuracy")
# Raised when recovery's definition changes: a summary of an earlier version is rewritten from its attack
# folder's files (``unlearn attack --rescore``; an experiment does it when it reuses an attack step).
# 2: signed gap. 3: beyond a control model's attacked score, excess floored at zero. 4: not computed
# when the gap's interval reaches below min_gap.
RECOVERY_VERSION = 4


def excess(score: float, control: float) -> float:
    """``E(x, y) = max(x - y, 0)``: knowledge beyond the control; scoring below it is not negative knowledge."""
    return max(score - control, 0.0)


def recovery(attacked: float, unlearned: float, original: float, control_attacked: float = 0.0,
             control: float = 0.0, min_gap: float = MIN_GAP) -> float | None:
    """``(E(a, a_C) - E(u, c)) / (E(o, a_C) - E(u, c))``; None when the denominator is below
    ``min_gap`` or a value is nan."""
    values = (attacked, unlearned, original, control_attacked, control)
    if any(v != v for v in values):
        return None
    base = excess(unlearned, control)
    gap = excess(original, control_attacked) - base
    if not gap >= min_gap:
        return None
    return (excess(attacked, control_attacked) - base) / gap


def _means(columns) -> list[float]:
    import numpy as np

    return [float(np.mean(c)) if c.size else float("nan") for c in columns]


def recovery_with_interval(attacked, unlearned, original, control_attacked=None, control=None,
                           min_gap: float = MIN_GAP, **options) -> tuple[float | None, list[float] | None, str]:
    """Recovery of the means of per-question columns (same questions, same order), its paired
    bootstrap interval, and the reason when it is not computed ("" when it is). ``control_attacked``
    and ``control`` None: no control (zeros, the unattacked floor)."""
    import numpy as np  # numpy and scipy only here: the attack settings read MIN_GAP and stay light

    from unlearn.metrics.uncertainty import bootstrap_interval

    size = len(attacked)
    columns = [np.asarray(c if c is not None else np.zeros(size), dtype=float)
               for c in (attacked, unlearned, original, control_attacked, control)]
    if len({c.size for c in columns}) != 1:
        raise ValueError("recovery compares the same questions: the columns must have equal lengths")
    a, u, o, a_c, c = _means(columns)
    value = recovery(a, u, o, a_c, c, min_gap=min_gap)
    if value is None:
        if control_attacked is None:
            return None, None, (f"the original model scores {o - u:+.3g} above the unlearned one (original {o:.3g}, "
                                f"unlearned {u:.3g}), less than {min_gap}: nothing to recover")
        return None, None, (f"the original's excess over the attacked control ({o:.3g} - {a_c:.3g}) exceeds the "
                            f"unlearned model's excess over the control ({u:.3g} - {c:.3g}) by "
                            f"{excess(o, a_c) - excess(u, c):+.3g}, less than {min_gap}: nothing to recover")

    def parts(resampled) -> tuple:  # numerator and denominator of the recovery of resampled means
        ra, ru, ro, rac, rc = (np.mean(x, axis=-1) for x in resampled)
        base = np.maximum(ru - rc, 0.0)
        return np.maximum(ra - rac, 0.0) - base, np.maximum(ro - rac, 0.0) - base

    gap_interval = bootstrap_interval(columns, lambda *r: parts(r)[1], paired=True, **options)
    if gap_interval is None or not gap_interval[0] >= min_gap:
        spread = (f"its interval [{gap_interval[0]:.4g}, {gap_interval[1]:.4g}] reaches below {min_gap}"
                  if gap_interval else f"no interval over {size} question(s)")
        return None, None, (f"the knowledge gap unlearning left, {excess(o, a_c) - excess(u, c):.3g}, cannot be told "
                            f"from none ({spread}): a recovery over it would be noise")

    def statistic(*resampled):  # numpy division: a resample with no gap gives inf or nan, the interval's tails
        top, gap = parts(resampled)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.float64(top) / np.float64(gap)

    interval = bootstrap_interval(columns, statistic, paired=True, **options)
    return value, list(interval) if interval else None, ""
