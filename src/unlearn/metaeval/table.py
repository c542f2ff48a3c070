"""The meta-evaluation's rows: every forget metric scored on the models that have a value for it, then ranked.

``rank_metrics`` scores a pool without holes; a real pool has some (a metric needs a model that is not there, an
example whose likelihood is not finite). So each metric is scored on the models it covers, and its row says how
many: ``knows`` and ``never_saw`` (faithfulness), ``relearned`` and ``quantized`` (unlearned models with a value
before and after the attack). A metric covered by no model on one side is "not computed", with the reason, never a
score: a missing number is not a low one.
"""

from __future__ import annotations

from collections.abc import Mapping

from unlearn.metaeval.faithfulness import MetaEvalError
from unlearn.metaeval.pool import PoolModel
from unlearn.metaeval.ranking import Attack, rank_metrics, rank_rows
from unlearn.metaeval.values import RELEARN, QUANTIZE_PREFIX, forget_metrics, knowledge_direction

AttackValues = Mapping[str, Mapping[str, Mapping[str, dict]]]  # unlearned id -> attack -> metric -> entry
RETAIN_SUFFIX = "~retain"  # the retain model's values paired with one unlearned model (on its questions)


def meta_rows(pool: list[PoolModel], values: Mapping[str, Mapping[str, float | None]],
              reasons: Mapping[str, Mapping[str, str]], attacks: AttackValues) -> list[dict]:
    """One row per forget metric, ranked; ``values[model_id][metric]`` from each model's evaluation (None: not
    computed there, ``reasons[model_id][metric]`` says why), ``attacks`` from each unlearned model's attack."""
    unlearned = [m.id for m in pool if m.role == "unlearned"]
    rows = []
    for metric in forget_metrics():
        name, direction = metric.name, knowledge_direction(metric)
        labelled = {m.id: m.role == "knows" for m in pool if m.role != "unlearned" and values[m.id][name] is not None}
        relearning, retains = relearning_table(attacks, name)
        quantization, quantized = quantization_table(attacks, name)
        row = {"metric": name, "label": metric.label, "direction": direction,
               "knows": sum(labelled.values()), "never_saw": len(labelled) - sum(labelled.values()),
               "relearned": len(retains), "quantized": len(quantized), "unlearned": len(unlearned),
               "not_computed": None}
        reason = _missing(pool, reasons, name, row, direction) or _constant(
            [values[m.id][name] for m in pool], relearning, quantization, name)
        if reason is None:
            try:
                scored = rank_metrics({name: {i: values[i][name] for i in labelled}}, labelled, {name: direction},
                                      relearning=relearning if retains else None, retain_id=retains,
                                      quantization=quantization if quantized else None)[0]
                row.update({k: scored[k] for k in ("faithfulness", "relearning", "quantization", "robustness",
                                                    "overall")})
            except MetaEvalError as error:
                reason = str(error)
        if reason is not None:
            row.update(faithfulness=None, relearning=None, quantization=None, robustness=None, overall=None,
                       not_computed=reason)
        rows.append(row)
    return rank_rows(rows)


def relearning_table(attacks: AttackValues, metric: str) -> tuple[Attack, dict[str, str]]:
    """Each unlearned model's values before and after relearning, and its retain model's on the same questions
    (keyed ``ID~retain``), for the models where all four are computed; and which retain key goes with which."""
    before: dict[str, float] = {}
    after: dict[str, float] = {}
    retains: dict[str, str] = {}
    for model, measured in sorted(attacks.items()):
        entry = measured.get(RELEARN, {}).get(metric) or {}
        pair = [entry.get(k) for k in ("unlearned", "attacked", "control", "control_attacked")]
        if any(v is None for v in pair):
            continue
        retain = model + RETAIN_SUFFIX
        before[model], after[model], before[retain], after[retain] = pair[0], pair[1], pair[2], pair[3]
        retains[model] = retain
    return Attack({metric: before}, {metric: after}), retains


def quantization_table(attacks: AttackValues, metric: str) -> tuple[Attack, set[str]]:
    """Each unlearned model's values before and after each quantization it went through (keyed ``ID/ATTACK``: the
    NormalFloat and float rounding of quantize-4bit are two measurements of the model), and which models count."""
    before: dict[str, float] = {}
    after: dict[str, float] = {}
    models = set()
    for model, measured in sorted(attacks.items()):
        for attack, metrics in sorted(measured.items()):
            entry = metrics.get(metric) or {}
            if not attack.startswith(QUANTIZE_PREFIX) or None in (entry.get("unlearned"), entry.get("attacked")):
                continue
            before[f"{model}/{attack}"], after[f"{model}/{attack}"] = entry["unlearned"], entry["attacked"]
            models.add(model)
    return Attack({metric: before}, {metric: after}), models


def _constant(evaluated: list[float | None], relearning: Attack, quantization: Attack, name: str) -> str | None:
    """Why a metric that reads one value on every model, before and after every attack, gets no score: it
    separates nothing (faithfulness at chance) and no attack moves it, so Eqs. 2-3 divide 0 by 0 and their
    convention of "no move is robust" would rank it above metrics that do measure knowledge (the refusal rate
    of models that never refuse)."""
    read = {v for v in evaluated if v is not None}
    for attack in (relearning, quantization):
        for table in (attack.before, attack.after):
            read |= set(table.get(name, {}).values())
    if len(read) != 1:
        return None
    return (f"reads {read.pop():g} on every model of the pool, before and after the attacks: it separates nothing "
            "and no attack moves it")


def _missing(pool: list[PoolModel], reasons: Mapping[str, Mapping[str, str]], name: str, row: dict,
             direction: str | None) -> str | None:
    """Why a metric cannot be scored at all (no direction, or no model on one side), or None."""
    if direction is None:
        return "the registry gives its forget split no better direction (↑ or ↓), so more knowledge has no side"
    for side in ("knows", "never_saw"):
        if not row[side]:
            why = sorted({reasons[m.id].get(name, "") for m in pool if m.role == side} - {""})
            return f"not computed for any '{side}' model" + (f": {'; '.join(why)}" if why else "")
    return None
