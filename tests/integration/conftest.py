import copy

import pytest

from tests.integration.workflow import copy_project, snakemake

TINY_ENCODER = {"hidden_size": 16, "encoder_layers": 1, "attention_heads": 2, "dropout": 0.1}


def tiny_params(default_params: dict) -> dict:
    """A copy of params.yaml with a small synthetic corpus, short embedding training, tiny, briefly trained
    models, and no experiment beyond the main table, untuned (tests add what they exercise)."""
    params = copy.deepcopy(default_params)
    params["datasets"]["synthetic"].update(n_documents=400, vocabulary_size=400)  # also synthetic_shift's source
    params["datasets"]["synthetic_shift"]["n_documents"] = 300
    params["embeddings"].update(dimension=16, epochs=1)
    params["run"].update(datasets=["synthetic"], models=[], seeds=[13], order="frequency")
    params["experiments"].update(
        ablations={"model": "sgm", "variants": {}},
        label_orders={"models": [], "orders": []},
        cross_dataset=[],
    )
    params["experiments"]["interpretability"]["examples"] = 0
    params["tuning"]["enabled"] = False  # no tuned rows (they read committed or studied best.yaml files)
    for name in ("br_neural", "seq2seq", "sgm"):
        params["models"][name].update(TINY_ENCODER)
    for name in ("seq2seq", "sgm"):
        params["models"][name].update(decoder_layers=1, label_embedding_dim=8)
    params["models"]["cnn"].update(num_filters=8)
    params["training"].update(epochs=2, batch_size=32, eval_batch_size=64)
    params["decoding"]["beam_size"] = 2
    return params


@pytest.fixture
def small_params(default_params):
    return tiny_params(default_params)


@pytest.fixture(scope="session")
def built_project(tmp_path_factory, default_params):
    """A project copy after `snakemake all` with two seeds, an ablation, two orders, a cross-dataset pair and
    interpretability examples (tiny models, two epochs): the report's and the MLflow UI's tests read it."""
    params = tiny_params(default_params)
    params["run"].update(models=["br", "cnn", "sgm"], seeds=[13, 14])
    params["experiments"].update(
        ablations={"model": "sgm", "variants": {"no_global_embedding": {"global_embedding": False}}},
        label_orders={"models": ["sgm"], "orders": ["frequency", "rare_first"]},
        cross_dataset=[{"train": "synthetic", "test": "synthetic_shift", "models": ["sgm", "br"]}],
    )
    params["experiments"]["interpretability"]["examples"] = 2
    project = copy_project(tmp_path_factory.mktemp("report") / "project", params)
    snakemake(project, "all")
    return project
