"""Presets of the mlp family (plain data; see zoo/presets/declared.py and the README's presets section)."""

PRESETS = (
    {
        "model": "lenet_300_100",
        "tag": "mnist",
        "dataset": "mnist",
        "location": "packaged",
        "description": "lenet_300_100 trained on MNIST by `zoo train` (30 epochs, adam, lr 0.001, cosine schedule); "
        "report: bench/reports/lenet_300_100-mnist.md where there is one.",
        "metrics": {
            "accuracy": {
                "value": 0.984000027179718,
                "command": "zoo evaluate lenet_300_100 --weights bench/weights/lenet_300_100-mnist "
                "--dataset mnist --json",
            }
        },
    },
    {
        "model": "lenet_300_100",
        "tag": "mnist-sws",
        "dataset": "mnist",
        "location": "packaged",
        "description": "lenet_300_100 compressed with soft weight sharing (Ullrich et al. 2017): every kernel holds only "
        "14 distinct non-zero values; 69x smaller in Han et al.'s sparse format.",
        "metrics": {
            "accuracy": {
                "value": 0.9818000197410583,
                "command": "zoo compress lenet_300_100 --weights bench/weights/lenet_300_100-mnist "
                "--dataset mnist --epochs 30 --tau 0.02 --zero-mixing 0.995 --sharpen-epochs 5 "
                "--out bench/runs/compress/lenet_300_100-sws-pi0.995-sharpen5 --quiet --json",
            },
            "compression_ratio": {
                "value": 68.6,
                "command": "zoo compress lenet_300_100 --weights "
                "bench/weights/lenet_300_100-mnist --dataset mnist --epochs 30 --tau "
                "0.02 --zero-mixing 0.995 --sharpen-epochs 5 --out "
                "bench/runs/compress/lenet_300_100-sws-pi0.995-sharpen5 --quiet "
                "--json",
            },
        },
    },
    {
        "model": "mlp",
        "tag": "mnist",
        "dataset": "mnist",
        "location": "packaged",
        "description": "mlp trained on MNIST by `zoo train` (8 epochs, adam, lr 0.001, cosine schedule); report: "
        "bench/reports/mlp-mnist.md where there is one.",
        "metrics": {
            "accuracy": {
                "value": 0.9800000190734863,
                "command": "zoo evaluate mlp --weights bench/weights/mlp-mnist --dataset mnist --json",
            }
        },
    },
)
