"""Yelp (the real sample, a manual download) and your own data (kind: table) through the real workflow."""

import csv
import json

import pytest

from tests.integration.workflow import copy_project, snakemake

pytestmark = pytest.mark.integration


def test_yelp_sample_goes_from_the_manual_download_to_trained_models(tmp_path, small_params, shared_data):
    archive = shared_data / "yelp-sample" / "yelp_dataset.tar"
    if not archive.is_file():
        pytest.skip(f"{archive} is absent: the Yelp sample comes with the shared data")
    small_params["run"].update(datasets=["yelp"], models=["br", "sgm"])
    small_params["datasets"]["yelp"]["path"] = str(archive)
    project = copy_project(tmp_path / "project", small_params)
    snakemake(project, "all")

    card = json.loads((project / "data/processed/yelp/card.json").read_text())
    assert card["documents"] == 1614 and card["labels"] == 20
    assert card["skipped_records"] == {"unknown_business": 3276, "no_top_category": 110}
    for model in ("br", "sgm"):
        metrics = json.loads((project / f"results/evaluation/yelp/{model}/default/frequency/seed13/metrics.json").read_text())
        assert 0 <= metrics["test"]["micro_f1"] <= 1


def test_a_missing_yelp_download_is_one_line_saying_where_to_put_it(tmp_path, small_params):
    small_params["run"].update(datasets=["yelp"], models=["br"])
    small_params["datasets"]["yelp"]["path"] = str(tmp_path / "nowhere" / "yelp_dataset.tar")
    project = copy_project(tmp_path / "project", small_params)
    result = snakemake(project, "data/raw/yelp", check=False)
    assert result.returncode != 0
    log = (project / "results/logs/download_dataset/yelp.log").read_text()
    assert "https://www.yelp.com/dataset" in log and str(tmp_path / "nowhere") in log
    assert not (project / "data/raw/yelp").exists()


def test_your_own_csv_goes_through_every_phase_and_bad_rows_stop_it_by_line(tmp_path, small_params):
    data = tmp_path / "tickets.csv"
    topics = ["billing", "login", "refund", "shipping"]
    with data.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ticket", "body", "tags"])
        for i in range(240):
            tags = [topics[i % 4]] + ([topics[(i + 1) % 4]] if i % 3 == 0 else [])
            words = " ".join(f"{tag} issue {tag}" for tag in tags)
            writer.writerow([f"t{i}", f"customer writes about {words} number {i}", "|".join(tags)])
    small_params["datasets"]["tickets"] = {
        "kind": "table", "files": {"all": {"path": str(data)}}, "id_column": "ticket", "text_column": "body",
        "labels_column": "tags", "label_delimiter": "|", "test_fraction": 0.25, "validation_fraction": 0.15, "seed": 5,
    }
    small_params["run"].update(datasets=["tickets"], models=["br", "sgm"])
    project = copy_project(tmp_path / "project", small_params)
    snakemake(project, "all")
    card = json.loads((project / "data/processed/tickets/card.json").read_text())
    assert card["documents"] == 240 and card["labels"] == 4
    br = json.loads((project / "results/evaluation/tickets/br/default/frequency/seed13/metrics.json").read_text())
    assert br["test"]["micro_f1"] > 0.9  # the tags' words are in the text

    # An edit of the file is downloaded (copied) again; a row without text stops preprocessing, naming its line.
    with data.open("a", encoding="utf-8") as handle:
        handle.write("t240,,billing\n")
    result = snakemake(project, "data/processed/tickets/examples.parquet", check=False)
    assert result.returncode != 0
    log = (project / "results/logs/preprocess_to_parquet/tickets.log").read_text()
    assert "all.csv:242: empty text (text_column 'body'); fill it or drop the row" in log
    assert not (project / "data/processed/tickets/examples.parquet").exists()
    assert (project / "data/raw/tickets/all.csv").read_text().endswith("t240,,billing\n")
