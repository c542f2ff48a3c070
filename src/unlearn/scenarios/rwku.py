"""RWKU scenario: forget what the model learned in pre-training about real targets, from text
the model writes itself, and probe it RWKU's way.

Steps: the probe data, every split the scenario's registered suite reads, read as ``unlearn eval
--suites rwku`` reads it (built-in: ``unlearn data rwku``'s set, whose entities the data seed draws:
even seeds the reported ones, odd seeds the validation ones, see ``data/rwku.py``; a folder in
RWKU's layout, ``forget_level1`` ... ``mia_retain`` and any of ``utility_general`` ...
``utility_fluency``; or the Hub's ``jinzhuoran/RWKU``, each config's ``test`` split); the forget
corpus, which the model writes itself about each target (RWKU's forget corpus is the model's own
descriptions), and a retain corpus written the same way about every other neighbor entity (the 1st,
3rd, ... in file order); the original model's evaluation; each method unlearning the forget corpus
with the retain corpus as its retain set; their evaluations. The neighbor probes cover every
neighbor entity, so those the retain corpus was written about are trained on by the regularizers
(the report says which).
"""

from __future__ import annotations

from pathlib import Path

from unlearn.benchmarks.registry import benchmark
from unlearn.data.benchmark import Benchmark, write_benchmark
from unlearn.data.rwku import UTILITY, entity_set
from unlearn.errors import UserError
from unlearn.scenarios.common import builtin_benchmark, eval_step, forget_step, identity, suite_splits
from unlearn.scenarios.experiment import ExperimentSettings
from unlearn.scenarios.selection_refs import Anchors
from unlearn.scenarios.steps import Steps, folder_fingerprint

WRITING_PROMPTS = ("Please tell me everything you know about {subject}.",
                   "Write a short encyclopedia entry about {subject}.")
CORPUS_TOKENS = 128
# the question-answer splits are not RWKU's: the scenario's registered suite is what every model is evaluated by
RWKU_ONLY = {"forget": None, "retain_split": None, "real_authors": None, "world_facts": None, "holdout": None}


def run(settings: ExperimentSettings, steps: Steps) -> dict:
    model = settings.target_model or settings.model
    data = _probe_step(settings, steps)
    corpus = _corpus_step(settings, steps, model, data)
    rows = [{"label": "original model", "role": "anchor", "model": model,
             "eval": eval_step(settings, steps, model, data, "eval-original", **RWKU_ONLY)}]
    for entry in settings.methods:
        unlearned = forget_step(settings, steps, model, corpus, entry, "forget_corpus", f"forget-{entry.name}",
                                retain="retain_corpus", anchors=Anchors(model, target_label="original model"),
                                evaluation=RWKU_ONLY, eval_data=data)
        rows.append({"label": entry.name, "role": "method", "model": unlearned,
                     "eval": eval_step(settings, steps, unlearned, data, f"eval-{entry.name}", **RWKU_ONLY)})
    kept = ", ".join(_retain_subjects(Benchmark(str(data))))
    return {"models": rows, "notes": [
        "The forget corpus is the original model's own writing about each target (greedy, "
        f"{CORPUS_TOKENS} tokens, {len(WRITING_PROMPTS)} prompts); the regularizers' retain corpus is its writing "
        f"about {kept}, which the neighbor probes also ask about.", _utility_note(data)]}


def _utility_note(data: Path) -> str:
    present = [part for part in UTILITY if (data / f"utility_{part}.jsonl").is_file()]
    absent = [f"{part} ({UTILITY[part][0]})" for part in UTILITY if part not in present]
    if not absent:
        return "RWKU's utility set is read from the data; see the utility table for what was computed."
    return (f"RWKU's utility set: {', '.join(absent)} not in the data, so not computed (the table below gives each "
            "reason); with the Hub, lm-eval's mmlu, bbh_cot_fewshot, truthfulqa_mc1 and triviaqa tasks measure the "
            "same abilities through the experiment's eval section (suites: [lm-eval], suite_args: {lm-eval: {tasks: "
            "[...]}}).")


