"""mkdocs hook: the reference pages, written at build time from the code, so they cannot drift.

``on_files`` adds generated pages to the site: the methods, metrics, attacks and benchmarks that the
code registers, every command's flags as the parser declares them, and the project files kept at
the repository root (BENCHMARKS.md, CHANGELOG.md, CONTRIBUTING.md), so that the guides can link to them.

Each kind of part is read from the code by one small ``*_source`` function returning plain rows; the
page renderers never touch the code. When a registry changes shape, only its source function changes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
ROOT_PAGES = {"project/benchmarks.md": "BENCHMARKS.md", "project/changelog.md": "CHANGELOG.md",
              "project/contributing.md": "CONTRIBUTING.md"}
GENERATED_NOTE = "*Generated from the code when the site is built ({source}); edit the code, not this page.*"


# --- sources: the only functions that know where each registry lives ---------------------------------------------

def method_sources() -> dict[str, list[dict]]:
    """Loss terms (forget terms, regularizers), the methods of the other families, and every part's settings."""
    from unlearn.families import FAMILY_METHODS
    from unlearn.objectives.registry import FORGET_TERMS, REGULARIZERS, every_part

    def term_row(term) -> dict:
        cached = ", ".join(term.reference_logprobs)
        needs = [f"reference log-probs of {cached} (cached)"] if cached else []
        needs += ["frozen reference model"] if term.frozen_model else []
        needs += ["full weights (no LoRA)"] if term.full_weights_only else []
        return {"name": term.name, "summary": term.summary, "reads": ", ".join(term.streams), "needs": "; ".join(needs)}

    return {
        "forget": [term_row(t) for t in FORGET_TERMS.values()],
        "regularizer": [term_row(t) for t in REGULARIZERS.values()],
        "family": [{"name": m.name, "family": m.family, "summary": m.summary, "inference": m.inference_cost,
                    "needs": "retain split" if m.needs_retain else ""} for m in FAMILY_METHODS.values()],
        "settings": [{"part": part, "used_by": used_by, "fields": _fields(part, model)}
                     for part, (model, used_by) in every_part().items()],
    }


def metric_sources() -> dict[str, list[dict]]:
    """The registered metrics, per split and per model. (The suites' numbers, MUSE's and RWKU's, are not in this
    registry; their guide documents them. Reading them from the report's tables would import torch.)"""
    from unlearn.evaluation.metric_registry import model_metrics, split_metrics

    return {
        "split": [{"name": m.name, "label": m.label, "description": m.description, "needs": ", ".join(m.needs),
                   "forget": m.forget_direction, "other": m.direction} for m in split_metrics()],
        "model": [{"name": m.name, "label": m.label, "description": m.description, "direction": m.direction}
                  for m in model_metrics()],
    }


def attack_sources() -> list[dict]:
    """Each registered attack: its kind, what it does, the measured attacks it stands for, its settings."""
    from unlearn.attacks.catalog import ATTACKS

    return [{"name": a.name, "kind": a.kind, "description": a.description,
             "measured": list(a.measured(a.args(None)).items()), "fields": _fields(a.name, a.settings)}
            for a in ATTACKS.values()]


def benchmark_sources() -> dict[str, list]:
    """Record kinds a split may hold, the registered benchmarks (generator, suite and its settings) and
    the scenarios."""
    from unlearn.benchmarks.registry import benchmarks
    from unlearn.data import kinds
    from unlearn.scenarios.registry import scenarios

    return {
        "kinds": [{"name": kind, "label": kinds.KIND_NAMES[kind], "fields": ", ".join(kinds.FIELDS[kind])}
                  for kind in kinds.KINDS],
        "benchmarks": [{"name": spec.name, "description": spec.description, "kinds": list(spec.kinds),
                        "hub": spec.hub, "evaluated_by": spec.evaluated_by,
                        "generator": spec.generator.description if spec.generator else "",
                        "fields": _fields(spec.name, spec.suite.settings if spec.suite else None)}
                       for spec in benchmarks().values()],
        "generators": [{"name": spec.name, "summary": spec.generator.description}
                       for spec in benchmarks().values() if spec.generator],
        "scenarios": [{"name": s.name, "description": s.description, "forget": s.forget, "retain": s.retain,
                       "benchmark": s.benchmark, "suites": list(s.suites),
                       "fields": [{"key": name, "default": field.default, "description": field.description or ""}
                                  for name, field in (s.settings.model_fields.items() if s.settings else ())]}
                      for s in scenarios()],
    }


def cli_parser() -> argparse.ArgumentParser:
    """The ``unlearn`` command's parser, with every subcommand."""
    from unlearn.cli.main import build_parser

    return build_parser()


def _fields(part: str, model) -> list[dict]:
    """A part's own settings (a pydantic class, or None): flag, default and description of each field."""
    from unlearn.config import part_flag

    return [{"flag": part_flag(part, name), "key": name, "default": field.default,
             "description": field.description or ""} for name, field in (model.model_fields.items() if model else ())]


