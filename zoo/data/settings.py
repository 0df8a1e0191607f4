"""Where kzoo looks for data sets and keeps its caches."""

from __future__ import annotations

import os
from pathlib import Path


def kzoo_home() -> Path:
    """The cache root: ``$KZOO_HOME`` or ``~/.cache/kzoo``."""
    return Path(os.environ.get("KZOO_HOME") or Path.home() / ".cache" / "kzoo").expanduser()


def data_dir() -> Path:
    """Offline data sets: ``$KZOO_DATA_DIR`` or ``$KZOO_HOME/data`` (``~/.cache/kzoo/data``)."""
    value = os.environ.get("KZOO_DATA_DIR")
    return Path(value).expanduser() if value else kzoo_home() / "data"


def cache_dir() -> Path:
    """Decoded-array caches (the data directory itself may be read-only)."""
    return kzoo_home() / "cache"


def offline_only() -> bool:
    """True when ``KZOO_OFFLINE=1``: never try a download."""
    return os.environ.get("KZOO_OFFLINE", "").lower() in ("1", "true", "yes")
