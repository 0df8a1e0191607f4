"""The published presets (``catalog.json``, plain data) and pulling them into the cache.

Each entry names a model and tag, the data set, metrics with the command that measured
them, and every file with its sha256 and size. Packaged presets ship inside the
package; the others are copied (or downloaded) from a mirror tree
``<mirror>/<model>/<tag>/<file>``: the one set in ``KZOO_PRESET_MIRROR`` (an
``https://``, ``http://`` or ``file://`` URL or a folder), else a catalog entry's own
``base_url`` (catalogs of your own), else the repository's mirror tree
``presets-mirror/`` beside the package (a checkout, or the editable install
``scripts/setup.sh`` makes). kzoo runs no download host of its own, so the package's
catalog names none. ``KZOO_PRESET_CATALOG`` adds catalogs of your own (paths,
separated by ``os.pathsep``) in the same format.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from zoo.data.settings import offline_only
from zoo.presets import store
from zoo.presets.download import download, is_http, join_url

logger = logging.getLogger(__name__)

CATALOG = Path(__file__).resolve().parent / "catalog.json"
MIRROR_ENV = "KZOO_PRESET_MIRROR"
EXTRA_CATALOGS_ENV = "KZOO_PRESET_CATALOG"
#: The repository's mirror tree of the download-only presets (present in a checkout and an editable install).
REPOSITORY_MIRROR = Path(__file__).resolve().parents[2] / "presets-mirror"


def default_mirror() -> str | None:
    """The mirror used when neither ``KZOO_PRESET_MIRROR`` nor a catalog entry names one: the repository's
    ``presets-mirror/`` as a ``file://`` URL when this install has it, else None."""
    return REPOSITORY_MIRROR.as_uri() if REPOSITORY_MIRROR.is_dir() else None


@dataclasses.dataclass(frozen=True)
class Entry:
    """One published preset."""

    model: str
    tag: str
    dataset: str
    files: dict[str, dict[str, Any]]  # file name -> {"sha256": ..., "size": ...}
    metrics: dict[str, Any]
    packaged: bool = False
    description: str = ""
    parameters: int | None = None
    base_url: str | None = None  # a catalog's own (catalogs of your own); KZOO_PRESET_MIRROR overrides it

    @property
    def key(self) -> str:
        return f"{self.model}:{self.tag}"

    @property
    def size(self) -> int:
        return sum(int(f.get("size", 0)) for f in self.files.values())

    def url(self, filename: str) -> str | None:
        """Where the file comes from (``KZOO_PRESET_MIRROR``, else the entry's base, else :func:`default_mirror`),
        or None when there is no mirror."""
        base = os.environ.get(MIRROR_ENV) or self.base_url or default_mirror()
        return join_url(base, self.model, self.tag, filename) if base else None

    def __post_init__(self):
        store.check_name("model", self.model)
        store.check_name("tag", self.tag)
        for filename in self.files:
            store.check_name("file", filename)


def _read(path: Path) -> list[Entry]:
    try:
        payload = json.loads(Path(path).read_text())
        base = payload.get("base_url")
        return [Entry(**{**entry, "base_url": entry.get("base_url", base)}) for entry in payload["presets"]]
    except (OSError, json.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError) as err:
        raise ValueError(f"Preset catalog {path} is missing or malformed: {err}") from err


def entries(pattern: str | None = None) -> list[Entry]:
    """Published presets (the package's catalog, then ``KZOO_PRESET_CATALOG``'s), filtered by ``model:tag`` wildcard.

    Example:
        >>> [e.key for e in entries("lenet5:*")]
        ['lenet5:fashion_mnist', 'lenet5:mnist']
    """
    found: dict[str, Entry] = {}
    extra = [p for p in os.environ.get(EXTRA_CATALOGS_ENV, "").split(os.pathsep) if p]
    for path in [CATALOG, *extra]:
        for entry in _read(Path(path)):
            found.setdefault(entry.key, entry)
    return [e for k, e in sorted(found.items()) if matches(k, pattern)]


def matches(key: str, pattern: str | None) -> bool:
    """Whether ``model:tag`` matches a wildcard; a pattern without ``:`` matches every tag of its models."""
    if pattern is None:
        return True
    return fnmatch.fnmatch(key, pattern if ":" in pattern else pattern + ":*")


def get(model: str, tag: str) -> Entry | None:
    return next((e for e in entries() if e.model == model and e.tag == tag), None)