# --- pages -----------------------------------------------------------------------------------------------------

def methods_page() -> str:
    sources = method_sources()
    lines = ["# Methods", "", GENERATED_NOTE.format(source="unlearn.objectives.registry, unlearn.families"), "",
             "A loss-based method is `FORGET[+REGULARIZER]` (`unlearn forget --method NPO+GD`): one forget term and "
             "at most one regularizer from the tables below. The methods of the other families are used alone. "
             "Equations, defaults and where papers and code differ: [Unlearning methods](../methods.md).", "",
             "## Forget terms", ""]
    lines += _table(["name", "what it does", "reads", "needs"],
                    [[f"`{r['name']}`", r["summary"], r["reads"], r["needs"]] for r in sources["forget"]])
    lines += ["", "## Regularizers", ""]
    lines += _table(["name", "what it does", "reads", "needs"],
                    [[f"`{r['name']}`", r["summary"], r["reads"], r["needs"]] for r in sources["regularizer"]])
    lines += ["", "## Other families (used alone)", ""]
    lines += _table(["name", "family", "what it builds", "at inference", "needs"],
                    [[f"`{r['name']}`", r["family"], r["summary"], r["inference"], r["needs"]]
                     for r in sources["family"]])
    lines += ["", "## Settings of each part", "",
              "Each part declares its own settings: a flag `--part.name` on the command line, or "
              "`method_args: {PART: {name: value}}` in YAML. A setting of a part the chosen method does not use "
              "is refused.", ""]
    for part in sources["settings"]:
        lines += [f"### {part['part']}", "", f"Used by: {_escape(part['used_by'])}.", ""]
        lines += _settings_table(part["fields"]) + [""]
    return "\n".join(lines) + "\n"


def metrics_page() -> str:
    sources = metric_sources()
    lines = ["# Metrics", "", GENERATED_NOTE.format(source="unlearn.evaluation.metric_registry"), "",
             "Better: `↑` higher, `↓` lower, `→x` closest to x. Definitions and intervals: "
             "[Evaluation](../evaluation.md).", "", "## Per split", "",
             "Averaged over each split's examples, with an interval (`SPLIT.METRIC` in `unlearn compare`).", ""]
    lines += _table(["key", "label", "what it is", "needs", "better on forget", "better elsewhere"],
                    [[f"`{r['name']}`", r["label"], r["description"], r["needs"], r["forget"], r["other"]]
                     for r in sources["split"]])
    lines += ["", "## Per model", "", "Computed once per model from the splits.", ""]
    lines += _table(["key", "label", "what it is", "better"],
                    [[f"`{r['name']}`", r["label"], r["description"], r["direction"]] for r in sources["model"]])
    lines += ["", "The suites' numbers (multiple choice, lm-eval tasks, MUSE, RWKU) are under their own keys of "
              "`summary.json`: [Other benchmarks](../other-benchmarks.md).", ""]
    return "\n".join(lines) + "\n"


def attacks_page() -> str:
    attacks = attack_sources()
    lines = ["# Attacks", "", GENERATED_NOTE.format(source="unlearn.attacks.catalog"), "",
             "`unlearn attack --attacks NAME,...` (or `all`). A name may stand for several measured attacks. "
             "How recovery is computed: [Robustness attacks](../attacks.md).", ""]
    lines += _table(["name", "kind", "what it does", "measured as"],
                    [[f"`{a['name']}`", a["kind"], a["description"], ", ".join(f"`{m}`" for m, _ in a["measured"])]
                     for a in attacks])
    for attack in attacks:
        lines += ["", f"## {attack['name']}", "", _escape(attack["description"]), ""]
        if [m for m, _ in attack["measured"]] != [attack["name"]]:
            lines += _table(["measured attack", "what it does"], [[f"`{m}`", text] for m, text in attack["measured"]])
            lines += [""]
        if attack["fields"]:
            lines += [f"Settings (`--{attack['name']}.NAME`, or `attack_args: {{{attack['name']}: {{NAME: value}}}}`):",
                      ""] + _settings_table(attack["fields"])
    return "\n".join(lines) + "\n"


