"""The CPU: what it computes natively, and TensorFlow's oneDNN kernels turned on wherever they help.

TensorFlow turns its oneDNN kernels on by default only on x86 CPUs with AVX-512 VNNI/BF16 or AMX; on
an AVX2 CPU (an AMD EPYC Zen 2, say) it runs Eigen's kernels instead, and there float32 training is
1.45x (CCT-4/3x2) to 1.73x (ResNet-20) slower (bench/reports/cpu-training.md, run 5). ``import zoo``
therefore sets ``TF_ENABLE_ONEDNN_OPTS=1`` on x86-64 Linux before TensorFlow is imported; a value the
user set wins, and nothing changes once TensorFlow is already imported (it reads the variable once).
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


#: /proc/cpuinfo flags of the x86 instructions that compute bfloat16 (Intel Cooper Lake and later, AMD Zen 4).
BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def _cpuinfo_field(name: str, cpuinfo: str | os.PathLike) -> str | None:
    """The first ``name : value`` of ``cpuinfo`` (Linux's /proc/cpuinfo), None where there is none."""
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            fields = (line.split(":", 1) for line in f if ":" in line)
            return next((value.strip() for key, value in fields if key.strip() == name), None)
    except OSError:
        return None


def cpu_model_name(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> str:
    """The CPU's model name (Linux), else the platform's processor string."""
    return _cpuinfo_field("model name", cpuinfo) or platform.processor() or platform.machine()


def cpu_flags(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> list[str] | None:
    """The CPU's instruction-set flags (``avx2``, ``avx512_bf16``, ...); None where ``cpuinfo`` has no flags line."""
    flags = _cpuinfo_field("flags", cpuinfo)
    return None if flags is None else flags.split()


def cpu_computes_bfloat16(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> bool | None:
    """Whether this CPU has bfloat16 instructions; None where ``cpuinfo`` cannot tell (not Linux, no flags line)."""
    flags = cpu_flags(cpuinfo)
    return None if flags is None else any(flag in flags for flag in BFLOAT16_CPU_FLAGS)
