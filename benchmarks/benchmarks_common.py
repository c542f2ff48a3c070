"""Shared by the benchmark scripts: table cells, the CPU's name, and replacing one section of BENCHMARKS.md."""

from __future__ import annotations

import platform
import re
from pathlib import Path


def update_section(path: Path, section: str, heading: str) -> None:
    """Replace the section whose heading line is ``heading`` (up to the next ``## ``), or append it. The whole
    line must match: a heading that begins with another's ("## Tuned methods on the demo, ...") is not it."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(r"^" + re.escape(heading) + r"[ \t]*$.*?(?=\n## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section.rstrip("\n") + "\n", text)  # a blank line before the next heading
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")


def cell(value: float | None) -> str:
    """A table cell: three decimals (three digits below 0.001, where p-values live), or ``n/c``
    for a metric that was not computed."""
    if value is None:
        return "n/c"
    return f"{value:.3g}" if 0 < abs(value) < 1e-3 else f"{value:.3f}"


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, or None when either is missing or ``b`` is 0."""
    return None if a is None or b in (None, 0) else a / b


def measured_record(threads: int, seconds: float | None) -> dict:
    """When, where and how long a kept result was measured (``run_seconds`` None: not recorded)."""
    from datetime import date

    return {"date": date.today().isoformat(), "cpu": cpu_name(), "threads": threads,
            "run_seconds": None if seconds is None else round(seconds)}


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()
