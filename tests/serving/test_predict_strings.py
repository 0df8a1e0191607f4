"""`zoo predict --server` with string signatures (issue 21): text to a language model, images to classify."""

from __future__ import annotations

import json

from PIL import Image

import zoo
from zoo.cli import main


def test_text_and_classify_signatures(serve_models, tmp_path, mnist_test, capsys):
    server = serve_models(
        {"char_gru": zoo.create("char_gru", weights="shakespeare"), "lenet5": zoo.create("lenet5", weights="mnist")}
    )
    target = server.target
    assert (
        main(
            ["predict", "--server", target, "--model", "char_gru", "--text", "ROMEO: ", "--text", "zqxjzqxj", "--json"]
        )
        == 0
    ), capsys.readouterr().err
    report = json.loads(capsys.readouterr().out)
    assert [r["input"] for r in report] == ["ROMEO: ", "zqxjzqxj"]
    log_probs = [r["outputs"]["log_prob"] for r in report]
    assert log_probs[0] > log_probs[1]  # English is likelier than noise to a model of Shakespeare

    _, test = mnist_test
    path = tmp_path / "digit.png"
    Image.fromarray(test.images[0, :, :, 0]).save(path)
    assert (
        main(
            [
                "predict",
                "lenet5",
                "--server",
                target,
                "--signature",
                "classify",
                "--input",
                str(path),
                "--top-k",
                "1",
                "--json",
            ]
        )
        == 0
    ), capsys.readouterr().err
    [entry] = json.loads(capsys.readouterr().out)
    assert entry["top_k"][0]["label"] == str(test.labels[0]) and entry["top_k"][0]["score"] > 0.5

    assert main(["predict", "lenet5", "--server", target, "--text", "hello"]) == 2
    assert "takes float32 tensors, not text" in capsys.readouterr().err
