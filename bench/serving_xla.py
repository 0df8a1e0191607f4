"""Does XLA make ``zoo serve``'s model call cheaper? The LeNet-5 export as a served session, with and without
XLA auto-clustering (``global_jit_level ON_1`` with ``--tf_xla_cpu_global_jit``), side by side.

Usage:
    python bench/serving_xla.py [--batch-sizes 1 8 64] [--calls 200] [--rounds 5] [--out bench/reports/serving-xla]

Both sessions load the same SavedModel (the lenet5:mnist preset, exported as bench/serving_bench.py does) in
this process, with ``zoo serve``'s default thread pools (intra-op 1, inter-op 1), and are called the way a
Predict request calls them (``Servable.call``). Cells are interleaved in rounds, so background load hits
both alike; the report gives the median over rounds of the mean call time, and checks that both return the
same scores. Issue 20 asked whether XLA-compiled serving functions pay.
"""

from __future__ import annotations

import os

# XLA's CPU auto-clustering is read from this flag when TensorFlow starts: set it before any import of it.
os.environ["TF_XLA_FLAGS"] = (os.environ.get("TF_XLA_FLAGS", "") + " --tf_xla_cpu_global_jit").strip()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import serving_bench as sb  # noqa: E402  (a sibling script: python puts bench/ on sys.path)


def sessions(base: Path) -> dict:
    """The served LeNet-5 without and with XLA auto-clustering."""
    from tensorflow.core.protobuf import config_pb2

    from zoo.serving.servable import Servable, session_config

    path = base / sb.MODEL / "1"
    xla = session_config(1, 1)
    xla.graph_options.optimizer_options.global_jit_level = config_pb2.OptimizerOptions.ON_1
    return {
        "TensorFlow graph (zoo serve)": Servable(sb.MODEL, 1, path, config=session_config(1, 1)),
        "XLA auto-clustering": Servable(sb.MODEL, 1, path, config=xla),
    }


def main(argv: list[str]) -> int:
    import numpy as np
    from tensorflow_serving.apis import predict_pb2

    from zoo.serving.tensors import to_array

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--calls", type=int, default=200, help="timed calls per cell and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(sb.HERE / "reports" / "serving-xla"), help="report path without suffix")
    parser.add_argument("--note", default="", help="a sentence for the report (machine load, ...)")
    args = parser.parse_args(argv)
    started, load0 = time.time(), [round(x, 2) for x in os.getloadavg()]
    payloads, base = sb.lenet_payloads("models-xla")
    images = np.concatenate(
        [to_array(predict_pb2.PredictRequest.FromString(p).inputs["images"]) for p in payloads[: max(args.batch_sizes)]]
    )
    ways = sessions(base)
    times: dict = {way: {b: [] for b in args.batch_sizes} for way in ways}
    agree = {}
    for b in args.batch_sizes:
        feed = {"images": images[:b]}
        outputs = [servable.call("serving_default", feed) for servable in ways.values()]  # also compiles
        agree[b] = all(np.allclose(outputs[0][k], outputs[1][k], rtol=1e-4, atol=1e-5) for k in outputs[0])
    for _ in range(args.rounds):
        for b in args.batch_sizes:
            feed = {"images": images[:b]}
            for way, servable in ways.items():
                t = time.perf_counter()
                for _ in range(args.calls):
                    servable.call("serving_default", feed)
                times[way][b].append((time.perf_counter() - t) / args.calls * 1e6)
    results = {
        way: {
            str(b): {"median_us": round(statistics.median(ts)), "rounds_us": [round(x) for x in ts]}
            for b, ts in by.items()
        }
        for way, by in times.items()
    }
    plain, xla = list(results)
    ratios = {
        str(b): round(results[xla][str(b)]["median_us"] / results[plain][str(b)]["median_us"], 2)
        for b in args.batch_sizes
    }
    report = {
        "report": "serving-xla",
        "model": sb.MODEL,
        "calls_per_cell": args.calls,
        "rounds": args.rounds,
        "results": results,
        "xla_over_graph": ratios,
        "same_scores": {str(b): ok for b, ok in agree.items()},
        **sb.run_record(started, load0),
        "note": args.note,
    }
    sb.write_report(Path(args.out), report, markdown(report))
    return 0


def markdown(r: dict) -> str:
    sizes = list(r["xla_over_graph"])
    head = "| way | " + " | ".join(f"batch {b}, us/call" for b in sizes) + " |"
    rows = [head, "|---|" + "---:|" * len(sizes)]
    for way, by in r["results"].items():
        cells = " | ".join(f"{by[b]['median_us']} ({', '.join(str(x) for x in by[b]['rounds_us'])})" for b in sizes)
        rows.append(f"| {way} | {cells} |")
    rows.append("| XLA / graph | " + " | ".join(f"**{r['xla_over_graph'][b]}x**" for b in sizes) + " |")
    env = r["environment"]
    return f"""# serving: XLA auto-clustering for the served model call

`{r["command"]}` ({r["date"]}, {r["bench_seconds"]} s). The LeNet-5 export (lenet5:mnist) as `zoo serve`
runs it (a session callable, intra-op 1, inter-op 1), without and with XLA auto-clustering, called in
this process; median over {r["rounds"]} interleaved rounds of the mean of {r["calls_per_cell"]} calls
(each round in brackets). Same scores both ways: {r["same_scores"]}.

{chr(10).join(rows)}

Machine: {env["machine"]}; TensorFlow {env["tensorflow"]}. Load average at start {r["load_average_at_start"]},
at end {r["load_average_at_end"]}. {r["note"]}
"""


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
