"""Would several ``zoo serve`` processes on one port (a ``--workers`` flag) raise batched throughput?

Usage:
    python bench/serving_reuseport.py [--seconds 5]

Starts ``zoo serve`` (batching: ``batch_timeout_micros 0``, one batch thread) with
``--grpc_channel_arguments grpc.so_reuseport=1`` and measures 64 closed-loop clients
(serving_bench's load generator) spread over 2, 4 and 8 channels; then starts a second,
identical process on the same port (the kernel spreads connections between them) and
measures again. Writes bench/reports/serving-reuseport.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import serving_bench as sb  # a sibling script: python puts bench/ on sys.path

HERE = Path(__file__).resolve().parent

CHANNELS = (2, 4, 8)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each cell")
    parser.add_argument("--out", default=str(HERE / "reports"))
    args = parser.parse_args(argv)
    payloads, base = sb.lenet_payloads("models-reuseport")
    params = sb.write_batching_file(
        sb.SCRATCH / "batching-reuseport.txt",
        {"max_batch_size": 64, "batch_timeout_micros": 0, "num_batch_threads": 1, "max_enqueued_batches": 16},
    )
    flags = (
        "--enable_batching",
        "--batching_parameters_file",
        str(params),
        "--grpc_channel_arguments",
        "grpc.so_reuseport=1",
    )
    first, second = sb.Server(base, "reuseport-a", *flags), sb.Server(base, "reuseport-b", *flags)
    second.cmd[second.cmd.index("--port") + 1] = str(first.grpc_port)
    second.target = first.target
    started = time.time()
    load0 = [round(x, 2) for x in os.getloadavg()]
    cells: dict = {}
    with first:
        for processes in (1, 2):
            if processes == 2:
                second.start().wait_ready()
            for channels in CHANNELS:
                pids = [first.proc.pid] + ([second.proc.pid] if processes == 2 else [])
                cpu0 = sum(sb.process_cpu(p) for p in pids)
                result = sb.run_load(first.target, payloads, 64, channels, args.seconds)
                cores = (sum(sb.process_cpu(p) for p in pids) - cpu0) / args.seconds
                cells[f"{processes} process(es), {channels} channels"] = {
                    "servers": processes,
                    "channels": channels,
                    "requests_per_second": result["requests_per_second"],
                    "failed": result["failed"],
                    "server_cores": round(cores, 2),
                    "server_us_per_request": round(cores * args.seconds / max(result["requests"], 1) * 1e6),
                }
                print(cells[f"{processes} process(es), {channels} channels"], flush=True)
        second.stop()
    report = {
        "report": "serving-reuseport",
        "model": sb.MODEL,
        "clients": 64,
        "seconds": args.seconds,
        "server_command": second.command,
        "cells": cells,
        **sb.run_record(started, load0),
    }
    out = Path(args.out)
    (out / "serving-reuseport.json").write_text(json.dumps(report, indent=2) + "\n")
    rows = "\n".join(
        f"| {c['servers']} | {c['channels']} | {c['requests_per_second']:.0f} | {c['server_cores']} | "
        f"{c['server_us_per_request']} | {c['failed']} |"
        for c in cells.values()
    )
    md = f"""# serving: one `zoo serve` process vs two sharing the port (SO_REUSEPORT), 64 clients, batching

| server processes | client channels | req/s | server cores | server CPU us/req | failed |
|---|---|---|---|---|---|
{rows}

- Command: `{report["command"]}` ({report["bench_seconds"]:.0f} s), {report["date"]}; {args.seconds:g} s per cell.
- Machine: {report["environment"]["machine"]}; load average at start {load0}, at end {report["load_average_at_end"]}
  (the machine is shared: compare the rows of this run, not absolute figures).
- Each server: `{second.command}` (the second on the first one's port).
"""
    (out / "serving-reuseport.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
