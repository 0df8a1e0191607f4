"""Presets of the vit family (plain data; see zoo/presets/declared.py and the README's presets section)."""

PRESETS = (
    {
        "model": "cct_2_3x2_28",
        "tag": "fashion_mnist",
        "dataset": "fashion_mnist",
        "location": "packaged",
        "description": "cct_2_3x2_28 trained on fashion_mnist by `zoo train` (20 epochs, adamw, lr 0.001, cosine "
        "schedule); the weights are kept in bench/weights/cct_2_3x2_28-fashion_mnist.",
        "metrics": {
            "accuracy": {
                "value": 0.9233999848365784,
                "command": "zoo evaluate cct_2_3x2_28 --weights bench/weights/cct_2_3x2_28-fashion_mnist "
                "--dataset fashion_mnist --json",
            },
            "loss": {
                "value": 0.21858805418014526,
                "command": "zoo evaluate cct_2_3x2_28 --weights bench/weights/cct_2_3x2_28-fashion_mnist "
                "--dataset fashion_mnist --json",
            },
        },
    },
    {
        "model": "cct_2_3x2_28",
        "tag": "mnist",
        "dataset": "mnist",
        "location": "packaged",
        "description": "cct_2_3x2_28 trained on mnist by `zoo train` (12 epochs, adamw, lr 0.001, cosine schedule); the "
        "weights are kept in bench/weights/cct_2_3x2_28-mnist.",
        "metrics": {
            "accuracy": {
                "value": 0.9937999844551086,
                "command": "zoo evaluate cct_2_3x2_28 --weights bench/weights/cct_2_3x2_28-mnist "
                "--dataset mnist --json",
            },
            "loss": {
                "value": 0.01893889717757702,
                "command": "zoo evaluate cct_2_3x2_28 --weights bench/weights/cct_2_3x2_28-mnist --dataset "
                "mnist --json",
            },
        },
    },
    {
        "model": "cct_4_3x2_32",
        "tag": "cifar10",
        "dataset": "cifar10",
        "location": "packaged",
        "description": "cct_4_3x2_32 trained on cifar10 by `zoo train` (72 epochs, adamw, lr 0.001, warmup_cosine schedule); report: bench/reports/cct_4_3x2_32-cifar10-run4.md.",
        "metrics": {
            "accuracy": {
                "value": 0.8278999924659729,
                "command": "zoo evaluate cct_4_3x2_32 --weights cifar10 --dataset cifar10 --json",
            },
            "loss": {
                "value": 0.516944169998169,
                "command": "zoo evaluate cct_4_3x2_32 --weights cifar10 --dataset cifar10 --json",
            },
        },
    },
)
