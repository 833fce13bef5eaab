"""Shared fixtures: float64 everywhere for exact comparisons, tiny seeded networks."""

import pytest
import torch

# Lava runs every process as an OS process; with torch's thread pool on top, a 2-core
# machine oversubscribes and elementwise ops slow down by 10-50x. One thread is plenty here.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)
    yield
