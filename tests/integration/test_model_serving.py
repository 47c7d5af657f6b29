"""A logged training run serves its model: registered as the dataset's best, `mlflow models serve -m
models:/sgm-mlc-<dataset>@best --env-manager local` answers as the library predicts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from mlflow import MlflowClient

from sgm_mlc.data.parquet import read_examples
from sgm_mlc.predict import load_trained_model
from sgm_mlc.tracking.organise import organise_dataset_runs
from sgm_mlc.tracking.runs import init_tracking
from sgm_mlc.tracking.training_run import log_training_run
from tests.integration.servers import free_port
from tests.support.trained_runs import trained_runs

pytestmark = pytest.mark.integration

STARTUP_SECONDS = 60


def post(url: str, payload: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def assert_close(actual, expected, tolerance=1e-5) -> None:
    """Equal JSON values, numbers within ``tolerance`` (the server may sum in another order on other threads)."""
    if isinstance(expected, float):
        assert actual == pytest.approx(expected, abs=tolerance)
    elif isinstance(expected, (list, dict)):
        assert type(actual) is type(expected) and len(actual) == len(expected)
        pairs = zip(actual, expected) if isinstance(expected, list) else ((actual[k], v) for k, v in expected.items())
        for got, wanted in pairs:
            assert_close(got, wanted, tolerance)
    else:
        assert actual == expected


def wait_for_ping(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"mlflow models serve exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.5)
    pytest.fail(f"mlflow models serve did not answer /ping within {STARTUP_SECONDS} s:\n{log.read_text()}")


def test_the_registered_best_model_is_served_by_mlflow_models_serve(tmp_path, params):
    run_dir = trained_runs(tmp_path / "project", params, ["sgm"])["sgm"]
    project = tmp_path / "project"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    init_tracking(uri, "serving")
    run_params = json.loads((run_dir / "params.json").read_text())
    wildcards = {name: str(value) for name, value in run_params["run"].items()}
    evaluation_dir = project / "results/evaluation/synthetic/sgm/default/frequency/seed13"
    examples = project / "data/processed/synthetic/examples.parquet"
    logged = [
        log_training_run(uri, "serving", wildcards, run_params, run_dir, evaluation_dir, examples, project)
        for _ in range(2)  # a retried job re-logs into the same run, and keeps its one model
    ]
    assert logged[0] == logged[1] and logged[0]["model_uri"] == f"runs:/{logged[0]['run_id']}/model"
    client = MlflowClient(tracking_uri=uri)
    experiment_id = client.get_experiment_by_name("serving").experiment_id
    assert len(client.search_logged_models([experiment_id])) == 1
    registered = organise_dataset_runs(uri, "serving", "synthetic", logged[:1], "micro_f1")["registered_model"]
    assert registered["uri"] == "models:/sgm-mlc-synthetic@best" and registered["run_id"] == logged[0]["run_id"]

    test = read_examples(examples).query("split == 'test'")
    texts = list(test["text"][:3])
    expected = [p.record() for p in load_trained_model(run_dir).predict(texts)]

    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m", registered["uri"],
             "--env-manager", "local", "--host", "127.0.0.1", "--port", str(port)],
            cwd=tmp_path, env={**os.environ, "MLFLOW_TRACKING_URI": uri}, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_ping(f"http://127.0.0.1:{port}/ping", server, log)
        answer = post(f"http://127.0.0.1:{port}/invocations", {"dataframe_records": [{"text": t} for t in texts]})
        assert_close(answer["predictions"], expected)
        assert all(row["labels"] for row in answer["predictions"])
        greedy = post(
            f"http://127.0.0.1:{port}/invocations", {"inputs": texts, "params": {"beam_size": 1, "top_words": 1}}
        )
        assert [row["labels"] for row in greedy["predictions"]] == [
            p.record()["labels"] for p in load_trained_model(run_dir).predict(texts, beam_size=1)
        ]
        assert all(len(words) == 1 for row in greedy["predictions"] for words in row["attended_words"])
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
