"""Read a benchmark's splits: a local folder of JSON-lines files, or a Hub dataset.

A local benchmark is a folder with one file per split, ``<split>.jsonl`` (or ``<split>.json``
holding JSON lines, as TOFU ships them). A Hub benchmark such as ``locuslab/TOFU`` has one
config per split; a split named ``CONFIG.SPLIT`` reads split SPLIT of config CONFIG (MUSE and
WMDP keep several splits per config). Either way every record is validated before anything uses it. A split holds
records of one kind (``kinds.py``): question-answer, raw text or multiple-choice.

``split()`` is what training reads: a memory-mapped Arrow table built by streaming the file
line by line, so a split of hundreds of thousands of records never becomes a list of Python
objects. ``records()`` is the small-split convenience (evaluation, scenario data) as a list.

``Benchmark(source, answer_field=...)`` reads the answer from another field of every record
(the seed paper's ``answer_key``, e.g. ``golden_answer``): each record's ``answer`` is that
field's text, in ``split()`` and ``records()``, local or Hub, so training and evaluation read
``answer`` as always.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import datasets

from unlearn.data import kinds
from unlearn.data.records import DEFAULT_ANSWER_FIELD
from unlearn.errors import UserError
from unlearn.files import SAFE_NAME, atomic_write_text

SPLIT_NAME = re.compile(SAFE_NAME)
EXTENSIONS = (".jsonl", ".json")


class Benchmark:
    """A named set of splits; ``split(name)`` returns validated records as a ``datasets.Dataset``."""

    def __init__(self, source: str, answer_field: str = DEFAULT_ANSWER_FIELD):
        self.source = str(source)
        self.answer_field = answer_field
        self.folder = Path(source) if Path(source).is_dir() else None
        if Path(source).is_file():
            raise UserError(f"benchmark '{source}' is a file; --data takes the folder that holds the split files "
                            f"(here {Path(source).parent}) or a Hub id")
        if self.folder is None and not _looks_like_hub_id(self.source):
            raise UserError(f"benchmark folder '{source}' does not exist (nor is it a Hub id such as locuslab/TOFU)")

    def split_names(self) -> list[str]:
        if self.folder is None:
            return sorted(datasets.get_dataset_config_names(self.source))
        return sorted({p.stem for p in self.folder.iterdir() if p.suffix in EXTENSIONS and not p.name.startswith(".")})

    def split(self, name: str) -> datasets.Dataset:
        """The validated split as a memory-mapped ``datasets.Dataset`` (streamed, bounded memory)."""
        _check_split_name(name)
        if self.folder is not None:
            return stream_split_file(self._split_file(name), self.answer_field)
        table = self._hub_table(name)
        for _ in self._validated_rows(table, name):  # validation only: the table itself is returned
            pass
        return _normalized_hub_table(table, self.answer_field)

    def split_kind(self, name: str) -> str:
        """The kind of the split's records (``kinds.KINDS``), from its first record."""
        _check_split_name(name)
        if self.folder is not None:
            return file_kind(self._split_file(name))
        return kinds.record_kind(self._hub_table(name)[0])

    def records(self, name: str) -> list[dict]:
        """The validated split as a list of dicts: for the small splits of evaluation and scenarios."""
        _check_split_name(name)
        if self.folder is not None:
            return read_split_file(self._split_file(name), self.answer_field)
        return list(self._validated_rows(self._hub_table(name), name))

    def _split_file(self, name: str) -> Path:
        for extension in EXTENSIONS:
            path = self.folder / f"{name}{extension}"
            if path.is_file():
                return path
        available = ", ".join(self.split_names()) or "none"
        raise UserError(f"split '{name}' not found in {self.folder} (available: {available})")

    def _validated_rows(self, table: datasets.Dataset, name: str) -> Iterator[dict]:
        kind = kinds.record_kind(table[0])
        for i, row in enumerate(table):
            yield kinds.validate(_drop_nulls(row), f"{self.source}[{name}] row {i + 1}", kind, self.answer_field)

    def _hub_table(self, name: str) -> datasets.Dataset:
        config, split = hub_config_and_split(name)
        try:
            table = datasets.load_dataset(self.source, name=config, split=split)
        except Exception as error:  # offline, unknown config, auth: all say the same to the user
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise UserError(
                f"cannot load split '{name}' of Hub dataset {self.source} (and no local folder of that name): {message}"
            ) from error
        if len(table) == 0:
            raise UserError(f"{self.source}[{name}]: split is empty")
        return table


def hub_config_and_split(name: str) -> tuple[str, str]:
    """Which Hub config and split a split name reads: ``forget10`` is config ``forget10``, split
    ``train`` (TOFU's layout); ``CONFIG.SPLIT`` is config CONFIG, split SPLIT (MUSE's
    ``verbmem.forget``, WMDP's ``wmdp-bio.test``). Locally the same name is the file ``NAME.jsonl``."""
    config, dot, split = name.partition(".")
    return (config, split) if dot and split else (name, "train")


def _normalized_hub_table(table: datasets.Dataset, answer_field: str) -> datasets.Dataset:
    """A validated Hub table in the form ``kinds.validate`` gives a record: text and choice tables
    keep their kind's fields only; a QA table gets ``answer`` from ``answer_field``, a single
    ``perturbed_answer`` string as a list, a digit-string ``task_id`` as int."""
    kind = kinds.record_kind(table[0])
    if kind != "qa":
        return table.select_columns([field for field in kinds.FIELDS[kind] if field in table.column_names])
    if answer_field != DEFAULT_ANSWER_FIELD:
        table = table.map(lambda row: {"answer": row[answer_field]})
    if table.features.get("perturbed_answer") == datasets.Value("string"):
        table = table.map(lambda row: {"perturbed_answer": [row["perturbed_answer"]]})
    task_id = kinds.features("qa")["task_id"]
    if "task_id" in table.features and table.features["task_id"] != task_id:
        table = table.cast_column("task_id", task_id)  # validated: every value is digits or null
    return table


