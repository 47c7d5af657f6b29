"""Download and preprocess rules on the real Reuters-21578 archive, served from a loopback HTTP server."""

import json

import pyarrow.parquet as pq
import pytest

from tests.integration.workflow import copy_project, snakemake
from tests.support.http_server import serve_directory

pytestmark = pytest.mark.integration


def test_reuters_download_and_preprocess_through_http_give_modapte_counts(tmp_path, params, shared_data):
    params["run"]["datasets"] = ["reuters21578"]
    with serve_directory(shared_data) as base_url:
        params["datasets"]["reuters21578"]["url"] = f"{base_url}reuters21578.tar.gz"
        project = copy_project(tmp_path / "project", params)
        snakemake(project, "data/processed/reuters21578/examples.parquet")
        assert any(request.path.endswith("reuters21578.tar.gz") for request in base_url.requests)

    card = json.loads((project / "data/processed/reuters21578/card.json").read_text())
    splits = card["splits"]
    assert splits["train"]["documents"] + splits["valid"]["documents"] == 7770
    assert splits["test"]["documents"] == 3019
    assert splits["valid"]["documents"] == round(0.1 * 7770)
    assert card["labels"] == 90
    assert card["skipped_records"] == {"no text": 1}  # NEWID 12793: an empty <TEXT>, not a ModApte record

    table = pq.read_table(project / "data/processed/reuters21578/examples.parquet").to_pandas()
    assert len(table) == 10789 and table["labels"].map(len).min() >= 1
    assert (project / "data/raw/reuters21578/reuters21578.tar.gz").is_file()
    assert not list((project / "data/raw").glob("**/*.partial"))


def test_reuters_wrong_checksum_fails_and_leaves_no_raw_folder(tmp_path, params, shared_data):
    params["run"]["datasets"] = ["reuters21578"]
    params["datasets"]["reuters21578"]["url"] = (shared_data / "reuters21578.tar.gz").as_uri()
    params["datasets"]["reuters21578"]["sha256"] = "0" * 64
    project = copy_project(tmp_path / "project", params)
    result = snakemake(project, "data/raw/reuters21578", check=False)
    assert result.returncode != 0
    log = (project / "results/logs/download_dataset/reuters21578.log").read_text()
    assert "sha256" in log and "0" * 64 in log
    assert not (project / "data/raw/reuters21578").exists()
