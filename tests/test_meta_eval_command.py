"""``unlearn meta-eval``: the forget metrics ranked on a pool, from hand-built folders (exact numbers) and from tiny
models that are evaluated and attacked end to end (every forget metric in the table, a rerun reuses every step)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from unlearn import api
from unlearn.cli.main import main
from unlearn.evaluation.metric_registry import split_metrics
from unlearn.metaeval.ranking import Attack, rank_metrics, rank_rows

from conftest import make_model, make_tokenizer, write_jsonl

QUESTIONS = ["Where was Ada born?", "When was Ada born?"]


def eval_folder(folder, metrics: dict, not_computed: dict | None = None, questions=QUESTIONS):
    """A finished evaluation as ``unlearn eval`` writes it, with the forget metrics given."""
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps({
        "splits": {"forget": {"split": "forget10", "metrics": metrics, "intervals": {}}}, "overall": {},
        "not_computed": {f"forget.{k}": v for k, v in (not_computed or {}).items()}}))
    (folder / "forget.json").write_text(json.dumps({"examples": [{"question": q} for q in questions]}))
    return folder


def hand_pool(root):
    """Two models that know the forget data, two that never saw it, one unlearned with its attack summary."""
    data = root / "bench"
    data.mkdir()
    write_jsonl(data / "forget10.jsonl", [{"question": q, "answer": "London."} for q in QUESTIONS])
    no_nli = {"entailment_score": "disabled (--nli-model none)"}
    # fact accuracy and the truth ratio (lower = knows more) separate the sides; token entropy is the same for all;
    # probability is missing on one retain model
    models = {"t1": ("knows", {"fact_accuracy": 1.0, "truth_ratio": 0.2, "token_entropy": 0.9, "probability": 0.7}),
              "t2": ("knows", {"fact_accuracy": 0.8, "truth_ratio": 0.3, "token_entropy": 0.9, "probability": 0.5}),
              "r1": ("never_saw", {"fact_accuracy": 0.0, "truth_ratio": 0.8, "token_entropy": 0.9,
                                   "probability": 0.6}),
              "r2": ("never_saw", {"fact_accuracy": 0.1, "truth_ratio": 0.9, "token_entropy": 0.9,
                                   "probability": None}),
              "u1": ("unlearned", {"fact_accuracy": 0.2, "truth_ratio": 0.7, "token_entropy": 0.5,
                                   "probability": 0.1})}
    entries = []
    for name, (role, metrics) in models.items():  # no model refuses: the refusal rate reads 0 everywhere
        folder = eval_folder(root / f"eval-{name}", {**metrics, "entailment_score": None, "refusal_rate": 0.0},
                             {**no_nli, **({"probability": "no valid example"} if metrics["probability"] is None
                                           else {})})
        entries.append({"id": name, "role": role, "eval": folder.name})
    attack = root / "attack-u1"
    attack.mkdir()
    # relearning: R = (0.3 - 0.1) / (0.6 - 0.2) = 0.5; quantization: Q = 0.1 / 0.2 = 0.5 (nf4) and 1 (fp4, capped)
    (attack / "attack_summary.json").write_text(json.dumps({"attacks": [
        {"name": "relearn", "metrics": {"fact_accuracy": {"unlearned": 0.2, "attacked": 0.6, "control": 0.1,
                                                          "control_attacked": 0.3}}},
        {"name": "quantize-nf4", "metrics": {"fact_accuracy": {"unlearned": 0.2, "attacked": 0.1},
                                             "refusal_rate": {"unlearned": 0.0, "attacked": 0.0}}},
        {"name": "quantize-fp4", "metrics": {"fact_accuracy": {"unlearned": 0.2, "attacked": 0.3}}},
        {"name": "paraphrase", "metrics": {"fact_accuracy": {"unlearned": 0.2, "attacked": 0.9}}}]}))
    entries[-1].update(target="t1", retain="r1", attack=attack.name)
    pool = root / "pool.yaml"
    pool.write_text(yaml.safe_dump({"models": entries}))
    return pool, data


def test_a_known_separation_gives_auc_1_and_hand_computed_robustness(tmp_path, capsys):
    pool, data = hand_pool(tmp_path)
    out = tmp_path / "meta"
    assert main(["-q", "meta-eval", "--pool", str(pool), "--data", str(data), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    result = json.loads((out / "meta_eval.json").read_text())
    rows = {row["metric"]: row for row in result["rows"]}
    assert sorted(rows) == sorted(m.name for m in split_metrics())  # every forget metric has a row
    assert result["pool_sizes"] == {"knows": 2, "never_saw": 2, "unlearned": 1}

    fact = rows["fact_accuracy"]
    assert (fact["direction"], fact["faithfulness"], fact["relearning"], fact["quantization"]) == (
        "higher", 1.0, 0.5, 0.75)  # mean Q over nf4 and fp4: (0.5 + 1) / 2; the paraphrase attack is not read
    assert fact["robustness"] == pytest.approx(2 * 0.5 * 0.75 / 1.25)  # HM(0.5, 0.75) = 0.6
    assert fact["overall"] == pytest.approx(2 * 1.0 * 0.6 / 1.6)  # HM(1, 0.6) = 0.75
    assert (fact["relearned"], fact["quantized"], fact["unlearned"]) == (1, 1, 1)
    truth = rows["truth_ratio"]
    assert (truth["direction"], truth["faithfulness"], truth["robustness"], truth["overall"]) == (
        "lower", 1.0, None, 1.0)  # no attack measured it: ranked by faithfulness alone
    assert rows["token_entropy"]["faithfulness"] == 0.5  # the same value everywhere: ties count one half
    probability = rows["probability"]
    assert (probability["knows"], probability["never_saw"], probability["faithfulness"]) == (2, 1, 0.5)
    entailment = rows["entailment_score"]  # not computed: no number, the reason, no rank
    assert entailment["faithfulness"] is None and entailment["overall"] is None and entailment["rank"] is None
    assert "disabled (--nli-model none)" in entailment["not_computed"]
    refusal = rows["refusal_rate"]  # one value on every model and attack: 0/0 ratios, not a perfect robustness
    assert refusal["overall"] is None and refusal["rank"] is None and refusal["relearning"] is None
    assert refusal["not_computed"].startswith("reads 0 on every model of the pool")
    ranked = [(r["metric"], r["rank"]) for r in result["rows"] if r["rank"] is not None]
    assert ranked == [("truth_ratio", 1), ("fact_accuracy", 2), ("probability", 3), ("token_entropy", 3)]

    markdown = (out / "meta_eval.md").read_text()
    assert "| 1 | truth_ratio | lower | 1.000 | n/c | n/c | n/c | 1.000 | 2 / 2 / 0 / 0 |" in markdown
    assert "- entailment_score: not computed for any 'knows' model: disabled (--nli-model none)" in markdown
    assert "- probability: 2 / 1 / 0 / 0" in markdown  # computed on part of the pool, said so
    csv_lines = (out / "meta_eval.csv").read_text().splitlines()
    assert csv_lines[0].startswith("rank,metric,direction,faithfulness") and len(csv_lines) == 1 + len(rows)
    assert (out / "meta_eval.png").stat().st_size > 1000 and result["files"]["plot"] == "meta_eval.png"
    assert "| 1 | truth_ratio |" in printed and "n/c entailment_score" in printed


def test_rank_metrics_pairs_each_unlearned_model_with_its_own_retain_model():
    relearned = Attack({"m": {"u1": 0.2, "u2": 0.1, "u1~r": 0.1, "u2~r": 0.0}},
                       {"m": {"u1": 0.6, "u2": 0.3, "u1~r": 0.3, "u2~r": 0.4}})
    (row,) = rank_metrics({"m": {"t": 1.0, "r": 0.0}}, {"t": True, "r": False}, {"m": "higher"},
                          relearning=relearned, retain_id={"u1": "u1~r", "u2": "u2~r"})
    assert row["relearning"] == pytest.approx((0.5 + 1.0) / 2)  # u2: 0.4 / 0.2 = 2, capped at 1
    ranked = rank_rows([{"metric": "b", "overall": None}, {"metric": "a", "overall": 0.4},
                        {"metric": "c", "overall": 0.9}])
    assert [(r["metric"], r["rank"]) for r in ranked] == [("c", 1), ("a", 2), ("b", None)]


@pytest.mark.parametrize("models, message", [
    ([{"id": "t", "role": "knows", "model": "m"}, {"id": "r", "role": "retained", "model": "m"}],
     "invalid setting 'models.1.role'"),
    ([{"id": "t", "role": "knows", "model": "m"}], "no 'never_saw' model"),
    ([{"id": "t", "role": "knows", "model": "m"}, {"id": "r", "role": "never_saw", "model": "m"},
      {"id": "u", "role": "unlearned", "model": "m", "retain": "r"}], "unlearned model 'u' needs 'target'"),
    ([{"id": "t", "role": "knows", "model": "m"}, {"id": "r", "role": "never_saw", "model": "m"},
      {"id": "u", "role": "unlearned", "model": "m", "target": "r", "retain": "r"}], "target 'r' is not a 'knows'"),
    ([{"id": "t", "role": "knows", "model": "m"}, {"id": "t", "role": "never_saw", "model": "m"}], "two models"),
    ([{"id": "t", "role": "knows", "model": "m"}, {"id": "r", "role": "never_saw", "model": "m", "target": "t"}],
     "only an unlearned model"),
    ([{"id": "t", "role": "knows"}, {"id": "r", "role": "never_saw", "model": "m"}], "neither 'model' nor 'eval'"),
    (None, "not found"),
])
def test_a_bad_pool_file_is_one_line_with_exit_status_2(tmp_path, capsys, models, message):
    pool = tmp_path / "pool.yaml"
    if models is not None:
        pool.write_text(yaml.safe_dump({"models": models}))
    code = main(["meta-eval", "--pool", str(pool), "--data", str(tmp_path), "--out", str(tmp_path / "out")])
    error = capsys.readouterr().err
    assert code == 2 and error.startswith("unlearn: error: ") and error.count("\n") == 1, error
    assert message in error
    assert not (tmp_path / "out").exists()  # refused before any work


@pytest.mark.parametrize("flags, message", [
    (["--pool", "builtin", "--data", "x"], "generates its own benchmark"),
    (["--pool", "p.yaml"], "needs --data"),
    (["--pool", "p.yaml", "--data", "x", "--recipe.seeds", "1"], "settings of 'recipe' do not apply"),
    (["--pool", "p.yaml", "--data", "x", "--model", "m"], "names its own models"),
    (["--forget", "forget80"], "forgetNN"),
])
def test_settings_that_do_not_fit_their_pool_are_refused(tmp_path, capsys, flags, message):
    assert main(["meta-eval", *flags, "--out", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny_pool(tmp_path_factory, tiny_model_dir, fictitious_bench):
    """A pool of tiny random models: the test model knows, another never saw, a third is 'unlearned' from them (the
    last two in folders of the same name, which must still be two models)."""
    root = tmp_path_factory.mktemp("meta-pool")
    tokenizer = make_tokenizer()
    for name, seed in (("other", 1), ("third", 2)):
        model = make_model(len(tokenizer), seed)
        model.config.pad_token_id, model.config.eos_token_id = tokenizer.pad_token_id, tokenizer.eos_token_id
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.generation_config.eos_token_id = tokenizer.eos_token_id
        model.save_pretrained(root / name / "model")
        tokenizer.save_pretrained(root / name / "model")
    pool = root / "pool.yaml"
    pool.write_text(yaml.safe_dump({"models": [
        {"id": "target", "role": "knows", "model": str(tiny_model_dir)},
        {"id": "retain", "role": "never_saw", "model": "other/model"},
        {"id": "unlearned", "role": "unlearned", "model": "third/model", "target": "target", "retain": "retain"}]}))
    return pool, fictitious_bench


def test_tiny_models_are_evaluated_and_attacked_and_a_rerun_reuses_every_step(tiny_pool, tmp_path):
    pool, bench = tiny_pool
    settings = {"pool": str(pool), "data": str(bench), "out": str(tmp_path / "meta"), "device": "cpu",
                "threads": 1, "eval": {"max_new_tokens": 4, "embedder": "none", "nli_model": "none"},
                "part_args": {"relearn": {"epochs": 1, "lora_r": 4, "batch_size": 2}}}
    said = []
    result = api.meta_eval(**settings, progress=said.append)
    rows = {row["metric"]: row for row in result.summary["rows"]}
    assert sorted(rows) == sorted(m.name for m in split_metrics())
    assert result.summary["pool_sizes"] == {"knows": 1, "never_saw": 1, "unlearned": 1}
    for name in ("probability", "truth_ratio", "exact_memorization"):
        row = rows[name]
        assert row["faithfulness"] in (0.0, 0.5, 1.0), row  # one model on each side: the AUC is 0, 1/2 or 1
        assert (row["relearned"], row["quantized"]) == (1, 1) and math.isfinite(row["robustness"]), row
        assert 0.0 <= row["overall"] <= 1.0
    for name in ("cosine_similarity", "entailment_score"):
        assert rows[name]["overall"] is None and "disabled" in rows[name]["not_computed"]
    # a random model's four new tokens never recall the answer, and its argmax never the answer's rest: the scores
    # of the generation and extraction strength read 0 on every model and attack, and get no score
    for name in ("rougeL_recall", "rouge1_recall", "fact_accuracy", "token_entropy", "refusal_rate",
                 "extraction_strength"):
        assert rows[name]["not_computed"].startswith("reads 0 on every model of the pool"), rows[name]
    summary = json.loads((tmp_path / "meta" / "meta_eval.json").read_text())
    attacked = next(m for m in summary["pool"] if m["id"] == "unlearned")
    names = [a["name"] for a in json.loads(Path(attacked["attack"], "attack_summary.json").read_text())["attacks"]]
    assert names == ["relearn", "quantize-nf4", "quantize-fp4"]
    assert sum(line.split()[1] == "run" for line in said) == 5  # the data, three evaluations, one attack

    said.clear()
    again = api.meta_eval(**settings, progress=said.append)
    assert said and all(line.split()[1] == "reuse" for line in said)
    assert again.summary["rows"] == result.summary["rows"]

    # the retain and unlearned models swapped: folders of the same name, but other models, so evaluated again
    swapped = pool.read_text().replace("other/model", "SWAP").replace("third/model", "other/model")
    pool.with_name("swapped.yaml").write_text(swapped.replace("SWAP", "third/model"))
    said.clear()
    api.meta_eval(**{**settings, "pool": str(pool.with_name("swapped.yaml"))}, progress=said.append)
    assert sorted(line.split()[2] for line in said if line.split()[1] == "run") == [
        "attack-unlearned", "eval-retain", "eval-unlearned"]


def test_the_built_in_recipe_trains_its_pool_from_the_scenario_steps(tiny_model_dir, tmp_path):
    result = api.meta_eval(pool="builtin", model=str(tiny_model_dir), out=str(tmp_path / "meta"), device="cpu",
                           threads=1, eval={"max_new_tokens": 4, "embedder": None},
                           part_args={"recipe": {"seeds": [0], "finetune_epochs": [1, 2], "methods": ["GA"]},
                                      "relearn": {"epochs": 1, "lora_r": 4, "batch_size": 2}},
                           progress=lambda _: None)
    pool = {m["id"]: m for m in result.summary["pool"]}
    assert {i: m["role"] for i, m in pool.items()} == {
        "target-s0-e1": "knows", "retain-s0-e1": "never_saw", "target-s0-e2": "knows", "retain-s0-e2": "never_saw",
        "GA-s0-e2": "unlearned"}  # unlearned from the longest-trained target, attacked against its retain model
    assert (pool["GA-s0-e2"]["target"], pool["GA-s0-e2"]["retain"]) == ("target-s0-e2", "retain-s0-e2")
    steps = sorted(p.name.rsplit("-", 1)[0] for p in (tmp_path / "meta" / "steps").iterdir())
    assert steps == ["attack-GA-s0-e2", "data", "eval-GA-s0-e2", "eval-retain-s0-e1", "eval-retain-s0-e2",
                     "eval-target-s0-e1", "eval-target-s0-e2", "finetune-retain-s0-e1", "finetune-retain-s0-e2",
                     "finetune-target-s0-e1", "finetune-target-s0-e2", "forget-GA-s0-e2"]
    forget = json.loads(Path(pool["target-s0-e1"]["eval"], "forget.json").read_text())["examples"]
    assert len(forget) == 10  # forget50 of 10 people x 2 facts
    rows = {row["metric"]: row for row in result.summary["rows"]}
    assert (rows["probability"]["knows"], rows["probability"]["never_saw"], rows["probability"]["relearned"]) == (
        2, 2, 1)
