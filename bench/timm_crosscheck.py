"""Cross-check of kzoo's timm conversion against real PyTorch + timm, in two steps (two environments).

Step 1, in a virtual environment with torch, timm and safetensors (not kzoo's):
    python bench/timm_crosscheck.py torch --out /tmp/timm-check
  builds ``timm.create_model(arch, pretrained=False)`` for each architecture (random weights, BatchNorm
  statistics randomised too), saves each as a Hub-layout folder (config.json + model.safetensors) and the logits
  timm gives for fixed random images (``logits.npz``).

Step 2, in kzoo's environment:
    python bench/timm_crosscheck.py compare --out /tmp/timm-check
  loads every folder through ``zoo.create(name, weights=folder)`` and writes the largest relative difference
  (max |kzoo - timm| / max |timm|) to bench/reports/timm-import.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

#: (timm architecture, image size, kzoo model)
CASES = [
    ("resnet18", 224, "resnet18"),
    ("resnet34", 160, "resnet34"),
    ("resnet50", 224, "resnet50"),
    ("resnet50", 97, "resnet50"),
    ("vit_tiny_patch16_224", 224, "vit_ti16"),
    ("vit_small_patch16_224", 224, "vit_s16"),
    ("vit_base_patch16_224", 224, "vit_b16"),
    ("vit_base_patch16_224", 64, "vit_b16"),
]
#: (timm architecture, saved at, loaded at, kzoo model): timm resamples the position table when loading
RESAMPLED = [("vit_tiny_patch16_224", 224, 160, "vit_ti16"), ("vit_base_patch16_224", 224, 384, "vit_b16")]
INSTALL_NOTE = (
    "timm needs torchvision, and PyPI's torchvision does not import beside the local CPU wheel of "
    "torch 2.13.0, so the separate venv takes torch 2.14.1 and torchvision 0.29.1 from this machine's "
    "disk (a CUDA build, 5.5 GB, run on the CPU) and timm from PyPI; the install took a few minutes."
)
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _logits(model, images):
    import torch

    x = torch.from_numpy(
        ((images - np.asarray(MEAN, "float32")) / np.asarray(STD, "float32")).transpose(0, 3, 1, 2).copy()
    )
    with torch.no_grad():
        return model(x).numpy()


def step_torch(out: Path) -> None:
    import timm
    import torch
    from safetensors.torch import save_file
    from timm.models.vision_transformer import checkpoint_filter_fn

    torch.manual_seed(0)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for arch, size, _ in CASES + [(a, s, m) for a, s, _, m in RESAMPLED]:
        kwargs = {"img_size": size} if arch.startswith("vit") else {}
        model = timm.create_model(arch, pretrained=False, **kwargs).eval()
        with torch.no_grad():
            for name, buffer in model.named_buffers():  # untrained BN statistics are 0 / 1: randomise them
                if name.endswith("running_mean"):
                    buffer.normal_(0, 0.1)
                elif name.endswith("running_var"):
                    buffer.uniform_(0.5, 2.0)
            for name, param in model.named_parameters():  # untrained norms are 1 / 0, tokens ~0: randomise
                if param.ndim == 1 and name.endswith("weight"):  # BatchNorm and LayerNorm scales
                    param.uniform_(0.5, 1.5)
                elif param.ndim == 1 and name.endswith("bias"):
                    param.normal_(0, 0.1)
                elif name in ("cls_token", "pos_embed"):
                    param.normal_(0, 0.5)
        folder = out / f"{arch}-{size}"
        folder.mkdir(exist_ok=True)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
        cfg = {
            "tag": "crosscheck",
            "input_size": [3, size, size],
            "mean": list(MEAN),
            "std": list(STD),
            "interpolation": "bicubic",
            "crop_pct": 0.95,
            "crop_mode": "center",
            "num_classes": 1000,
        }
        (folder / "config.json").write_text(
            json.dumps({"architecture": arch, "num_classes": 1000, "pretrained_cfg": cfg}, indent=2)
        )
        images = np.random.default_rng(0).uniform(0, 1, (4, size, size, 3)).astype("float32")
        np.save(folder / "images.npy", images)
        np.save(folder / "logits.npy", _logits(model, images))
        results[folder.name] = {"torch": torch.__version__, "timm": timm.__version__}
        for resampled_arch, saved, loaded, _ in RESAMPLED:  # the same weights loaded by timm at another size
            if (resampled_arch, saved) == (arch, size):
                other = timm.create_model(arch, pretrained=False, img_size=loaded).eval()
                other.load_state_dict(checkpoint_filter_fn(model.state_dict(), other))
                images = np.random.default_rng(1).uniform(0, 1, (4, loaded, loaded, 3)).astype("float32")
                np.save(folder / f"images-{loaded}.npy", images)
                np.save(folder / f"logits-{loaded}.npy", _logits(other, images))
        print(folder.name, file=sys.stderr)
    (out / "versions.json").write_text(json.dumps(results, indent=2))


def step_compare(out: Path, report: Path) -> None:
    import keras

    import zoo

    versions = json.loads((out / "versions.json").read_text())
    rows = []
    for arch, size, name in CASES:
        folder = out / f"{arch}-{size}"
        model = zoo.create(name, weights=str(folder))
        images, expected = np.load(folder / "images.npy"), np.load(folder / "logits.npy").astype(np.float64)
        actual = np.asarray(model.predict(images, verbose=0), np.float64)
        rel = float(np.abs(actual - expected).max() / np.abs(expected).max())
        rows.append(
            {
                "timm": arch,
                "image_size": size,
                "kzoo": name,
                "max_relative_difference": rel,
                "top1_agree": float((actual.argmax(1) == expected.argmax(1)).mean()),
                "max_abs_logit": float(np.abs(expected).max()),
            }
        )
        print(f"{arch} {size}: {rel:.2e}", file=sys.stderr)
    for arch, saved, loaded, name in RESAMPLED:
        folder = out / f"{arch}-{saved}"
        preset = zoo.presets.timm.import_checkpoint(
            folder, image_size=loaded, force=True, directory=out / f"preset-{arch}-{loaded}"
        )
        model = zoo.create(name, weights=str(preset))
        images = np.load(folder / f"images-{loaded}.npy")
        expected = np.load(folder / f"logits-{loaded}.npy").astype(np.float64)
        actual = np.asarray(model.predict(images, verbose=0), np.float64)
        rel = float(np.abs(actual - expected).max() / np.abs(expected).max())
        rows.append(
            {
                "timm": arch,
                "image_size": f"{saved} -> {loaded}",
                "kzoo": name,
                "max_relative_difference": rel,
                "top1_agree": float((actual.argmax(1) == expected.argmax(1)).mean()),
                "max_abs_logit": float(np.abs(expected).max()),
            }
        )
        print(f"{arch} {saved}->{loaded}: {rel:.2e}", file=sys.stderr)
    first = next(iter(versions.values()))
    machine = f"{platform.machine()} {platform.system()}, {platform.python_version()}, CPU"
    result = {
        "torch": first["torch"],
        "timm": first["timm"],
        "keras": keras.__version__,
        "backend": keras.config.backend(),
        "machine": machine,
        "rows": rows,
        "command": "bench/timm_crosscheck.py torch (torch venv) then compare (kzoo venv)",
    }
    report.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# timm import: kzoo against PyTorch + timm",
        "",
        f"timm {first['timm']}, torch {first['torch']} (CPU); Keras {keras.__version__} on "
        f"{keras.config.backend()}; {machine}. Random weights (BatchNorm statistics and norms randomised too), "
        "4 random images, float32; relative difference = max |kzoo - timm| / max |timm| over the logits.",
        "",
        "```bash",
        "python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch==2.14.1 "
        "torchvision==0.29.1 timm safetensors numpy",
        "/tmp/torchvenv/bin/python bench/timm_crosscheck.py torch --out /tmp/timm-check",
        ".venv/bin/python bench/timm_crosscheck.py compare --out /tmp/timm-check",
        "```",
        "",
        INSTALL_NOTE,
        "",
        "| timm architecture | image | kzoo model | max relative difference | top-1 agreement |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        size = r["image_size"] if isinstance(r["image_size"], str) else f"{r['image_size']}x{r['image_size']}"
        lines.append(
            f"| `{r['timm']}` | {size} | `{r['kzoo']}` | {r['max_relative_difference']:.1e} | {r['top1_agree']:.0%} |"
        )
    lines += [
        "",
        "Goal: <= 1e-4. Odd sizes (97) and sizes that are not a multiple of 32 exercise the strided "
        "layers' padding; the ViTs at 64x64 use a 4x4 position grid saved by timm itself (`img_size=64`). "
        "`224 -> N`: the 224 checkpoint loaded by timm into a model built for N (its `checkpoint_filter_fn` "
        "resamples the position table, bicubic with antialiasing) against `zoo pull FOLDER --image-size N`.",
        "",
    ]
    report.with_suffix(".md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("torch", "compare"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/timm-check"))
    parser.add_argument("--report", type=Path, default=Path(__file__).parent / "reports" / "timm-import")
    args = parser.parse_args()
    step_torch(args.out) if args.step == "torch" else step_compare(args.out, args.report)


if __name__ == "__main__":
    main()
