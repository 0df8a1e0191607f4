"""The compressed weight format of quantised models (``model.weights.kzq``), version 1.

A model whose weights were quantised (``zoo compress``: every kernel holds only
the values of a small codebook, most of them exactly 0) is stored as the
codebook plus, per tensor, the positions and codebook indices of its non-zero
weights, entropy-coded; the tensors that were not quantised (BatchNorm
statistics, unshared biases, ...) are stored as they are. Loading rebuilds the
float weights bit for bit. File layout (integers little-endian)::

    offset 0   8 bytes   magic b"\\x89KZQ\\r\\n\\x1a\\n"
           8   uint16    format version (1)
          10   uint8     codec of the body: 0 stored, 1 zlib, 2 bz2, 3 lzma (raw LZMA2)
          11   uint32    length of the body in bytes
          15   body      the payload, compressed by the codec
         end   32 bytes  sha256 of every byte before it

    payload:   uint32 length of the header, header (UTF-8 JSON), then the data:
               codebook        float32 x codebook size
               coded tensors   layout "sparse": the gap stream (LEB128 varints: zeros skipped
                               before each non-zero), then the code stream (one uint8 per non-zero);
                               layout "dense": one uint8 code per weight
               raw tensors     their bytes, little-endian, in the header's order

    header:    {"codebook": size, "layout": "sparse" | "dense", "tensors": [
                   {"path", "shape", "dtype", "encoding": "codes" | "raw", "entries": non-zeros}, ...]}

The tensors are the model's ``weights`` in order (matched by order and shape
on loading; the paths name them in errors).
A code ``k > 0`` means ``codebook[k - 1]``, ``0`` means exactly 0.
Coded tensors are traversed one output unit at a time, as in Han et al.'s
(2016) sparse format: the last axis first (``np.moveaxis(w, -1, 0)``), then
C order. The writer tries both layouts under every codec and keeps the
smallest file. A file that is truncated, modified, of another version or
inconsistent is refused before any weight is assigned.

Example:
    >>> import numpy as np
    >>> tensors = [("dense/kernel", np.array([[0.0, 0.5], [0.0, -0.25]], np.float32)),
    ...            ("dense/bias", np.array([0.1, 0.2], np.float32))]
    >>> blob = encode(tensors, codebook=[-0.25, 0.5])
    >>> [(path, array.tolist()) for path, array in decode(blob)]
    [('dense/kernel', [[0.0, 0.5], [0.0, -0.25]]), ('dense/bias', [0.10000000149011612, 0.20000000298023224])]
"""

from __future__ import annotations

import bz2
import hashlib
import json
import logging
import lzma
import os
import struct
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from zoo.presets.store import COMPRESSED_SUFFIX as SUFFIX  # noqa: F401  (the file suffix, exported here too)

logger = logging.getLogger(__name__)

MAGIC = b"\x89KZQ\r\n\x1a\n"
VERSION = 1
MAX_CODEBOOK = 255  # codes are one byte; 0 is the pruned weight
_PREFIX = struct.Struct("<8sHBI")
_DIGEST = 32
_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]
#: codec id -> (name, compress, decompress)
CODECS = {
    0: ("stored", bytes, bytes),
    1: ("zlib", lambda b: zlib.compress(b, 9), zlib.decompress),
    2: ("bz2", lambda b: bz2.compress(b, 9), bz2.decompress),
    3: (
        "lzma",
        lambda b: lzma.compress(b, format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS),
        lambda b: lzma.decompress(b, format=lzma.FORMAT_RAW, filters=_LZMA_FILTERS),
    ),
}
LAYOUTS = ("sparse", "dense")


class CompressedWeightsError(ValueError):
    """A compressed weights file that cannot be loaded: truncated, modified, of another version or inconsistent."""


def _units_first(array: np.ndarray) -> np.ndarray:
    return np.moveaxis(array, -1, 0) if array.ndim > 1 else array


