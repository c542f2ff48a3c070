"""``unlearn compare``: a leaderboard across finished evaluations and experiments."""

from __future__ import annotations


def register(commands) -> None:
    parser = commands.add_parser(
        "compare", help="leaderboard of finished evaluations and experiments (Markdown, HTML, CSV, plots)",
        description="Put any number of evaluation folders (unlearn eval --out) and experiment folders (unlearn run) "
                    "in one table with their bootstrap intervals, optionally ranked by a metric; each entry is "
                    "compared with the leader on the same questions (paired difference and interval).")
    parser.add_argument("sources", nargs="+", metavar="FOLDER", help="evaluation or experiment folders")
    parser.add_argument("--out", required=True, help="output folder for leaderboard.md, .html, .csv and plots/")
    parser.add_argument("--sort-by", metavar="METRIC",
                        help="rank by this metric, better first: a model-level number (forget_quality, "
                             "model_utility_tofu, ...) or SPLIT.METRIC (forget.rougeL_recall, ...)")
    parser.add_argument("--metrics", nargs="+", metavar="METRIC",
                        help="columns to show (default: the report's main columns)")
    parser.add_argument("--labels", nargs="+", metavar="NAME",
                        help="one name per source (an experiment's name prefixes its models)")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from unlearn import api
    from unlearn.report.leaderboard import table

    board = api.compare(*args.sources, out=args.out, sort_by=args.sort_by, metrics=args.metrics, labels=args.labels)
    title, header, rows = table(board)
    width = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print(title)
    for line in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(line, width)).rstrip())
    print(f"leaderboard written to {board.page}")
    return 0
