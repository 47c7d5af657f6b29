import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def single_thread():
    """Unit tests build tiny models, which run fastest on one thread (thread start-up dominates)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