def tags(model: str) -> list[str]:
    return [e.tag for e in entries() if e.model == model]


def pull(entry: Entry, *, force: bool = False, progress: bool = True) -> Path:
    """Makes a published preset available locally and returns its verified directory.

    Packaged presets are used in place. Others download into
    ``$KZOO_HOME/presets/<model>/<tag>/``: each file to a staging folder (a partial
    file resumes on the next call), checked against the catalog's sha256, then the
    folder is renamed into place.

    Raises:
        ValueError: ``KZOO_OFFLINE=1`` and it is not cached; a download failed or a file is corrupt.
    """
    packaged = store.PACKAGED / entry.model / entry.tag
    if store.is_preset_dir(packaged):
        _check_against(entry, packaged)
        return packaged
    target = store.cache_root() / entry.model / entry.tag
    with store.locked(target):
        if store.is_preset_dir(target) and not force:
            try:
                _check_against(entry, target)
                return target
            except ValueError as err:
                stale = err
                logger.warning("%s; downloading it again", err)
        else:
            stale = None
        location = entry.url(store.METADATA)
        if location is None:
            raise ValueError(
                f"Preset {entry.key} ({entry.size / 1e6:.1f} MB) is not packaged, and kzoo runs no download host: "
                f"its files are in the repository's mirror tree presets-mirror/, which this install does not have "
                f"({REPOSITORY_MIRROR} is missing). Install kzoo from a checkout (scripts/setup.sh: pip install -e .), "
                f"or set {MIRROR_ENV} to a folder or URL holding <model>/<tag>/<file> (such as "
                f"file:///PATH/TO/kzoo/presets-mirror)."
            )
        if offline_only() and is_http(location):
            what = f"differs from the catalog ({stale})" if stale else f"is not in the cache ({target})"
            raise ValueError(
                f"Preset {entry.key} {what}, and KZOO_OFFLINE=1 forbids downloading it from {location}. "
                f"Run `zoo pull {entry.key}` where that is reachable, or copy the preset directory "
                f"to {target}."
            )
        staging = target.with_name(f".{entry.tag}.download")
        for filename, spec in entry.files.items():
            logger.info("Downloading %s", entry.url(filename))
            download(
                entry.url(filename), staging / filename, sha256=spec["sha256"], size=spec.get("size"), progress=progress
            )
        store.verify(staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    return target


def _check_against(entry: Entry, directory: Path) -> None:
    """Raises ValueError unless ``directory`` holds exactly the files the catalog lists."""
    for filename, spec in entry.files.items():
        path = directory / filename
        if not path.is_file() or store.sha256(path) != spec["sha256"]:
            raise ValueError(
                f"Preset {entry.key} in {directory}: {filename} is missing or differs from the catalog "
                f"(sha256 {spec['sha256']})."
            )


def entry_for(directory: Path, *, packaged: bool, base_url: str | None = None) -> dict[str, Any]:
    """A catalog entry (plain data) describing the preset in ``directory``."""
    metadata = store.verify(directory)
    config = store.read_json(directory / store.CONFIG)
    entry = {
        "model": config["model"],
        "tag": directory.name,
        "dataset": metadata.get("dataset"),
        "packaged": packaged,
        "parameters": metadata.get("parameters"),
        "metrics": metadata.get("metrics", {}),
        "description": (directory / store.MODEL_CARD).read_text().split("\n\n")[1].strip()
        if (directory / store.MODEL_CARD).is_file()
        else "",
        "files": {
            f: {"sha256": store.sha256(directory / f), "size": (directory / f).stat().st_size}
            for f in store.FILES
            if (directory / f).is_file()
        },
    }
    if base_url:
        entry["base_url"] = base_url
    return entry


def write_catalog(path: Path, presets: list[dict[str, Any]], *, base_url: str | None = None) -> None:
    """Writes a catalog file (sorted by ``model:tag``); ``base_url`` only for a mirror you publish yourself."""
    ordered = sorted(presets, key=lambda e: (e["model"], e["tag"]))
    payload = {"base_url": base_url} if base_url else {}
    path.write_text(json.dumps({**payload, "presets": ordered}, indent=2) + "\n")


def publish(directory: Path, mirror: Path) -> Path:
    """Copies a preset directory into a mirror tree (``<mirror>/<model>/<tag>/``) that any static web server can host."""
    store.verify(directory)
    model = store.read_json(directory / store.CONFIG)["model"]
    target = Path(mirror) / model / directory.name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(directory, target)
    return target
