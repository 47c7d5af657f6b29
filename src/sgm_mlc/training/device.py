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
EVAL_PRECISIONS = ("as_training", "bf16", "fp32")


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


def evaluation_uses_bf16(device: torch.device, training: dict) -> bool:
    """Whether a trained model predicts under bf16 autocast: ``training["eval_precision"]`` (``as_training``
    follows ``training["precision"]``). Bundles saved before ``eval_precision`` existed predict as trained."""
    eval_precision = training.get("eval_precision", "as_training")
    if eval_precision not in EVAL_PRECISIONS:
        raise ValueError(f"unknown eval_precision {eval_precision!r}; choose one of {', '.join(EVAL_PRECISIONS)}")
    if eval_precision == "as_training":
        return uses_bf16(device, training["precision"])
    return eval_precision == "bf16"


def autocast(device: torch.device, bf16: bool) -> AbstractContextManager:
    """Mixed-precision context for forward passes (a no-op context when ``bf16`` is off)."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16)


def seed_everything(seed: int, device: torch.device, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch and, with ``deterministic``, ask torch for deterministic kernels (same seed,
    same numbers, on one machine with one thread count). Without it, cuDNN may pick the fastest kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if device.type == "cuda" and deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    set_deterministic_kernels(deterministic, warn_only=device.type == "cuda")
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic


def set_deterministic_kernels(mode: bool, warn_only: bool = False) -> None:
    """``torch.use_deterministic_algorithms(mode, warn_only=warn_only)`` for eager execution.

    The public call also sets TorchInductor's ``deterministic`` option, and importing Inductor for it takes
    about 2.4 s of every training job's start-up; nothing here runs ``torch.compile``, so only the eager switch
    is set (through the public call where torch has no separate one)."""
    eager_switch = getattr(torch._C, "_set_deterministic_algorithms", None)
    if eager_switch is None:
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
    else:
        eager_switch(mode, warn_only=warn_only)


def determinism_record() -> dict[str, object]:
    """What decides whether a rerun gives the same bits, as torch now stands: the deterministic-kernel switch,
    the thread counts, the vector instruction set ATen dispatches to (``ATEN_CPU_CAPABILITY`` lowers it) and
    the torch build. Logged with every run (train_summary.json, MLflow)."""
    return {
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "torch": torch.__version__,
    }
