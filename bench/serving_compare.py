"""`zoo serve` of this checkout against another installation of kzoo (an earlier revision), side by side.

Usage:
    python bench/serving_compare.py --baseline-python ../wt-old/.venv/bin/python --baseline-name "3f72b69 (sync gRPC)"
        [--seconds 4] [--rounds 2] [--out bench/reports/serving-aio]

Both servers serve the same LeNet-5 export (the lenet5:mnist preset) on loopback, each as its own
process, and the cells are interleaved in rounds so background load hits both alike:
  * batch-1 Predict from 1 client, server without batching (the serial figure of bench/serving_bench.py);
  * batch-1 Predict from 64 clients, server with batching (max_batch_size 64, batch_timeout_micros 2000,
    one batch thread).
Reports the median req/s of the rounds, server CPU per request, and the 64-client/serial ratio (issue 20's
goal (c) asks for 4x). Load generators are bench/serving_bench.py's (closed-loop, prebuilt requests).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import serving_bench as sb  # a sibling script: python puts bench/ on sys.path

BATCHING = {"max_batch_size": 64, "batch_timeout_micros": 2000, "num_batch_threads": 1, "max_enqueued_batches": 16}
CELLS = (("serial: 1 client, no batching", 1, False), ("64 clients, batching", 64, True))


def servers(base: Path, python: str, label: str, params: Path) -> dict[bool, sb.Server]:
    """A server without and one with batching, run by ``python`` (its kzoo installation)."""
    made = {}
    for batching in (False, True):
        flags = ("--enable_batching", "--batching_parameters_file", str(params)) if batching else ()
        server = sb.Server(base, f"compare-{label}-{'batch' if batching else 'plain'}", *flags)
        server.cmd[0] = python
        made[batching] = server
    return made


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline-python", required=True, help="python of the other kzoo installation")
    parser.add_argument("--baseline-name", required=True, help="what the baseline is, for the report")
    parser.add_argument("--seconds", type=float, default=4.0, help="duration of each cell")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--procs", type=int, default=2, help="load-generator processes for 64 clients")
    parser.add_argument("--out", default=str(sb.HERE / "reports" / "serving-aio"), help="report path without suffix")
    parser.add_argument("--note", default="", help="a sentence for the report (machine load, ...)")
    args = parser.parse_args(argv)
    payloads, base = sb.lenet_payloads("models-compare")
    params = sb.write_batching_file(sb.SCRATCH / "batching-compare.txt", BATCHING)
    sides = {
        "this checkout": servers(base, sys.executable, "new", params),
        args.baseline_name: servers(base, args.baseline_python, "old", params),
    }
    started, load0 = time.time(), [round(x, 2) for x in os.getloadavg()]
    for pair in sides.values():
        for server in pair.values():
            server.start()
    cells: dict = {side: {name: [] for name, _, _ in CELLS} for side in sides}
    try:
        for pair in sides.values():
            for server in pair.values():
                server.wait_ready()
        for _ in range(args.rounds):
            for name, clients, batching in CELLS:
                for side, pair in sides.items():
                    server = pair[batching]
                    result = sb.run_load(
                        server.target, payloads, clients, sb.procs_for(clients, args.procs), args.seconds,
                        server_pid=server.proc.pid,
                    )  # fmt: skip
                    cells[side][name].append(result)
                    print(f"{side:30s} {name:32s} {result['requests_per_second']:8.1f} req/s; {sb._fmt_cpu(result)}")
    finally:
        for pair in sides.values():
            for server in pair.values():
                server.stop()

    def summary(results: list[dict]) -> dict:
        return {
            "requests_per_second": statistics.median(r["requests_per_second"] for r in results),
            "server_us_per_request": statistics.median(r["cpu"]["server_us_per_request"] for r in results),
            "client_us_per_request": statistics.median(r["cpu"]["client_us_per_request"] for r in results),
            "p50_ms": statistics.median(r["latency_ms"]["p50"] for r in results),
            "failed": sum(r["failed"] for r in results),
            "rounds": [r["requests_per_second"] for r in results],
        }

    table = {side: {name: summary(rs) for name, rs in by_cell.items()} for side, by_cell in cells.items()}
    for side in table:
        serial, many = (table[side][name]["requests_per_second"] for name, _, _ in CELLS)
        table[side]["ratio_64_to_serial"] = round(many / serial, 2)
    report = {
        "report": "serving-compare",
        "model": sb.MODEL,
        "batching": BATCHING,
        "seconds_per_cell": args.seconds,
        "rounds": args.rounds,
        "results": table,
        "raw": cells,
        "server_commands": {side: {str(b): s.command for b, s in pair.items()} for side, pair in sides.items()},
        **sb.run_record(started, load0),
        "note": args.note,
    }
    sb.write_report(Path(args.out), report, markdown(report))
    return 0


def markdown(r: dict) -> str:
    rows = []
    for side, cells in r["results"].items():
        for name, _, _ in CELLS:
            c = cells[name]
            rows.append(
                f"| {side} | {name} | {c['requests_per_second']:.0f} ({', '.join(f'{x:.0f}' for x in c['rounds'])}) | "
                f"{c['server_us_per_request']} | {c['client_us_per_request']} | {c['p50_ms']:.2f} | {c['failed']} |"
            )
    ratios = ", ".join(f"{side}: **{cells['ratio_64_to_serial']}x**" for side, cells in r["results"].items())
    env = r["environment"]
    return f"""# serving: `zoo serve` against an earlier revision, side by side

| server | cell | req/s, median (rounds) | server CPU us/req | client CPU us/req | p50 ms | failed |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

64 clients with batching / serial: {ratios} (issue 20's goal (c): 4x).

- Batching: {r["batching"]}; {r["seconds_per_cell"]:.0f} s per cell, {r["rounds"]} rounds, cells interleaved.
- Command: `{r["command"]}`, {r["date"]}, {r["bench_seconds"]:.0f} s.
- Machine: {env["machine"]}; load average at start {r["load_average_at_start"]}, at end {r["load_average_at_end"]}.
- Python {env["python"]}, TensorFlow {env["tensorflow"]}, grpcio {env["grpcio"]}.
{f"- Note: {r['note']}" if r["note"] else ""}
"""


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
