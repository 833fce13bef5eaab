"""Gradient alignment (oracle: backprop by autograd on the same weights) and the ``align``
command."""

import json

import pytest
import torch

from lava_diffpc.alignment import (
    backprop_warmup,
    format_table,
    gradient_alignment,
    operator_norm,
    relaxation_gains,
)
from lava_diffpc.cli import main
from lava_diffpc.commands.align import parse_variant
from lava_diffpc.config import ConvSpec
from lava_diffpc.data import load_dataset
from lava_diffpc.presets import preset
from lava_diffpc.reference.conv import ConvConnection
from lava_diffpc.reference.network import DenseConnection
from lava_diffpc.train import build_model


def _deep_case(m: int):
    """64-32-32-10 on digits after 20 backprop batches: the small errors of mid-training."""
    ds = load_dataset("digits")
    x, y = torch.from_numpy(ds.x_train), torch.from_numpy(ds.y_train)
    opts = {**preset("digits"), "arch": "64-32-32-10", "m": m, "c1": 10, "c2": 10, "seed": 0}
    params = backprop_warmup(opts, x[:1200], y[:1200], batches=20, batch_size=32, lr=2e-3)
    return opts, params, x[1200:1328], y[1200:1328]


def test_fine_thresholds_follow_backprop_in_every_layer():
    opts, params, x, y = _deep_case(m=-3)
    a = gradient_alignment(opts, params, x, y)
    assert min(a.cosine) > 0.9, a  # measured 0.969, 0.914, 0.942
    assert all(0.5 < r < 2.0 for r in a.norm_ratio), a
    assert a.error_spikes[2] > 0 and a.ff_deviation < 0.1


def test_coarse_thresholds_starve_the_first_layer():
    """Errors below the finest threshold never spike: no feedback, no first-layer update."""
    opts, params, x, y = _deep_case(m=1)
    a = gradient_alignment(opts, params, x, y)
    assert a.error_spikes[2] == 0
    assert a.cosine[0] == 0.0 and a.norm_ratio[0] == 0.0
    fine = gradient_alignment({**opts, "m": -3}, params, x, y)
    assert fine.ff_activity_spikes > a.ff_activity_spikes  # finer thresholds cost spikes
    table = format_table([("m=1", a), ("m=-3", fine)])
    assert "cos W3" in table and table.count("\n") == 2


def _conv_matrix(conn: ConvConnection, w: torch.Tensor) -> torch.Tensor:
    """The convolution as an explicit (n_out, n_in) matrix: its image of every unit input."""
    n_in = int(torch.tensor(conn.in_shape).prod())
    basis = torch.eye(n_in, dtype=w.dtype).reshape(n_in, *conn.in_shape)
    return conn.forward(basis, w, nnz=n_in).reshape(n_in, -1).T


def test_operator_norm_is_the_largest_singular_value():
    """Oracle: the singular values of the explicit matrix (dense, and a strided convolution
    written out as one)."""
    torch.manual_seed(0)
    dense = DenseConnection((12,), 7)
    w = torch.randn(7, 12, dtype=torch.float64)
    assert operator_norm(dense, w) == pytest.approx(float(torch.linalg.matrix_norm(w, 2)),
                                                    rel=1e-6)
    conv = ConvConnection(ConvSpec(channels=3, kernel=3, stride=2), (2, 7, 7))
    wc = torch.randn(3, 2, 3, 3, dtype=torch.float64)
    sigma = float(torch.linalg.matrix_norm(_conv_matrix(conv, wc), 2))
    assert operator_norm(conv, wc) == pytest.approx(sigma, rel=1e-4)  # power iteration


def test_relaxation_gain_sees_only_the_open_gates():
    """gamma * (1 + sigma(W D)^2): a closed gate removes W's column from the map."""
    torch.manual_seed(1)
    conns = [DenseConnection((4,), 6), DenseConnection((6,), 5)]
    weights = [torch.randn(6, 4, dtype=torch.float64), torch.randn(5, 6, dtype=torch.float64)]
    x_T = torch.tensor([[1.0, 2.0, 0.5, 1.0, 3.0, 0.1],
                        [1.0, -1.0, 0.5, -2.0, 3.0, 0.0],
                        [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]], dtype=torch.float64)
    open_sets = [[0, 1, 2, 3, 4, 5], [0, 2, 4], [0, 1, 2, 3, 4, 5]]
    sigmas = sorted(float(torch.linalg.matrix_norm(weights[1][:, cols], 2))
                    for cols in open_sets)
    (gain,) = relaxation_gains(0.25, conns, weights, [x_T])
    assert gain == pytest.approx(0.25 * (1 + sigmas[1] ** 2), rel=1e-6)  # the batch median


