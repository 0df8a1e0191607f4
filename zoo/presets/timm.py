"""timm checkpoints in the Hugging Face Hub layout, converted exactly into zoo presets.

timm publishes its ImageNet weights on the Hub as a folder of two files:
``config.json`` (``architecture``, ``num_classes``, ``pretrained_cfg`` with the input
size, mean, std, crop and interpolation) and ``model.safetensors`` (the PyTorch tensors
under timm's own names). This module reads such a folder, from a path or downloaded
through ``huggingface_hub`` as ``hf://timm/<architecture>.<tag>``, maps every tensor onto
the zoo model of the same architecture, and writes an ordinary preset
(``$KZOO_HOME/presets/<model>/<tag>/``) whose metadata names the source, the tag, the
license, the ``pretrained_cfg`` and the class names.

Architectures: timm's ``resnet18``, ``resnet34``, ``resnet50`` (zoo models of the same
names, whose strided layers pad like PyTorch) and ``vit_{tiny,small,base}_patch16_{224,384}``
(``vit_ti16``, ``vit_s16``, ``vit_b16``; fused qkv split into query/key/value, class token,
position table for the checkpoint's own token grid, LayerNorm eps 1e-6, exact GELU).
Anything else is refused, as is a checkpoint with a missing, extra or misshapen tensor: the
error names the tensor and both shapes, and nothing is loaded.

Layouts: a convolution kernel goes from PyTorch's (out, in, h, w) to Keras' (h, w, in, out),
a linear weight from (out, in) to (in, out); BatchNorm's running statistics become the
moving mean and variance (eps 1e-5 in both).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from zoo.presets import store

logger = logging.getLogger(__name__)

HF_SCHEME = "hf://"
CONFIG = "config.json"
SAFETENSORS = "model.safetensors"
CLASS_NAMES_FILE = Path(__file__).resolve().parent / "imagenet1k_classes.txt"

#: timm architecture -> zoo registry name. Other timm architectures are refused.
ARCHITECTURES = {
    "resnet18": "resnet18",
    "resnet34": "resnet34",
    "resnet50": "resnet50",
    "vit_tiny_patch16_224": "vit_ti16",
    "vit_small_patch16_224": "vit_s16",
    "vit_base_patch16_224": "vit_b16",
    "vit_tiny_patch16_384": "vit_ti16",
    "vit_small_patch16_384": "vit_s16",
    "vit_base_patch16_384": "vit_b16",
}
#: What a preset keeps of timm's pretrained_cfg.
PRETRAINED_KEYS = (
    "tag",
    "input_size",
    "mean",
    "std",
    "crop_pct",
    "crop_mode",
    "interpolation",
    "num_classes",
    "license",
    "hf_hub_id",
)


@dataclasses.dataclass
class Checkpoint:
    """A timm checkpoint read from disk: its config, its tensors and where they came from."""

    config: dict[str, Any]
    tensors: dict[str, np.ndarray]
    source: str
    sha256: str
    folder: Path

    @property
    def architecture(self) -> str:
        return self.config["architecture"]

    @property
    def pretrained_cfg(self) -> dict[str, Any]:
        return self.config.get("pretrained_cfg") or {}


def is_hf(text: str | Path) -> bool:
    """Whether ``text`` is a ``hf://`` Hub reference."""
    return str(text).startswith(HF_SCHEME)


