"""Collect the soft weight-sharing compression runs into one report, and install their presets.

Usage (after the `zoo compress` runs listed in RUNS, whose commands the report repeats):
    python bench/compression_report.py [--install-presets] [--convert-presets]

Reads bench/runs/compress/<run>/report.json, writes bench/reports/compression.{json,md},
copies each run's report and weights plot to bench/reports/compression/, and with
--install-presets copies the soft weight-sharing presets into zoo/pretrained/<model>/mnist-sws
(what `zoo.create(model, weights="mnist-sws")` loads). --convert-presets rewrites shipped
presets still saved as model.weights.h5 in the compressed format (model.weights.kzq), after
checking that the converted weights give the same test logits bit for bit. Every run measures
the shipped presets: their size on disk next to the sparse + Huffman estimate, and their
test accuracy as `zoo evaluate MODEL --weights mnist-sws --dataset mnist --json` gives it.
Runs whose directory is gone keep the entry of the last report, so the report can be
regenerated without the compression runs. Then `python bench/install_presets.py --catalog-only`
records the new files' sha256 and sizes in the catalog.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = HERE / "runs" / "compress"
OUT = HERE / "reports"
PRESETS = HERE.parent / "zoo" / "pretrained"

#: settings run with several seeds: name -> the runs (seed 0 first); the report gives their medians.
SEEDED = {
    "lenet_300_100-sws-pi0.995-sharpen5": [
        "lenet_300_100-sws-pi0.995-sharpen5",
        *(f"lenet_300_100-sws-pi0.995-sharpen5-seed{i}" for i in range(1, 5)),
    ]
}

# run name -> (model, method, goal compression ratio, goal test error %); goals from issue 4 / Ullrich et al. 2017.
GOALS = {
    "lenet_300_100-sws": ("lenet_300_100", "sws, tau 0.02, 30 epochs", 64.0, 1.94),
    "lenet_300_100-sws-ft": (
        "lenet_300_100",
        "sws, tau 0.02, 30 epochs, then 3 epochs of trained quantisation",
        64.0,
        1.94,
    ),
    "lenet_300_100-sws-50": ("lenet_300_100", "sws, tau 0.02, 50 epochs", 64.0, 1.94),
    "lenet_300_100-sws-tau0.03": ("lenet_300_100", "sws, tau 0.03, 30 epochs", 64.0, 1.94),
    "lenet_300_100-sws-std0.05": ("lenet_300_100", "sws, tau 0.02, 30 epochs, initial std 0.05", 64.0, 1.94),
    "lenet_300_100-sws-cosine": ("lenet_300_100", "sws, tau 0.02, 40 epochs, cosine lr", 64.0, 1.94),
    "lenet_300_100-sws-ft10": (
        "lenet_300_100",
        "sws, tau 0.02, 30 epochs, then 10 epochs of trained quantisation (lr 3e-4)",
        64.0,
        1.94,
    ),
    "lenet_300_100-sws-tau0.025-ft10": (
        "lenet_300_100",
        "sws, tau 0.025, 30 epochs, then 10 epochs of trained quantisation (lr 3e-4)",
        64.0,
        1.94,
    ),
    "lenet_300_100-sws-ft10-seed1": (
        "lenet_300_100",
        "sws, tau 0.02, 30 epochs, then 10 epochs of trained quantisation (lr 3e-4), seed 1",
        64.0,
        1.94,
    ),
    "lenet_300_100-sws-tau0.0225-ft10": (
        "lenet_300_100",
        "sws, tau 0.0225, 30 epochs, then 10 epochs of trained quantisation (lr 3e-4)",
        64.0,
        1.94,
    ),
    **{
        run: (
            "lenet_300_100",
            "sws, tau 0.02, pi_0 0.995, 30 epochs, then 5 epochs of sharpening (std 0.005)"
            + (f", seed {seed}" if seed else ""),
            64.0,
            1.94,
        )
        for seed, run in enumerate(SEEDED["lenet_300_100-sws-pi0.995-sharpen5"])
    },
    "lenet_300_100-sws-pi0.995-35": (
        "lenet_300_100",
        "sws, tau 0.02, pi_0 0.995, 35 epochs (no sharpening)",
        64.0,
        1.94,
    ),
    "lenet_300_100-weight-decay": ("lenet_300_100", "weight decay (baseline)", None, None),
    "lenet5_caffe-sws": ("lenet5_caffe", "sws, tau 0.03, 30 epochs", 100.0, 1.0),
    "lenet5_caffe-weight-decay": ("lenet5_caffe", "weight decay (baseline)", None, None),
}


def _seed_lines(summary: dict) -> list[str]:
    """A table per seeded setting: each seed's error and size, and their medians."""
    import statistics

    lines = []
    for setting, runs in SEEDED.items():
        found = [summary[run] for run in runs if run in summary]
        if not found:
            continue
        errors = [entry["error_percent"]["after"] for entry in found]
        ratios = [entry["compression"]["sparse_huffman"] for entry in found]
        met = sum("(met)" in entry["goal"] for entry in found)
        lines += [
            f"Seeds of {setting} ({found[0]['method']}):",
            "",
            "| seed | error after quantisation | compression | goal |",
            "|---|---|---|---|",
            *(
                f"| {i} | {e:.2f}% | {r:.1f}x | {entry['goal']} |"
                for i, (e, r, entry) in enumerate(zip(errors, ratios, found))
            ),
            f"| median of {len(found)} | {statistics.median(errors):.2f}% | {statistics.median(ratios):.1f}x "
            f"| met by {met} of {len(found)} |",
            "",
        ]
    return lines


