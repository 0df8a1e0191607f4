"""Presets of the gcn family (plain data; see zoo/presets/declared.py and the README's presets section)."""

PRESETS = (
    {
        "model": "gcn",
        "tag": "citeseer",
        "dataset": "citeseer",
        "location": "packaged",
        "description": "gcn trained on citeseer by `zoo train` (200 epochs, adam, lr 0.01, constant schedule); the weights "
        "are kept in bench/weights/gcn-citeseer.",
        "metrics": {
            "accuracy": {
                "value": 0.6929998397827148,
                "command": "zoo evaluate gcn --weights bench/weights/gcn-citeseer --dataset citeseer --json",
            },
            "loss": {
                "value": 1.3235489130020142,
                "command": "zoo evaluate gcn --weights bench/weights/gcn-citeseer --dataset citeseer --json",
            },
        },
    },
    {
        "model": "gcn",
        "tag": "cora",
        "dataset": "cora",
        "location": "packaged",
        "description": "gcn trained on cora by `zoo train` (200 epochs, adam, lr 0.01, constant schedule); the weights are "
        "kept in bench/weights/gcn-cora.",
        "metrics": {
            "accuracy": {
                "value": 0.8140000104904175,
                "command": "zoo evaluate gcn --weights bench/weights/gcn-cora --dataset cora --json",
            },
            "loss": {
                "value": 1.1058733463287354,
                "command": "zoo evaluate gcn --weights bench/weights/gcn-cora --dataset cora --json",
            },
        },
    },
)
