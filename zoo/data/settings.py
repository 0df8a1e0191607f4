"""Where kzoo looks for data sets and keeps its caches."""

from __future__ import annotations

import json
import os
from pathlib import Path

CONFIG_FILE = "config.json"
"""In ``kzoo_home()``: ``{"data_dir": "..."}``, written by ``zoo datasets --set-data-dir DIR`` (and scripts/setup.sh)."""


def kzoo_home() -> Path:
    """The cache root: ``$KZOO_HOME`` or ``~/.cache/kzoo``."""
    return Path(os.environ.get("KZOO_HOME") or Path.home() / ".cache" / "kzoo").expanduser()


def config_file() -> Path:
    """kzoo's settings file: ``$KZOO_HOME/config.json``."""
    return kzoo_home() / CONFIG_FILE


def read_config() -> dict:
    """The settings in :func:`config_file` (empty when there is none or it is not valid JSON)."""
    try:
        value = json.loads(config_file().read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def set_data_dir(path: str | Path) -> Path:
    """Records ``path`` as the data directory in :func:`config_file`; returns the file.

    Raises:
        FileNotFoundError: ``path`` is not a directory.
    """
    folder = Path(path).expanduser().absolute()
    if not folder.is_dir():
        raise FileNotFoundError(f"No such directory: {folder}")
    file = config_file()
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(json.dumps(read_config() | {"data_dir": str(folder)}, indent=2) + "\n")
    return file


def data_dir_and_source() -> tuple[Path, str]:
    """The data directory and where that choice comes from (see :func:`data_dir`)."""
    value = os.environ.get("KZOO_DATA_DIR")
    if value:
        return Path(value).expanduser(), "KZOO_DATA_DIR"
    configured = read_config().get("data_dir")
    if configured:
        return Path(configured).expanduser(), str(config_file())
    default = kzoo_home() / "data"
    beside = Path(__file__).resolve().parents[3] / "shared" / "data"  # a checkout beside the offline copies
    if not default.is_dir() and beside.is_dir():
        return beside, "the shared/data folder beside this checkout"
    return default, "the default ($KZOO_HOME/data)"


def data_dir() -> Path:
    """Offline data sets: ``$KZOO_DATA_DIR``, else the ``data_dir`` of ``$KZOO_HOME/config.json``, else
    ``$KZOO_HOME/data`` (``~/.cache/kzoo/data``; a checkout's sibling ``shared/data`` when that does not exist)."""
    return data_dir_and_source()[0]


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
