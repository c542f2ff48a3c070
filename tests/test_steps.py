"""Experiment steps shared by two runs of one folder: the second waits for the first and reuses its step."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time

from unlearn.files import LOCK_FILE
from unlearn.scenarios import steps as steps_module
from unlearn.scenarios.steps import DONE_FILE, Steps, folder_stem, step_key


def test_a_step_another_process_is_running_is_waited_for_then_reused(tmp_path, monkeypatch):
    monkeypatch.setattr(steps_module, "LOCK_POLL_SECONDS", 0.05)
    inputs = {"lr": 1e-3}
    folder = tmp_path / "steps" / f"{folder_stem('forget-GA+GD')}-{step_key(inputs)}"
    folder.mkdir(parents=True)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = open(f"/proc/{other.pid}/stat").read().rsplit(")", 1)[1].split()[19]
        (folder / LOCK_FILE).write_text(json.dumps({"pid": other.pid, "host": socket.gethostname(),
                                                    "started": started}))

        def other_finishes() -> None:
            time.sleep(0.5)
            (folder / DONE_FILE).write_text(json.dumps({"step": "forget-GA+GD", "inputs": inputs}))
            (folder / LOCK_FILE).unlink()

        threading.Thread(target=other_finishes).start()
        ran = []
        steps = Steps(tmp_path, progress=lambda message: None)
        began = time.time()
        assert steps.run("forget-GA+GD", inputs, ran.append) == folder
        assert time.time() - began >= 0.4 and ran == []  # waited, then took the other's result
        assert steps.reused == [folder.name] and steps.ran == []
        again = Steps(tmp_path / "other", progress=lambda message: None)
        assert again.run("forget-GA+GD", inputs, lambda where: (where / "model").mkdir()).name == folder.name
        assert again.ran == [folder.name] and not (again.root / folder.name / LOCK_FILE).exists()
    finally:
        other.kill()
