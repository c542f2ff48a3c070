"""The study in Optuna's storage: which storage a URL names, dead trials failed and retried, the sampler.

- ``sqlite:///PATH``, ``postgresql://...``, ``mysql://...``: Optuna's ``RDBStorage``; SQLite waits up to
  a minute for a lock held by another worker instead of failing with "database is locked".
- ``journal:PATH`` or a path ending in ``.log``: ``JournalStorage`` on a ``JournalFileBackend``, an
  append-only file that several processes (or machines on a shared file system without a database) can
  write, guarded by Optuna's file lock.

A trial whose process is killed stays RUNNING in the storage. Each running trial records a heartbeat every
``heartbeat_interval`` seconds; before it asks for a trial, every worker fails the trials whose heartbeat is
older than the grace period and queues each again with the same settings
(``RetryHeartbeatStaleTrialCallback``), so a killed run resumes with its lost trial retried. RDB storages
have heartbeats in Optuna; the journal storage gets the same through Optuna's ``BaseHeartbeat`` seam,
its heartbeat kept in the trial's system attributes.

The sampler is TPE, Optuna's default for single and multi-objective studies since v4: it models the
results after a few random trials, so it suits tens of costly trials, where NSGA-II wants a population of
about 50 per generation; its constant liar steers concurrent workers away from each other's running
trials. Trial k samples from a sampler seeded by (seed, k), so a study is reproducible for a seed and
workers sharing it never draw the same random settings.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import optuna
from optuna.samplers import BaseSampler, RandomSampler, TPESampler
from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from unlearn.errors import UserError
from unlearn.evaluation.eval_settings import EvalSettings

SQLITE_WAIT_SECONDS = 60
MAX_RETRIES = 3  # a trial whose worker dies this many times is left failed
HEARTBEAT_ATTR = "unlearn:heartbeat"
STUDY_ATTR = "unlearn_tune"  # the study's settings, objectives and target numbers, in its user attributes
# settings added after studies were stored, with the value that runs a study as before they existed
ADDED_LATER = {"trial_seeds": []}


def journal_path(url: str) -> Path | None:
    """The journal file a storage setting names, or None for an RDB URL."""
    if url.startswith("journal:"):
        return Path(url[len("journal:"):])
    if "://" not in url and url.endswith(".log"):
        return Path(url)
    return None


def open_storage(url: str, heartbeat_interval: int, grace_period: int | None):
    """The storage ``url`` names, with heartbeats and the retry of dead trials."""
    with warnings.catch_warnings():  # heartbeats and their retry are Optuna's "experimental" features since 2.8
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)
        return _storage(url, heartbeat_interval, grace_period, retry)


def _storage(url: str, heartbeat_interval: int, grace_period: int | None, retry):
    journal = journal_path(url)
    if journal is not None:
        journal.parent.mkdir(parents=True, exist_ok=True)
        return HeartbeatJournalStorage(JournalFileBackend(str(journal)), heartbeat_interval, grace_period, retry)
    if "://" not in url:
        raise UserError(f"--storage {url}: give an RDB URL (sqlite:///PATH, postgresql://...) or a journal file "
                        "(journal:PATH or PATH.log)")
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    engine = {"connect_args": {"timeout": SQLITE_WAIT_SECONDS}} if url.startswith("sqlite") else {}
    for attempt in range(3):  # two workers creating the tables of a new SQLite file at once: one waits
        try:
            return RDBStorage(url, engine_kwargs=engine, heartbeat_interval=heartbeat_interval,
                              grace_period=grace_period, heartbeat_stale_trial_callback=retry)
        except ImportError as error:
            raise UserError(f"--storage {url}: its database driver is not installed ({error})") from None
        except Exception as error:  # sqlalchemy's OperationalError and the like
            if attempt == 2:
                raise UserError(f"--storage {url}: cannot open it ({str(error).splitlines()[0]})") from None
            time.sleep(1 + attempt)
    raise AssertionError("unreachable")


class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """A journal storage whose running trials record heartbeats, so that Optuna fails and retries the
    trials of a killed worker as it does with an RDB storage."""

    def __init__(self, backend, interval: int, grace_period: int | None, callback) -> None:
        super().__init__(backend)
        self._interval, self._grace = interval, grace_period or 2 * interval
        self._callback = callback

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            self.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # finished between two beats

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.time()
        return [t._trial_id for t in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
                if now - t.system_attrs.get(HEARTBEAT_ATTR, now) > self._grace]

    def get_heartbeat_interval(self) -> int | None:
        return self._interval

    def get_heartbeat_stale_trial_callback(self):
        return self._callback


class TrialSeededSampler(BaseSampler):
    """A sampler made afresh for each trial, seeded by (seed, trial number): TPE and the random sampler
    read the whole history from the storage, so nothing is lost, and two workers asking at once draw
    different settings."""

    def __init__(self, kind: str, seed: int, startup_trials: int) -> None:
        self._kind, self._seed, self._startup = kind, seed, startup_trials
        self._inner = self._make(0)

    def _make(self, number: int) -> BaseSampler:
        seed = (self._seed * 1_000_003 + number) % 2**32
        if self._kind == "random":
            return RandomSampler(seed=seed)
        # constant liar: a trial another worker is running counts as a poor result while this one samples,
        # so concurrent workers do not crowd the same region (no effect with one worker)
        return TPESampler(seed=seed, n_startup_trials=self._startup, multivariate=True, constant_liar=True)

    def before_trial(self, study, trial) -> None:
        self._inner = self._make(trial.number)
        self._inner.before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):
        return self._inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self._inner.sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self._inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values) -> None:
        self._inner.after_trial(study, trial, state, values)


def open_study(storage, name: str, directions: list[str], sampler: BaseSampler):
    """The study ``name``, created if new (two workers creating it at once get the same one)."""
    return optuna.create_study(storage=storage, study_name=name, directions=directions, sampler=sampler,
                               load_if_exists=True)


def existing_study(storage, name: str, sampler: BaseSampler):
    """The study ``name`` if the storage holds it, else None."""
    try:
        return optuna.load_study(study_name=name, storage=storage, sampler=sampler)
    except KeyError:
        return None


def check_same_study(study, fingerprint: dict, objectives: list[str]) -> None:
    """A study started with other settings or objectives is refused: its trials would not compare. A setting
    added since (``ADDED_LATER``) at the value that does what the study did before it existed is not a change."""
    stored = study.user_attrs.get(STUDY_ATTR, {})
    if stored.get("objectives") not in (None, objectives):
        raise UserError(f"study '{study.study_name}' optimizes {', '.join(stored['objectives'])}, not "
                        f"{', '.join(objectives)}; use the same objectives, or another --study-name or --out")
    before = _without_added_defaults(stored.get("settings"))
    fingerprint = _without_added_defaults(fingerprint)
    if before is not None and before != fingerprint:
        changed = sorted(k for k in set(before) | set(fingerprint) if before.get(k) != fingerprint.get(k))
        raise UserError(f"study '{study.study_name}' was started with other settings ({', '.join(changed)}); use "
                        "the same settings to continue it, or another --study-name or --out")


def _without_added_defaults(settings: dict | None) -> dict | None:
    if settings is None:
        return None
    kept = _without(settings, ADDED_LATER)
    if isinstance(kept.get("eval"), dict):
        kept["eval"] = _without(kept["eval"], EvalSettings.ADDED_LATER)
    return kept


def _without(settings: dict, defaults: dict) -> dict:
    return {k: v for k, v in settings.items() if not (k in defaults and v == defaults[k])}


def counts(study) -> dict[str, int]:
    """The study's trials by state: finished (complete or pruned), running, failed."""
    states = [t.state for t in study.get_trials(deepcopy=False)]
    return {"finished": sum(s in (TrialState.COMPLETE, TrialState.PRUNED) for s in states),
            "running": states.count(TrialState.RUNNING), "failed": states.count(TrialState.FAIL),
            "complete": states.count(TrialState.COMPLETE), "pruned": states.count(TrialState.PRUNED)}


def fail_dead_trials(study) -> None:
    """Fail (and queue again) the running trials whose worker stopped beating."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
