"""Presets named by URL: ``https://host/path/<tag>/`` (or ``http://``), a preset directory on a web server.

Its ``metadata.json`` is fetched first (pin it with ``#sha256=<hex>`` at the end of
the URL), then every file it lists, each checked against the metadata's sha256.
The directory is cached under ``$KZOO_HOME/presets/urls/<hash of the URL>/<tag>/``
and reused offline.
"""

from __future__ import annotations

import hashlib
import shutil
import urllib.parse
from pathlib import Path

from zoo.data.settings import offline_only
from zoo.presets import store
from zoo.presets.download import download, join_url


def cached_dir(url: str) -> Path:
    """``$KZOO_HOME/presets/urls/<hash of the URL>/<its last path segment, if a plain name>``."""
    base, _, _ = url.partition("#")
    key = hashlib.sha256(base.rstrip("/").encode()).hexdigest()[:16]
    tag = urllib.parse.urlparse(base).path.rstrip("/").rsplit("/", 1)[-1]
    try:
        store.check_name("tag", tag)
    except ValueError:
        tag = "preset"
    return store.cache_root() / "urls" / key / tag


def fetch(url: str, *, progress: bool = True) -> Path:
    """Downloads (or finds in the cache) the preset directory at ``url``; returns it verified.

    Raises:
        ValueError: offline and not cached, unreachable, or a file fails its checksum.
    """
    base, _, fragment = url.partition("#")
    pinned = urllib.parse.parse_qs(fragment).get("sha256", [None])[0]
    target = cached_dir(url)
    with store.locked(target):
        if store.is_preset_dir(target) and (pinned is None or store.sha256(target / store.METADATA) == pinned):
            store.verify(target)
            return target
        if offline_only():
            raise ValueError(
                f"The preset at {base} is not in the cache ({target}) and KZOO_OFFLINE=1 forbids downloading it."
            )
        staging = target.with_name(f".{target.name}.download")
        download(join_url(base, store.METADATA), staging / store.METADATA, sha256=pinned, progress=progress)
        metadata = store.read_json(staging / store.METADATA)
        files = store.check_listing(metadata.get("files"), join_url(base, store.METADATA))
        for filename in files:  # every name checked before anything is fetched
            store.check_name("file", filename)
        for filename, sha in files.items():
            download(join_url(base, filename), staging / filename, sha256=sha, progress=progress)
        store.verify(staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    return target
