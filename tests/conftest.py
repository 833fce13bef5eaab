"""Shared fixtures: float64 everywhere for exact comparisons, tiny seeded networks."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)
    yield
