"""Presets of the diffusion family (plain data; see zoo/presets/declared.py and the README's presets section)."""

PRESETS = (
    {
        "model": "ddpm_small",
        "tag": "fashion_mnist",
        "dataset": "fashion_mnist",
        "location": "packaged",
        "description": "ddpm_small trained on fashion_mnist by `zoo train` (bench/generative_report.py).",
        "metrics": {
            "fid_steps_10": {
                "value": 6.576632001094779,
                "command": "zoo evaluate ddpm_small --weights "
                "bench/runs/generative/ddpm_small-fashion_mnist --dataset fashion_mnist "
                "--num-samples 2000 --steps 10 --json",
            },
            "fid_steps_50": {
                "value": 5.048685123043484,
                "command": "zoo evaluate ddpm_small --weights "
                "bench/runs/generative/ddpm_small-fashion_mnist --dataset fashion_mnist "
                "--num-samples 2000 --steps 50 --json",
            },
            "fid_steps_250": {
                "value": 4.978714897816673,
                "command": "zoo evaluate ddpm_small --weights "
                "bench/runs/generative/ddpm_small-fashion_mnist --dataset fashion_mnist "
                "--num-samples 2000 --steps 250 --json",
            },
        },
    },
    {
        "model": "ddpm_small",
        "tag": "mnist",
        "dataset": "mnist",
        "location": "packaged",
        "description": "ddpm_small trained on mnist by `zoo train` (bench/generative_report.py).",
        "metrics": {
            "fid_steps_10": {
                "value": 7.857466059682153,
                "command": "zoo evaluate ddpm_small --weights bench/runs/generative/ddpm_small-mnist "
                "--dataset mnist --num-samples 2000 --steps 10 --json",
            },
            "fid_steps_50": {
                "value": 4.402329020820034,
                "command": "zoo evaluate ddpm_small --weights bench/runs/generative/ddpm_small-mnist "
                "--dataset mnist --num-samples 2000 --steps 50 --json",
            },
            "fid_steps_250": {
                "value": 4.049141523876386,
                "command": "zoo evaluate ddpm_small --weights bench/runs/generative/ddpm_small-mnist "
                "--dataset mnist --num-samples 2000 --steps 250 --json",
            },
        },
    },
)
