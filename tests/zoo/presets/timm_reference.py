"""Random timm checkpoints (timm's tensor names, PyTorch layouts) and a NumPy forward pass written from PyTorch's
semantics, independent of the converter: NCHW, OIHW kernels, symmetric padding, BatchNorm eps 1e-5, LayerNorm
eps 1e-6, exact GELU, fused qkv."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.special import erf

RESNETS = {
    "resnet18": ("basic", [2, 2, 2, 2]),
    "resnet34": ("basic", [3, 4, 6, 3]),
    "resnet50": ("bottleneck", [3, 4, 6, 3]),
}
VITS = {"vit_tiny_patch16_224": (192, 3), "vit_small_patch16_224": (384, 6), "vit_base_patch16_224": (768, 12)}
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


# --- checkpoints ----------------------------------------------------------------------------------------------------


def resnet_tensors(architecture: str, num_classes: int = 1000, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    kind, blocks = RESNETS[architecture]
    t: dict[str, np.ndarray] = {}

    def conv(key, out, inp, k):
        t[key] = (rng.standard_normal((out, inp, k, k)) * np.sqrt(2.0 / (inp * k * k))).astype("float32")

    def bn(key, c):
        t[f"{key}.weight"] = rng.uniform(0.5, 1.5, c).astype("float32")
        t[f"{key}.bias"] = rng.normal(0, 0.1, c).astype("float32")
        t[f"{key}.running_mean"] = rng.normal(0, 0.1, c).astype("float32")
        t[f"{key}.running_var"] = rng.uniform(0.5, 2.0, c).astype("float32")
        t[f"{key}.num_batches_tracked"] = np.array(7, dtype="int64")

    conv("conv1.weight", 64, 3, 7)
    bn("bn1", 64)
    channels = 64
    for s, (n, width) in enumerate(zip(blocks, [64, 128, 256, 512]), start=1):
        for b in range(n):
            p = f"layer{s}.{b}"
            out = width * (4 if kind == "bottleneck" else 1)
            if kind == "basic":
                conv(f"{p}.conv1.weight", width, channels, 3), bn(f"{p}.bn1", width)
                conv(f"{p}.conv2.weight", width, width, 3), bn(f"{p}.bn2", width)
            else:
                conv(f"{p}.conv1.weight", width, channels, 1), bn(f"{p}.bn1", width)
                conv(f"{p}.conv2.weight", width, width, 3), bn(f"{p}.bn2", width)
                conv(f"{p}.conv3.weight", out, width, 1), bn(f"{p}.bn3", out)
            if b == 0 and (s > 1 or channels != out):
                conv(f"{p}.downsample.0.weight", out, channels, 1), bn(f"{p}.downsample.1", out)
            channels = out
    t["fc.weight"] = (rng.standard_normal((num_classes, channels)) / np.sqrt(channels)).astype("float32")
    t["fc.bias"] = rng.normal(0, 0.1, num_classes).astype("float32")
    return t


def vit_tensors(
    architecture: str, image_size: int = 224, num_classes: int = 1000, depth: int = 12, seed: int = 0
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    dim, _ = VITS[architecture]
    tokens = (image_size // 16) ** 2 + 1

    def normal(*shape, std=0.02):
        return (rng.standard_normal(shape) * std).astype("float32")

    t = {
        "cls_token": normal(1, 1, dim, std=0.5),
        "pos_embed": normal(1, tokens, dim, std=0.5),
        "patch_embed.proj.weight": normal(dim, 3, 16, 16, std=1 / np.sqrt(768)),
        "patch_embed.proj.bias": normal(dim),
        "norm.weight": 1 + normal(dim, std=0.1),
        "norm.bias": normal(dim, std=0.1),
        "head.weight": normal(num_classes, dim, std=1 / np.sqrt(dim)),
        "head.bias": normal(num_classes, std=0.1),
    }
    for i in range(depth):
        p = f"blocks.{i}"
        for norm in ("norm1", "norm2"):
            t[f"{p}.{norm}.weight"], t[f"{p}.{norm}.bias"] = 1 + normal(dim, std=0.1), normal(dim, std=0.1)
        t[f"{p}.attn.qkv.weight"], t[f"{p}.attn.qkv.bias"] = normal(3 * dim, dim, std=0.1), normal(3 * dim, std=0.1)
        t[f"{p}.attn.proj.weight"], t[f"{p}.attn.proj.bias"] = normal(dim, dim, std=0.05), normal(dim)
        t[f"{p}.mlp.fc1.weight"], t[f"{p}.mlp.fc1.bias"] = normal(4 * dim, dim, std=0.05), normal(4 * dim)
        t[f"{p}.mlp.fc2.weight"], t[f"{p}.mlp.fc2.bias"] = normal(dim, 4 * dim, std=0.03), normal(dim)
    return t


def write_checkpoint(
    folder: Path,
    architecture: str,
    tensors: dict[str, np.ndarray],
    *,
    image_size: int = 224,
    tag: str = "test_in1k",
    mean=MEAN,
    std=STD,
    **config,
) -> Path:
    """A folder as timm pushes it to the Hub: config.json (architecture, pretrained_cfg) and model.safetensors."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    head = tensors.get("fc.weight", tensors.get("head.weight"))
    num_classes = int(head.shape[0]) if head is not None else 1000
    body = {
        "architecture": architecture,
        "num_classes": num_classes,
        "global_pool": "avg" if architecture.startswith("resnet") else "token",
        "pretrained_cfg": {
            "tag": tag,
            "custom_load": False,
            "input_size": [3, image_size, image_size],
            "fixed_input_size": architecture.startswith("vit"),
            "interpolation": "bicubic",
            "crop_pct": 0.95,
            "crop_mode": "center",
            "mean": list(mean),
            "std": list(std),
            "num_classes": num_classes,
            "license": "apache-2.0",
        },
        **config,
    }
    (folder / "config.json").write_text(json.dumps(body, indent=2))
    save_file(tensors, str(folder / "model.safetensors"))
    return folder


