"""Evaluate every model of a pool and attack every unlearned one, as hash-keyed steps that a rerun reuses.

Each model is evaluated by ``unlearn eval`` on the forget split (the scenario's ``eval_step``); each unlearned
model is attacked by ``unlearn attack`` (``attack_step``) with relearning and 4-bit quantization, its target as
``--original`` and its retain model as ``--control``, reusing the three evaluations. The attack summary then holds
every forget metric before and after each attack, for the model and for its retain model on the same questions:
what Eqs. 2 and 3 of the meta-evaluation compare. A finished evaluation or attack folder named in the pool file is
reused as it is.
"""

from __future__ import annotations

from pathlib import Path

from unlearn.metaeval.pool import PoolModel
from unlearn.scenarios.common import attack_step, eval_step
from unlearn.scenarios.experiment import ExperimentSettings
from unlearn.scenarios.steps import Steps


def evaluate_pool(experiment: ExperimentSettings, steps: Steps, data: Path | None,
                  pool: list[PoolModel]) -> dict[str, str | Path]:
    """Each model's evaluation folder: the one the pool names, or an evaluation step's."""
    return {m.id: m.eval if m.eval is not None else eval_step(experiment, steps, m.model, data, f"eval-{m.id}")
            for m in pool}


def attack_pool(experiment: ExperimentSettings, steps: Steps, data: Path | None, pool: list[PoolModel],
                evaluations: dict[str, str | Path]) -> dict[str, str | Path]:
    """Each unlearned model's attack folder: the one the pool names, or an attack step's."""
    by_id = {m.id: m for m in pool}
    attacks = {}
    for m in (m for m in pool if m.role == "unlearned"):
        if m.attack is not None:
            attacks[m.id] = m.attack
            continue
        target, retain = by_id[m.target], by_id[m.retain]
        attacks[m.id] = attack_step(experiment, steps, m.model, data, f"attack-{m.id}", target.model,
                                    evaluations[m.id], evaluations[target.id], None, control=retain.model,
                                    control_eval=evaluations[retain.id])
    return attacks
