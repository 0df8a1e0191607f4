"""Presets of the lenet family (plain data; see zoo/presets/declared.py and the README's presets section)."""

PRESETS = (
    {
        "model": "lenet5",
        "tag": "fashion_mnist",
        "dataset": "fashion_mnist",
        "location": "packaged",
        "description": "lenet5 trained on fashion_mnist by `zoo train` (15 epochs, adam, lr 0.002, cosine schedule); the "
        "weights are kept in bench/weights/lenet5-fashion_mnist.",
        "metrics": {
            "accuracy": {
                "value": 0.9016000032424927,
                "command": "zoo evaluate lenet5 --weights bench/weights/lenet5-fashion_mnist --dataset "
                "fashion_mnist --json",
            },
            "loss": {
                "value": 0.28580015897750854,
                "command": "zoo evaluate lenet5 --weights bench/weights/lenet5-fashion_mnist --dataset "
                "fashion_mnist --json",
            },
        },
    },
    {
        "model": "lenet5",
        "tag": "mnist",
        "dataset": "mnist",
        "location": "packaged",
        "description": "lenet5 trained on MNIST by `zoo train` (30 epochs, adam, lr 0.002, cosine schedule); report: "
        "bench/reports/lenet5-mnist.md where there is one.",
        "metrics": {
            "accuracy": {
                "value": 0.9929999709129333,
                "command": "zoo evaluate lenet5 --weights bench/weights/lenet5-mnist --dataset mnist --json",
            }
        },
    },
    {
        "model": "lenet5_caffe",
        "tag": "mnist",
        "dataset": "mnist",
        "location": "packaged",
        "description": "lenet5_caffe trained on MNIST by `zoo train` (20 epochs, adam, lr 0.001, cosine schedule); report: "
        "bench/reports/lenet5_caffe-mnist.md where there is one.",
        "metrics": {
            "accuracy": {
                "value": 0.9937999844551086,
                "command": "zoo evaluate lenet5_caffe --weights bench/weights/lenet5_caffe-mnist "
                "--dataset mnist --json",
            }
        },
    },
    {
        "model": "lenet5_caffe",
        "tag": "mnist-sws",
        "dataset": "mnist",
        "location": "packaged",
        "description": "lenet5_caffe compressed with soft weight sharing (Ullrich et al. 2017): every kernel holds only 11 "
        "distinct non-zero values; 180x smaller in Han et al.'s sparse format.",
        "metrics": {
            "accuracy": {
                "value": 0.991100013256073,
                "command": "zoo compress lenet5_caffe --weights bench/weights/lenet5_caffe-mnist "
                "--dataset mnist --epochs 30 --tau 0.03 --out "
                "bench/runs/compress/lenet5_caffe-sws --quiet --json",
            },
            "compression_ratio": {
                "value": 179.6,
                "command": "zoo compress lenet5_caffe --weights bench/weights/lenet5_caffe-mnist "
                "--dataset mnist --epochs 30 --tau 0.03 --out "
                "bench/runs/compress/lenet5_caffe-sws --quiet --json",
            },
        },
    },
)
