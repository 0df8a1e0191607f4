"""TensorFlow's oneDNN CPU kernels, on wherever they help.

TensorFlow turns its oneDNN kernels on by default only on x86 CPUs with AVX-512 VNNI/BF16 or AMX; on
an AVX2 CPU (an AMD EPYC Zen 2, say) it runs Eigen's kernels instead, and there training is
1.45x (CCT-4/3x2) to 1.73x (ResNet-20) slower in float32 (bench/reports/cpu-training.md, run 5). ``import zoo`` therefore sets
``TF_ENABLE_ONEDNN_OPTS=1`` on x86-64 Linux before TensorFlow is imported; a value the user set
wins, and nothing changes once TensorFlow is already imported (it reads the variable once).
"""

from __future__ import annotations

import os
import platform
import sys

ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"


def prefer_onednn_kernels(environ=os.environ) -> bool:
    """Sets ``TF_ENABLE_ONEDNN_OPTS=1`` where it applies and is unset; returns whether it set it."""
    applies = sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64")
    if not applies or ONEDNN_VARIABLE in environ or "tensorflow" in sys.modules:
        return False
    environ[ONEDNN_VARIABLE] = "1"
    return True
