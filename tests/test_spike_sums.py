"""The event-driven spike sums against the dense product (oracle: ``spikes @ weight``).

:func:`~lava_diffpc.reference.network.spike_matmul` picks a gathered sum of weight rows
(float32, rows contiguous), a COO sparse product (other types, transposed views) or the
dense product by an estimated cost; whatever it picks must be the dense product's value:
exactly on integer weights (fixed-point mantissas), to float32 rounding on real ones.
"""

from __future__ import annotations

import pytest
import torch

from lava_diffpc.engine.step import Wiring
from lava_diffpc.reference.network import (
    COO_COST,
    GATHER_COST,
    DenseConnection,
    gathered_rows_sum,
    spike_matmul,
)


def _spikes(batch: int, n: int, density: float, dtype: torch.dtype, seed: int = 0,
            scale: float = 1.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    on = torch.rand(batch, n, generator=g) < density
    sign = torch.where(torch.rand(batch, n, generator=g) < 0.5, -1.0, 1.0)
    return (on * sign * scale).to(dtype)


@pytest.mark.parametrize("density", [0.003, 0.05, 0.2, 0.6])
@pytest.mark.parametrize("scale", [1.0, 1.25])  # 1.25: a kept neuron under dropout 0.2
def test_real_weights_equal_the_dense_product(density, scale):
    w = torch.randn(300, 200, generator=torch.Generator().manual_seed(1))
    s = _spikes(64, 300, density, torch.float32, scale=scale)
    out = spike_matmul(s, w)
    assert torch.allclose(out, s @ w, rtol=0, atol=1e-5 * float(w.abs().sum(0).max()))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("density", [0.003, 0.05, 0.6])
def test_integer_weights_are_exact(dtype, density):
    """Fixed-point mantissas in a float carrier: every path sums exact integers."""
    w = torch.randint(-255, 256, (400, 128), generator=torch.Generator().manual_seed(2))
    w = w.to(dtype)
    s = _spikes(32, 400, density, dtype, seed=3)
    assert torch.equal(spike_matmul(s, w), s @ w)
    assert torch.equal(spike_matmul(s, w.T.contiguous().T), s @ w)  # a transposed view


def test_gathered_sum_handles_silent_rows_and_is_exact():
    w = torch.randint(-9, 10, (6, 5)).float()
    s = torch.zeros(5, 6)
    s[1, 2], s[1, 5], s[2, 0] = 1.0, -1.25, 1.0  # rows 0, 3, 4 silent (4: trailing)
    assert torch.equal(gathered_rows_sum(s, w), s @ w)


def test_no_spike_gives_none():
    assert spike_matmul(torch.zeros(4, 7), torch.ones(7, 3)) is None
    assert spike_matmul(torch.zeros(4, 7), torch.ones(7, 3), nnz=0) is None


def test_cost_model_choices():
    """Sparse spikes into wide layers are summed by events, dense spikes and narrow
    outputs by the dense product; the gathered sum stays worth it to denser spikes than
    the COO product."""
    batch_inputs = 256 * 784
    for cost in (GATHER_COST, COO_COST):
        assert cost.cheaper_than_dense(batch_inputs, batch_inputs // 100, 1024)
        assert not cost.cheaper_than_dense(batch_inputs, batch_inputs // 2, 1024)
        assert not cost.cheaper_than_dense(batch_inputs, 1, 10)
    tenth = batch_inputs // 10
    assert GATHER_COST.cheaper_than_dense(batch_inputs, tenth, 1024)
    assert not COO_COST.cheaper_than_dense(batch_inputs, tenth, 1024)


def test_dense_forward_reads_the_wiring_rows():
    """A dense connection's forward sum with the wiring's contiguous ``W^T`` equals it
    without (the COO path on the transposed view) and the dense ``s W^T``."""
    conn = DenseConnection((50,), 40)
    w = torch.randn(40, 50, generator=torch.Generator().manual_seed(4))
    wiring = Wiring(None, None, None, [conn], [w], [0], [torch.zeros(40)])
    rows = wiring.dense_rows[0]
    assert rows.is_contiguous() and torch.equal(rows, w.T)
    assert wiring.dense_rows[0] is rows  # made once per wiring
    s = _spikes(16, 50, 0.02, torch.float32, seed=5)
    with_rows = conn.forward(s, w, w_rows=rows)
    assert torch.allclose(with_rows, conn.forward(s, w), atol=1e-5)
    assert torch.allclose(with_rows, s @ w.T, atol=1e-5)
