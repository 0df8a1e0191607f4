"""Server CPU per batch-1 Predict (issue 20's per-request cost), in a couple of minutes.

Usage:
    python bench/serving_cpu.py [--calls 1000] [--rounds 3] [--main-checkout ../main]

For each server setting, ``zoo serve`` runs in its own process with the trained
LeNet-5 (the lenet5:mnist preset, zoo/pretrained/lenet5/mnist); one client sends ``--rounds`` x ``--calls``
sequential batch-1 Predicts with the raw stub (prebuilt request). The server's CPU
time per request comes from /proc/PID/stat (user + system, all its threads), which
other load on the machine disturbs much less than latency; p50 latency is given too.
Baselines: the same SavedModel's session callable in process (the model alone), and
a Python gRPC server answering a canned PredictResponse (the transport alone). With
``--main-checkout`` the same runs use another checkout's ``serving`` for comparison.
Writes bench/reports/serving-cpu.{json,md}. Figures are medians of the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCRATCH = HERE / "runs" / "serving-cpu"
WEIGHTS = HERE.parent / "zoo" / "pretrained" / "lenet5" / "mnist"
MODEL = "lenet5"
SETTINGS = {
    "defaults": [],
    "intra/inter 1/1": ["--tensorflow_intra_op_parallelism", "1", "--tensorflow_inter_op_parallelism", "1"],
}

CANNED_SERVER = textwrap.dedent("""
    import concurrent.futures, sys
    import grpc
    from tensorflow_serving.apis import predict_pb2
    reply = predict_pb2.PredictResponse()
    reply.outputs["scores"].float_val.extend([0.1] * 10)
    raw = reply.SerializeToString()
    same = lambda b: b
    handler = grpc.method_handlers_generic_handler("tensorflow.serving.PredictionService", {
        "Predict": grpc.unary_unary_rpc_method_handler(lambda r, c: raw, request_deserializer=same,
                                                       response_serializer=same)})
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(64), handlers=[handler])
    server.add_insecure_port("127.0.0.1:" + sys.argv[1])
    server.start()
    server.wait_for_termination()
""")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def request_bytes():
    from tensorflow_serving.apis import predict_pb2

    from zoo.serving.tensors import to_tensor_proto

    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    request.inputs["images"].CopyFrom(to_tensor_proto(np.random.default_rng(0).random((1, 28, 28, 1), np.float32)))
    return request


def measure(process: subprocess.Popen, port: int, calls: int, rounds: int) -> dict:
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
    request = request_bytes()
    deadline = time.monotonic() + 180
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            stub.Predict(request, timeout=5)
            break
        except grpc.RpcError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    for _ in range(300):
        stub.Predict(request)
    cpu, p50 = [], []
    for _ in range(rounds):
        start, latencies = process_cpu(process.pid), []
        for _ in range(calls):
            t = time.perf_counter()
            stub.Predict(request)
            latencies.append(time.perf_counter() - t)
        cpu.append((process_cpu(process.pid) - start) / calls * 1e3)
        p50.append(float(np.median(latencies)) * 1e3)
    return {
        "server_cpu_ms_per_request": round(float(np.median(cpu)), 3),
        "p50_ms": round(float(np.median(p50)), 3),
        "rounds_cpu_ms": [round(c, 3) for c in cpu],
    }


def run_server(command: list[str], env: dict, port: int, calls: int, rounds: int) -> dict:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    try:
        return measure(process, port, calls, rounds)
    finally:
        process.terminate()
        process.wait(60)


def in_process(base: Path, calls: int, rounds: int) -> dict:
    """The model alone: the served session callable, batch 1, in this process (TF's default threads)."""
    from zoo.serving.servable import Servable

    servable = Servable(MODEL, 1, base / MODEL / "1")
    x = {"images": np.random.default_rng(0).random((1, 28, 28, 1), np.float32)}
    for _ in range(300):
        servable.call("serving_default", x)
    cpu = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(calls):
            servable.call("serving_default", x)
        cpu.append((time.process_time() - start) / calls * 1e3)
    return {"cpu_ms_per_call": round(float(np.median(cpu)), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--main-checkout", default=None, help="also measure this checkout's serving/ (comparison)")
    args = parser.parse_args()

    from zoo.serving.exporter import export_weights

    base = SCRATCH / "models"
    if not (base / MODEL / "1").is_dir():
        export_weights(MODEL, WEIGHTS, base, version=1)
    checkouts = {"this": ROOT}
    if args.main_checkout:
        checkouts["main"] = Path(args.main_checkout).resolve()
    results = {}
    for label, checkout in checkouts.items():
        env = {**os.environ, "PYTHONPATH": str(checkout)}
        for name, flags in SETTINGS.items():
            port = free_port()
            command = [
                sys.executable,
                "-m",
                "zoo.cli",
                "serve",
                "--model_name",
                MODEL,
                "--model_base_path",
                str(base / MODEL),
                "--port",
                str(port),
                "--rest_api_port",
                "0",
                "--host",
                "127.0.0.1",
                "--file_system_poll_wait_seconds",
                "0",
                *flags,
            ]
            results[f"{label}: {name}"] = run_server(command, env, port, args.calls, args.rounds)
            print(f"{label}: {name}", results[f"{label}: {name}"], flush=True)
    port = free_port()
    results["canned-reply gRPC server"] = run_server(
        [sys.executable, "-c", CANNED_SERVER, str(port)], dict(os.environ), port, args.calls, args.rounds
    )
    results["in process: session callable"] = in_process(base, args.calls, args.rounds)
    print(results, flush=True)

    import tensorflow as tf

    report = {
        "report": "serving-cpu",
        "model": MODEL,
        "command": "python " + " ".join(sys.argv),
        "machine": f"{platform.node()} {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end",
        "tensorflow": tf.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "calls": args.calls,
        "rounds": args.rounds,
        "results": results,
    }
    out = HERE / "reports"
    (out / "serving-cpu.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        f"# Server CPU per batch-1 Predict ({MODEL})",
        "",
        f"`{report['command']}` on {report['machine']}, TensorFlow {report['tensorflow']}, {report['date']}; "
        f"medians of {args.rounds} rounds of {args.calls} sequential calls (raw stub). Server CPU is user + "
        "system time of the server process, all threads.",
        "",
        "| server | server CPU ms/request | p50 ms |",
        "|---|---|---|",
    ]
    for name, figures in results.items():
        if "server_cpu_ms_per_request" in figures:
            lines.append(f"| {name} | {figures['server_cpu_ms_per_request']} | {figures['p50_ms']} |")
        else:
            lines.append(f"| {name} | {figures['cpu_ms_per_call']} (the model alone) | |")
    (out / "serving-cpu.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
