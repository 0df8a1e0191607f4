"""Presets of the vae family (plain data; see zoo/presets/declared.py and the README's presets section)."""

PRESETS = (
    {
        "model": "vae",
        "tag": "mnist",
        "dataset": "mnist",
        "location": "mirror",
        "description": "vae trained on mnist by `zoo train` (bench/generative_report.py).",
        "metrics": {
            "nll": {
                "value": 87.84717164213507,
                "command": "zoo evaluate vae --weights bench/runs/generative/vae-mnist --dataset mnist "
                "--importance-samples 1000 --max-examples 1000 --json",
            }
        },
    },
    {
        "model": "vae_2d",
        "tag": "mnist",
        "dataset": "mnist",
        "location": "mirror",
        "description": "vae_2d trained on mnist by `zoo train` (bench/generative_report.py).",
        "metrics": {
            "nll": {
                "value": 147.37517919478245,
                "command": "zoo evaluate vae_2d --weights bench/runs/generative/vae_2d-mnist --dataset mnist "
                "--importance-samples 1000 --max-examples 1000 --json",
            }
        },
    },
)
