"""``unlearn data fictitious`` / ``muse`` / ``wmdp`` / ``rwku``: write a built-in benchmark."""

from __future__ import annotations

from unlearn.errors import UserError


OVERWRITE = "replace split files of other content already in --out"


def register(commands) -> None:
    parser = commands.add_parser("data", help="create benchmark data", description="Create benchmark data.")
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    fictitious = kinds.add_parser(
        "fictitious", help="TOFU-format benchmark of invented people",
        description="Write a TOFU-format benchmark of invented people (deterministic for a seed).")
    fictitious.add_argument("--out", required=True, help="output folder (one <split>.jsonl per split)")
    fictitious.add_argument("--people", type=int, default=20,
                            help="invented people in 'full' (default: 20; TOFU has 200)")
    fictitious.add_argument("--qa-per-person", type=int, default=5,
                            help="questions per person, up to 22 (default: 5; TOFU has 20)")
    fictitious.add_argument("--seed", type=int, default=0, help="generator seed (default: 0)")
    fictitious.add_argument("--forget-percents", default="1,5,10", metavar="P,P,...",
                            help="forgetNN splits to cut, each with its retain and holdout splits, percentages of "
                                 "the people from 1 to 50 (default: 1,5,10, as TOFU)")
    fictitious.add_argument("--overwrite", action="store_true", help=OVERWRITE)
    fictitious.set_defaults(handler=run_fictitious)
    muse = _builtin(kinds, "muse", run_muse, "MUSE-style benchmark: news articles about invented people",
                    "Write a MUSE-style benchmark in MUSE's split names: one article per invented person (the last "
                    "quarter to forget), VerbMem prefixes, KnowMem questions and in-context pairs, PrivLeak member "
                    "and holdout texts, scal/sust folds (deterministic for a seed).")
    muse.add_argument("--people", type=int, default=20, help="invented people (default: 20)")
    muse.add_argument("--qa-per-person", type=int, default=5, help="facts per person, up to 22 (default: 5)")
    wmdp = _builtin(kinds, "wmdp", run_wmdp, "WMDP-style benchmark on invented facts",
                    "Write a WMDP-style benchmark: forget and retain corpora of raw text about invented viruses and "
                    "minerals, and four-option questions on every fact (deterministic for a seed).")
    wmdp.add_argument("--entities", type=int, default=20,
                      help="invented viruses (forget) and minerals (utility), 1 to 96 (default: 20)")
    _builtin(kinds, "rwku", run_rwku, "RWKU-style probes about the packaged real-world entities",
             "Write RWKU-style probes (fill-in-the-blank, questions, adversarial; neighbors; membership sets) about "
             "the packaged real-world targets and neighbor entities (deterministic for a seed: the option order).")


def _builtin(kinds, name: str, handler, summary: str, description: str):
    """A built-in benchmark's subcommand with the options they all take, ``--out`` and ``--seed``."""
    parser = kinds.add_parser(name, help=summary, description=description)
    parser.add_argument("--out", required=True, help="output folder (one <split>.jsonl per split)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default: 0)")
    parser.add_argument("--overwrite", action="store_true", help=OVERWRITE)
    parser.set_defaults(handler=handler)
    return parser


def run_fictitious(args) -> int:
    from unlearn import api

    try:
        percents = tuple(int(p) for p in args.forget_percents.split(","))
    except ValueError:
        raise UserError("--forget-percents must be integers separated by commas, "
                        f"got '{args.forget_percents}'") from None
    return _written(api.fictitious_benchmark(args.out, args.people, args.qa_per_person, args.seed, percents,
                                             args.overwrite))


def run_muse(args) -> int:
    from unlearn import api

    return _written(api.muse_benchmark(args.out, args.people, args.qa_per_person, args.seed, args.overwrite))


def run_wmdp(args) -> int:
    from unlearn import api

    return _written(api.wmdp_benchmark(args.out, args.entities, args.seed, args.overwrite))


def run_rwku(args) -> int:
    from unlearn import api

    return _written(api.rwku_benchmark(args.out, args.seed, args.overwrite))


def _written(out) -> int:
    sizes = ", ".join(f"{p.stem} {sum(1 for _ in p.open(encoding='utf-8'))}" for p in sorted(out.glob("*.jsonl")))
    print(f"wrote {len(list(out.glob('*.jsonl')))} splits to {out}: {sizes}")
    return 0
