"""Real-world scenario: forget knowledge the model got in pre-training (the seed paper's third setting).

Input: questions with golden answers about target entities (to forget) and neighbor entities
(to keep), from ``real_world_targets.jsonl`` and ``real_world_neighbors.jsonl`` (packaged, or in
the ``data`` folder). The base model answers every question; only questions it answers
correctly are kept (it cannot forget what it does not know). The neighbor entities are split
in two, alternately in file order: the first, third, ... form the retain set the regularizers
train on (``neighbor_train``, the model's own answers as targets, like the forget set); the
others are held out for the locality evaluation (``neighbor``, golden answers), so no method is
evaluated on what it trained on (the seed paper keeps the two apart the same way). Evaluation
compares with the golden answers on the targets (forgetting) and the held-out neighbors
(locality), plus the real-authors and world-facts utility splits. There is no retain model, so
forget quality and PrivLeak are not computed, and no holdout split.

The seed paper's own files: a ``data`` folder holding ``forget``, ``neighbor``,
``forget_perturbed`` and ``neighbor_perturbed`` (``.json`` or ``.jsonl``, JSON lines, as in
sail-sg/closer-look-LLM-unlearning's ``data/real_world``) is used as the paper uses it, with no
generation and no filtering (``keep_only_known`` does not apply): the methods train on
``forget`` with ``neighbor`` as the retain set, both with their ``answer`` field (the answers the
paper's model gave); the evaluation reads ``forget_perturbed`` (role forget) and
``neighbor_perturbed`` (role retain) with their ``golden_answer`` as the answer (the paper's
``answer_key: golden_answer``; ``scenario_args: {answer_field: ...}`` chooses another field).
The data step writes them under the same names as above (``forget_train``, ``neighbor_train``,
``forget``, ``neighbor``), so the later steps are the same for both layouts. The utility splits
are the folder's own ``real_authors_perturbed`` and ``world_facts_perturbed`` where it has them,
else the packaged ones.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from unlearn.data.benchmark import Benchmark, read_split_file, write_benchmark
from unlearn.errors import UserError
from unlearn.scenarios.common import UTILITY_SPLITS, eval_step, forget_step, identity, training_overlap_notes
from unlearn.scenarios.experiment import ExperimentSettings
from unlearn.scenarios.selection_refs import Anchors
from unlearn.scenarios.steps import Steps, folder_fingerprint

FILES = {"forget": "real_world_targets.jsonl", "neighbor": "real_world_neighbors.jsonl"}
PAPER_SPLITS = ("forget", "neighbor", "forget_perturbed", "neighbor_perturbed")  # the seed paper's layout
RESOURCES = "unlearn.data.resources"


def run(settings: ExperimentSettings, steps: Steps) -> dict:
    data = _data_step(settings, steps)
    model = settings.target_model or settings.model
    splits = {"forget": "forget", "retain_split": "neighbor", "holdout": "none"}
    original = eval_step(settings, steps, model, data, "eval-original", **splits)
    rows = [{"label": "original model", "role": "anchor", "model": model, "eval": original}]
    for entry in settings.methods:
        unlearned = forget_step(settings, steps, model, data, entry, "forget_train", f"forget-{entry.name}",
                                retain="neighbor_train", anchors=Anchors(model, target_label="original model"),
                                evaluation=splits)
        evaluated = eval_step(settings, steps, unlearned, data, f"eval-{entry.name}", **splits)
        rows.append({"label": entry.name, "role": "method", "model": unlearned, "eval": evaluated})
    notes = training_overlap_notes(data, {"the regularizers": "neighbor_train"}, {"retain": "neighbor"})
    if _paper_layout(settings) and "keep_only_known" in settings.scenario_args:
        notes.append("keep_only_known does not apply to the seed paper's files, which are used as they are")
    return {"models": rows, "notes": notes}


def _paper_layout(settings: ExperimentSettings) -> bool:
    """Whether ``data`` is a folder of the seed paper's real-world files (all four, or an error)."""
    if settings.data == "builtin" or not Path(settings.data).is_dir():
        return False
    present = set(Benchmark(settings.data).split_names())
    if not {"forget", "neighbor"} <= present:
        return False
    missing = [name for name in PAPER_SPLITS if name not in present]
    if missing:
        raise UserError(f"real-world data folder {settings.data} in the seed paper's layout needs "
                        f"{', '.join(PAPER_SPLITS)} (.json or .jsonl); missing: {', '.join(missing)}")
    return True


