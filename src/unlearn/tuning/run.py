"""``unlearn tune``: open the study, measure the target once, run trials until the study has its total,
re-check the rule's choice over more seeds when asked (``recheck.py``), write the front and the chosen settings.

Every worker runs this same function against the same storage (processes on one machine, or machines
sharing a database or a journal file). The target's numbers and the objectives are stored in the study's
user attributes by the first worker and read by the others and by a resumed run, so they are measured
once. A worker asks for a trial only while the finished and running trials are fewer than ``n_trials``,
waits while the running ones would complete the study (one of them may still fail, and then it runs
another), and stops when the study has them.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from contextlib import ExitStack, contextmanager
from pathlib import Path

import optuna

from unlearn.errors import UserError
from unlearn.files import check_writable, waiting_lock
from unlearn.tuning.front import check_rule, choose, export
from unlearn.tuning.objectives import MetricMissing, Objective, default_objectives, parse_objectives, read_objective
from unlearn.tuning.recheck import recheck
from unlearn.tuning.settings import TuneSettings
from unlearn.tuning.study import (STUDY_ATTR, TrialSeededSampler, check_same_study, counts, existing_study,
                                  fail_dead_trials, open_storage, open_study)
from unlearn.tuning.trial import TrialFailed, TrialRunner, drop_dead_weights

log = logging.getLogger(__name__)
POLL_SECONDS = 5  # how often a waiting worker looks at the study again
TARGET_FOLDER = "target_eval"
RECHECK_FOLDER = "recheck"  # holds only the lock of the worker re-checking the choice


def tune(settings: TuneSettings) -> dict:
    """Run this worker's share of the study and return the study's summary (``pareto.json``)."""
    out = Path(settings.out)
    check_writable(out)
    with quiet_optuna():
        storage = open_storage(settings.storage_url, settings.heartbeat_interval, settings.grace_period)
        sampler = TrialSeededSampler(settings.sampler, settings.sampler_seed, settings.startup_trials)
        study, objectives, target = prepare_study(storage, sampler, settings)
        check_rule(settings, objectives, target["values"])
        dimensions = settings.dimensions
        if settings.fixed_defaults:
            log.warning("not searched, because the settings give them: %s (name them in space: to search them)",
                        ", ".join(settings.fixed_defaults))
        log.info("study '%s': %s; space: %s", study.study_name, ", ".join(o.text for o in objectives),
                 "; ".join(d.describe() for d in dimensions) or "empty (every trial the same)")
        runner = TrialRunner(settings, objectives, dimensions, target["values"], settings.n_trials)
        work(study, runner, settings)
        fail_dead_trials(study)
        drop_dead_weights(study, out, settings.keep_models)
        rechecked = None
        if settings.recheck_seeds:
            def rule_choice(so_far: dict) -> int | None:
                return choose(study, settings, objectives, target["values"], so_far)["trial"]

            with waiting_lock(out / RECHECK_FOLDER, POLL_SECONDS / 5):  # a worker rechecking here: wait, then read
                rechecked = recheck(study, runner, settings.recheck_seeds, rule_choice)
        return export(study, settings, objectives, target, [d.record() for d in dimensions], rechecked)


@contextmanager
def quiet_optuna():
    """Optuna's own log lines and its experimental-feature warnings off while tuning (tune logs each trial
    itself, in one line); the caller's verbosity restored after."""
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(before)


def prepare_study(storage, sampler, settings: TuneSettings) -> tuple[optuna.Study, list[Objective], dict]:
    """The study with its objectives and the target's numbers: read from the storage when a worker stored
    them, else measured here (the output folder's lock makes a second worker of this machine wait for
    them) and stored with the study's settings."""
    found = _stored(storage, sampler, settings)
    if found is not None:
        return found
    with ExitStack() as stack:
        stack.enter_context(waiting_lock(Path(settings.out) / TARGET_FOLDER, POLL_SECONDS / 5))
        found = _stored(storage, sampler, settings)  # the worker we waited for stored them
        if found is not None:
            return found
        summary = _evaluate_target(settings)
        objectives = settings.parsed_objectives or default_objectives(summary)
        target = target_numbers(summary, objectives)
        study = open_study(storage, settings.name, [o.direction for o in objectives], sampler)
        check_same_study(study, settings.fingerprint(), [o.text for o in objectives])
        _check_directions(study, objectives)
        study.set_user_attr(STUDY_ATTR, {"objectives": [o.text for o in objectives], "settings": settings.fingerprint(),
                                         "target": target})
        return study, objectives, target


