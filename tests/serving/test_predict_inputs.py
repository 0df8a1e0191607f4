"""Issue 26: `zoo predict` refuses a corrupt or missing input with a clear error before contacting the server."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from zoo.cli.serving import _load_input, check_inputs


def test_a_corrupt_image_is_named_not_a_pil_traceback(tmp_path, mnist_test):
    good = tmp_path / "digit.png"
    Image.fromarray(mnist_test[1].images[0, ..., 0]).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:60])
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    check_inputs([str(good)])
    assert _load_input(str(good), [-1, 28, 28, 1], "float32").shape == (1, 28, 28, 1)
    for bad in (truncated, text):
        with pytest.raises(ValueError, match=f"{bad.name} is not a readable image"):
            check_inputs([str(good), str(bad)])
        with pytest.raises(ValueError, match="is not a readable image"):
            _load_input(str(bad), [-1, 28, 28, 1], "float32")
    broken = tmp_path / "batch.npy"
    broken.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(ValueError, match="batch.npy is not a readable .npy array"):
        check_inputs([str(broken)])
    with pytest.raises(FileNotFoundError, match="No such input file"):
        check_inputs([str(tmp_path / "missing.png")])
    np.save(tmp_path / "ok.npy", np.zeros((28, 28, 1), np.float32))
    check_inputs([str(tmp_path / "ok.npy")])


def test_zoo_predict_reports_a_corrupt_image_in_one_line(tmp_path):
    bad = tmp_path / "photo.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "zoo.cli",
            "predict",
            "--server",
            "127.0.0.1:1",
            "--model",
            "lenet5",
            "--input",
            str(bad),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("zoo predict: error:") and "photo.jpg is not a readable image" in done.stderr
    assert "Traceback" not in done.stderr
