"""Presets of the linear family (plain data; see zoo/presets/declared.py and the README's presets section)."""

PRESETS = (
    {
        "model": "linear_regression",
        "tag": "diabetes",
        "dataset": "diabetes",
        "location": "packaged",
        "description": "linear_regression trained on diabetes by `zoo train` (1000 epochs, gd, lr 0.1, constant schedule); "
        "the weights are kept in bench/weights/linear_regression-diabetes.",
        "metrics": {
            "mse": {
                "value": 2831.762820301914,
                "command": "zoo evaluate linear_regression --weights bench/weights/linear_regression-diabetes "
                "--dataset diabetes --json",
            },
            "r2": {
                "value": 0.5234546661376953,
                "command": "zoo evaluate linear_regression --weights bench/weights/linear_regression-diabetes "
                "--dataset diabetes --json",
            },
        },
    },
    {
        "model": "logistic",
        "tag": "mnist-2-5",
        "dataset": "mnist:2,5",
        "location": "packaged",
        "description": "logistic trained on mnist:2,5 by `zoo train` (10 epochs, gd, lr 0.1, constant schedule); the "
        "weights are kept in bench/weights/logistic-mnist-2-5.",
        "metrics": {
            "accuracy": {
                "value": 0.9838877320289612,
                "command": "zoo evaluate logistic --weights bench/weights/logistic-mnist-2-5 --dataset "
                "mnist:2,5 --json",
            },
            "loss": {
                "value": 0.044801484793424606,
                "command": "zoo evaluate logistic --weights bench/weights/logistic-mnist-2-5 --dataset "
                "mnist:2,5 --json",
            },
        },
    },
    {
        "model": "perceptron",
        "tag": "mnist-0-1",
        "dataset": "mnist:0,1",
        "location": "packaged",
        "description": "perceptron trained on mnist:0,1 by `zoo train` (3 epochs, gd, lr 1.0, constant schedule); the "
        "weights are kept in bench/weights/perceptron-mnist-0-1.",
        "metrics": {
            "accuracy": {
                "value": 0.9990543723106384,
                "command": "zoo evaluate perceptron --weights bench/weights/perceptron-mnist-0-1 "
                "--dataset mnist:0,1 --json",
            },
            "loss": {
                "value": 0.1334424763917923,
                "command": "zoo evaluate perceptron --weights bench/weights/perceptron-mnist-0-1 --dataset "
                "mnist:0,1 --json",
            },
        },
    },
    {
        "model": "softmax_regression",
        "tag": "fashion_mnist",
        "dataset": "fashion_mnist",
        "location": "packaged",
        "description": "softmax_regression trained on fashion_mnist by `zoo train` (10 epochs, gd, lr 0.1, constant "
        "schedule); the weights are kept in bench/weights/softmax_regression-fashion_mnist.",
        "metrics": {
            "accuracy": {
                "value": 0.8357999920845032,
                "command": "zoo evaluate softmax_regression --weights "
                "bench/weights/softmax_regression-fashion_mnist --dataset fashion_mnist "
                "--json",
            },
            "loss": {
                "value": 0.5536565780639648,
                "command": "zoo evaluate softmax_regression --weights "
                "bench/weights/softmax_regression-fashion_mnist --dataset fashion_mnist --json",
            },
        },
    },
)
