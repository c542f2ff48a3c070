"""The helpers every benchmark script shares (benchmarks/benchmarks_common.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from benchmarks_common import update_section  # noqa: E402


def test_a_section_is_replaced_by_its_whole_heading_line_and_a_new_one_appended(tmp_path):
    path = tmp_path / "B.md"
    path.write_text("# Benchmarks\n\n## Tuned\n\nold\n\n## Tuned, again\n\nkept\n\n## Other\n\nx\n")
    update_section(path, "## Tuned\n\nnew\n", "## Tuned")
    assert path.read_text() == "# Benchmarks\n\n## Tuned\n\nnew\n\n## Tuned, again\n\nkept\n\n## Other\n\nx\n"
    update_section(path, "## Tuned, again\n\nnewer\n", "## Tuned, again")
    assert "## Tuned\n\nnew\n\n## Tuned, again\n\nnewer\n\n## Other" in path.read_text()
    update_section(path, "## Last\n\ny\n", "## Last")
    assert path.read_text().endswith("## Other\n\nx\n\n## Last\n\ny\n")