def is_timm_dir(path: str | Path) -> bool:
    """A folder in timm's Hub layout: ``config.json`` naming an ``architecture``, beside ``model.safetensors``."""
    path = Path(path).expanduser()
    if not (path / CONFIG).is_file() or (path / store.METADATA).is_file():
        return False
    try:
        config = json.loads((path / CONFIG).read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(config, dict) and "architecture" in config


def is_source(text: str | Path) -> bool:
    """Whether ``weights`` names a timm checkpoint (``hf://...`` or a folder in timm's layout)."""
    return is_hf(text) or (not str(text).startswith(("http://", "https://")) and is_timm_dir(text))


def zoo_name(architecture: str) -> str:
    """The zoo model for a timm architecture.

    Raises:
        ValueError: an architecture kzoo does not convert.

    Example:
        >>> zoo_name("vit_base_patch16_224")
        'vit_b16'
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"timm architecture {architecture!r} has no zoo model. Supported: {', '.join(sorted(ARCHITECTURES))}."
        )
    return ARCHITECTURES[architecture]


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names in label order (``tench``, ``goldfish``, ...), shipped with kzoo.

    Example:
        >>> names = imagenet_class_names()
        >>> len(names), names[0], names[999]
        (1000, 'tench', 'toilet tissue')
    """
    return CLASS_NAMES_FILE.read_text().splitlines()


# --- reading ------------------------------------------------------------------------------------------------------


def read_folder(folder: str | Path, *, source: str | None = None) -> Checkpoint:
    """Reads ``config.json`` and ``model.safetensors`` of a folder in timm's Hub layout.

    Raises:
        FileNotFoundError: a file is missing.
        ValueError: a malformed config or a corrupt safetensors file.
    """
    folder = Path(folder).expanduser()
    for filename in (CONFIG, SAFETENSORS):
        if not (folder / filename).is_file():
            raise FileNotFoundError(
                f"{folder} is not a timm checkpoint folder: {filename} is missing "
                f"(expected {CONFIG} and {SAFETENSORS}, as on the Hugging Face Hub)."
            )
    config = store.read_json(folder / CONFIG)
    if not isinstance(config.get("architecture"), str):
        raise ValueError(f"{folder / CONFIG} names no 'architecture': not a timm checkpoint config.")
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        tensors = load_file(folder / SAFETENSORS)
    except (SafetensorError, OSError, ValueError, TypeError) as err:
        raise ValueError(
            f"{folder / SAFETENSORS} is corrupt or not a safetensors file of float tensors: {err}"
        ) from err
    return Checkpoint(config, tensors, source or str(folder.absolute()), store.sha256(folder / SAFETENSORS), folder)


def _offline() -> bool:
    return any(
        os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on") for v in ("KZOO_OFFLINE", "HF_HUB_OFFLINE")
    )


def parse_hf(uri: str) -> tuple[str, str, str | None]:
    """``hf://timm/resnet50.a1_in1k`` -> ``("timm/resnet50.a1_in1k", "resnet50", "a1_in1k")``.

    Example:
        >>> parse_hf("hf://timm/vit_base_patch16_224.augreg2_in21k_ft_in1k")
        ('timm/vit_base_patch16_224.augreg2_in21k_ft_in1k', 'vit_base_patch16_224', 'augreg2_in21k_ft_in1k')
    """
    repo_id = uri[len(HF_SCHEME) :].strip("/")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+", repo_id):
        raise ValueError(
            f"A Hub reference is hf://<owner>/<repository>, e.g. hf://timm/resnet50.a1_in1k. Received: {uri!r}"
        )
    architecture, _, tag = repo_id.split("/", 1)[1].partition(".")
    return repo_id, architecture, tag or None


def download(uri: str) -> Path:
    """The local snapshot folder of ``hf://owner/repo`` (``config.json``, ``model.safetensors`` and, when there is
    one, the ``README.md`` model card with the license), through
    ``huggingface_hub``'s cache (``HF_HOME``/``HF_HUB_CACHE``). With ``HF_HUB_OFFLINE=1`` or ``KZOO_OFFLINE=1``
    only the cache is used.

    Raises:
        ValueError: not in the cache while offline, or the download failed.
    """
    repo_id, _, _ = parse_hf(uri)
    from huggingface_hub import hf_hub_download

    cache_dir = os.environ.get("HF_HUB_CACHE") or (
        str(Path(os.environ["HF_HOME"]) / "hub") if os.environ.get("HF_HOME") else None
    )
    offline = _offline()
    paths = []
    for filename in (CONFIG, SAFETENSORS):
        try:
            paths.append(Path(hf_hub_download(repo_id, filename, cache_dir=cache_dir, local_files_only=offline)))
        except Exception as err:  # huggingface_hub raises its own errors for a missing entry, HTTP or network
            where = cache_dir or "the default Hugging Face cache (~/.cache/huggingface/hub)"
            if offline:
                raise ValueError(
                    f"{uri}: {filename} is not in {where}, and downloads are off (KZOO_OFFLINE or "
                    f"HF_HUB_OFFLINE). Run `zoo pull {uri}` where the Hub is reachable, or pass the "
                    f"folder holding {CONFIG} and {SAFETENSORS} as the weights."
                ) from err
            raise ValueError(f"Could not fetch {filename} of {uri} from the Hugging Face Hub: {err}") from err
    try:  # the model card names the license in its front matter; a checkpoint without one still converts
        hf_hub_download(repo_id, "README.md", cache_dir=cache_dir, local_files_only=offline)
    except Exception as err:  # noqa: BLE001  (optional file: any failure only loses the license line)
        logger.info("%s: no model card (%s); the preset's license comes from config.json alone", uri, err)
    if paths[0].parent != paths[1].parent:
        raise ValueError(
            f"{uri}: {CONFIG} and {SAFETENSORS} came from different snapshots ({paths[0].parent}, {paths[1].parent})."
        )
    return paths[0].parent


# --- position tables at another image size ------------------------------------------------------------------------


def _cubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    x = np.abs(x)
    return np.where(x < 1, ((a + 2) * x - (a + 3)) * x * x + 1, np.where(x < 2, (((x - 5) * x + 8) * x - 4) * a, 0.0))


def _resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of PyTorch's antialiased bicubic resize along one axis (``F.interpolate(...,
    mode="bicubic", antialias=True, align_corners=False)``, PIL's algorithm: Keys' cubic with a = -0.5, widened by
    the scale when shrinking, weights normalised, no samples outside the image)."""
    scale = n_in / n_out
    support = 2.0 * max(scale, 1.0)
    invscale = 1.0 / scale if scale >= 1.0 else 1.0
    matrix = np.zeros((n_out, n_in))
    for i in range(n_out):
        center = scale * (i + 0.5)
        lo, hi = max(int(center - support + 0.5), 0), min(int(center + support + 0.5), n_in)
        weights = _cubic((np.arange(lo, hi) - center + 0.5) * invscale)
        matrix[i, lo:hi] = weights / weights.sum()
    return matrix


def resample_position_table(
    table: np.ndarray, old_grid: tuple[int, int], new_grid: tuple[int, int], extra_tokens: int = 1
) -> np.ndarray:
    """A ViT position table (1, extra + h*w, dim) for another token grid, as timm resamples it when a checkpoint
    meets another image size (``resample_abs_pos_embed``: bicubic, antialiased); the class token's row is kept.

    Example:
        >>> table = np.concatenate([[9.0], np.arange(4) ** 1.5]).reshape(1, 5, 1)  # class token, then a 2x2 grid
        >>> resample_position_table(table, (2, 2), (3, 3))[0, :4, 0].round(3).tolist()  # torch: -0.24595, 0.268929, ...
        [9.0, -0.246, 0.269, 0.784]
    """
    extra, grid = table[:, :extra_tokens], table[:, extra_tokens:]
    dim = table.shape[-1]
    image = grid.reshape(old_grid[0], old_grid[1], dim).astype(np.float64)
    resized = np.einsum(
        "ah,bw,hwc->abc", _resize_matrix(old_grid[0], new_grid[0]), _resize_matrix(old_grid[1], new_grid[1]), image
    )
    return np.concatenate([extra, resized.reshape(1, -1, dim).astype(table.dtype)], axis=1)


# --- conversion ---------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Source:
    """Where one Keras variable comes from: a checkpoint tensor, its expected shape and the layout change."""

    key: str
    shape: tuple[int, ...]
    convert: Callable[[np.ndarray], np.ndarray]


def _same(t):
    return t


def _conv(t):
    return t.transpose(2, 3, 1, 0)  # (out, in, h, w) -> (h, w, in, out)


def _linear(t):
    return t.T  # (out, in) -> (in, out)


_BN = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}
_LN = {"gamma": "weight", "beta": "bias"}


def _kernel_source(key: str, shape: tuple[int, ...]) -> _Source:
    if len(shape) == 4:
        return _Source(key, (shape[3], shape[2], shape[0], shape[1]), _conv)
    return _Source(key, (shape[1], shape[0]), _linear)


def _resnet_source(path: str, shape: tuple[int, ...]) -> _Source | None:
    """timm's ResNet names: conv1/bn1 (stem), layerS.B.convI/bnI, layerS.B.downsample.{0,1}, fc."""
    parts = path.split("/")
    if parts[0] == "predictions":
        return _kernel_source("fc.weight", shape) if parts[1] == "kernel" else _Source("fc.bias", shape, _same)
    if parts[0] == "stem_conv":
        conv, bn = "conv1", "bn1"
    elif (m := re.fullmatch(r"stack(\d+)_block(\d+)", parts[0])) and len(parts) == 4:
        prefix = f"layer{m.group(1)}.{int(m.group(2)) - 1}"
        if parts[1] == "shortcut":
            conv, bn = f"{prefix}.downsample.0", f"{prefix}.downsample.1"
        elif re.fullmatch(r"conv\d", parts[1]):
            conv, bn = f"{prefix}.{parts[1]}", f"{prefix}.bn{parts[1][4:]}"
        else:
            return None
        parts = parts[1:]
    else:
        return None
    if parts[1:] == ["conv", "kernel"]:
        return _kernel_source(f"{conv}.weight", shape)
    if parts[1] == "bn" and parts[2] in _BN:
        return _Source(f"{bn}.{_BN[parts[2]]}", shape, _same)
    return None


