"""The attacks ``unlearn attack`` runs: one registration each, read by everything downstream.

An attack is an ``Attack`` record: its name (what ``--attacks`` takes), its kind, a description,
its own settings (a ``PartSettings`` class, reached as ``--relearn.epochs 2`` or
``attack_args: {relearn: {epochs: 2}}``) and the functions that carry it out, by kind:

- ``model`` attacks change the weights and are measured on the forget split and utility, on the
  unlearned and control models: ``change_weights`` alters a loaded model in place (the runner puts
  the weights back), or ``retrain`` trains a copy and measures it (relearning);
- ``prompt`` attacks ``rewrite`` the forget questions; every model answers them in one fused
  evaluation pass, the original model's answers being the ceiling;
- ``probe`` attacks ``read`` each model differently (multiple-choice letters, the logit lens), and
  ``score`` the readings.

A name may stand for several measured attacks (``variants``: ``quantize-4bit`` is NF4 and FP4,
``jailbreak`` one attack per wrapper). The runner, the summary, the tables and ``--list-attacks``
read this registry; none of them tests an attack's name. Adding an attack is one ``register`` call.

This module stays light (pydantic only): the heavy code of each attack is imported inside its
functions, so ``unlearn attack --help`` and ``--list-attacks`` load no model library.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, PositiveFloat, PositiveInt, field_validator

from unlearn.attacks import rewrites
from unlearn.attacks.prompts import JAILBREAKS
from unlearn.config import PartSettings, comma_list, part_flag

if TYPE_CHECKING:
    from unlearn.attacks.run import AttackRun

AttackKind = Literal["model", "prompt", "probe"]
KINDS = {"model": "change the unlearned and control models' weights; the original model as it is is the ceiling",
         "prompt": "rewrite the forget questions; every model answers them, the original's answers are the ceiling",
         "probe": "read every model another way than by its answers; the control's reading is the floor"}


@dataclass(frozen=True)
class Scoring:
    """What a probe's ``score`` needs beside the readings: the smallest gap recovery is computed for,
    the seed of any split of the questions, and the bootstrap's options."""

    min_gap: float
    seed: int
    interval_options: dict


@dataclass(frozen=True)
class Attack:
    """One attack. Each function receives the attack's own settings (``args``, None without a
    settings class) and, where the attack has several, the measured attack's name (``variant``)."""

    name: str
    kind: AttackKind
    description: str
    settings: type[PartSettings] | None = None
    # measured attack name -> description, from the settings (default: the attack itself)
    variants: Callable[[Any], dict[str, str]] | None = None
    # (forget records, args, seed): raises ValueError (said with the split's name) before any model loads
    check: Callable[[list[dict], Any, int], None] | None = None
    # prompt: (forget records, args, variant) -> the records with their question rewritten
    rewrite: Callable[[list[dict], Any, str], list[dict]] | None = None
    # model: (model, args, variant) -> details; changes the weights in place (the runner restores them)
    change_weights: Callable[[Any, Any, str], dict] | None = None
    # model: (run, args, variant, source model, folder, the unlearned model's details when this is the control)
    # -> details with "rows", the forget records measured (the folder holds its evaluation)
    retrain: Callable[[AttackRun, Any, str, str, str, dict | None], dict] | None = None
    # probe: (run, model, tokenizer, args) -> a JSON-ready reading of one model
    read: Callable[[AttackRun, Any, Any, Any], dict] | None = None
    # probe: ({"unlearned", "original", ["control"]: reading}, args, Scoring) -> (metrics, details)
    score: Callable[[dict[str, dict], Any, Scoring], tuple[dict, dict]] | None = None
    # probe: (forget records, args, seed) -> (prompt, answer) per question, checked to fit before models load
    prompts: Callable[[list[dict], Any, int], list[tuple[str, str]]] | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"attack {self.name}: kind '{self.kind}' is not one of {', '.join(KINDS)}")
        needs = {"prompt": self.rewrite is not None,
                 "model": (self.change_weights is None) != (self.retrain is None),
                 "probe": self.read is not None and self.score is not None}
        if not needs[self.kind]:
            hooks = {"prompt": "rewrite", "model": "change_weights or retrain (one of them)",
                     "probe": "read and score"}[self.kind]
            raise ValueError(f"attack {self.name}: a {self.kind} attack needs {hooks}")

    @property
    def trains(self) -> bool:
        """Whether the attack trains a copy of each model (run after the attacks on loaded models)."""
        return self.retrain is not None

    def measured(self, args: PartSettings | None) -> dict[str, str]:
        """The measured attacks this name stands for, with their descriptions."""
        return self.variants(args) if self.variants else {self.name: self.description}

    def args(self, given: dict | None) -> PartSettings | None:
        """Its settings from ``given`` (its defaults where none are given); None without a settings class."""
        return self.settings.model_validate(given or {}) if self.settings else None