def _probe_step(settings: ExperimentSettings, steps: Steps) -> Path:
    """The splits the scenario's suite reads: the registered benchmark's built-in set, or those the
    data has, read by the suite's own ``load`` (probes and membership sets checked, the utility set
    with the fields it keeps)."""
    seed = settings.scenario_settings.data_seed
    if settings.data == "builtin":
        builtin = builtin_benchmark(settings, _builtin_key(seed), seed=seed)
        inputs, source = builtin.key, None
    else:
        source = Benchmark(settings.data)
        inputs = ({"folder": str(Path(settings.data).resolve()), "content": folder_fingerprint(settings.data)}
                  if source.folder is not None else {"hub": settings.data})
    names = suite_splits(settings)

    def write(folder: Path) -> None:
        if source is None:
            write_benchmark(builtin.splits(), folder)
            return
        if "forget_level2" not in source.split_names():  # on the Hub: configs, each holding one split, test
            raise UserError(f"{settings.data}: an RWKU folder needs at least forget_level2 (and any of "
                            f"{', '.join(names)})")
        suite = benchmark("rwku").suite
        args = suite.args({"split_suffix": "" if source.folder is not None else ".test"})
        records, _, utility = suite.load(source, settings, args)
        write_benchmark({**records, **{f"utility_{part}": rows for part, rows in utility.items() if rows is not None}},
                        folder)

    return steps.run("data", {**inputs, "splits": names}, write)


def _builtin_key(seed: int) -> dict:
    """The built-in data step's key: the seed, and the entity set where the seed draws the validation
    one (``data.rwku.entity_set``), so a run made when every seed drew the reported entities is not
    reused for an odd seed, while seed 0's key, and so its kept runs, stay as they were."""
    drawn = entity_set(seed)
    return {"builtin_rwku": seed} if drawn == "reported" else {"builtin_rwku": seed, "entities": drawn}


def _retain_subjects(probes: Benchmark) -> list[str]:
    neighbors = [r.get("subject") for r in probes.records("neighbor_level2")] if "neighbor_level2" in \
        probes.split_names() else []
    return list(dict.fromkeys(s for s in neighbors if s))[0::2]


def _corpus_step(settings: ExperimentSettings, steps: Steps, model, data: Path) -> Path:
    inputs = {"model": identity(model), "probes": data.name, "prompts": list(WRITING_PROMPTS),
              "tokens": CORPUS_TOKENS, "device": settings.device}
    return steps.run("corpus", inputs, lambda folder: _write_corpus(settings, model, data, folder))


def _write_corpus(settings: ExperimentSettings, model_source, data: Path, folder: Path) -> None:
    """The model writes about each target and each retained neighbor entity."""
    from unlearn.data.formatting import PromptFormat
    from unlearn.evaluation.generation import generate_answers
    from unlearn.models.loading import load_model

    probes = Benchmark(str(data))
    targets = list(dict.fromkeys(r.get("subject") for r in probes.records("forget_level2") if r.get("subject")))
    if not targets:
        raise UserError(f"{data}: forget_level2 probes carry no 'subject'; the forget corpus is written about each one")
    model, tokenizer = load_model(str(model_source), device=settings.device)
    fmt = PromptFormat.for_tokenizer(tokenizer)
    splits = {}
    for split, subjects in (("forget_corpus", targets), ("retain_corpus", _retain_subjects(probes))):
        prompts = [p.format(subject=s) for s in subjects for p in WRITING_PROMPTS]
        texts = generate_answers(model, tokenizer, fmt, prompts, CORPUS_TOKENS, progress=False)
        if any(t.strip() for t in texts):  # no neighbors: no retain corpus, and a regularizer says so
            splits[split] = [{"text": t} for t in texts if t.strip()]
    if "forget_corpus" not in splits:
        raise UserError(f"{model_source} wrote nothing about the targets; there is no forget corpus")
    write_benchmark(splits, folder)
