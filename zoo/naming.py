"""Names: natural sort order, "did you mean" suggestions and the unknown-name error.

The bottom of the core: every part (registry, data, presets, ...) may use it, and it imports none of them.
"""

from __future__ import annotations

import difflib
import os
import re
from typing import Any


def natural_key(name: str) -> list[Any]:
    """Sort key putting ``resnet20`` before ``resnet110``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def suggest(name: str, choices: list[str], n: int = 3) -> list[str]:
    """Closest choices to a mistyped name: prefix matches first, then similar spellings.

    Example:
        >>> suggest("resnet2", ["resnet20", "resnet32", "vit_tiny"])
        ['resnet20', 'resnet32']
    """
    prefixed = sorted((c for c in choices if c.startswith(name) or name.startswith(c)), key=natural_key)

    closeness = {
        c: (difflib.SequenceMatcher(None, name, c).ratio(), len(os.path.commonprefix([name, c]))) for c in choices
    }
    similar = [c for c in sorted(choices, key=closeness.__getitem__, reverse=True) if closeness[c][0] >= 0.6]
    return list(dict.fromkeys(prefixed + similar))[:n]


def did_you_mean(name: str, choices: list[str], prefix: str = "") -> str:
    """`` Did you mean: a, b?`` naming the closest choices (each after ``prefix``), or "" when none is close."""
    close = suggest(name, choices)
    return f" Did you mean: {', '.join(prefix + c for c in close)}?" if close else ""


def unknown_name(kind: str, name: str, known: list[str]) -> ValueError:
    """The error for an unknown ``name`` of some ``kind``, suggesting the closest known names."""
    return ValueError(f"Unknown {kind} {name!r}.{did_you_mean(name, known)} Known: {', '.join(sorted(known))}.")
