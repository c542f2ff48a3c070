"""Forget requests of the continual scenario, derived from a forget split's ``task_id`` groups."""

from __future__ import annotations

from unlearn.errors import UserError


def request_splits(forget_records: list[dict], source: str, count: int | None = None) -> dict[str, list[dict]]:
    """``requestNN`` (one request's records) and ``requests_uptoNN`` (all so far), in ``task_id`` order
    (numeric: the loader reads the seed paper's ``"task_id": "10"`` as 10, so it follows 9, not 1).

    With ``count``, the records are instead cut in file order into ``count`` consecutive requests of
    (nearly) equal size, and their ``task_id`` is rewritten to the request's index: a request of a
    few records gives a few optimizer steps, too few to forget anything, so a scenario may ask
    for fewer, larger requests."""
    if count is not None:
        if not 2 <= count <= len(forget_records):
            raise UserError(f"{source}: {count} forget requests asked for, but the forget split has "
                            f"{len(forget_records)} records (at least 2 requests, at most one per record)")
        forget_records = [{**r, "task_id": i * count // len(forget_records)} for i, r in enumerate(forget_records)]
    if any("task_id" not in r for r in forget_records):
        raise UserError(f"{source}: the continual scenario needs a 'task_id' on every forget record")
    tasks = sorted({r["task_id"] for r in forget_records})
    if len(tasks) < 2:
        raise UserError(f"{source}: the continual scenario needs at least two forget requests (task_id values)")
    splits, so_far = {}, []
    for k, task in enumerate(tasks, start=1):
        request = [r for r in forget_records if r["task_id"] == task]
        so_far = so_far + request
        splits[f"request{k:02d}"], splits[f"requests_upto{k:02d}"] = request, so_far
    return splits
