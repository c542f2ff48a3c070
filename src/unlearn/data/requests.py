"""Forget requests of the continual scenario, derived from a forget split's ``task_id`` groups."""

from __future__ import annotations

from unlearn.errors import UserError


def request_splits(forget_records: list[dict], source: str) -> dict[str, list[dict]]:
    """``requestNN`` (one request's records) and ``requests_uptoNN`` (all so far), in ``task_id`` order."""
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
