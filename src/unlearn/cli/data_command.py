"""``unlearn data NAME``: write a built-in benchmark; one subcommand per registered generator
(``benchmarks/registry.py``), with the options it declares. ``--list-benchmarks`` prints the registry."""

from __future__ import annotations

import argparse

from unlearn.benchmarks.registry import benchmark_list, generators

OVERWRITE = "replace split files of other content already in --out"


def register(commands) -> None:
    parser = commands.add_parser("data", help="create benchmark data", description="Create benchmark data.")
    parser.add_argument("--list-benchmarks", action="store_true",
                        help="print every registered benchmark (record kinds, generator, suite and its flags) and exit")
    parser.set_defaults(handler=run_list)
    kinds = parser.add_subparsers(dest="kind", metavar="KIND")
    for name, spec in generators().items():
        generator = spec.generator
        sub = kinds.add_parser(name, help=generator.summary, description=generator.description)
        sub.add_argument("--out", required=True, help="output folder (one <split>.jsonl per split)")
        for option in generator.options:
            sub.add_argument(option.flag, dest=option.name, type=option.type, default=option.default,
                             metavar=option.metavar, help=option.help)
        sub.add_argument("--seed", type=int, default=0, help="generator seed (default: 0)")
        sub.add_argument("--overwrite", action="store_true", help=OVERWRITE)
        sub.set_defaults(handler=run_generator, benchmark=name)


def run_list(args: argparse.Namespace) -> int:
    """``unlearn data --list-benchmarks``; without it and without a KIND, the usage error argparse gives."""
    if not args.list_benchmarks:
        from unlearn.errors import UserError

        raise UserError(f"unlearn data: name a benchmark to write ({', '.join(generators())}) or pass "
                        "--list-benchmarks")
    print(benchmark_list())
    return 0


def run_generator(args: argparse.Namespace) -> int:
    from unlearn import api

    options = {option.name: getattr(args, option.name) for option in generators()[args.benchmark].generator.options}
    out = api.builtin_benchmark(args.benchmark, args.out, seed=args.seed, overwrite=args.overwrite, **options)
    sizes = ", ".join(f"{p.stem} {sum(1 for _ in p.open(encoding='utf-8'))}" for p in sorted(out.glob("*.jsonl")))
    print(f"wrote {len(list(out.glob('*.jsonl')))} splits to {out}: {sizes}")
    return 0