@pytest.mark.parametrize("sigma, settles", [(1.0, True), (3.0, False)])
def test_learning_phase_settles_only_below_gain_two(sigma, settles):
    """Oracle: the linear stability of the target update. With the output matrix scaled to
    norm sigma, the hidden layer's x_T moves less and less from cycle to cycle while the
    relaxation gain is below 2 (measured: the last cycle's move 0.09 of the largest), and
    keeps moving above it (0.63)."""
    ds = load_dataset("digits")
    x, y = torch.from_numpy(ds.x_train[:64]), torch.from_numpy(ds.y_train[:64])
    opts = {**preset("digits"), "arch": "64-32-10", "m": -2, "n": 6, "c1": 6, "c2": 12,
            "seed": 0, "gamma": 0.5}
    net = build_model("diffpc", opts)
    params = [(w.clone(), b.clone()) for w, b in zip(net.weights, net.biases)]
    w2, b2 = params[1]
    params[1] = (w2 * sigma / operator_norm(net.connections[1], w2), b2)
    net = build_model("diffpc", opts, params=params)
    record: list = []
    result = net.run(x, y, record=record)
    (gain,) = relaxation_gains(0.5, net.connections, [w for w, _ in params],
                               [result.states[0].x_T])
    assert (gain < 2) == settles
    k1, n = opts["c1"] * opts["n"], opts["n"]
    at_cycle_ends = [record[k]["states"][1].x_T for k in range(k1 - 1, len(record), n)]
    moves = [float((b - a).abs().mean()) for a, b in zip(at_cycle_ends, at_cycle_ends[1:])]
    assert (moves[-1] < 0.2 * max(moves)) == settles, moves


def test_parse_variant_types_and_errors():
    assert parse_variant("m=-3, target_scale=2") == {"m": -3, "target_scale": 2.0}
    assert parse_variant("schedule=cyclic-decay,a=0.25") == {"schedule": "cyclic-decay",
                                                              "a": 0.25}
    with pytest.raises(ValueError, match="bad --variant item 'q=1'"):
        parse_variant("q=1")
    with pytest.raises(ValueError, match="name=value"):
        parse_variant("m")


def test_align_command_prints_one_row_per_variant(capsys):
    code = main(["align", "--preset", "digits", "--variant", "m=-2", "--warmup-batches", "2",
                 "--batch-size", "64"])
    out = capsys.readouterr().out
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith(("preset", "m=-2"))]
    assert len(rows) == 2


def test_align_compares_at_a_trained_checkpoint(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--preset", "digits", "--epochs", "1", "--models", "diffpc",
                 "--limit-train", "256", "--out", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    ckpt = run / "checkpoint-diffpc.pt"
    assert main(["align", "--checkpoint", str(ckpt), "--variant", "gamma=0.25",
                 "--batch-size", "64"]) == 0
    out = capsys.readouterr().out
    assert "weights of run/checkpoint-diffpc.pt after 1 epochs" in out
    assert len([line for line in out.splitlines()
                if line.startswith(("as trained", "gamma=0.25"))]) == 2
    assert main(["align", "--checkpoint", str(ckpt), "--preset", "digits"]) == 2
    assert "exclude each other" in capsys.readouterr().err
    assert main(["align", "--checkpoint", str(ckpt), "--variant", "arch=64-32-10"]) == 2
    assert "cannot apply to a checkpoint" in capsys.readouterr().err
    assert main(["align", "--checkpoint", str(tmp_path / "none.pt")]) == 2


def test_align_stores_its_table_in_a_results_file(tmp_path, capsys):
    target = tmp_path / "results.json"
    target.write_text(json.dumps({"runs": {"kept": 1}}))
    assert main(["align", "--preset", "digits", "--variant", "gamma=0.25", "--warmup-batches",
                 "2", "--batch-size", "64", "--json", str(target), "--entry", "warm"]) == 0
    doc = json.loads(target.read_text())
    assert doc["runs"] == {"kept": 1}
    entry = doc["align"]["warm"]
    assert entry["command"].startswith("python -m lava_diffpc align --preset digits")
    assert set(entry["rows"]) == {"preset", "gamma=0.25"}
    row = entry["rows"]["gamma=0.25"]
    assert len(row["cosine"]) == 2 and len(row["relaxation_gain"]) == 1
    assert 0.25 < row["relaxation_gain"][0] <= 0.25 * (1 + row["op_norm"][1] ** 2) + 1e-3
    capsys.readouterr()
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    assert main(["align", "--json", str(bad)]) == 2
    assert "not a results object" in capsys.readouterr().err
    assert bad.read_text() == "[1, 2]"
    assert main(["align", "--json", str(tmp_path / "no" / "such.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["align", "--entry", "warm"]) == 2
    assert "needs --json" in capsys.readouterr().err
