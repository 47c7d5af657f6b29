"""What the benchmark scripts share: ``--set KEY=VALUE`` changes to params, and the record of the machine a
figure was measured on."""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path
from typing import Any

import torch
import yaml


def set_param(params: dict, change: str, parser: argparse.ArgumentParser) -> None:
    """Apply one ``--set KEY=VALUE`` to ``params`` in place (``KEY`` dotted and existing, ``VALUE`` YAML)."""
    key, separator, value = change.partition("=")
    *parents, leaf = key.split(".")
    node = params
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if not separator or not isinstance(node, dict) or leaf not in node:
        parser.error(f"--set {change!r}: expected KEY=VALUE with KEY an existing dotted key such as "
                     "models.sgm.dropout")
    node[leaf] = yaml.safe_load(value)


def machine(threads: int) -> dict[str, Any]:
    """The CPU (its model name and core count), the torch threads used, torch's version and kernel level."""
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
             if line.startswith("model name")] if cpuinfo.is_file() else []
    return {
        "cpu": names[0] if names else platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "threads": threads,
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "python": platform.python_version(),
    }
