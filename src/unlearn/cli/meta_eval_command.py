"""``unlearn meta-eval``: rank the forget metrics themselves by faithfulness and robustness."""

from __future__ import annotations

from unlearn.config import add_part_flags, add_settings_flags, resolve_settings


def register(commands) -> None:
    from unlearn.metaeval.settings import MetaEvalSettings, RecipeSettings
    from unlearn.attacks.catalog import RelearnSettings

    parser = commands.add_parser(
        "meta-eval", help="rank the forget metrics: faithfulness (AUC knows vs never saw) and robustness to attacks",
        description="Score every forget metric on a pool of models, as OpenUnlearning's meta-evaluation does (arXiv "
                    "2506.12618, Sec. 4.1): faithfulness is the AUC with which the metric separates models that know "
                    "the forget data (targets) from models that never saw it (retain models); robustness is the "
                    "harmonic mean of how little its reading moves under relearning (against the retain model's "
                    "change) and 4-bit quantization, on unlearned models; the metrics are ranked by the harmonic "
                    "mean of the two. The pool is a YAML file (--pool FILE --data BENCHMARK; see the docs) or the "
                    "built-in recipe (--pool builtin: targets and retain models over seeds and fine-tuning lengths "
                    "on the built-in benchmark, unlearned with ME+GD). Every evaluation, training and attack is a "
                    "step under --out, reused when run again. Writes meta_eval.json, .csv, .md and .png.")
    add_settings_flags(parser, MetaEvalSettings)
    add_part_flags(parser, {"recipe": RecipeSettings, "relearn": RelearnSettings},
                   {"recipe": "--pool builtin", "relearn": "the relearning attack"})
    parser.set_defaults(handler=run)


def run(args) -> int:
    from unlearn import api
    from unlearn.metaeval.outputs import table_lines
    from unlearn.metaeval.settings import MetaEvalSettings

    result = api.meta_eval(settings=resolve_settings(MetaEvalSettings, args))
    sizes = result["pool_sizes"]
    print(f"pool: {sizes['knows']} know the forget data, {sizes['never_saw']} never saw it, {sizes['unlearned']} "
          "unlearned")
    print("\n".join(table_lines(result["rows"])))
    for row in result["rows"]:
        if row["not_computed"]:
            print(f"n/c {row['metric']}: {row['not_computed']}")
    print(f"meta-evaluation written to {result['files']['markdown']}")
    return 0
