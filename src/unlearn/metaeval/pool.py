"""The pool of a meta-evaluation: which models know the forget data, which never saw it, which were unlearned.

A metric is judged by its values on models whose knowledge is known by construction (arXiv 2506.12618, Section
4.1): models fine-tuned on the forget data (``knows``, the positives of faithfulness), models that never saw it
(``never_saw``, the negatives) and models unlearned from a target (``unlearned``, attacked for robustness, each
against the retain model it came from). A pool file lists them::

    models:
      - {id: target-s0, role: knows, model: runs/target-s0}
      - {id: retain-s0, role: never_saw, model: runs/retain-s0, eval: runs/retain-s0-eval}
      - {id: npo-s0, role: unlearned, model: runs/npo-s0, target: target-s0, retain: retain-s0}

``eval`` (a finished ``unlearn eval`` of the model on the same forget split) and, for an unlearned model,
``attack`` (a finished ``unlearn attack`` folder with ``relearn`` and ``quantize-4bit`` against its retain model
as ``--control``) are reused instead of being computed. Relative paths are read from the pool file's folder.
Light on purpose (pydantic and YAML): the file is checked before any model loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from unlearn.config import read_yaml, validate_settings
from unlearn.errors import UserError
from unlearn.files import SAFE_NAME

Role = Literal["knows", "never_saw", "unlearned"]
ROLES: tuple[str, ...] = ("knows", "never_saw", "unlearned")


class PoolEntry(BaseModel):
    """One model of a pool file, as written."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=f"^{SAFE_NAME}$", description="a name for the model: letters, digits, '_', '-', '.'")
    role: Role = Field(description="knows (trained on the forget data), never_saw (a retain model) or unlearned")
    model: str | None = Field(None, description="the model: a folder or Hub id")
    eval: str | None = Field(None, description="a finished unlearn eval folder of this model, reused")
    target: str | None = Field(None, description="unlearned: the id of the 'knows' model it was unlearned from")
    retain: str | None = Field(None, description="unlearned: the id of the 'never_saw' model of the same setting")
    attack: str | None = Field(None, description="unlearned: a finished unlearn attack folder of this model, reused")


class PoolFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[PoolEntry] = Field(min_length=1)


@dataclass(frozen=True)
class PoolModel:
    """A model of the pool: its id and role, the model, the finished evaluation and attack folders to reuse (None:
    computed), and for an unlearned model its target's and retain model's ids. A ``Path`` is a step folder of this
    run (the recipe's models), a string anything the user named (a folder or a Hub id)."""

    id: str
    role: str
    model: str | Path | None = None
    eval: str | Path | None = None
    target: str | None = None
    retain: str | None = None
    attack: str | Path | None = None


def read_pool(path: str | Path) -> list[PoolModel]:
    """The models of a pool file, checked: ids distinct, both sides of faithfulness present, each unlearned model's
    target a ``knows`` model and its retain model a ``never_saw`` one, every model evaluable."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"pool file {path} not found (a YAML file listing models: id, role, model)")
    written = read_yaml(path)
    if not written:
        raise UserError(f"{path}: the pool file is empty; it lists 'models:' with id, role and model")
    entries = validate_settings(PoolFile, written, f"pool file {path}").models
    pool = [_resolved(entry, path.parent) for entry in entries]
    check_pool(pool, str(path))
    return pool


def check_pool(pool: list[PoolModel], source: str) -> None:
    """Refuse a pool the meta-evaluation cannot score, naming the first problem in one line."""
    ids = [m.id for m in pool]
    twice = next((i for i in ids if ids.count(i) > 1), None)
    if twice:
        raise UserError(f"{source}: two models are named '{twice}'; ids must be distinct")
    by_id = {m.id: m for m in pool}
    for side in ("knows", "never_saw"):
        if not any(m.role == side for m in pool):
            raise UserError(f"{source}: no '{side}' model; faithfulness needs models that know the forget data "
                            "(knows) and models that never saw it (never_saw)")
    for m in pool:
        if m.model is None and m.eval is None:
            raise UserError(f"{source}: model '{m.id}' gives neither 'model' nor 'eval'")
        if m.role != "unlearned":
            extra = next((name for name in ("target", "retain", "attack") if getattr(m, name)), None)
            if extra:
                raise UserError(f"{source}: model '{m.id}' ({m.role}) gives '{extra}', which only an unlearned model "
                                "has")
            continue
        for name, side in (("target", "knows"), ("retain", "never_saw")):
            given = getattr(m, name)
            if given is None:
                raise UserError(f"{source}: unlearned model '{m.id}' needs '{name}': the id of the '{side}' model "
                                f"it came from")
            if given not in by_id or by_id[given].role != side:
                raise UserError(f"{source}: unlearned model '{m.id}': {name} '{given}' is not a '{side}' model of "
                                "the pool")
        if m.attack is None and any(x.model is None for x in (m, by_id[m.target], by_id[m.retain])):
            raise UserError(f"{source}: unlearned model '{m.id}' is attacked with its target and retain model: give "
                            "'model' for all three, or a finished 'attack' folder")


def _resolved(entry: PoolEntry, base: Path) -> PoolModel:
    """Paths relative to the pool file's folder, made absolute; a model that is no local folder stays as given (a
    Hub id). Kept as strings: a step's key holds a string whole, where it holds only the name of a ``Path`` (a
    step folder of the run), and two users' folders may share a name."""
    def local(value: str | None) -> str | None:
        return None if value is None else str((base / value).resolve())

    model = entry.model
    if model is not None and (base / model).exists():
        model = local(model)
    return PoolModel(entry.id, entry.role, model, local(entry.eval), entry.target, entry.retain, local(entry.attack))