def _qkv(index: int, heads: int, head_dim: int, dim: int | None):
    width = heads * head_dim

    def convert(t):
        part = t[index * width : (index + 1) * width]
        if dim is None:  # bias: (3 * width,) -> (heads, head_dim)
            return part.reshape(heads, head_dim)
        return part.reshape(heads, head_dim, dim).transpose(2, 0, 1)  # (width, dim) -> (dim, heads, head_dim)

    return convert


def _vit_source(path: str, shape: tuple[int, ...]) -> _Source | None:
    """timm's ViT names: patch_embed.proj, cls_token, pos_embed, blocks.I.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,
    mlp.fc2}, norm, head."""
    parts = path.split("/")
    fixed = {
        "patches/projection/bias": "patch_embed.proj.bias",
        "class_token/token": "cls_token",
        "positions/table": "pos_embed",
        "predictions/bias": "head.bias",
    }
    if path in fixed:
        return _Source(fixed[path], shape, _same)
    if path == "patches/projection/kernel":
        return _kernel_source("patch_embed.proj.weight", shape)
    if path == "predictions/kernel":
        return _kernel_source("head.weight", shape)
    if parts[0] == "norm" and parts[1] in _LN:
        return _Source(f"norm.{_LN[parts[1]]}", shape, _same)
    m = re.fullmatch(r"block(\d+)", parts[0])
    if not m:
        return None
    prefix = f"blocks.{int(m.group(1)) - 1}"
    if parts[1] in ("norm1", "norm2") and parts[2] in _LN:
        return _Source(f"{prefix}.{parts[1]}.{_LN[parts[2]]}", shape, _same)
    if parts[1] in ("fc1", "fc2"):
        key = f"{prefix}.mlp.{parts[1]}"
        return _kernel_source(f"{key}.weight", shape) if parts[2] == "kernel" else _Source(f"{key}.bias", shape, _same)
    if parts[1] == "attention" and parts[2] in ("query", "key", "value"):
        index = ("query", "key", "value").index(parts[2])
        if parts[3] == "kernel":
            dim, heads, head_dim = shape
            return _Source(f"{prefix}.attn.qkv.weight", (3 * heads * head_dim, dim), _qkv(index, heads, head_dim, dim))
        heads, head_dim = shape
        return _Source(f"{prefix}.attn.qkv.bias", (3 * heads * head_dim,), _qkv(index, heads, head_dim, None))
    if parts[1:3] == ["attention", "attention_output"]:
        if parts[3] == "kernel":
            heads, head_dim, dim = shape
            return _Source(
                f"{prefix}.attn.proj.weight", (dim, heads * head_dim), lambda t: t.T.reshape(heads, head_dim, dim)
            )
        return _Source(f"{prefix}.attn.proj.bias", shape, _same)
    return None


