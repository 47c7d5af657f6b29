"""Shared fixtures: the project root, the real data in ../shared/data, and a valid params dict; how the tests
are shared among pytest-xdist workers."""

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Groups for pytest-xdist's ``--dist loadgroup`` (scripts/test.sh): a file's tests run on one worker, so its
    module-scoped fixtures are built once, and so do all the tests of the session-wide ``built_project``."""
    for item in items:
        group = "built_project" if "built_project" in getattr(item, "fixturenames", ()) else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))