def _stored(storage, sampler, settings: TuneSettings):
    study = existing_study(storage, settings.name, sampler)
    stored = study.user_attrs.get(STUDY_ATTR) if study is not None else None
    if not stored or "target" not in stored:
        return None
    given = [o.text for o in settings.parsed_objectives]
    check_same_study(study, settings.fingerprint(), given or stored["objectives"])
    return study, parse_objectives(stored["objectives"]), stored["target"]


def _check_directions(study, objectives: list[Objective]) -> None:
    directions = [d.name.lower() for d in study.directions]
    if directions != [o.direction for o in objectives]:
        raise UserError(f"study '{study.study_name}' has directions {', '.join(directions)}, not those of "
                        f"{', '.join(o.text for o in objectives)}; use another --study-name or --out")


def _evaluate_target(settings: TuneSettings) -> dict:
    from unlearn.evaluation.run import evaluate_model

    if settings.target_eval:
        return read_target_eval(settings)
    log.info("evaluating the target %s once, on the evaluation data of every trial", settings.model)
    return evaluate_model(settings.eval_settings(settings.model, Path(settings.out) / TARGET_FOLDER))


def read_target_eval(settings: TuneSettings) -> dict:
    """The summary of ``--target-eval``, the target's finished evaluation, refused in one line unless it was
    made of ``--model`` with the settings the trials are evaluated with: the trials are compared with the
    target on the same questions, scored the same way. Where it was written and the thread count may differ."""
    from unlearn.files import RUN_SETTINGS_FILE
    from unlearn.training.run_folder import changed_settings

    folder = Path(settings.target_eval)
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        made = json.loads((folder / RUN_SETTINGS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserError(f"--target-eval {folder}: no finished evaluation there ({type(error).__name__}); leave it "
                        "out to evaluate the target") from None
    wanted = settings.eval_settings(settings.model, folder).model_dump(mode="json")
    compared = set(wanted) & set(made) - {"out", "overwrite", "threads"}
    differ = [key for key in changed_settings(folder, wanted) if key in compared]
    if differ:
        key = differ[0]
        raise UserError(f"--target-eval {folder}: evaluated with {key} = {made[key]!r}, the trials with "
                        f"{wanted[key]!r}; leave it out to evaluate the target with the trials' settings")
    log.info("the target's evaluation: %s (the trials' settings)", folder)
    return summary


def target_numbers(summary: dict, objectives: list[Objective]) -> dict:
    """The target's value and interval of each objective as the study counts them (a toward objective's
    distance; its measured value under ``measured``); one it did not compute is refused now, since no trial's
    could be compared with it."""
    values, intervals, measured = {}, {}, {}
    for objective in objectives:
        try:
            found = read_objective(summary, objective)
        except MetricMissing as missing:
            raise UserError(f"objective {objective.text}: on the target, {missing}; choose --objectives this "
                            "evaluation computes") from None
        values[objective.name], intervals[objective.name] = objective.score(*found)
        if objective.toward is not None:
            measured[objective.name] = {"value": found[0], "interval": found[1]}
    return {"values": values, "intervals": intervals, **({"measured": measured} if measured else {})}


def work(study, runner: TrialRunner, settings: TuneSettings) -> None:
    """Run trials until the study has ``n_trials`` finished ones; stop after ``max_failures`` failed trials
    in a row (settings that every trial gets wrong)."""
    poll = min(POLL_SECONDS, settings.heartbeat_interval)
    failed_in_row = 0
    while True:
        fail_dead_trials(study)
        count = counts(study)
        if count["finished"] >= settings.n_trials:
            return
        if count["finished"] + count["running"] >= settings.n_trials:
            time.sleep(poll)
            continue
        study.optimize(runner, n_trials=1, catch=(TrialFailed,), gc_after_trial=True)
        finished = counts(study)["finished"]
        if runner.outcome == "failed":
            failed_in_row += 1
            log.warning("%s", runner.reason)
            if failed_in_row >= settings.max_failures:
                raise UserError(f"{failed_in_row} trials failed in a row, the last: {runner.reason}")
        elif runner.outcome != "surplus":
            failed_in_row = 0
            log.info("%s (%d of %d trials finished)", runner.reason, finished, settings.n_trials)
