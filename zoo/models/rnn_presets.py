"""Presets of the rnn family (plain data; see zoo/presets/declared.py and the README's presets section)."""

PRESETS = (
    {
        "model": "char_gru",
        "tag": "shakespeare",
        "dataset": "shakespeare",
        "location": "packaged",
        "description": "char_gru trained on shakespeare by `zoo train` (3 epochs, adam, lr 0.002, cosine schedule); the "
        "weights are kept in bench/weights/char_gru-shakespeare.",
        "metrics": {
            "loss": {
                "value": 1.5122995958301695,
                "command": "zoo evaluate char_gru --weights bench/weights/char_gru-shakespeare --dataset "
                "shakespeare --json",
            },
            "perplexity": {
                "value": 4.537152423748365,
                "command": "zoo evaluate char_gru --weights bench/weights/char_gru-shakespeare "
                "--dataset shakespeare --json",
            },
            "bits_per_character": {
                "value": 2.1817871272425693,
                "command": "zoo evaluate char_gru --weights bench/weights/char_gru-shakespeare "
                "--dataset shakespeare --json",
            },
        },
    },
)