MAX_RECORD_BYTES = 4 * 2**20  # one JSON line; a longer one is refused before it is parsed
BOM = b"\xef\xbb\xbf"


def iter_split_file(path: Path, digest=None, answer_field: str = DEFAULT_ANSWER_FIELD) -> Iterator[dict]:
    """Parse and validate a JSON-lines split one line at a time; errors name the file and the line.
    The first record's kind is the split's. ``digest`` (a ``hashlib`` object), if given, is fed
    every byte read."""
    try:
        handle = path.open("rb")
    except OSError as error:
        raise UserError(f"cannot read {path}: {error.strerror or error}") from error
    empty, kind = True, None
    with handle:
        for number, raw in enumerate(iter(lambda: handle.readline(MAX_RECORD_BYTES + 1), b""), start=1):
            where = f"{path}:{number}"
            if len(raw) > MAX_RECORD_BYTES:
                raise UserError(f"{where}: a record is longer than {MAX_RECORD_BYTES // 2**20} MiB; split its text "
                                "into several records")
            if digest is not None:
                digest.update(raw)
            if number == 1 and raw.startswith(BOM):  # Windows editors write a byte-order mark
                raw = raw[len(BOM):]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise UserError(f"{where}: not valid UTF-8 (byte {error.start + 1})") from error
            if not line.strip():
                continue
            record = _parse_line(line, where)
            empty = False
            kind = kind or kinds.record_kind(record)
            yield kinds.validate(record, where, kind, answer_field)
    if empty:
        raise UserError(f"{path}: split is empty")


def _parse_line(line: str, where: str) -> object:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise UserError(f"{where}: not valid JSON ({error.msg} at column {error.colno})") from error
    except RecursionError:
        raise UserError(f"{where}: not valid JSON for a record (nested too deeply)") from None
    except ValueError as error:  # e.g. an integer of more digits than Python converts
        raise UserError(f"{where}: not valid JSON ({error})") from None
    bad = _lone_surrogate(record)
    if bad:
        raise UserError(f"{where}: field '{bad}' holds a lone surrogate escape (\\ud800-\\udfff), which is not text")
    return record


def _lone_surrogate(record: object) -> str | None:
    """The field whose text holds an unpaired UTF-16 surrogate (JSON allows the escape; no
    tokenizer can encode it), or None."""
    if not isinstance(record, dict):
        return None
    for field, value in record.items():
        for text in (value if isinstance(value, list) else [value]):
            if isinstance(text, str):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    return field
    return None


def file_kind(path: Path) -> str:
    """The kind of a split file's records: its first record's, validated."""
    for record in iter_split_file(path):
        return kinds.record_kind(record)
    raise AssertionError("unreachable: an empty split is refused")


def read_split_file(path: Path, answer_field: str = DEFAULT_ANSWER_FIELD) -> list[dict]:
    """All records of a JSON-lines split, validated, as a list (small splits only)."""
    return list(iter_split_file(path, answer_field=answer_field))


def stream_split_file(path: Path, answer_field: str = DEFAULT_ANSWER_FIELD) -> datasets.Dataset:
    """A JSON-lines split as a memory-mapped Arrow table, built without holding the records.

    A first streaming pass validates every line, finds the fields in use and hashes the bytes;
    the hash keys the ``datasets`` cache, so an unchanged file is converted once and an edited
    one is converted again (and so is a file read with another ``answer_field``). The second pass
    writes Arrow batches as it reads."""
    fields: set[str] = set()
    digest = hashlib.sha256()
    kind = None
    for record in iter_split_file(path, digest, answer_field):
        fields.update(record)
        kind = kind or kinds.record_kind(record)
    columns = [field for field in kinds.FIELDS[kind] if field in fields]
    features = datasets.Features({field: kinds.features(kind)[field] for field in columns})
    shown = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # "Generating train split" would mean nothing to a user here
    try:
        return datasets.Dataset.from_generator(
            _rows, features=features,
            gen_kwargs={"path": str(path), "columns": ",".join(columns), "answer_field": answer_field},
            fingerprint=f"unlearn-split-{digest.hexdigest()[:32]}-{'.'.join(columns)}-{answer_field}")
    finally:
        if shown:
            datasets.enable_progress_bars()


def _rows(path: str, columns: str, answer_field: str) -> Iterator[dict]:
    # ``columns`` is one string: ``datasets`` would shard a list argument across generator calls
    names = columns.split(",")
    for record in iter_split_file(Path(path), answer_field=answer_field):
        yield {name: record.get(name) for name in names}


def _check_split_name(name: str) -> None:
    if not SPLIT_NAME.fullmatch(name):
        raise UserError(f"split name '{name}' may only hold letters, digits, '_', '-' and '.'")


def write_benchmark(splits: dict[str, list[dict]], out_dir: str | Path) -> list[Path]:
    """Write each split as ``<out_dir>/<split>.jsonl`` (atomic per file)."""
    out = Path(out_dir)
    paths = []
    for name, records in splits.items():
        path = out / f"{name}.jsonl"
        atomic_write_text(path, benchmark_lines(records))
        paths.append(path)
    return paths


def benchmark_lines(records: list[dict]) -> str:
    """A split file's text: one JSON record a line."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def _looks_like_hub_id(source: str) -> bool:
    return re.fullmatch(r"[A-Za-z0-9][\w\-]*/[\w.\-]+", source) is not None and not Path(source).exists()


def _drop_nulls(row: dict) -> dict:
    return {k: v for k, v in row.items() if v is not None}