# --- the forward pass -----------------------------------------------------------------------------------------------


def _pad(x, before, after, value=0.0):
    return np.pad(x, ((0, 0), (0, 0), (before, after), (before, after)), constant_values=value)


def _amounts(size, k, stride, mode):
    """Zeros before/after one spatial side: PyTorch's symmetric k//2, or Keras' "same" (the extra one after)."""
    if mode == "torch":
        return k // 2, k // 2
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def conv2d(x, w, stride=1, mode="torch"):
    """x (N, C, H, W), w (O, C, k, k): PyTorch's Conv2d(padding=k // 2, bias=False) in float64."""
    k = w.shape[-1]
    x = _pad(x, *_amounts(x.shape[2], k, stride, mode))
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("nchwij,ocij->nohw", windows, w, optimize=True)


def maxpool(x, mode="torch"):
    """PyTorch's MaxPool2d(3, stride=2, padding=1) (padding never wins the max)."""
    x = _pad(x, *_amounts(x.shape[2], 3, 2, mode), value=-np.inf)
    return np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(2, 3))[:, :, ::2, ::2].max(axis=(-1, -2))


def batchnorm(x, t, key, eps=1e-5):
    shape = (1, -1, 1, 1)
    scale = t[f"{key}.weight"].astype(np.float64) / np.sqrt(t[f"{key}.running_var"].astype(np.float64) + eps)
    return (x - t[f"{key}.running_mean"].reshape(shape)) * scale.reshape(shape) + t[f"{key}.bias"].reshape(shape)


def relu(x):
    return np.maximum(x, 0)


