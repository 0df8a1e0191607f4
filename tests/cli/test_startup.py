"""The ``zoo`` commands that only read the catalog or talk to a server start without TensorFlow, Keras or SciPy."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from zoo.registry import INDEX_FILE, build_index

PROBE = """
import json, sys
from zoo.cli import main
try:
    rc = main(sys.argv[1:])
except SystemExit as exit:
    rc = exit.code
heavy = sorted(m for m in ("tensorflow", "keras", "jax", "torch", "scipy") if m in sys.modules)
print("PROBE" + json.dumps({"rc": rc, "heavy": heavy}))
"""


def run_probe(*args: str) -> dict:
    """Runs ``zoo ARGS`` in a fresh interpreter; returns its exit status and the heavy modules it imported."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120, check=False
    )
    line = next(l for l in done.stdout.splitlines() if l.startswith("PROBE"))
    return json.loads(line[len("PROBE") :]) | {"stdout": done.stdout, "stderr": done.stderr}


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["list"],
        ["list", "resnet*"],
        ["presets"],
        ["presets", "lenet5"],
        ["info", "lenet5", "--no-build"],
        ["datasets", "--help"],
        ["datasets"],
        ["train", "--help"],
        ["serve", "--help"],
        ["serve", "--version"],
    ],
)
def test_catalog_commands_do_not_import_tensorflow(args):
    probe = run_probe(*args)
    assert probe["rc"] == 0, probe["stderr"]
    assert probe["heavy"] == [], f"zoo {' '.join(args)} imported {probe['heavy']}"


def test_predict_client_does_not_import_tensorflow(tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((28, 28, 1), np.float32))
    probe = run_probe("predict", "--server", "127.0.0.1:1", "--timeout", "1", "--model", "lenet5", "--input", str(x))
    assert probe["rc"] == 1 and "UNAVAILABLE" in probe["stderr"], probe["stderr"]  # it did try to connect
    assert probe["heavy"] == []


def test_model_index_matches_the_registry():
    written = json.loads(INDEX_FILE.read_text())
    assert written == build_index(), (
        'zoo/model_index.json is stale: run python -c "from zoo.registry import write_index; write_index()"'
    )


def test_list_shows_whole_descriptions():
    probe = run_probe("list", "dcgan")
    line = next(l for l in probe["stdout"].splitlines() if l.startswith("dcgan"))
    assert line.rstrip().endswith("non-saturating loss."), line  # the summary wraps onto a second docstring line


def test_info_without_building_names_task_and_presets():
    probe = run_probe("info", "lenet5", "--no-build")
    assert "task: image_classification" in probe["stdout"] and "mnist" in probe["stdout"]
    assert "parameters" not in probe["stdout"]


@pytest.mark.parametrize("args", [["presets", "*:nosuchtag"], ["list", "nosuchmodel*"]])
def test_listing_nothing_exits_non_zero(args):
    probe = run_probe(*args)
    assert probe["rc"] == 1
    assert "match" in probe["stderr"]


def test_a_command_that_imports_tensorflow_prints_no_start_up_lines():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-m", "zoo.cli", "info", "lenet5"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0 and "parameters: 61706" in done.stdout
    assert done.stderr == ""


def test_bfloat16_tensors_still_convert_without_ml_dtypes_loaded_up_front():
    code = (
        "import sys; from zoo.serving.tensors import numpy_dtype, to_array, to_tensor_proto; "
        "assert 'ml_dtypes' not in sys.modules; from tensorflow.core.framework import types_pb2; "
        "assert numpy_dtype(types_pb2.DT_BFLOAT16).name == 'bfloat16'; "
        "import numpy as np, ml_dtypes; x = np.array([1.5, -2.0], ml_dtypes.bfloat16); "
        "assert to_tensor_proto(x).dtype == types_pb2.DT_BFLOAT16; "
        "assert to_array(to_tensor_proto(x)).astype(float).tolist() == [1.5, -2.0]; print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.stdout.strip() == "ok", done.stderr


@pytest.mark.parametrize(
    ("command", "finished", "message"),
    [
        (["train", "lenet5", "--dataset", "mnist"], "results.json", "already holds a finished run"),
        (["finetune", "lenet5", "--weights", "mnist", "--dataset", "fashion_mnist"], None, "holds an interrupted run"),
        (
            ["compress", "lenet_300_100", "--weights", "mnist", "--dataset", "mnist"],
            "report.json",
            "finished compression",
        ),
    ],
)
def test_a_used_out_directory_is_refused_before_tensorflow_loads(command, finished, message, tmp_path):
    """A finished run (or an interrupted one, without --resume) in --out is refused at once, exit status 2."""
    out = tmp_path / "run"
    if finished:
        out.mkdir()
        (out / finished).write_text("{}")
    else:
        (out / "backup").mkdir(parents=True)
        (out / "backup" / "state.json").write_text("{}")
    probe = run_probe(*command, "--out", str(out))
    assert probe["rc"] == 2 and message in probe["stderr"] and "choose another --out" in probe["stderr"]
    assert probe["heavy"] == [], probe["heavy"]


@pytest.mark.parametrize(
    "command",
    [
        ["info", "resnet21"],
        ["train", "resnet21", "--dataset", "cifar10"],
        ["evaluate", "resnet21", "--weights", "cifar10", "--dataset", "cifar10"],
        ["compress", "lenet_300", "--weights", "mnist", "--dataset", "mnist"],
    ],
)
def test_an_unknown_model_name_is_refused_before_tensorflow_loads(command):
    probe = run_probe(*command)
    assert probe["rc"] == 2 and "Unknown model" in probe["stderr"] and "Did you mean" in probe["stderr"]
    assert probe["heavy"] == [], probe["heavy"]


@pytest.mark.parametrize(
    "command, setting",
    [
        (["train", "gcn", "--dataset", "cora", "--mix", "cutmix"], "mix='cutmix'"),
        (["finetune", "gcn", "--weights", "cora", "--dataset", "cora", "--label-smoothing", "0.1"], "label_smoothing"),
    ],
)
def test_image_classifier_settings_for_another_task_are_refused_before_tensorflow_loads(command, setting):
    probe = run_probe(*command)
    assert probe["rc"] == 2 and setting in probe["stderr"] and "gcn is a node_classification model" in probe["stderr"]
    assert probe["heavy"] == [], probe["heavy"]
