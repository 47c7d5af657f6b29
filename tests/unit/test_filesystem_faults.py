"""A full disk and a read-only output folder, met for real (a tmpfs mounted full or read-only) by each step:
one error line naming the step, the path and the fix, exit code 2, and nothing written there."""

from __future__ import annotations

import errno
import logging
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from sgm_mlc.cli import main
from sgm_mlc.step_errors import describe_os_error

MOUNT_SIZE = 256 * 1024


def mount_tmpfs(folder: Path, *options: str) -> None:
    """Mount a small tmpfs on ``folder`` (``options``: e.g. ``ro``); skip where mounting is not allowed."""
    folder.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", ",".join([f"size={MOUNT_SIZE}", *options]), "tmpfs", str(folder)],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root and mount rights): {result.stderr.strip()}")


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a device with no space left (a tmpfs filled by one file)."""
    folder = tmp_path / "full"
    mount_tmpfs(folder)
    try:
        with (folder / "filler").open("wb", buffering=0) as filler:
            try:
                while True:
                    filler.write(b"\0" * 4096)
            except OSError as error:
                assert error.errno == errno.ENOSPC
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A folder on a read-only file system (a tmpfs mounted ``ro``; root's rights do not get past it)."""
    folder = tmp_path / "read-only"
    mount_tmpfs(folder, "ro")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, default_params: dict) -> dict[str, Path]:
    """A tiny synthetic dataset taken through every step up to training, on an ordinary disk."""
    folder = tmp_path_factory.mktemp("inputs")
    params = yaml.safe_load(yaml.safe_dump(default_params))
    params["datasets"]["synthetic"].update(n_documents=120, vocabulary_size=300)
    params["embeddings"].update(dimension=8, epochs=1)
    params["models"]["cnn"].update(num_filters=4)
    params["training"].update(epochs=1)
    paths = {"params": folder / "params.yaml", "raw": folder / "raw", "processed": folder / "processed",
             "embeddings": folder / "embeddings", "order": folder / "order"}
    paths["params"].write_text(yaml.safe_dump(params), encoding="utf-8")
    common = ["--params", str(paths["params"])]
    assert main(["download", "--dataset", "synthetic", "--out", str(paths["raw"]), *common]) == 0
    assert main(["preprocess", "--dataset", "synthetic", "--raw", str(paths["raw"]), "--out",
                 str(paths["processed"]), *common]) == 0
    assert main(["build-embeddings", "--processed", str(paths["processed"]), "--out", str(paths["embeddings"]),
                 *common]) == 0
    assert main(["build-label-order", "--processed", str(paths["processed"]), "--order", "frequency", "--out",
                 str(paths["order"]), *common]) == 0
    return paths


def step_arguments(step: str, inputs: dict[str, Path], out: Path) -> list[str]:
    """The command line of ``step`` writing to ``out``."""
    common = ["--params", str(inputs["params"]), "--out", str(out)]
    train = ["train", "--dataset", "synthetic", "--order", "frequency", "--seed", "13", "--processed",
             str(inputs["processed"]), "--label-order", str(inputs["order"]), *common]
    return {
        "download": ["download", "--dataset", "synthetic", *common],
        "preprocess": ["preprocess", "--dataset", "synthetic", "--raw", str(inputs["raw"]), *common],
        "build-embeddings": ["build-embeddings", "--processed", str(inputs["processed"]), *common],
        "build-label-order": ["build-label-order", "--processed", str(inputs["processed"]), "--order", "frequency",
                              *common],
        "train br": [*train, "--model", "br"],
        "train cnn": [*train, "--model", "cnn", "--features", str(inputs["embeddings"])],
    }[step]


STEPS = ["download", "preprocess", "build-embeddings", "build-label-order", "train br", "train cnn"]


def contents(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize(
    "fault, fix", [("full_disk", "no space left on the device"), ("read_only", "the file system is read-only")]
)
def test_a_step_writing_where_it_cannot_fails_with_one_line_and_writes_nothing(
    step: str, fault: str, fix: str, inputs: dict[str, Path], request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    folder = request.getfixturevalue(fault)
    before = contents(folder)
    out = folder / "out"
    caplog.set_level(logging.ERROR)
    assert main(step_arguments(step, inputs, out)) == 2
    [record] = caplog.records
    message = record.getMessage()
    command = step.split()[0]
    assert message.startswith(f"{command}: {folder}") and fix in message and message.endswith("and rerun")
    assert contents(folder) == before  # nothing half-written, not even an empty output folder


def test_a_permission_denied_names_the_file_and_other_errors_keep_their_message() -> None:
    denied = PermissionError(errno.EACCES, "Permission denied", "/data/raw/reuters21578/reut2-000.sgm")
    assert describe_os_error(denied, "preprocess", Path("data/processed/reuters21578")) == (
        "preprocess: /data/raw/reuters21578/reut2-000.sgm: permission denied; give this user access to it"
        " (or write the outputs elsewhere) and rerun"
    )
    missing = FileNotFoundError("data/raw/synthetic/documents.jsonl is missing; run the download step")
    assert describe_os_error(missing, "preprocess", None) == str(missing)