def _source_folder(settings: ExperimentSettings) -> Path:
    if settings.data == "builtin":
        return Path(str(resources.files(RESOURCES)))
    folder = Path(settings.data)
    if not all((folder / name).is_file() for name in FILES.values()):
        raise UserError(f"real-world data folder {folder} needs {' and '.join(FILES.values())}, or the seed "
                        f"paper's {', '.join(n + '.json' for n in PAPER_SPLITS)}")
    return folder


def _data_step(settings: ExperimentSettings, steps: Steps) -> Path:
    own = settings.scenario_settings
    if _paper_layout(settings):
        folder = Path(settings.data)
        inputs = {"layout": "seed paper", "source": folder_fingerprint(folder), "utility_records":
                  own.utility_records, "answer_field": own.answer_field}
        return steps.run("real-world-data", inputs, lambda out: _write_paper_data(settings, folder, out))
    source = _source_folder(settings)
    inputs = {"model": identity(settings.target_model or settings.model), "source": folder_fingerprint(source),
              "utility_records": own.utility_records, "keep_only_known": own.keep_only_known,
              "device": settings.device, "neighbors": "alternate entities: trained on, held out"}
    return steps.run("real-world-data", inputs, lambda folder: _write_data(settings, source, folder))


def _write_data(settings: ExperimentSettings, source: Path, folder: Path) -> None:
    """Answer every question with the base model; keep the known ones; write the splits."""
    from unlearn.data.formatting import PromptFormat
    from unlearn.evaluation.generation import generate_answers
    from unlearn.metrics.fact import contains_fact
    from unlearn.models.loading import load_model

    own = settings.scenario_settings
    model, tokenizer = load_model(settings.target_model or settings.model, device=settings.device)
    fmt = PromptFormat.for_tokenizer(tokenizer)
    splits = {}
    for split, name in FILES.items():
        records = read_split_file(source / name)
        answers = generate_answers(model, tokenizer, fmt, [r["question"] for r in records], max_new_tokens=48)
        known = [(r, a) for r, a in zip(records, answers)
                 if not own.keep_only_known or contains_fact(a, r.get("fact") or r["answer"])]
        if not known:
            raise UserError(f"{source / name}: the model answers none of the questions correctly; nothing to "
                            f"{'forget' if split == 'forget' else 'keep'}")
        if split == "forget":  # unlearning trains on what the model itself says
            splits["forget"] = [r for r, _ in known]
            splits["forget_train"] = _own_answers(known)
        else:
            trained, held_out = _split_entities(known, source / name)
            splits["neighbor_train"], splits["neighbor"] = _own_answers(trained), [r for r, _ in held_out]
    utility_source = Path(str(resources.files(RESOURCES)))
    for name in UTILITY_SPLITS:
        records = read_split_file(utility_source / f"{name.removesuffix('_perturbed')}.jsonl")
        splits[name] = records[:own.utility_records] if own.utility_records else records
    write_benchmark(splits, folder)


def _write_paper_data(settings: ExperimentSettings, source: Path, folder: Path) -> None:
    """The seed paper's files as they are: train on ``answer``, evaluate against the scenario's ``answer_field``."""
    own = settings.scenario_settings
    trained, scored = Benchmark(str(source)), Benchmark(str(source), answer_field=own.answer_field)
    splits = {"forget_train": trained.records("forget"), "neighbor_train": trained.records("neighbor"),
              "forget": scored.records("forget_perturbed"), "neighbor": scored.records("neighbor_perturbed")}
    present = set(trained.split_names())
    packaged = Path(str(resources.files(RESOURCES)))
    for name in UTILITY_SPLITS:
        records = trained.records(name) if name in present else \
            read_split_file(packaged / f"{name.removesuffix('_perturbed')}.jsonl")
        splits[name] = records[:own.utility_records] if own.utility_records else records
    write_benchmark(splits, folder)


def _own_answers(known: list[tuple[dict, str]]) -> list[dict]:
    return [{"question": r["question"], "answer": a or r["answer"]} for r, a in known]


def _split_entities(known: list[tuple[dict, str]], path: Path) -> tuple[list, list]:
    """Neighbor records of the 1st, 3rd, ... entity (file order) to train on, the others held out."""
    subjects = list(dict.fromkeys(r.get("subject") for r, _ in known))
    if None in subjects or len(subjects) < 2:
        raise UserError(f"{path}: the neighbors need a 'subject' on every record and at least two subjects, so that "
                        "the entities trained on and the entities evaluated can be kept apart")
    trained = set(subjects[0::2])
    return [k for k in known if k[0]["subject"] in trained], [k for k in known if k[0]["subject"] not in trained]