ATTACKS: dict[str, Attack] = {}


def register(attack: Attack) -> Attack:
    """Add ``attack`` to the registry (after the ones already there); a name is registered once."""
    if attack.name in ATTACKS or attack.name == "all":
        raise ValueError(f"an attack named '{attack.name}' is already registered")
    ATTACKS[attack.name] = attack
    return attack


def unregister(name: str) -> None:
    ATTACKS.pop(name, None)


def chosen(names: list[str]) -> list[Attack]:
    """The registered attacks ``names`` picks (``all`` = every one), in the registry's order."""
    unknown = [n for n in names if n != "all" and n not in ATTACKS]
    if unknown:
        raise ValueError(f"unknown attack '{unknown[0]}' (known: all, {', '.join(ATTACKS)})")
    return [a for a in ATTACKS.values() if "all" in names or a.name in names]


@dataclass(frozen=True)
class Measured:
    """One measured attack: its name, what it does, the attack it comes from and that attack's settings."""

    name: str
    description: str
    attack: Attack
    args: PartSettings | None

    @property
    def kind(self) -> str:
        return self.attack.kind


def expand(names: list[str], attack_args: dict[str, dict] | None = None) -> list[Measured]:
    """The measured attacks of ``names`` with their settings from ``attack_args`` (by attack name)."""
    measured = []
    for attack in chosen(names):
        args = attack.args((attack_args or {}).get(attack.name))
        measured += [Measured(name, text, attack, args) for name, text in attack.measured(args).items()]
    return measured


def attack_list() -> str:
    """Every registered attack by kind, what it measures and its flags, for ``unlearn attack --list-attacks``."""
    lines = []
    for kind, summary in KINDS.items():
        attacks = [a for a in ATTACKS.values() if a.kind == kind]
        if not attacks:
            continue
        lines.append(f"{kind} attacks ({summary}):")
        for attack in attacks:
            lines.append(f"  {attack.name:<18} {attack.description}")
            measured = list(attack.measured(attack.args(None)))
            if measured != [attack.name]:
                lines.append(f"  {'':<18} measured as: {', '.join(measured)}")
            for name, field in (attack.settings.model_fields.items() if attack.settings else ()):
                lines.append(f"  {'':<18} {part_flag(attack.name, name)} (default {field.default}): "
                             f"{field.description}")
    return "\n".join(lines)


# ---- the attacks' own settings; defaults from the papers (Lucki et al. 2024 for relearning, Deeb & Roger 2024
# for its K-fold variant)


class RelearningSettings(PartSettings):
    """How relearning trains: Lucki et al.'s LoRA r 128, alpha 16, lr 2e-4, 3 epochs, batch 1."""

    lora: bool = Field(True, description="train a LoRA adapter (false: all weights)")
    lora_r: PositiveInt = Field(128, description="LoRA rank")
    lora_alpha: PositiveInt = Field(16, description="LoRA alpha")
    learning_rate: PositiveFloat = Field(2e-4, description="peak learning rate (linear decay)")
    epochs: PositiveFloat = Field(3.0, description="epochs")
    batch_size: PositiveInt = Field(1, description="examples per step")


class RelearnSettings(RelearningSettings):
    fraction: float = Field(0.5, gt=0.0, lt=1.0, description="share of the forget set trained on (the rest is "
                                                             "measured)")


class UnrelatedSettings(RelearningSettings):
    source: str = Field("packaged", description="a JSON-lines file of question/answer records, or 'packaged' "
                                                "(12 general-knowledge pairs)")


class KFoldSettings(PartSettings):
    """Deeb & Roger's K-fold relearning: K = 5, full fine-tuning, 6 epochs, the best of a learning-rate sweep."""

    folds: int = Field(5, ge=2, description="K (trains on K-1 folds, measures the other)")
    epochs: PositiveFloat = Field(6.0, description="epochs per fold")
    lora: bool = Field(False, description="train a LoRA adapter instead of all weights: cheaper, recovers less")
    lora_r: PositiveInt = Field(128, description="LoRA rank (with lora)")
    lora_alpha: PositiveInt = Field(16, description="LoRA alpha (with lora)")
    learning_rates: list[PositiveFloat] = Field(
        [1e-5, 3e-5, 1e-4], description="learning rates tried; with more than one, the best is chosen on fold 1's "
                                        "held-out questions and folds 2..K are reported")
    batch_size: PositiveInt = Field(1, description="examples per step")

    _comma_lists = field_validator("learning_rates", mode="before")(comma_list)

    @field_validator("learning_rates")
    @classmethod
    def _some_rates(cls, value):
        if not value:
            raise ValueError("give at least one learning rate")
        return value


