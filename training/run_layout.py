"""Where a run directory keeps its results and its backup, and the check that an ``--out`` may be used.

No TensorFlow or Keras here: ``zoo train``, ``finetune`` and ``compress`` run the check before loading them,
so an ``--out`` that holds a finished or an interrupted run is refused at once, not after seconds of imports.
"""

from __future__ import annotations

from pathlib import Path

RESULTS = "results.json"  # a finished training run's test metrics (``zoo train``, ``zoo finetune``)
REPORT = "report.json"  # a finished compression run's report (``zoo compress``)
BACKUP = "backup"  # the backup of a run in progress (``--backup-every``, ``--resume``)
STATE = "state.json"  # in BACKUP: where the run stopped


def backup_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / BACKUP


def has_backup(run_dir: str | Path) -> bool:
    """Whether ``run_dir`` holds an interrupted run that ``--resume`` can continue."""
    return (backup_dir(run_dir) / STATE).exists()


def check_out_dir(run_dir: str | Path, *, resume: bool, finished: str = RESULTS, kind: str = "run") -> None:
    """Refuses a run directory that holds a finished ``kind`` (its ``finished`` file), or an interrupted
    one (a backup) unless ``resume``.

    Raises:
        FileExistsError: the message says which, and what to do.
    """
    run_dir = Path(run_dir)
    if (run_dir / finished).exists():
        raise FileExistsError(f"{run_dir} already holds a finished {kind}; choose another --out.")
    if not resume and has_backup(run_dir):
        raise FileExistsError(
            f"{run_dir} holds an interrupted {kind}: continue it with --resume (resume=True), or choose another --out."
        )
