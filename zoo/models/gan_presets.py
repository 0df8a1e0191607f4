"""Presets of the gan family (plain data; see zoo/presets/declared.py and the README's presets section)."""

PRESETS = (
    {
        "model": "dcgan",
        "tag": "fashion_mnist",
        "dataset": "fashion_mnist",
        "location": "mirror",
        "description": "dcgan trained on fashion_mnist by `zoo train` (bench/generative_report.py).",
        "metrics": {
            "fid": {
                "value": 1.972601204998142,
                "command": "zoo evaluate dcgan --weights bench/runs/generative/dcgan-fashion_mnist --dataset "
                "fashion_mnist --num-samples 5000 --json",
            }
        },
    },
    {
        "model": "dcgan",
        "tag": "mnist",
        "dataset": "mnist",
        "location": "mirror",
        "description": "dcgan trained on mnist by `zoo train` (bench/generative_report.py).",
        "metrics": {
            "fid": {
                "value": 3.3247689761892474,
                "command": "zoo evaluate dcgan --weights bench/runs/generative/dcgan-mnist --dataset mnist "
                "--num-samples 5000 --json",
            }
        },
    },
    {
        "model": "wgan_gp",
        "tag": "fashion_mnist",
        "dataset": "fashion_mnist",
        "location": "mirror",
        "description": "wgan_gp trained on fashion_mnist by `zoo train` (bench/generative_report.py).",
        "metrics": {
            "fid": {
                "value": 3.0425985850540656,
                "command": "zoo evaluate wgan_gp --weights bench/runs/generative/wgan_gp-fashion_mnist "
                "--dataset fashion_mnist --num-samples 5000 --json",
            }
        },
    },
    {
        "model": "wgan_gp",
        "tag": "mnist",
        "dataset": "mnist",
        "location": "mirror",
        "description": "wgan_gp trained on mnist by `zoo train` (bench/generative_report.py).",
        "metrics": {
            "fid": {
                "value": 5.183881447226483,
                "command": "zoo evaluate wgan_gp --weights bench/runs/generative/wgan_gp-mnist --dataset mnist "
                "--num-samples 5000 --json",
            }
        },
    },
)
