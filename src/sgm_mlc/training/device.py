"""Device and numeric precision: CUDA with bfloat16 autocast where available, the CPU otherwise.

The autocast path is the same code on every device (``torch.autocast`` with ``enabled`` set), so the CPU
runs it too when bf16 is asked for explicitly.
"""

from __future__ import annotations

import os
import random
from contextlib import AbstractContextManager

import numpy as np
import torch

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "bf16", "fp32")


def select_device(preference: str = "auto") -> torch.device:
    """``auto``: the first CUDA device when there is one, else the CPU; ``cuda`` without a GPU is an error."""
    if preference not in DEVICES:
        raise ValueError(f"unknown device {preference!r}; choose one of {', '.join(DEVICES)}")
    if preference == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("training.device is 'cuda' but no CUDA device is visible; use 'auto' or 'cpu'")
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(preference)


def uses_bf16(device: torch.device, precision: str = "auto") -> bool:
    """``auto`` means bf16 on CUDA devices that support it and fp32 on the CPU."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return device.type == "cuda" and torch.cuda.is_bf16_supported()
    return precision == "bf16"


def autocast(device: torch.device, bf16: bool) -> AbstractContextManager:
    """Mixed-precision context for forward passes (a no-op context when ``bf16`` is off)."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16)


def seed_everything(seed: int, device: torch.device) -> None:
    """Seed Python, NumPy and torch, and ask torch for deterministic kernels (same seed, same numbers)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
