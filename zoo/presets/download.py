"""Downloading one file: progress bar, resume of a partial download, sha256 check, atomic rename.

``http://``, ``https://`` and ``file://`` URLs (and plain paths) are accepted. Bytes
go to ``<dest>.part``; a later call resumes it with an HTTP ``Range`` request. The
file is renamed into place only after its sha256 matched, so nothing unverified
ever carries the final name; a mismatch deletes the partial file and raises.
"""

from __future__ import annotations

import http.client
import logging
import os
import shutil
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from zoo.presets.store import sha256 as sha256_of

logger = logging.getLogger(__name__)

CHUNK = 1 << 16
USER_AGENT = "kzoo-presets"


class DownloadError(ValueError):
    """A file could not be fetched (network, HTTP status) or did not match its checksum."""


def local_path(url: str) -> Path | None:
    """The path a ``file://`` URL or a plain path names; None for ``http(s)://`` URLs."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path))
    if parsed.scheme in ("http", "https"):
        return None
    return Path(url).expanduser()


def is_url(text: str) -> bool:
    return urllib.parse.urlparse(str(text)).scheme in ("http", "https", "file")


def is_http(text: str) -> bool:
    """An ``http://`` or ``https://`` URL (any letter case)."""
    return urllib.parse.urlparse(str(text)).scheme in ("http", "https")


def join_url(base: str, *parts: str) -> str:
    """``base`` (URL or path) with ``parts`` appended as path segments."""
    quoted = "/".join(urllib.parse.quote(p) for p in parts)
    return f"{base.rstrip('/')}/{quoted}"


class _Progress:
    """A one-line progress bar on stderr (tqdm when it is installed and stderr is a terminal)."""

    def __init__(self, label: str, total: int | None, initial: int, enabled: bool):
        self.bar = None
        if enabled:
            try:
                from tqdm import tqdm

                self.bar = tqdm(
                    total=total,
                    initial=initial,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=label,
                    file=sys.stderr,
                    leave=False,
                    disable=not sys.stderr.isatty(),
                )
            except ImportError:
                pass

    def update(self, count: int) -> None:
        if self.bar is not None:
            self.bar.update(count)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def download(
    url: str,
    dest: str | Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    progress: bool = True,
    timeout: float = 60.0,
    retries: int = 3,
) -> Path:
    """Fetches ``url`` to ``dest``, resuming ``dest.part`` and checking ``sha256``.

    Args:
        url: ``https://``, ``http://`` or ``file://`` URL, or a path.
        dest: final path; its directory is created.
        sha256: expected hex digest; None skips the check (a preset's metadata is then checked by its own hashes).
        size: expected size in bytes, for the progress bar and an early check.
        progress: draw a progress bar on a terminal.
        timeout: seconds per network read.
        retries: further attempts after a dropped connection; each resumes where the last stopped.

    Returns:
        ``dest``.

    Raises:
        DownloadError: unreachable, an HTTP error, or a checksum mismatch (the partial file is deleted).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file() and sha256 is not None and sha256_of(dest) == sha256:
        return dest
    part = dest.with_name(dest.name + ".part")
    source = local_path(url)
    for fresh in (False, True):  # a resumed partial file that fails the checksum is fetched once more from zero
        resumed = part.is_file() and part.stat().st_size > 0
        if source is not None:
            if not source.is_file():
                raise DownloadError(f"{url}: no such file.")
            shutil.copyfile(source, part)
            resumed = False
        else:
            _fetch_with_retries(url, part, size=size, progress=progress, timeout=timeout, retries=retries)
        if sha256 is None or sha256_of(part) == sha256:
            os.replace(part, dest)
            return dest
        actual = sha256_of(part)
        part.unlink(missing_ok=True)
        if not resumed or fresh:
            raise DownloadError(
                f"{url} is corrupt or was tampered with: sha256 {actual} != expected {sha256}. "
                f"The download was deleted and nothing was loaded."
            )
        logger.warning("%s did not match its sha256 after resuming; downloading it again from the start", url)
    raise AssertionError("unreachable")


def _unreachable(err: BaseException) -> str | None:
    """Why a host cannot be reached at all (its name does not resolve), or None for a transient failure."""
    reason = getattr(err, "reason", err)
    if isinstance(reason, socket.gaierror):
        return f"its host name could not be resolved ({reason.strerror or reason})"
    return None


def _fetch_with_retries(
    url: str, part: Path, *, size: int | None, progress: bool, timeout: float, retries: int
) -> None:
    """Fetches into ``part``; a dropped connection is retried (resuming what arrived), a host that does not
    resolve is reported at once."""
    host = urllib.parse.urlparse(url).netloc
    for attempt in range(retries + 1):
        try:
            _fetch_http(url, part, size=size, progress=progress, timeout=timeout)
            return
        except DownloadError:
            raise
        except (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError) as err:
            why = _unreachable(err)
            if why is not None:
                raise DownloadError(
                    f"Could not download {url}: {why}. Check the address and this machine's "
                    f"network; nothing was downloaded."
                ) from err
            arrived = part.stat().st_size if part.is_file() else 0
            if attempt == retries:
                kept = (
                    f" {part} keeps the {arrived} bytes that arrived; run again to resume."
                    if arrived
                    else " Nothing was downloaded."
                )
                raise DownloadError(f"Could not download {url} after {retries + 1} attempts: {err}.{kept}") from err
            if arrived:
                logger.warning("Download of %s interrupted after %d bytes (%s); resuming", url, arrived, err)
            else:
                logger.warning(
                    "Could not reach %s (%s); trying again (attempt %d of %d)", host, err, attempt + 2, retries + 1
                )
            time.sleep(0.2 * 2**attempt)


def _fetch_http(url: str, part: Path, *, size: int | None, progress: bool, timeout: float) -> None:
    offset = part.stat().st_size if part.is_file() else 0
    if size is not None and offset > size:  # not a prefix of this file: start over
        part.unlink()
        offset = 0
    if size is not None and offset == size:
        return
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # the partial file is already complete (or bogus): let the checksum decide
            return
        raise DownloadError(f"Could not download {url}: HTTP {err.code} {err.reason}.") from err
    with response:
        if offset and response.status != 206:  # the server ignored the Range header: start over
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else size
        bar = _Progress(part.name.removesuffix(".part"), total, offset, progress)
        try:
            with open(part, "ab" if offset else "wb") as f:
                while chunk := response.read(CHUNK):
                    f.write(chunk)
                    bar.update(len(chunk))
        finally:
            bar.close()
    if total is not None and part.stat().st_size < total:
        raise ConnectionError(f"connection closed after {part.stat().st_size} of {total} bytes")
