"""Presets of the resnet family (plain data; see zoo/presets/declared.py and the README's presets section)."""

PRESETS = (
    {
        "model": "resnet20",
        "tag": "cifar10",
        "dataset": "cifar10",
        "location": "packaged",
        "description": "resnet20 trained on cifar10 by `zoo train` (75 epochs, sgd, lr 0.2, one_cycle schedule); "
        "report: bench/reports/resnet20-cifar10.md.",
        "metrics": {
            "accuracy": {
                "value": 0.8755999803543091,
                "command": "zoo evaluate resnet20 --weights cifar10 --dataset cifar10 --json",
            },
            "loss": {
                "value": 0.42142215371131897,
                "command": "zoo evaluate resnet20 --weights cifar10 --dataset cifar10 --json",
            },
        },
    },
)