def _goal(ratio: float, error: float, goal_ratio: float | None, goal_error: float | None) -> str:
    if goal_ratio is None:
        return "-"
    met = ratio >= goal_ratio and error <= goal_error
    return f"≥ {goal_ratio:.0f}x at ≤ {goal_error:.2f}% ({'met' if met else 'not met'})"


def _install_presets(summary: dict) -> None:
    """Ships, per model, the soft weight-sharing run that meets its goal (else the lowest error) as mnist-sws."""
    best = {}
    for run, entry in summary.items():
        if entry["goal"] == "-" or not (HERE.parent / entry["preset"]).is_dir():
            continue  # a baseline, or a run whose directory is gone
        key = ("not met" in entry["goal"], entry["error_percent"]["after"], -entry["compression"]["sparse_huffman"])
        if entry["model"] not in best or key < best[entry["model"]][0]:
            best[entry["model"]] = (key, run)
    for entry in summary.values():  # the choice below replaces what was shipped before
        if entry["model"] in best:
            entry.pop("shipped_as", None)
    for model, (_, run) in best.items():
        target = PRESETS / model / "mnist-sws"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(HERE.parent / summary[run]["preset"], target)
        summary[run]["shipped_as"] = f"{model}:mnist-sws"
        print(f"installed {run} as {target}")
        _convert(target)


def _convert(directory: Path) -> None:
    """Rewrites a preset saved as model.weights.h5 in the compressed format, if the test logits stay bit-identical."""
    import numpy as np

    import zoo
    from zoo import data, presets
    from zoo.presets import compressed

    if presets.weights_file(directory).name != presets.WEIGHTS:
        return
    name = presets.store.read_json(directory / presets.CONFIG)["model"]
    _, test = data.load("mnist", "test")
    images = test.images.astype("float32") / 255.0

    def logits(model):
        return np.concatenate(
            [np.asarray(model(images[i : i + 1000], training=False)) for i in range(0, len(images), 1000)]
        )

    before = logits(zoo.create(name, weights=str(directory)))
    backup = directory.with_name(f".{directory.name}.h5-backup")
    shutil.rmtree(backup, ignore_errors=True)
    shutil.copytree(directory, backup)
    compressed.compress_preset(directory)
    after = logits(zoo.create(name, weights=str(directory)))
    if before.tobytes() != after.tobytes():
        shutil.rmtree(directory)
        backup.rename(directory)
        raise SystemExit(f"{directory}: the compressed weights change the test logits; kept model.weights.h5.")
    shutil.rmtree(backup)
    print(f"converted {directory} to {compressed.SUFFIX}: the {len(images)} test logits are identical bit for bit")


