"""Shared fixtures: the project root, the real data in ../shared/data, and a valid params dict."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def default_params() -> dict:
    return yaml.safe_load((PROJECT_ROOT / "params.yaml").read_text(encoding="utf-8"))


@pytest.fixture
def params(default_params) -> dict:
    """A fresh, mutable copy of the project's params.yaml."""
    return copy.deepcopy(default_params)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real datasets laid out like the official downloads); skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (it sits beside the project as ../shared/data)")
    return SHARED_DATA