def resnet_forward(t, architecture, images, mean=MEAN, std=STD, mode="torch"):
    """Logits of timm's ResNet for NHWC ``images`` in [0, 1]; ``mode="keras_same"`` pads strided layers as Keras'
    "same" would (to show that a converter doing so gives other logits)."""
    kind, blocks = RESNETS[architecture]
    x = ((images - np.asarray(mean)) / np.asarray(std)).transpose(0, 3, 1, 2).astype(np.float64)
    x = relu(batchnorm(conv2d(x, t["conv1.weight"], 2, mode), t, "bn1"))
    x = maxpool(x, mode)
    for s, n in enumerate(blocks, start=1):
        for b in range(n):
            p, stride = f"layer{s}.{b}", 2 if (b == 0 and s > 1) else 1
            if kind == "basic":
                y = relu(batchnorm(conv2d(x, t[f"{p}.conv1.weight"], stride, mode), t, f"{p}.bn1"))
                y = batchnorm(conv2d(y, t[f"{p}.conv2.weight"]), t, f"{p}.bn2")
            else:
                y = relu(batchnorm(conv2d(x, t[f"{p}.conv1.weight"]), t, f"{p}.bn1"))
                y = relu(batchnorm(conv2d(y, t[f"{p}.conv2.weight"], stride, mode), t, f"{p}.bn2"))
                y = batchnorm(conv2d(y, t[f"{p}.conv3.weight"]), t, f"{p}.bn3")
            if f"{p}.downsample.0.weight" in t:
                x = batchnorm(conv2d(x, t[f"{p}.downsample.0.weight"], stride, mode), t, f"{p}.downsample.1")
            x = relu(x + y)
    return x.mean(axis=(2, 3)) @ t["fc.weight"].T.astype(np.float64) + t["fc.bias"]


def layernorm(x, t, key, eps=1e-6):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * t[f"{key}.weight"] + t[f"{key}.bias"]


def linear(x, t, key):
    return x @ t[f"{key}.weight"].T.astype(np.float64) + t[f"{key}.bias"]


def vit_forward(t, architecture, images, mean=MEAN, std=STD):
    """Logits of timm's VisionTransformer (class token, pre-norm blocks, fused qkv) for NHWC ``images`` in [0, 1]."""
    _, heads = VITS[architecture]
    x = ((images - np.asarray(mean)) / np.asarray(std)).transpose(0, 3, 1, 2).astype(np.float64)
    n = x.shape[0]
    patches = np.einsum(
        "nchwij,ocij->nohw",
        np.lib.stride_tricks.sliding_window_view(x, (16, 16), axis=(2, 3))[:, :, ::16, ::16],
        t["patch_embed.proj.weight"],
        optimize=True,
    )
    patches = patches + t["patch_embed.proj.bias"].reshape(1, -1, 1, 1)
    x = patches.reshape(n, patches.shape[1], -1).transpose(0, 2, 1)  # (N, tokens, dim), row-major over the grid
    x = np.concatenate([np.broadcast_to(t["cls_token"], (n, 1, x.shape[-1])), x], axis=1) + t["pos_embed"]
    dim = x.shape[-1]
    head_dim = dim // heads
    depth = len({k.split(".")[1] for k in t if k.startswith("blocks.")})
    for i in range(depth):
        p = f"blocks.{i}"
        h = layernorm(x, t, f"{p}.norm1")
        qkv = linear(h, t, f"{p}.attn.qkv").reshape(n, -1, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        scores = q @ k.transpose(0, 1, 3, 2) * head_dim**-0.5
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        attn = scores / scores.sum(-1, keepdims=True)
        h = (attn @ v).transpose(0, 2, 1, 3).reshape(n, -1, dim)
        x = x + linear(h, t, f"{p}.attn.proj")
        h = linear(layernorm(x, t, f"{p}.norm2"), t, f"{p}.mlp.fc1")
        h = 0.5 * h * (1 + erf(h / np.sqrt(2)))  # exact GELU
        x = x + linear(h, t, f"{p}.mlp.fc2")
    x = layernorm(x, t, "norm")
    return linear(x[:, 0], t, "head")


def relative_error(actual, expected) -> float:
    """max |actual - expected| / max |expected|."""
    return float(np.abs(np.asarray(actual, np.float64) - expected).max() / np.abs(expected).max())
