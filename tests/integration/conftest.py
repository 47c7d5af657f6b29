import pytest


@pytest.fixture
def small_params(params):
    """params.yaml with a small synthetic corpus and short embedding training, for fast workflow runs."""
    params["datasets"]["synthetic"].update(n_documents=400, vocabulary_size=400)
    params["embeddings"].update(dimension=16, epochs=1)
    params["run"]["datasets"] = ["synthetic"]
    return params