def _head_key(architecture: str) -> str:
    return "fc.weight" if architecture.startswith("resnet") else "head.weight"


def _check_config(checkpoint: Checkpoint) -> None:
    """Refuses timm options the zoo models do not have (another pooling, extra tokens, ...)."""
    config = checkpoint.config
    model_args = {k: v for k, v in (config.get("model_args") or {}).items() if k not in ("img_size", "num_classes")}
    if model_args:
        raise ValueError(
            f"{checkpoint.source}: timm model_args {model_args} change the architecture "
            f"{checkpoint.architecture}; kzoo converts only its standard layout."
        )
    pool = config.get("global_pool")
    expected = "avg" if checkpoint.architecture.startswith("resnet") else "token"
    if pool not in (None, expected):
        raise ValueError(
            f"{checkpoint.source}: global_pool={pool!r}; the zoo's {zoo_name(checkpoint.architecture)} "
            f"pools with {expected!r}."
        )


def _resample_positions(checkpoint: Checkpoint, image_size: tuple[int, int]) -> Checkpoint:
    """``checkpoint`` with its ViT position table resampled to ``image_size``'s grid of 16x16 patches."""
    table = checkpoint.tensors.get("pos_embed")
    if table is None or not checkpoint.architecture.startswith("vit"):
        return checkpoint
    size = checkpoint.pretrained_cfg.get("input_size")
    tokens = table.shape[1] - 1
    old = (size[1] // 16, size[2] // 16) if size and (size[1] // 16) * (size[2] // 16) == tokens else None
    if old is None:
        side = int(round(tokens**0.5))
        if side * side != tokens:
            raise ValueError(
                f"{checkpoint.source}: pos_embed {tuple(table.shape)} is no square grid and "
                f"pretrained_cfg.input_size {size} does not give its grid."
            )
        old = (side, side)
    new = (-(-image_size[0] // 16), -(-image_size[1] // 16))
    if new == old:
        return checkpoint
    logger.info("Resampling %s's position table from a %s to a %s grid", checkpoint.source, old, new)
    tensors = {**checkpoint.tensors, "pos_embed": resample_position_table(table, old, new)}
    return dataclasses.replace(checkpoint, tensors=tensors)


def model_overrides(checkpoint: Checkpoint) -> dict[str, Any]:
    """The zoo constructor arguments a checkpoint implies: input size, mean, std (``pretrained_cfg``), classes."""
    cfg = checkpoint.pretrained_cfg
    head = _head_key(checkpoint.architecture)
    if head not in checkpoint.tensors:
        raise ValueError(
            f"{checkpoint.source}: tensor {head!r} is missing (a checkpoint without its classifier "
            f"cannot be converted). Nothing was loaded."
        )
    overrides: dict[str, Any] = {"num_classes": int(checkpoint.tensors[head].shape[0])}
    size = cfg.get("input_size")
    if size is not None:
        if not (isinstance(size, list) and len(size) == 3 and all(isinstance(d, int) and d > 0 for d in size)):
            raise ValueError(
                f"{checkpoint.source}: pretrained_cfg.input_size must be [channels, height, width]. Received: {size!r}"
            )
        overrides["input_shape"] = [size[1], size[2], size[0]]
    for key in ("mean", "std"):
        if key in cfg:
            overrides[f"input_{key}"] = [float(v) for v in cfg[key]]
    if checkpoint.architecture.startswith("vit"):
        overrides["drop_path"] = 0.0  # timm's default; fine-tuning can raise it with an override
    return overrides


def build(checkpoint: Checkpoint, name: str | None = None, *, image_size: tuple[int, int] | None = None, **overrides):
    """The zoo model holding ``checkpoint``'s weights.

    Every Keras variable is matched to its tensor and every shape checked before any is assigned; the
    checkpoint may hold nothing else (BatchNorm's ``num_batches_tracked`` aside).

    Args:
        checkpoint: from :func:`read_folder`.
        name: the zoo model asked for; it must be the checkpoint's architecture.
        image_size: (height, width) to take instead of ``pretrained_cfg``'s input size; a ViT's position
            table is resampled to the new grid as timm does.
        **overrides: more constructor arguments (not ones that change weight shapes).

    Raises:
        ValueError: another architecture, or a missing, unexpected or misshapen tensor (named, with both shapes).
    """
    from zoo.registry import build as build_model

    target = zoo_name(checkpoint.architecture)
    if name is not None and name != target:
        raise ValueError(
            f"{checkpoint.source} holds timm's {checkpoint.architecture} (kzoo model {target!r}), not {name!r}."
        )
    _check_config(checkpoint)
    if image_size is not None:
        image_size = _check_image_size(image_size)
        checkpoint = _resample_positions(checkpoint, image_size)
        overrides = {"input_shape": [*image_size, 3], **overrides}
    model = build_model(target, **{**model_overrides(checkpoint), **overrides})
    source_of = _resnet_source if target.startswith("resnet") else _vit_source
    assignments, used, problems = [], set(), {}
    for variable in model.weights:
        source = source_of(variable.path, tuple(variable.shape))
        if source is None:
            raise ValueError(f"kzoo has no timm name for variable {variable.path!r} of {target}.")
        tensor = checkpoint.tensors.get(source.key)
        if source.key in used:  # qkv feeds three variables: report it once
            pass
        elif tensor is None:
            problems[source.key] = (
                f"tensor {source.key!r} is missing (needed for {variable.path}, shape {source.shape})"
            )
        elif tuple(tensor.shape) != source.shape:
            problems[source.key] = (
                f"tensor {source.key!r} has shape {tuple(tensor.shape)}, but {target} "
                f"({variable.path}) needs {source.shape}"
            )
        used.add(source.key)
        if tensor is not None and source.key not in problems:
            assignments.append((variable, source.convert(np.asarray(tensor, dtype="float32"))))
    extra = sorted(k for k in checkpoint.tensors if k not in used and not k.endswith("num_batches_tracked"))
    listed = list(problems.values())
    if extra:
        listed.append(
            f"unexpected tensor(s) {', '.join(map(repr, extra[:8]))}{' ...' if len(extra) > 8 else ''}: "
            f"not timm's plain {checkpoint.architecture} layout"
        )
    if listed:
        more = f"; and {len(listed) - 8} more" if len(listed) > 8 else ""
        raise ValueError(
            f"{checkpoint.source} does not fit {target} (input {model.input_shape[1:]}): "
            + "; ".join(listed[:8])
            + more
            + ". Nothing was loaded."
        )
    for variable, value in assignments:
        variable.assign(value)
    return model


def _check_image_size(image_size) -> tuple[int, int]:
    size = tuple(image_size) if isinstance(image_size, (list, tuple)) else (image_size, image_size)
    if len(size) != 2 or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 16 for d in size):
        raise ValueError(f"image_size must be an int or (height, width), at least 16. Received: {image_size!r}")
    return size


def class_names(checkpoint: Checkpoint, num_classes: int) -> list[str] | None:
    """The checkpoint's ``label_names``, else ImageNet-1k's names for a 1000-class head, else None."""
    names = checkpoint.config.get("label_names")
    if isinstance(names, list) and len(names) == num_classes:
        return [str(n) for n in names]
    return imagenet_class_names() if num_classes == 1000 else None


def _dataset(tag: str | None, num_classes: int) -> str:
    tag = tag or ""
    if tag.endswith("in1k") or (num_classes == 1000 and "in21k" not in tag and "in22k" not in tag):
        return "imagenet-1k"
    if "in21k" in tag or "in22k" in tag:
        return "imagenet-21k"
    return tag or "unknown"


def _license(checkpoint: Checkpoint) -> str | None:
    found = checkpoint.pretrained_cfg.get("license") or checkpoint.config.get("license")
    card = checkpoint.folder / "README.md"
    if not found and card.is_file():  # the Hub's model card starts with YAML front matter: "license: apache-2.0"
        match = re.search(r"^license:\s*(\S+)", card.read_text(errors="replace").split("\n---", 1)[0], re.M)
        found = match.group(1) if match else None
    return found


def _tag(checkpoint: Checkpoint, explicit: str | None, image_size=None) -> str:
    """The preset's tag: the Hub name's (``a1_in1k``), else ``pretrained_cfg``'s, else the folder's name."""
    tag = explicit or checkpoint.pretrained_cfg.get("tag") or checkpoint.folder.name
    if image_size is not None:
        height, width = _check_image_size(image_size)
        tag = f"{tag}-{height}" if height == width else f"{tag}-{height}x{width}"
    return store.check_name("tag", re.sub(r"[^A-Za-z0-9_.-]", "_", str(tag)))


def save(
    checkpoint: Checkpoint,
    directory: str | Path | None = None,
    *,
    name: str | None = None,
    tag: str | None = None,
    image_size: int | tuple[int, int] | None = None,
) -> Path:
    """Converts ``checkpoint`` and writes it as a preset (default ``$KZOO_HOME/presets/<model>/<tag>``, and
    ``<tag>-<size>`` for another ``image_size``).

    Returns:
        The preset directory.
    """
    model = build(checkpoint, name, image_size=image_size)
    target = zoo_name(checkpoint.architecture)
    tag = _tag(checkpoint, tag, image_size)
    directory = Path(directory) if directory is not None else store.cache_root() / target / tag
    cfg = {k: checkpoint.pretrained_cfg[k] for k in PRETRAINED_KEYS if k in checkpoint.pretrained_cfg}
    num_classes = int(model.output_shape[-1])
    license_ = _license(checkpoint)
    extra = {
        "source": checkpoint.source,
        "source_sha256": checkpoint.sha256,
        "architecture": checkpoint.architecture,
        "timm_tag": checkpoint.pretrained_cfg.get("tag"),
        "license": license_,
        "pretrained_cfg": cfg,
        "image_size": list(model.input_shape[1:3]),
        "class_names": class_names(checkpoint, num_classes),
    }
    description = (
        f"timm's `{checkpoint.architecture}` weights (tag `{extra['timm_tag']}`, license "
        f"{license_ or 'not stated'}) from {checkpoint.source}, converted exactly by kzoo. Input: "
        f"{extra['image_size'][0]}x{extra['image_size'][1]} pixels in [0, 1]; the model standardises them "
        f"with pretrained_cfg's mean {cfg.get('mean')} and std {cfg.get('std')}. timm evaluates with "
        f"{cfg.get('interpolation', '?')} resizing and a crop of {cfg.get('crop_pct', '?')}."
    )
    with store.locked(directory):
        path = store.save_preset(
            model,
            directory,
            name=target,
            dataset=_dataset(checkpoint.pretrained_cfg.get("tag"), num_classes),
            description=description,
            extra=extra,
            overwrite=True,
        )
    logger.info("Converted %s (%s) into preset %s", checkpoint.source, checkpoint.architecture, path)
    return path


def _cached(directory: Path, **expected: str) -> bool:
    if not store.is_preset_dir(directory):
        return False
    try:
        metadata = store.read_json(directory / store.METADATA)
    except ValueError:
        return False
    return all(metadata.get(k) == v for k, v in expected.items())


def import_checkpoint(
    source: str | Path,
    *,
    name: str | None = None,
    directory: str | Path | None = None,
    force: bool = False,
    image_size: int | tuple[int, int] | None = None,
) -> Path:
    """The preset for a timm checkpoint (``hf://owner/repo`` or a folder), converting it on first use.

    A Hub checkpoint already converted is reused without touching the network; a folder is converted
    again when its ``model.safetensors`` changed.

    Args:
        source: ``hf://timm/<architecture>.<tag>`` or a folder with ``config.json`` and ``model.safetensors``.
        name: the zoo model it must be (``zoo.create(name, weights=source)``); None accepts any supported one.
        directory: where to write the preset; defaults to ``$KZOO_HOME/presets/<model>/<tag>``.
        force: convert again even when the preset exists.
        image_size: an input size other than ``pretrained_cfg``'s (ViTs get their position table resampled as
            timm does); the preset's tag then ends in ``-<size>``.

    Returns:
        The preset directory.
    """
    text = str(source)
    if is_hf(text):
        _, architecture, hub_tag = parse_hf(text)
        target = zoo_name(architecture)
        if name is not None and name != target:
            raise ValueError(f"{text} holds timm's {architecture} (kzoo model {target!r}), not {name!r}.")
        if directory is None and hub_tag:
            light = Checkpoint({"architecture": architecture}, {}, text, "", Path(hub_tag))
            cached = store.cache_root() / target / _tag(light, hub_tag, image_size)
            if not force and _cached(cached, source=text):
                return cached
        folder = download(text)
        return save(read_folder(folder, source=text), directory, name=name, tag=hub_tag, image_size=image_size)
    folder = Path(text).expanduser()
    if directory is None and not force and (folder / SAFETENSORS).is_file() and is_timm_dir(folder):
        # Only the config and the hash for the cache lookup: the tensors are read when converting.
        config = store.read_json(folder / CONFIG)
        target = zoo_name(config["architecture"])
        if name is not None and name != target:
            raise ValueError(f"{folder} holds timm's {config['architecture']} (kzoo model {target!r}), not {name!r}.")
        light = Checkpoint(config, {}, str(folder.absolute()), "", folder)
        cached = store.cache_root() / target / _tag(light, None, image_size)
        if _cached(cached, source_sha256=store.sha256(folder / SAFETENSORS)):
            return cached
    return save(read_folder(folder), directory, name=name, image_size=image_size)
