"""The MS-COCO 2017 subset end to end through the real workflow: download over loopback HTTP, Parquet, image
features (a randomly initialised ResNet-18), sgm and br_neural trained briefly, metrics, MLflow runs, report;
and the COCO → VOC 2007 cross-dataset evaluation, on VOC archives made from real COCO images."""

import json

import numpy as np
import pytest
from mlflow import MlflowClient

from tests.integration.workflow import PROJECT_ROOT, copy_project, snakemake
from tests.support.http_server import serve_directory
from tests.support.voc_archives import write_voc_archives

pytestmark = pytest.mark.integration

ARCHIVES = {"annotations": "annotations_trainval2017.zip", "train": "train2017.zip", "val": "val2017.zip"}
IMAGE_METRICS = {"class_f1", "overall_f1", "class_f1_top3", "overall_f1_top3", "mean_average_precision"}


def checksums(folder):
    """file name → sha256, from the shared data's SHA256SUMS."""
    lines = (folder / "SHA256SUMS").read_text().splitlines()
    return {line.split()[1].split("/")[-1]: line.split()[0] for line in lines if line.strip()}


def test_coco_subset_goes_through_every_phase(tmp_path, small_params, shared_data):
    subset = shared_data / "coco2017-subset"
    if not subset.is_dir():
        pytest.skip(f"{subset} is absent: the COCO 2017 subset comes with the shared data")
    sums = checksums(shared_data)
    small_params["run"].update(datasets=["coco2017"], models=["br", "br_neural", "sgm"])
    small_params["experiments"]["interpretability"]["examples"] = 2
    small_params["image_features"].update(depth=18, image_size=64, weights="none", batch_size=32, augment_views=1)
    small_params["experiments"]["cross_dataset"] = [{"train": "coco2017", "test": "voc2007", "models": ["sgm", "br"]}]
    label_map = PROJECT_ROOT / "workflow/label_maps/coco2017__voc2007.tsv"
    voc = tmp_path / "voc"
    voc.mkdir()
    small_params["datasets"]["voc2007"]["files"] = write_voc_archives(subset, label_map, voc, {"train": 4, "val": 4, "test": 20})
    with serve_directory(subset) as base_url:
        small_params["datasets"]["coco2017"]["files"] = {
            key: {"url": f"{base_url}{name}", "sha256": sums[name], "filename": name} for key, name in ARCHIVES.items()
        }
        project = copy_project(tmp_path / "project", small_params)
        snakemake(project, "all", "--cores", "2")
        assert {request.path.lstrip("/") for request in base_url.requests} == set(ARCHIVES.values())

    card = json.loads((project / "data/processed/coco2017/card.json").read_text())
    assert card["modality"] == "image" and card["labels"] == 80
    assert card["splits"]["test"]["documents"] == 158
    assert card["splits"]["train"]["documents"] + card["splits"]["valid"]["documents"] == 160

    features = json.loads((project / "results/image_features/coco2017/features.json").read_text())
    assert (features["grid"], features["channels"], features["weights"]) == (2, 512, "none")
    grids = np.load(project / "results/image_features/coco2017/features.npy", mmap_mode="r")
    assert grids.shape == (318, 4, 512) and grids.dtype == np.float16

    for model in ("br_neural", "sgm"):
        folder = project / "results/evaluation/coco2017" / model / "default/frequency/seed13"
        metrics = json.loads((folder / "metrics.json").read_text())
        assert IMAGE_METRICS <= set(metrics["test"]) and 0 <= metrics["test"]["mean_average_precision"] <= 1
        history = json.loads((project / "results/models/coco2017" / model / "default/frequency/seed13/history.json").read_text())
        assert len(history) == 2
    # br reads words: it is left out of the image dataset, and the report says so.
    assert not (project / "results/evaluation/coco2017/br").exists()
    report = (project / "results/report/report.md").read_text()
    assert "Not run: br (reads words; not run on an image dataset)." in report
    assert "**Image-tagging metrics on coco2017**" in report
    assert "| | n | CP | CR | CF1 | OP | OR | OF1 | CF1@3 | OF1@3 | mAP |" in report

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("sgm-mlc")
    names = {run.info.run_name for run in client.search_runs([experiment.experiment_id])}
    assert {"dataset-coco2017", "dataset-voc2007", "coco2017-br_neural-default-frequency-13",
            "coco2017-sgm-default-frequency-13"} <= names

    # COCO → VOC: the sgm trained on COCO scored on VOC's test images over the 20 mapped classes (br is not run).
    cross = json.loads((project / "results/cross_dataset/coco2017__voc2007/sgm/default/frequency/seed13/metrics.json").read_text())
    assert len(cross["label_map"]["mapped_labels"]) == 20 and IMAGE_METRICS <= set(cross["test"])
    assert not (project / "results/cross_dataset/coco2017__voc2007/br").exists()
    voc_features = json.loads((project / "results/image_features/voc2007/features.json").read_text())
    assert voc_features["examples"] == 28
