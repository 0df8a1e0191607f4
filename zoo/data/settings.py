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


def shown_path(path: str | Path) -> str:
    """A data path as a report should record it: relative to the data directory when it lies inside it.

    Reports and run configurations must not carry the absolute paths of the machine that
    wrote them, so a folder under the data directory is written ``$KZOO_DATA_DIR/<rest>``.

    Example:
        >>> import os
        >>> os.environ["KZOO_DATA_DIR"] = "/data/sets"
        >>> shown_path("/data/sets/mnist"), shown_path("/usr/share/datasets/fashion-mnist")
        ('$KZOO_DATA_DIR/mnist', '/usr/share/datasets/fashion-mnist')
        >>> del os.environ["KZOO_DATA_DIR"]
    """
    path = Path(path)
    try:
        rest = path.resolve().relative_to(data_dir().resolve())
    except ValueError:
        return str(path)
    return "$KZOO_DATA_DIR" if rest == Path() else f"$KZOO_DATA_DIR/{rest.as_posix()}"


def cache_dir() -> Path:
    """Decoded-array caches (the data directory itself may be read-only)."""
    return kzoo_home() / "cache"


def offline_only() -> bool:
    """True when ``KZOO_OFFLINE=1``: never try a download."""
    return os.environ.get("KZOO_OFFLINE", "").lower() in ("1", "true", "yes")