def _measure_shipped(summary: dict) -> None:
    """Each shipped preset's size on disk (weights file, whole preset) next to the estimate, and its test accuracy."""
    from zoo.presets import compressed
    from zoo.training.classification import evaluate

    for entry in summary.values():
        if "shipped_as" not in entry:
            continue
        model, tag = entry["shipped_as"].split(":")
        directory = PRESETS / model / tag
        uncompressed = PRESETS / model / "mnist"
        sizes = compressed.preset_sizes(directory)
        sizes["uncompressed_preset"] = f"{model}:mnist"
        sizes["uncompressed_preset_bytes"] = compressed.preset_sizes(uncompressed)["preset_bytes"]
        sizes["preset_ratio"] = round(sizes["uncompressed_preset_bytes"] / sizes["preset_bytes"], 1)
        sizes["accuracy"] = evaluate(model, tag, "mnist")["accuracy"]
        sizes["accuracy_command"] = f"zoo evaluate {model} --weights {tag} --dataset mnist --json"
        entry["on_disk"] = sizes


def _on_disk_lines(summary: dict) -> list[str]:
    shipped = [e for e in summary.values() if "on_disk" in e]
    if not shipped:
        return []
    lines = [
        "Shipped presets on disk (what `zoo pull` downloads; `zoo presets --json` reports the whole preset):",
        "",
        "| preset | weights file | whole preset | uncompressed preset | smaller by | sparse + Huffman estimate "
        "| weights file / estimate | whole preset / estimate | test accuracy |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for entry in shipped:
        d = entry["on_disk"]
        lines.append(
            f"| `{entry['shipped_as']}` | {d['weights_file']} {d['weights_bytes']:,} B "
            f"| {d['preset_bytes']:,} B | `{d['uncompressed_preset']}` {d['uncompressed_preset_bytes']:,} B "
            f"| **{d['preset_ratio']:.1f}x** | {d['estimate_bytes']:,} B | {d['weights_over_estimate']:.2f} "
            f"| {d['preset_bytes'] / d['estimate_bytes']:.2f} | {d['accuracy']:.4f} |"
        )
    lines += [
        "",
        "- The weights file is kzoo's compressed format (README, section Compression): the float32 codebook, "
        "per tensor the gaps between non-zero weights (LEB128 varints) and their codebook indices (one byte each), "
        "compressed with the smallest of zlib, bz2 and LZMA (LZMA here), plus a header and a sha256. Loading it "
        "rebuilds the quantised float32 weights bit for bit.",
        "- Why it differs from the estimate: the estimate prices Han et al.'s fixed-width relative indices "
        "(8 bits in conv, 5 in dense layers, with a filler entry for each longer gap), row pointers and a "
        "Huffman code per stream with its code table, and nothing else. The file has no filler entries or row "
        "pointers and LZMA's adaptive context model codes the gaps and indices more tightly than one static "
        "Huffman code (it sees, e.g., the input pixels that are pruned in every unit), so the streams come out "
        "smaller; against that it carries a JSON header naming each tensor's path, shape and dtype, the "
        "8-byte magic, version and codec, and a 32-byte sha256. The whole preset adds config.json, "
        "metadata.json (metrics, the mixture, the per-tensor accounting) and the model card, which the "
        "estimate does not count.",
        "",
    ]
    return lines


def _row(entry: dict) -> str:
    e, c = entry["error_percent"], entry["compression"]
    return (
        f"| {entry['model']} | {entry['method']} | {e['before']:.2f}% | **{e['after']:.2f}%** "
        f"| **{c['sparse_huffman']:.1f}x** | {c['sparse']:.1f}x | {c['bits_per_weight']:.0f} "
        f"| {100 * entry['nonzero_fraction']:.2f}% | {entry['components_used']} | {entry['goal']} |"
    )


def main(argv: list[str]) -> int:
    summary = {}
    (OUT / "compression").mkdir(parents=True, exist_ok=True)
    # Runs whose directory is gone (bench/runs is not committed) keep their entry of the last report.
    earlier = json.loads((OUT / "compression.json").read_text()) if (OUT / "compression.json").is_file() else {}
    for run, (model, method, goal_ratio, goal_error) in GOALS.items():
        path = RUNS / run / "report.json"
        if not path.is_file():
            if run in earlier:
                summary[run] = earlier[run]
            else:
                print(f"missing {path}; skipped", file=sys.stderr)
            continue
        report = json.loads(path.read_text())
        c, e = report["compression"], report["error_percent"]
        summary[run] = {
            "model": model,
            "method": method,
            "error_percent": e,
            "compression": {k: c[k] for k in ("sparse_huffman", "sparse", "bits_per_weight", "dense_ratio")},
            "nonzero_fraction": report["weights"]["nonzero_fraction"],
            "components_used": report["components"]["used"],
            "goal": _goal(c["sparse_huffman"], e["after"], goal_ratio, goal_error),
            "command": report["environment"]["command"],
            "machine": report["environment"]["machine"],
            "retrain_minutes": round(report["retrain_seconds"] / 60, 1),
        }
        shutil.copy(RUNS / run / "report.md", OUT / "compression" / f"{run}.md")
        shutil.copy(RUNS / run / "weights.png", OUT / "compression" / f"{run}.png")
        summary[run]["preset"] = report["preset"]
        if "shipped_as" in earlier.get(run, {}):  # until --install-presets chooses again
            summary[run]["shipped_as"] = earlier[run]["shipped_as"]
    if "--install-presets" in argv:
        _install_presets(summary)
    if "--convert-presets" in argv:
        for entry in summary.values():
            if "shipped_as" in entry:
                _convert(PRESETS / entry["shipped_as"].replace(":", "/"))
    _measure_shipped(summary)
    rows = [_row(entry) for entry in summary.values()]
    (OUT / "compression.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [
        "# Soft weight-sharing compression on MNIST",
        "",
        "| model | retraining | test error before | after quantisation | compression (sparse + Huffman) "
        "| sparse, no Huffman | bits/weight (dense codes) | non-zero | values used | goal |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        *_seed_lines(summary),
        *_on_disk_lines(summary),
        "- Compression: 32-bit weights over Han et al.'s sparse format (CSR rows per output unit, relative indices "
        "of 8 bits in conv / 5 bits in dense layers with filler zeros, codebook indices, row pointers, one 32-bit "
        "codebook), with Huffman coding of the index and code streams as in Han et al.'s figures, and without. "
        "Biases are included.",
        "- Baseline: the same retraining budget with decoupled weight decay instead of the prior's pull; the same "
        "mixture is fitted to the weights (it cannot move them) and the same quantisation is applied.",
        "- Sharpening (`--sharpen-epochs`): the retraining goes on with the Gamma hyperprior's mode moved from a "
        "component standard deviation of 0.02 to 0.005, so the weights close in on their means before they are "
        "quantised; pi_0 is the fixed mixing weight of the zero component (`--zero-mixing`, default 0.99).",
        "- Starting weights: the <model>:mnist preset (zoo/pretrained/<model>/mnist; bench/reports/<model>-mnist.md).",
        "- Per-run reports and weight plots (pretrained vs retrained, mixture components drawn over them): "
        "bench/reports/compression/.",
        "",
        "Commands:",
        "",
    ]
    for run, entry in summary.items():
        shipped = f"; shipped as `{entry['shipped_as']}`" if "shipped_as" in entry else ""
        lines.append(
            f"- {run} ({entry['machine']}, retraining {entry['retrain_minutes']} min{shipped}): `{entry['command']}`"
        )
    lines += [
        "",
        "Then: `python bench/compression_report.py --install-presets` (the presets shipped before the "
        "compressed format: `--convert-presets`), and `python bench/install_presets.py --catalog-only`.",
        "",
    ]
    (OUT / "compression.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