class FewShotSettings(PartSettings):
    shots: PositiveInt = Field(3, description="other forget pairs before each question")


class JailbreakSettings(PartSettings):
    wrappers: list[str] = Field(list(JAILBREAKS), description="wrappers to try (one measured attack each)")

    _comma_lists = field_validator("wrappers", mode="before")(comma_list)

    @field_validator("wrappers")
    @classmethod
    def _known_wrappers(cls, value):
        if not value:
            raise ValueError(f"no jailbreak wrapper named; give one or more of {', '.join(JAILBREAKS)}")
        unknown = [w for w in value if w not in JAILBREAKS]
        if unknown:
            raise ValueError(f"unknown jailbreak wrapper '{unknown[0]}' (known: {', '.join(JAILBREAKS)})")
        return list(dict.fromkeys(value))


# ---- the built-in attacks; each function imports its heavy module when it runs


def _relearn_check(forget, args, seed):
    from unlearn.attacks import relearn

    relearn.held_out_split(len(forget), args.fraction, seed)


def _kfold_check(forget, args, seed):
    from unlearn.attacks import relearn

    relearn.folds(len(forget), args.folds, seed)


def _unrelated_check(forget, args, seed):
    from unlearn.attacks import relearn

    relearn.unrelated_records(args.source)


def _retrain(function: str):
    def retrain(run, args, variant, source, folder, as_attacked):
        from unlearn.attacks import relearn

        return getattr(relearn, function)(run, args, source, folder, as_attacked)
    return retrain


def _quantize(model, args, variant):
    from unlearn.attacks.quantize import quantize_attack

    return quantize_attack(model, variant.removeprefix("quantize-"))


def _probe(function: str):
    def call(*given):
        from unlearn.attacks import probes

        return getattr(probes, function)(*given)
    return call


def _choice_check(forget, args, seed):
    if not all(r.get("perturbed_answer") for r in forget):
        raise ValueError("multiple-choice needs wrong answers ('perturbed_answer') in every forget record")


QUANTIZE = "by bitsandbytes (Zhang et al. 2025)"

for _attack in (
    Attack("relearn", "model", "fine-tune on part of the forget set, measure the held-out part (Hu et al. 2024)",
           RelearnSettings, check=_relearn_check, retrain=_retrain("held_out")),
    Attack("relearn-unrelated", "model", "fine-tune on general text unrelated to the forget set (Lucki et al. 2024)",
           UnrelatedSettings, check=_unrelated_check, retrain=_retrain("unrelated")),
    Attack("relearn-kfold", "model", "fine-tune on K-1 folds of the forget set, measure the held-out fold, for every "
                                     "fold (Deeb & Roger 2024)",
           KFoldSettings, check=_kfold_check, retrain=_retrain("kfold")),
    Attack("quantize-4bit", "model", f"weights rounded to 4 bits, NormalFloat and float, {QUANTIZE}",
           variants=lambda args: {"quantize-nf4": f"weights rounded to 4-bit NormalFloat {QUANTIZE}",
                                  "quantize-fp4": f"weights rounded to 4-bit float {QUANTIZE}"},
           change_weights=_quantize),
    Attack("quantize-8bit", "model", f"weights rounded to LLM.int8's row-wise 8 bits {QUANTIZE}",
           variants=lambda args: {"quantize-int8": f"weights rounded to LLM.int8's row-wise 8 bits {QUANTIZE}"},
           change_weights=_quantize),
    Attack("paraphrase", "prompt", "the forget questions paraphrased",
           rewrite=lambda records, args, variant: rewrites.paraphrased(records)),
    Attack("few-shot", "prompt", "other forget question-answer pairs in the prompt (in-context relearning)",
           FewShotSettings, rewrite=lambda records, args, variant: rewrites.with_shots(records, args.shots)),
    Attack("jailbreak", "prompt", "the forget question inside jailbreak wrappers, one measured attack each",
           JailbreakSettings,
           variants=lambda args: {f"jailbreak-{w}": f"the forget question inside the '{w}' jailbreak wrapper"
                                  for w in args.wrappers},
           rewrite=lambda records, args, variant: rewrites.wrapped(records, variant.removeprefix("jailbreak-"))),
    Attack("multiple-choice", "probe", "the true answer among the wrong ones as A-D, chosen by the letter's "
                                       "likelihood; the floor is the control's accuracy (without a control: chance)",
           check=_choice_check, read=_probe("read_choices"), score=_probe("choice_metrics"),
           prompts=_probe("choice_prompts")),
    Attack("logit-lens", "probe", "each layer's residual stream decoded by the final norm and unembedding; the "
                                  "probability of the answer's first fact token at the layer best on a held-out half "
                                  "of the questions",
           read=_probe("read_lens"), score=_probe("lens_metrics"), prompts=_probe("lens_prompts")),
):
    register(_attack)