def benchmarks_page() -> str:
    sources = benchmark_sources()
    lines = ["# Benchmarks", "", GENERATED_NOTE.format(source="unlearn.data.kinds, unlearn.benchmarks.registry, "
                                                             "unlearn.scenarios"),
             "", "Guides: [Data](../data.md), [Other benchmarks](../other-benchmarks.md), "
             "[Experiments](../experiments.md).", "", "## Record kinds", "",
             "A split holds records of one kind; its first record decides.", ""]
    lines += _table(["kind", "name", "fields"], [[f"`{r['name']}`", r["label"], r["fields"]] for r in sources["kinds"]])
    lines += ["", "## Registered benchmarks (`unlearn data --list-benchmarks`)", ""]
    for bench in sources["benchmarks"]:
        lines += [f"### `{bench['name']}`", "", bench["description"], "",
                  f"- record kinds: {', '.join(f'`{kind}`' for kind in bench['kinds']) or 'none of its own'}",
                  f"- evaluated by: {_escape(bench['evaluated_by'])}"]
        lines += [f"- Hub: {_escape(bench['hub'])}"] if bench["hub"] else []
        lines += [f"- built in: `unlearn data {bench['name']}`: {bench['generator']}"] if bench["generator"] else []
        lines.append("")
        if bench["fields"]:
            lines += [f"Settings (`--{bench['name']}.NAME`, or `suite_args: {{{bench['name']}: {{NAME: value}}}}`):",
                      ""] + _settings_table(bench["fields"]) + [""]
    lines += ["## Built-in benchmarks (`unlearn data KIND`)", ""]
    lines += _table(["KIND", "what it writes"], [[f"`{r['name']}`", r["summary"]] for r in sources["generators"]])
    lines += ["", "## Scenarios (`scenario:` in an experiment file; `unlearn run --list-scenarios`)", "",
              "Each scenario's own settings go in `scenario_args:` (`scenario: muse` with `scenario_args: {protocol: "
              "scalability}`); a setting of another scenario is refused.", ""]
    for scenario in sources["scenarios"]:
        splits = (f"`{scenario['forget']}` / `{scenario['retain']}`" if scenario["forget"]
                  else "its own (`forget` and `retain` do not apply)")
        lines += [f"### `{scenario['name']}`", "", scenario["description"], "",
                  f"Default forget / retain splits: {splits}.", ""]
        if scenario["benchmark"]:
            lines += [f"`data: builtin` generates the `{scenario['benchmark']}` benchmark (`unlearn data "
                      f"{scenario['benchmark']}`).", ""]
        if scenario["suites"]:
            lines += [f"Every model is evaluated with `--suites {','.join(scenario['suites'])}` beside the `eval` "
                      "section's suites; that section's `suite_args` may set them.", ""]
        lines += _table(["YAML key (`scenario_args`)", "default", "what it sets"],
                        [[f"`{f['key']}`", f"`{f['default']!r}`", f["description"]] for f in scenario["fields"]])
        lines.append("")
    return "\n".join(lines) + "\n"


def cli_page() -> str:
    lines = ["# Command line", "", GENERATED_NOTE.format(source="unlearn.cli.main.build_parser"), "",
             "Every command also takes `-h` / `--help`.", ""]
    lines += _parser_section(cli_parser(), "unlearn")
    return "\n".join(lines) + "\n"


PAGES = {"reference/methods.md": methods_page, "reference/metrics.md": metrics_page,
         "reference/attacks.md": attacks_page, "reference/benchmarks.md": benchmarks_page,
         "reference/cli.md": cli_page}


def on_files(files, config):
    """Add the generated reference pages and the root project files to the site."""
    for uri, render in PAGES.items():
        files.append(File.generated(config, uri, content=render()))
    for uri, name in ROOT_PAGES.items():
        files.append(File.generated(config, uri, content=(ROOT / name).read_text(encoding="utf-8")))
    return files


# --- rendering helpers -----------------------------------------------------------------------------------------

def _parser_section(parser: argparse.ArgumentParser, name: str) -> list[str]:
    """A heading per (sub)command with its description and a table of its options, subcommands after."""
    depth = name.count(" ") + 1
    lines = [f"{'#' * min(depth + 1, 6)} `{name}`", ""]
    if parser.description:
        lines += [_escape(parser.description), ""]
    rows = [_option_row(parser, action) for action in parser._actions
            if action.help != argparse.SUPPRESS
            and not isinstance(action, (argparse._SubParsersAction, argparse._HelpAction))]
    if rows:
        lines += _table(["option", "required", "help"], rows) + [""]
    for sub_name, sub_parser in _subcommands(parser).items():
        lines += _parser_section(sub_parser, f"{name} {sub_name}")
    return lines


def _option_row(parser: argparse.ArgumentParser, action: argparse.Action) -> list[str]:
    from unlearn.cli.parser import is_required  # a setting's required flag may also come from --config

    names = ", ".join(f"`{s}`" for s in action.option_strings) or f"`{action.metavar or action.dest}`"
    required = "yes" if is_required(action) else ""
    help_text = parser._get_formatter()._expand_help(action) if action.help else ""
    return [names, required, help_text]


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommands of ``parser`` by name (none for a leaf command)."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    return found


def _settings_table(fields: list[dict]) -> list[str]:
    return _table(["flag", "YAML key", "default", "what it sets"],
                  [[f"`{f['flag']}`", f"`{f['key']}`", f"`{f['default']!r}`", f["description"]] for f in fields])


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(_escape(str(cell)) for cell in row) + " |" for row in rows]


def _escape(text: str) -> str:
    """Plain text safe in a Markdown table cell: one line, no cell breaks, no HTML, no stray emphasis."""
    text = " ".join(text.split())
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;").replace("*", "\\*")
