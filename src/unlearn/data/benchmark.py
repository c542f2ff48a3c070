"""Read a benchmark's splits: a local folder of JSON-lines files, or a Hub dataset.

A local benchmark is a folder with one file per split, ``<split>.jsonl`` (or ``<split>.json``
holding JSON lines, as TOFU ships them). A Hub benchmark such as ``locuslab/TOFU`` has one
config per split. Either way every record is validated before anything uses it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import datasets

from unlearn.data.records import validate_record
from unlearn.errors import UserError
from unlearn.files import atomic_write_jsonl

SPLIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
EXTENSIONS = (".jsonl", ".json")


class Benchmark:
    """A named set of splits; ``split(name)`` returns validated records as a ``datasets.Dataset``."""

    def __init__(self, source: str):
        self.source = str(source)
        self.folder = Path(source) if Path(source).is_dir() else None
        if self.folder is None and not _looks_like_hub_id(self.source):
            raise UserError(f"benchmark folder '{source}' does not exist (nor is it a Hub id such as locuslab/TOFU)")

    def split_names(self) -> list[str]:
        if self.folder is None:
            return sorted(datasets.get_dataset_config_names(self.source))
        return sorted({p.stem for p in self.folder.iterdir() if p.suffix in EXTENSIONS and not p.name.startswith(".")})

    def split(self, name: str) -> datasets.Dataset:
        records = self.records(name)
        return to_dataset(records)

    def records(self, name: str) -> list[dict]:
        if not SPLIT_NAME.fullmatch(name):
            raise UserError(f"split name '{name}' may only hold letters, digits, '_', '-' and '.'")
        if self.folder is not None:
            return read_split_file(self._split_file(name))
        return self._hub_records(name)

    def _split_file(self, name: str) -> Path:
        for extension in EXTENSIONS:
            path = self.folder / f"{name}{extension}"
            if path.is_file():
                return path
        available = ", ".join(self.split_names()) or "none"
        raise UserError(f"split '{name}' not found in {self.folder} (available: {available})")

    def _hub_records(self, name: str) -> list[dict]:
        try:
            table = datasets.load_dataset(self.source, name=name, split="train")
        except Exception as error:  # offline, unknown config, auth: all say the same to the user
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise UserError(
                f"cannot load split '{name}' of Hub dataset {self.source} (and no local folder of that name): {message}"
            ) from error
        where = f"{self.source}[{name}]"
        records = [validate_record(_drop_nulls(row), f"{where} row {i + 1}") for i, row in enumerate(table)]
        if not records:
            raise UserError(f"{where}: split is empty")
        return records


def read_split_file(path: Path) -> list[dict]:
    """Parse and validate a JSON-lines split; errors name the file and the line."""
    records = []
    try:
        raw_lines = path.read_bytes().splitlines()
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror or error}") from error
    for number, raw in enumerate(raw_lines, start=1):
        where = f"{path}:{number}"
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise UserError(f"{where}: not valid UTF-8 (byte {error.start + 1})") from error
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise UserError(f"{where}: not valid JSON ({error.msg} at column {error.colno})") from error
        records.append(validate_record(record, where))
    if not records:
        raise UserError(f"{path}: split is empty")
    return records


def to_dataset(records: list[dict]) -> datasets.Dataset:
    """Records with optional fields become columns, missing values as None."""
    columns: dict[str, list] = {}
    for record in records:
        for key in record:
            columns.setdefault(key, [])
    for key, values in columns.items():
        values.extend(record.get(key) for record in records)
    return datasets.Dataset.from_dict(columns)


def write_benchmark(splits: dict[str, list[dict]], out_dir: str | Path) -> list[Path]:
    """Write each split as ``<out_dir>/<split>.jsonl`` (atomic per file)."""
    out = Path(out_dir)
    paths = []
    for name, records in splits.items():
        path = out / f"{name}.jsonl"
        atomic_write_jsonl(path, records)
        paths.append(path)
    return paths


def _looks_like_hub_id(source: str) -> bool:
    return re.fullmatch(r"[A-Za-z0-9][\w\-]*/[\w.\-]+", source) is not None and not Path(source).exists()


def _drop_nulls(row: dict) -> dict:
    return {k: v for k, v in row.items() if v is not None}
