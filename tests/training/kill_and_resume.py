"""The kill-and-resume tests' shared step: start a training command, SIGKILL it mid-epoch, read its backup."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from zoo.training import checkpoints


def kill_mid_epoch(command: list[str], out: Path, *, timeout: float = 300) -> checkpoints.ResumePoint | None:
    """Runs ``command --out out`` and kills it once a backup past the first epoch's start is on disk.

    Returns:
        The backup the killed run left (``checkpoints.read_backup``).
    """
    victim = subprocess.Popen([*command, "--out", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = out / "backup" / "state.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and victim.poll() is None:
        try:
            saved = json.loads(state.read_text())
            if saved["epoch"] >= 1 and saved["step"] > 0:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    return checkpoints.read_backup(out)
