"""Writes the README's result tables (presets, transfer, generative) from the preset catalog and bench/reports/*.json.

Usage: python bench/readme_tables.py   (after install_presets.py, transfer_report.py, generative_report.py)
Each table sits between `<!-- NAME -->` and `<!-- /NAME -->` in README.md and is replaced whole; a report
that does not exist yet leaves its table as it is.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("scratch", "two_stage", "full", "probe")


def replace(readme: str, marker: str, text: str) -> str:
    """The README with the block of `marker` (or the bare opening marker) replaced by `text`."""
    pattern = re.compile(rf"<!-- {marker} -->(.*?<!-- /{marker} -->)?", re.S)
    if not pattern.search(readme):
        raise SystemExit(f"README.md has no <!-- {marker} --> marker")
    block = f"<!-- {marker} -->\n{text.strip()}\n<!-- /{marker} -->"
    return pattern.sub(lambda m: block, readme, count=1)


def presets_table(catalog: dict) -> str:
    from zoo.cli.presets import format_size

    rows = ["| preset | data set | measured (`zoo evaluate ... --json`) | size | where |", "|---|---|---|---|---|"]
    for e in catalog["presets"]:
        metrics = ", ".join(
            f"{k} {v['value']:.4g}"
            for k, v in e["metrics"].items()
            if isinstance(v, dict) and isinstance(v.get("value"), (int, float))
        )
        size = sum(f["size"] for f in e["files"].values())
        rows.append(
            f"| `{e['model']}:{e['tag']}` | {e['dataset']} | {metrics} | {format_size(size)} | "
            f"{'packaged' if e['packaged'] else 'download (`presets-mirror/`)'} |"
        )
    return "\n".join(rows)


def transfer_table(transfer: dict) -> str:
    lines = [
        "Measured (`python bench/transfer_report.py`, [bench/reports/transfer.md](bench/reports/transfer.md), "
        f"{transfer['machine']}): test accuracy, median over seeds, every method with the same labelled examples "
        "(the first N of the training split, no validation hold-out), epochs, batch size and learning rate; "
        "the best of a row in bold.",
        "",
    ]
    for e in transfer["experiments"].values():
        lines += [
            f"`{e['model']}`: `{Path(e['pretrained']).name}` -> `{e['dataset']}` ({e['seeds']} seed(s), "
            f"`{e['flags']}`)",
            "",
            "| labelled examples | from scratch | two_stage | full fine-tuning | linear probe |",
            "|---|---|---|---|---|",
        ]
        for n, row in e["results"].items():
            best = max(row, key=lambda m: row[m]["median"])
            cells = [f"**{row[m]['median']:.2f}%**" if m == best else f"{row[m]['median']:.2f}%" for m in METHODS]
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def generative_table(gen: dict) -> str:
    lines = [
        f"Measured (`python bench/generative_report.py`, [bench/reports/generative.md](bench/reports/generative.md), "
        f"{gen['machine']}); every figure from the `zoo evaluate` command in the report.",
        "",
        "| model | data set | epochs | measure | result | floor / anchor |",
        "|---|---|---|---|---|---|",
    ]
    for e in gen["experiments"].values():
        for m in e["evaluations"]:
            if "nll" in m:
                anchor = (
                    "goal ≤ 90; Burda et al. 2016: 86.76"
                    if e["model"] == "vae"
                    else "none: two latent dimensions, for maps"
                )
                lines.append(
                    f"| `{e['model']}` | {e['dataset']} | {e['epochs']} | -log p(x), k = {m['importance_samples']}, "
                    f"{m['examples']} binarised test digits (negative ELBO) | **{m['nll']:.2f} nats** "
                    f"({m['negative_elbo']:.2f}) | {anchor} |"
                )
            else:
                sampler = f", DDIM {m['steps']} steps" if "steps" in m else ""
                lines.append(
                    f"| `{e['model']}` | {e['dataset']} | {e['epochs']} | FID{sampler}, {m['samples']} samples "
                    f"(KID x 1000) | **{m['fid']:.2f}** ({1000 * m['kid']:.2f}) | real vs real "
                    f"{m['fid_real_vs_real']:.2f} |"
                )
    return "\n".join(lines)


def main() -> int:
    readme = (ROOT / "README.md").read_text()
    readme = replace(
        readme, "presets-table", presets_table(json.loads((ROOT / "zoo/presets/catalog.json").read_text()))
    )
    for marker, report, table in (
        ("transfer-table", "transfer.json", transfer_table),
        ("generative-table", "generative.json", generative_table),
    ):
        path = ROOT / "bench" / "reports" / report
        if path.is_file():
            readme = replace(readme, marker, table(json.loads(path.read_text())))
    (ROOT / "README.md").write_text(readme)
    print("README tables written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
