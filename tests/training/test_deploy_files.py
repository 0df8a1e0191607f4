"""training/deploy: the manifests parse, build a valid TF_CONFIG per worker and run a command zoo accepts."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from zoo.cli import build_parser

DEPLOY = Path(__file__).resolve().parents[2] / "training" / "deploy"


def _documents(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((DEPLOY / "k8s" / name).read_text()) if d]


def test_kustomization_lists_existing_manifests():
    kustomization = _documents("kustomization.yaml")[0]
    for resource in kustomization["resources"]:
        assert (DEPLOY / "k8s" / resource).is_file(), resource
    assert "tfjob.yaml" not in kustomization["resources"]  # the Kubeflow alternative, applied on its own


def test_the_indexed_job_gives_each_worker_its_tf_config_and_a_valid_zoo_command():
    job = _documents("indexed-job.yaml")[0]
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"]
    pod = spec["template"]["spec"]
    service = _documents("service.yaml")[0]
    assert pod["subdomain"] == service["metadata"]["name"] and service["spec"]["clusterIP"] == "None"
    container = pod["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert int(env["WORKERS"]) == spec["completions"]
    script = container["args"][0]
    python = re.search(r"python -c '(.*?)'\)", script, re.S).group(1)
    for index in range(spec["completions"]):
        out = subprocess.run(
            [sys.executable, "-c", python],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, **env, "JOB_COMPLETION_INDEX": str(index)},
        ).stdout
        config = json.loads(out)
        assert config["task"] == {"type": "worker", "index": index}
        assert (
            config["cluster"]["worker"][index]
            == f"{job['metadata']['name']}-{index}.{service['metadata']['name']}:2222"
        )
    command = shlex.split(script[script.index("exec zoo ") + len("exec zoo ") :].replace("\\\n", " "))
    args = build_parser().parse_args([a.replace("$JOB_COMPLETION_INDEX", "0") for a in command])
    assert args.command == "train" and args.strategy == "multi_worker" and args.resume


def test_the_tfjob_runs_the_same_training():
    tfjob = _documents("tfjob.yaml")[0]
    worker = tfjob["spec"]["tfReplicaSpecs"]["Worker"]
    script = worker["template"]["spec"]["containers"][0]["args"][0]
    command = shlex.split(script[script.index("exec zoo ") + len("exec zoo ") :].replace("\\\n", " "))
    args = build_parser().parse_args([a.replace("$index", "1") for a in command])
    assert args.strategy == "multi_worker" and args.resume and args.out.endswith("worker-1")
