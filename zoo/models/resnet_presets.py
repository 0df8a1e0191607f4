"""Presets of the resnet family (plain data; see zoo/presets/declared.py and the README's presets section)."""

PRESETS = (
    {
        "model": "resnet20",
        "tag": "cifar10",
        "dataset": "cifar10",
        "location": "packaged",
        "description": "resnet20 trained on cifar10 by `zoo train` (90 epochs, sgd, lr 0.1, warmup_cosine schedule); "
        "report: bench/reports/resnet20-cifar10-run4.md.",
        "metrics": {
            "accuracy": {
                "value": 0.8899000287055969,
                "command": "zoo evaluate resnet20 --weights cifar10 --dataset cifar10 --json",
            },
            "loss": {
                "value": 0.35355448722839355,
                "command": "zoo evaluate resnet20 --weights cifar10 --dataset cifar10 --json",
            },
        },
    },
)