def _varints(values: np.ndarray) -> bytes:
    """LEB128 encoding of non-negative integers (7 bits a byte, high bit set on every byte but the last)."""
    values = np.asarray(values, np.uint64)
    if values.size == 0:
        return b""
    lengths = np.maximum(1, (np.floor(np.log2(np.maximum(values, 1).astype(np.float64))).astype(np.int64) // 7) + 1)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    out = np.zeros(int(lengths.sum()), np.uint8)
    for k in range(int(lengths.max())):
        has = lengths > k
        byte = (values[has] >> np.uint64(7 * k)) & np.uint64(0x7F)
        more = (lengths[has] > k + 1).astype(np.uint64) << np.uint64(7)
        out[starts[has] + k] = (byte | more).astype(np.uint8)
    return out.tobytes()


def _read_varints(data: np.ndarray, count: int, what: str) -> tuple[np.ndarray, int]:
    """The first ``count`` varints of ``data`` and how many bytes they took."""
    if count == 0:
        return np.zeros(0, np.int64), 0
    ends = np.flatnonzero(data < 0x80)
    if len(ends) < count:
        raise CompressedWeightsError(f"{what}: expected {count} positions, found {len(ends)}.")
    used = int(ends[count - 1]) + 1
    chunk = data[:used].astype(np.int64)
    group = np.concatenate([[0], np.cumsum(chunk[:-1] < 0x80)])
    starts = np.concatenate([[0], ends[: count - 1] + 1])
    place = np.arange(used) - starts[group]
    if place.max() > 8:
        raise CompressedWeightsError(f"{what}: a position is longer than 9 bytes.")
    values = np.zeros(count, np.int64)
    np.add.at(values, group, (chunk & 0x7F) << (7 * place))
    return values, used


def _check_codebook(codebook: Sequence[float]) -> np.ndarray:
    book = np.asarray(codebook, np.float32).ravel()
    if (
        book.size > MAX_CODEBOOK
        or not np.all(np.isfinite(book))
        or np.any(book == 0)
        or len(np.unique(book)) != book.size
    ):
        raise ValueError(
            f"A codebook holds at most {MAX_CODEBOOK} distinct finite non-zero values. Received "
            f"{book.size} values: {book.tolist()[:20]}"
        )
    return book


def codes_for(array: np.ndarray, codebook: np.ndarray) -> np.ndarray | None:
    """Each weight's code (0: exactly +0.0, k: ``codebook[k - 1]``), or None when a value is not in the codebook.

    Values are matched bit for bit, so the codes rebuild exactly the same float32 tensor.
    """
    if array.dtype != np.float32:
        return None
    table = np.concatenate([[0], codebook.view(np.uint32)]).astype(np.uint32)
    order = np.argsort(table)
    bits = np.ascontiguousarray(array).view(np.uint32).ravel()
    found = np.searchsorted(table[order], bits).clip(0, len(table) - 1)
    if not np.array_equal(table[order][found], bits):
        return None
    return order[found].astype(np.uint8).reshape(array.shape)


def _payload(tensors: list[tuple[str, np.ndarray]], codebook: np.ndarray, layout: str) -> bytes:
    header, gaps, codes_out, raws = [], [], [], []
    for path, array in tensors:
        array = np.asarray(array)
        codes = codes_for(array, codebook)
        entry = {"path": path, "shape": list(array.shape), "dtype": array.dtype.name}
        if codes is None:
            raws.append(np.ascontiguousarray(array, array.dtype.newbyteorder("<")).tobytes())
            header.append({**entry, "encoding": "raw"})
            continue
        flat = _units_first(codes).ravel()
        positions = np.flatnonzero(flat)
        header.append({**entry, "encoding": "codes", "entries": int(positions.size)})
        if layout == "dense":
            codes_out.append(flat.tobytes())
        else:
            gaps.append(_varints(np.diff(positions, prepend=-1) - 1))
            codes_out.append(flat[positions].tobytes())
    text = json.dumps(
        {"codebook": int(codebook.size), "layout": layout, "tensors": header}, separators=(",", ":")
    ).encode()
    return b"".join([struct.pack("<I", len(text)), text, codebook.astype("<f4").tobytes(), *gaps, *codes_out, *raws])


def encode(tensors: Iterable[tuple[str, np.ndarray]], codebook: Sequence[float]) -> bytes:
    """The compressed file's bytes for named tensors: the smallest of every layout under every codec.

    Args:
        tensors: ``(path, array)`` in the model's weight order.
        codebook: the distinct non-zero values of the quantised tensors (float32). Tensors whose every
            value is 0 or in the codebook are coded; the others are stored raw.

    Raises:
        ValueError: an invalid codebook.
    """
    book = _check_codebook(codebook)
    tensors = [(str(path), np.asarray(array)) for path, array in tensors]
    best = None
    for layout in LAYOUTS:
        payload = _payload(tensors, book, layout)
        for codec, (name, pack, _) in CODECS.items():
            body = pack(payload)
            if best is None or len(body) < len(best[2]):
                best = (codec, layout, body)
    codec, layout, body = best
    logger.debug("compressed weights: %s layout, %s codec, %d bytes", layout, CODECS[codec][0], len(body))
    head = _PREFIX.pack(MAGIC, VERSION, codec, len(body)) + body
    return head + hashlib.sha256(head).digest()


def _open(blob: bytes, source: str) -> tuple[int, dict, memoryview]:
    """Checks the magic, version, length and sha256, then decompresses: ``(codec, header, data after it)``."""
    if len(blob) < _PREFIX.size + _DIGEST or blob[:8] != MAGIC:
        raise CompressedWeightsError(
            f"{source} is not a kzoo compressed weights file (expected it to start with "
            f"{MAGIC!r} and hold at least {_PREFIX.size + _DIGEST} bytes; received "
            f"{len(blob)} bytes starting {blob[:8]!r})."
        )
    _, version, codec, length = _PREFIX.unpack_from(blob)
    if version != VERSION:
        raise CompressedWeightsError(
            f"{source} is compressed weights format version {version}; this kzoo reads "
            f"version {VERSION}. Upgrade kzoo (or re-save the weights with this one)."
        )
    expected = _PREFIX.size + length + _DIGEST
    if len(blob) != expected:
        raise CompressedWeightsError(
            f"{source} is truncated or has trailing bytes: its header says {expected} "
            f"bytes, the file has {len(blob)}. Download or write it again."
        )
    if hashlib.sha256(blob[:-_DIGEST]).digest() != blob[-_DIGEST:]:
        raise CompressedWeightsError(
            f"{source} is corrupt or was modified: its sha256 does not match the one stored in it. Refusing to load it."
        )
    if codec not in CODECS:
        raise CompressedWeightsError(f"{source} uses codec {codec}; known: {sorted(CODECS)}.")
    try:
        payload = CODECS[codec][2](blob[_PREFIX.size : -_DIGEST])
        (size,) = struct.unpack_from("<I", payload)
        header = json.loads(payload[4 : 4 + size])
    except (ValueError, TypeError, struct.error, lzma.LZMAError, OSError, zlib.error) as err:
        raise CompressedWeightsError(f"{source} is inconsistent: {err}") from err
    if not isinstance(header, dict):
        raise CompressedWeightsError(f"{source} is inconsistent: its header is not a JSON object.")
    return codec, header, memoryview(payload)[4 + size :]


def decode(blob: bytes, *, source: str = "compressed weights") -> list[tuple[str, np.ndarray]]:
    """The ``(path, array)`` pairs stored in a compressed file's bytes, checked end to end.

    Raises:
        CompressedWeightsError: not this format, another version, truncated, modified or inconsistent.
    """
    _, header, data = _open(blob, source)
    try:
        return _tensors(header, data, source)
    except CompressedWeightsError:
        raise
    except (ValueError, TypeError, KeyError, IndexError) as err:
        raise CompressedWeightsError(f"{source} is inconsistent: {err!r}") from err


def describe(blob: bytes, *, source: str = "compressed weights") -> dict:
    """What a compressed file holds, after the same checks as :func:`decode`: version, codec, layout, tensors.

    Example:
        >>> info = describe(encode([("k", np.zeros((4, 3), np.float32))], codebook=[1.0]))
        >>> info["version"], info["tensors"][0]["encoding"], info["tensors"][0]["entries"]
        (1, 'codes', 0)
    """
    codec, header, _ = _open(blob, source)
    return {"version": VERSION, "codec": CODECS[codec][0], "bytes": len(blob), **header}


def _tensors(header: dict, data: memoryview, source: str) -> list[tuple[str, np.ndarray]]:
    cursor = 0

    def take(count: int, what: str) -> memoryview:
        nonlocal cursor
        if count < 0 or cursor + count > len(data):
            raise CompressedWeightsError(f"{source}: {what} runs past the end of the data.")
        cursor += count
        return data[cursor - count : cursor]

    size, layout, entries = int(header["codebook"]), header["layout"], header["tensors"]
    if layout not in LAYOUTS or not 0 <= size <= MAX_CODEBOOK:
        raise CompressedWeightsError(f"{source}: unknown layout {layout!r} or codebook size {size}.")
    table = np.concatenate([[0], np.frombuffer(take(4 * size, "the codebook"), "<f4")]).astype(np.float32)
    coded = [e for e in entries if e["encoding"] == "codes"]
    shapes = {id(e): tuple(int(d) for d in e["shape"]) for e in entries}
    positions = {}
    if layout == "sparse":
        raw = np.frombuffer(data, np.uint8)
        for entry in coded:
            gaps, used = _read_varints(raw[cursor:], int(entry["entries"]), f"{source}: {entry['path']}")
            take(used, f"the positions of {entry['path']}")
            if gaps.size and gaps.max() >= np.prod(shapes[id(entry)]):
                raise CompressedWeightsError(f"{source}: {entry['path']} skips more weights than it has.")
            where = np.cumsum(gaps + 1) - 1
            if where.size and where[-1] >= np.prod(shapes[id(entry)]):
                raise CompressedWeightsError(
                    f"{source}: {entry['path']} has a position past its {int(np.prod(shapes[id(entry)]))} weights."
                )
            positions[id(entry)] = where
    arrays = {}
    for entry in sorted(entries, key=lambda e: e["encoding"] != "codes"):  # the code stream, then the raw bytes
        shape, dtype = shapes[id(entry)], np.dtype(entry["dtype"]).newbyteorder("<")
        count = int(np.prod(shape))
        if entry["encoding"] == "codes":
            units = (shape[-1], *shape[:-1]) if len(shape) > 1 else shape
            if layout == "dense":
                codes = np.frombuffer(take(count, f"the codes of {entry['path']}"), np.uint8)
            else:
                where = positions[id(entry)]
                codes = np.zeros(count, np.uint8)
                codes[where] = np.frombuffer(take(where.size, f"the codes of {entry['path']}"), np.uint8)
            if codes.size and codes.max() > size:
                raise CompressedWeightsError(
                    f"{source}: {entry['path']} uses code {codes.max()} of a {size}-value codebook."
                )
            array = np.moveaxis(table[codes].reshape(units), 0, -1) if len(shape) > 1 else table[codes].reshape(shape)
            arrays[id(entry)] = array.copy(order="C")
        elif entry["encoding"] == "raw":
            chunk = take(count * dtype.itemsize, f"the values of {entry['path']}")
            arrays[id(entry)] = np.frombuffer(chunk, dtype).reshape(shape).astype(dtype.newbyteorder("="))
        else:
            raise CompressedWeightsError(f"{source}: unknown encoding {entry['encoding']!r} of {entry['path']}.")
    if cursor != len(data):
        raise CompressedWeightsError(f"{source}: {len(data) - cursor} bytes left over after the last tensor.")
    return [(entry["path"], arrays[id(entry)]) for entry in entries]


def save(model, path: str | Path, codebook: Sequence[float]) -> Path:
    """Writes ``model``'s weights in the compressed format (atomically), and checks that they read back exactly.

    Args:
        model: a Keras model whose quantised tensors hold only 0 and ``codebook`` values.
        path: the file to write (conventionally ``*.weights.kzq``).
        codebook: the shared values (see :func:`encode`).

    Returns:
        The path.

    Raises:
        ValueError: an invalid codebook.
    """
    path = Path(path)
    tensors = [(v.path, np.asarray(v)) for v in model.weights]
    book = _check_codebook(codebook)
    raw = [name for name, a in tensors if np.any(a) and codes_for(a, book) is None]
    if raw and len(raw) == sum(bool(np.any(a)) for _, a in tensors):
        logger.warning(
            "No tensor of %s holds only 0 and the %d codebook values: all are stored raw, as large as "
            "float32 weights. Quantise the model first (zoo compress) or pass the codebook it was "
            "quantised with.",
            model.name,
            book.size,
        )
    blob = encode(tensors, book)
    restored = decode(blob, source=str(path))
    for (name, original), (_, back) in zip(tensors, restored):
        if original.tobytes() != back.tobytes():  # the format's own guarantee; never expected to fail
            raise RuntimeError(f"{name} does not read back bit for bit from the compressed format.")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, path)
    return path


def load(model, path: str | Path) -> Path:
    """Loads a compressed weights file into ``model``: every tensor is decoded and checked first, then assigned.

    Raises:
        CompressedWeightsError: the file is not readable (see :func:`decode`), or does not fit the model's weights.
    """
    path = Path(path)
    tensors = decode(path.read_bytes(), source=str(path))
    variables = list(model.weights)
    if len(tensors) != len(variables):
        raise CompressedWeightsError(
            f"{path} holds {len(tensors)} tensors, {model.name} has {len(variables)} "
            f"weights: it was made for another architecture (check num_classes / "
            f"input_shape overrides)."
        )
    for (name, array), variable in zip(tensors, variables):
        if tuple(array.shape) != tuple(variable.shape):
            raise CompressedWeightsError(
                f"{path}: {name} has shape {tuple(array.shape)}, {model.name}'s "
                f"{variable.path} expects {tuple(variable.shape)}."
            )
    for (_, array), variable in zip(tensors, variables):
        variable.assign(array)
    return path


def preset_sizes(directory: str | Path) -> dict[str, int | float | str]:
    """What a preset takes on disk, next to the sparse + Huffman estimate its metadata records (if any).

    Returns:
        ``{"weights_file", "weights_bytes", "preset_bytes"}`` plus, for a ``zoo compress`` preset,
        ``"estimate_bytes"`` (32-bit weights over the Han et al. ratio) and ``"weights_over_estimate"``.
    """
    from zoo.presets import store

    directory = Path(directory)
    metadata = store.read_json(directory / store.METADATA)
    weights = store.weights_file(directory, metadata)
    sizes: dict[str, int | float | str] = {
        "weights_file": weights.name,
        "weights_bytes": weights.stat().st_size,
        "preset_bytes": sum((directory / f).stat().st_size for f in [*metadata.get("files", {}), store.METADATA]),
    }
    compression = metadata.get("compression") or {}
    if compression.get("layers") and compression.get("sparse_huffman"):
        original_bits = 32 * sum(layer["weights"] for layer in compression["layers"].values())
        sizes["estimate_bytes"] = round(original_bits / compression["sparse_huffman"] / 8)
        sizes["weights_over_estimate"] = round(sizes["weights_bytes"] / sizes["estimate_bytes"], 3)
    return sizes


def codebook_of(model, candidates: Sequence[float]) -> np.ndarray:
    """The values of ``candidates`` (e.g. a mixture's means) that ``model``'s quantised tensors use, ascending.

    A tensor counts as quantised when every value is 0 or a candidate (as float32, bit for bit).

    Raises:
        ValueError: no tensor of the model is quantised with these candidates.
    """
    pool = np.unique(np.asarray(candidates, np.float32))
    pool = pool[pool != 0]
    used: set[float] = set()
    for variable in model.weights:
        array = np.asarray(variable)
        if array.size > 1 and codes_for(array, pool) is not None:
            used |= set(np.unique(array[array != 0]).tolist())
    if not used:
        raise ValueError(
            f"No tensor of {model.name} holds only 0 and the {len(pool)} candidate values: it is not "
            f"quantised with them."
        )
    return np.array(sorted(used), np.float32)


def compress_preset(directory: str | Path) -> Path:
    """Rewrites a ``zoo compress`` preset saved as ``model.weights.h5`` in the compressed format, in place.

    The codebook is the metadata's (``codebook``, else the used means of its ``mixture``); every tensor
    that held only codebook values is coded, the metadata, metrics and model card are kept.

    Returns:
        The preset directory.

    Raises:
        ValueError: the preset is not a quantised one, or is corrupt.
    """
    from zoo import presets
    from zoo.presets import store

    directory = Path(directory)
    metadata = store.verify(directory)
    config = store.read_json(directory / store.CONFIG)
    candidates = metadata.get("codebook") or (metadata.get("mixture") or {}).get("means")
    if not candidates:
        raise ValueError(f"{directory / store.METADATA} records no codebook or mixture: not a zoo compress preset.")
    model = presets.load(config["model"], str(directory))
    codebook = codebook_of(model, candidates)
    card = (directory / store.MODEL_CARD).read_text().split("\n\n") if (directory / store.MODEL_CARD).is_file() else []
    standard = {"name", "tag", "dataset", "kzoo", "keras", "parameters", "metrics", "files"}
    return store.save_preset(
        model,
        directory,
        name=config["model"],
        dataset=metadata.get("dataset", ""),
        metrics=metadata.get("metrics"),
        description=card[1].strip() if len(card) > 1 else "",
        extra={**{k: v for k, v in metadata.items() if k not in standard}, "codebook": codebook.tolist()},
        overwrite=True,
        codebook=codebook,
    )
