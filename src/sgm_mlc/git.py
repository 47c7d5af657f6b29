"""The git commit a result was produced with."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git_commit(directory: Path) -> str:
    """The commit checked out in ``directory`` (``unknown`` outside a git work tree)."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, check=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return result.stdout.strip()
