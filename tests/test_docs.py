"""The documentation site builds with ``--strict`` (no broken link, no missing page), and its
generated reference pages list what the code registers, so the docs cannot drift from the code."""

from __future__ import annotations

import argparse
import html
from pathlib import Path

import pytest
from mkdocs.commands.build import build
from mkdocs.config import load_config

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site built once, as ``mkdocs build --strict --site-dir TMP`` builds it (in this process: faster)."""
    out = tmp_path_factory.mktemp("site")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NO_MKDOCS_2_WARNING", "1")  # Material's banner about its successor, printed on every build
        build(load_config(str(ROOT / "mkdocs.yml"), site_dir=str(out), strict=True))
    return out


def page(site: Path, name: str) -> str:
    return (site / name / "index.html").read_text(encoding="utf-8")


def code(name: str) -> str:
    """How a name set in backticks appears in the built page."""
    return f"<code>{html.escape(name, quote=False)}</code>"


def test_the_methods_page_lists_every_registered_method(site):
    from unlearn.families import FAMILY_METHODS
    from unlearn.objectives.registry import FORGET_TERMS, REGULARIZERS, every_part

    text = page(site, "reference/methods")
    names = [*FORGET_TERMS, *REGULARIZERS, *FAMILY_METHODS]
    assert len(names) > 20
    assert [name for name in names if code(name) not in text] == []
    assert "negative preference optimization against the cached reference" in text  # NPO's summary
    flags = [f"--{part.lower()}.{field.replace('_', '-')}" for part, (model, _) in every_part().items()
             for field in model.model_fields]
    assert "--npo.beta" in flags and [flag for flag in flags if code(flag) not in text] == []  # each part's settings


def test_the_cli_page_lists_every_flag_of_every_command(site):
    from unlearn.cli.main import build_parser

    text = page(site, "reference/cli")
    flags = [flag for parser in parsers(build_parser()) for action in parser._actions for flag in action.option_strings
             if not isinstance(action, argparse._HelpAction) and action.help != argparse.SUPPRESS]
    # not listed: -h/--help (every command has them) and hidden flags (the old flat ones, kept for one release)
    assert "--learning-rate" in flags and "--retain-eval" in flags
    assert [flag for flag in dict.fromkeys(flags) if code(flag) not in text] == []


def parsers(parser: argparse.ArgumentParser):
    """``parser`` and every subcommand's parser under it."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from parsers(sub)


def test_the_attack_metric_and_benchmark_pages_follow_their_sources(site):
    from unlearn.attacks.catalog import ATTACKS
    from unlearn.data.kinds import KINDS
    from unlearn.evaluation.metric_registry import model_metrics, split_metrics

    attacks, metrics, benchmarks = (page(site, f"reference/{name}") for name in ("attacks", "metrics", "benchmarks"))
    assert [name for name in ATTACKS if code(name) not in attacks] == []
    assert code("quantize-nf4") in attacks and code("jailbreak-role_play") in attacks  # variants listed
    assert code("--relearn.epochs") in attacks  # an attack's own settings
    names = [m.name for m in (*split_metrics(), *model_metrics())]
    assert "fact_accuracy" in names and [name for name in names if code(name) not in metrics] == []
    assert [kind for kind in KINDS if code(kind) not in benchmarks] == []
    assert code("muse") in benchmarks and code("rwku") in benchmarks  # built-in generators and scenarios


def test_the_project_files_are_pages_of_the_site(site):
    assert "Measurement notes moved from the README" in page(site, "project/benchmarks")
    assert "Metric versions" in page(site, "project/changelog")
    assert "Adding a part" in page(site, "project/contributing")
