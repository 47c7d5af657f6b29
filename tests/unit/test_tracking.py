import json

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from sgm_mlc.data.base import Example
from sgm_mlc.data.download import sha256_of
from sgm_mlc.data.parquet import write_examples
from sgm_mlc.tracking.dataset_card import card_metrics
from sgm_mlc.tracking.dataset_inputs import split_inputs
from sgm_mlc.tracking.runs import (
    EXPERIMENT_KIND,
    RUN_KEY_TAG,
    TrackingStoreUnavailable,
    flatten,
    get_or_create_run,
    init_tracking,
    log_inputs,
    log_run,
    reports_unavailable_store,
    run_key,
    tracking_uri,
)
from tests.support.http_server import serve_directory, unused_loopback_url


@pytest.fixture(scope="module")
def store_uri(tmp_path_factory):
    """One SQLite store for the module (creating its tables takes seconds)."""
    folder = tmp_path_factory.mktemp("mlflow")
    return f"sqlite:///{folder / 'mlflow.db'}"


@pytest.fixture
def experiment(store_uri, request):
    """An experiment of its own for each test (its name carries the test's name)."""
    name = f"exp-{request.node.name}"
    init_tracking(store_uri, name)
    return name


@pytest.fixture
def store(store_uri, experiment, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # artifacts land in this test's folder
    return MlflowClient(tracking_uri=store_uri)


def test_init_tracking_is_idempotent_and_makes_a_model_training_experiment(store, experiment):
    first = store.get_experiment_by_name(experiment).experiment_id
    assert init_tracking(store.tracking_uri, experiment) == first
    assert store.get_experiment(first).tags["mlflow.experimentKind"] == "custom_model_development"
    older = store.create_experiment(f"{experiment}-older")  # made before experiments had a kind
    assert init_tracking(store.tracking_uri, f"{experiment}-older") == older
    assert store.get_experiment(older).tags.items() >= EXPERIMENT_KIND.items()


def test_run_key_is_stable_and_sensitive_to_params():
    key = run_key("rule", {"dataset": "synthetic", "order": "frequency"}, {"a": 1, "b": [1, 2]})
    assert key == run_key("rule", {"order": "frequency", "dataset": "synthetic"}, {"b": [1, 2], "a": 1})
    assert key.startswith("rule/dataset=synthetic/order=frequency/")
    assert key != run_key("rule", {"dataset": "synthetic", "order": "frequency"}, {"a": 2, "b": [1, 2]})


def test_get_or_create_run_resumes_the_same_run(store, experiment):
    first = get_or_create_run(store, experiment, "k/1", "name")
    assert get_or_create_run(store, experiment, "k/1", "name") == first
    assert get_or_create_run(store, experiment, "k/2", "name") != first
    runs = store.search_runs([store.get_experiment_by_name(experiment).experiment_id])
    assert sorted(run.data.tags[RUN_KEY_TAG] for run in runs) == ["k/1", "k/2"]


def test_get_or_create_run_needs_the_experiment(store):
    with pytest.raises(RuntimeError, match="run the init_tracking step first"):
        get_or_create_run(store, "missing", "k", "name")


def test_log_run_twice_keeps_one_run_with_params_metrics_and_artifacts(store, experiment, tmp_path):
    artifact = tmp_path / "card.json"
    artifact.write_text(json.dumps({"documents": 3}))
    params = {"datasets": {"synthetic": {"seed": 13, "document_length": [4, 9]}}, "flag": True}
    for _ in range(2):
        run_id = get_or_create_run(store, experiment, "key", "dataset-synthetic")
        log_run(store, run_id, params, {"documents": 3}, {"sgm_mlc.dataset": "synthetic"}, [artifact])
    run = store.get_run(run_id)
    assert run.data.params == {"datasets.synthetic.seed": "13", "datasets.synthetic.document_length": "[4, 9]", "flag": "true"}
    assert run.data.metrics == {"documents": 3.0}
    assert run.info.status == "FINISHED"
    assert [a.path for a in store.list_artifacts(run_id)] == ["card.json"]
    assert len(store.search_runs([run.info.experiment_id])) == 1


def test_a_run_lasts_from_the_start_to_the_end_it_is_given(store, experiment):
    run_id = get_or_create_run(store, experiment, "timed", "timed", start_time=1_700_000_000_000)
    log_run(store, run_id, {}, {}, {}, end_time=1_700_000_025_500)
    info = store.get_run(run_id).info
    assert (info.start_time, info.end_time) == (1_700_000_000_000, 1_700_000_025_500)


def test_card_metrics_count_the_labels_each_split_lacks():
    split = {"documents": 4, "labels_used": 2, "label_cardinality": 1.5}
    card = {
        "documents": 12, "labels": 3, "label_cardinality": 1.5, "vocabulary_size": 10, "skipped_records": {"x": 2},
        "splits": {"train": split, "valid": split, "test": split},
        "unknown_token_rate": {"train": 0.0, "valid": 0.1, "test": 0.2},
        "labels_missing": {"train": {"count": 0, "names": []}, "valid": {"count": 1, "names": ["c"]},
                           "test": {"count": 1, "names": ["b"]}},
    }
    metrics = card_metrics(card)
    assert [metrics[f"{split}.labels_missing"] for split in ("train", "valid", "test")] == [0, 1, 1]


def test_flatten_and_uri_override(monkeypatch):
    assert flatten({"a": {"b": {"c": 1}}, "d": None}) == {"a.b.c": "1", "d": "null"}
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri({"uri": "sqlite:///x.db"}) == "sqlite:///x.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking_uri({"uri": "sqlite:///x.db"}) == "http://127.0.0.1:5000"


@pytest.fixture
def no_http_retries(monkeypatch):
    """MLflow's client gives up on the first failed request (by default it retries for minutes)."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")


def test_a_tracking_server_nobody_answers_is_one_error_naming_it_and_the_fix(no_http_retries):
    uri = unused_loopback_url("").rstrip("/")
    with pytest.raises(TrackingStoreUnavailable) as raised:
        init_tracking(uri, "experiment")
    assert str(raised.value) == (
        f"MLflow tracking server {uri} is unavailable (no connection); the results are on disk: "
        "rerun this step once the server is back to log them"
    )


def test_a_tracking_server_answering_with_errors_is_reported_as_unavailable(no_http_retries, tmp_path):
    with serve_directory(tmp_path, fail_first=10) as url:
        with pytest.raises(TrackingStoreUnavailable, match="answered every attempt with a server error"):
            init_tracking(url.rstrip("/"), "experiment")
        assert [request.status for request in url.requests] == [503]


class DatasetInsertRace:
    """A client whose store refuses the first ``log_inputs`` as a parallel job's insert of the same dataset would
    make it (``refusal``), then accepts it."""

    def __init__(self, refusal: str) -> None:
        self.refusal, self.calls, self.logged = refusal, 0, []

    def log_inputs(self, run_id, datasets):
        self.calls += 1
        if self.calls == 1:
            raise MlflowException(self.refusal)
        self.logged.append((run_id, datasets))


@pytest.mark.parametrize("refusal", [
    "(sqlite3.IntegrityError) UNIQUE constraint failed: datasets.experiment_id, datasets.name, datasets.digest",
    '(psycopg2.errors.UniqueViolation) duplicate key value violates unique constraint "dataset_pk"',
])
def test_logging_inputs_retries_when_a_parallel_job_stored_the_dataset_first(refusal):
    client = DatasetInsertRace(refusal)
    log_inputs(client, "run-1", ["train split"])
    assert client.calls == 2 and client.logged == [("run-1", ["train split"])]


def test_logging_inputs_keeps_any_other_refusal():
    client = DatasetInsertRace("INVALID_PARAMETER_VALUE: dataset name too long")
    with pytest.raises(MlflowException, match="too long"):
        log_inputs(client, "run-1", ["train split"])
    assert client.calls == 1


def test_a_refusal_from_a_working_store_keeps_its_own_error():
    @reports_unavailable_store
    def log(uri):
        raise MlflowException("Invalid value for parameter 'x'")

    with pytest.raises(MlflowException, match="Invalid value"):  # not reworded as an outage
        log("http://127.0.0.1:5000")


def test_a_run_lists_each_split_it_read_once_with_the_file_and_its_digest(store, experiment, tmp_path):
    examples = [Example(f"d{i}", "text", ("x",), split) for i, split in enumerate(["train"] * 3 + ["valid", "test"])]
    path = tmp_path / "examples.parquet"
    write_examples(examples, [["text"]] * 5, [[1]] * 5, path)
    run_id = get_or_create_run(store, experiment, "with-data", "with-data")
    for _ in range(2):  # a retried logging job
        store.log_inputs(run_id, datasets=split_inputs("synthetic", path, sha256_of(path)))
    inputs = store.get_run(run_id).inputs.dataset_inputs
    assert [(i.dataset.name, i.tags[0].value, json.loads(i.dataset.profile)["num_rows"]) for i in inputs] == [
        ("synthetic-train", "train", 3), ("synthetic-valid", "valid", 1), ("synthetic-test", "test", 1)
    ]
    assert {i.dataset.digest for i in inputs} == {sha256_of(path)[:32]}
    assert {json.loads(i.dataset.source)["uri"] for i in inputs} == {path.as_uri()}
