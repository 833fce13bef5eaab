"""DiffPC processes wired by hand, the way a Lava user would: real units, checks, refusals,
surfaced model errors, Lava's own sources (SpikeDataloader, RingBuffer) and the docs' example.

Oracles: the builder :class:`~lava_diffpc.lava_graph.DiffPCGraph` (bit-identical results),
the input tracking rule (precomputed spike trains), and one-line error messages.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lava.magma", reason="lava-nc 0.10 (Python 3.10) is not installed")

from lava.magma.core.run_configs import Loihi2SimCfg  # noqa: E402
from lava.proc.io.dataloader import SpikeDataloader  # noqa: E402
from lava.proc.io.source import RingBuffer  # noqa: E402

from lava_diffpc.config import DiffPCConfig  # noqa: E402
from lava_diffpc.fixed_point import (  # noqa: E402
    FixedFormat,
    quantize_connection,
    quantize_input,
    schedule_tables,
)
from lava_diffpc.lava_graph import DiffPCGraph, run_dataset, train_dataset  # noqa: E402
from lava_diffpc.proc.common import run_steps  # noqa: E402
from lava_diffpc.proc.io.process import DiffPCInput  # noqa: E402
from lava_diffpc.proc.layer.process import DiffPCLayer  # noqa: E402
from lava_diffpc.proc.synapse.process import DiffPCSynapse  # noqa: E402
from lava_diffpc.rules.arithmetic import FIXED  # noqa: E402
from lava_diffpc.rules.dynamics import track  # noqa: E402
from lava_diffpc.rules.fixed_learning import OnChipRule  # noqa: E402
from lava_diffpc.rules.schedule import Schedule  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FMT = FixedFormat()
SCHED = Schedule(m=-1, n=3, c1=2, c2=2, gamma2=0.5)  # 12 steps per sample
SIZES = (4, 6, 3)
SAMPLES = 3


def _data(seed: int = 0) -> tuple[list, np.ndarray, np.ndarray]:
    """Real-unit weights and biases of a 4-6-3 network, inputs and labels."""
    rng = np.random.default_rng(seed)
    params = [(rng.normal(0, 0.8, (SIZES[l], SIZES[l - 1])), rng.normal(0, 0.1, SIZES[l]))
              for l in (1, 2)]
    return params, rng.normal(size=(SAMPLES, SIZES[0])), rng.integers(0, 3, SAMPLES)


def _network(params: list, source_port, *, fixed=FMT, steps: int = SCHED.steps,
             labels=None, learn=None, phase_offset: int = 0):
    """Two synapses and two layers behind ``source_port``; returns (synapses, layers)."""
    syn = [DiffPCSynapse(weights=w, fixed=fixed, learn=learn, schedule=SCHED, steps=steps,
                         layer=l, phase_offset=phase_offset)
           for l, (w, _) in enumerate(params, start=1)]
    layers = [DiffPCLayer(shape=(SIZES[l],), bias=params[l - 1][1], schedule=SCHED,
                          steps=steps, fixed=fixed, output=l == 2, num_samples=SAMPLES,
                          labels=labels if l == 2 else None, learn=learn,
                          fwd_exp=syn[l - 1].weight_exponent,
                          fb_exp=syn[1].weight_exponent if l == 1 else None,
                          phase_offset=phase_offset) for l in (1, 2)]
    source_port.connect(syn[0].s_in_act)
    syn[0].a_out_fwd.connect(layers[0].a_in_fwd)
    layers[0].s_out_act.connect(syn[1].s_in_act)
    syn[1].a_out_fwd.connect(layers[1].a_in_fwd)
    layers[1].s_out_err.connect(syn[1].s_in_err)
    syn[1].a_out_bwd.connect(layers[0].a_in_fb)
    if learn is not None:
        for s, layer in zip(syn, layers):
            layer.s_out_eT.connect(s.a_in_post)
    return syn, layers


def _readout(runner, syn, layers, num_steps: int) -> dict:
    """Run, read predictions, counters and parameters, stop."""
    run_steps(runner, num_steps, Loihi2SimCfg(select_tag="fixed_pt"))
    out = {"pred": layers[-1].predictions.get().tolist(),
           "act": [layer.act_count.get().tolist() for layer in layers],
           "err": [layer.err_count.get().tolist() for layer in layers],
           "weights": [s.weights.get().tolist() for s in syn],
           "bias": [layer.bias.get().tolist() for layer in layers]}
    runner.stop()
    return out


# --------------------------------------------------------------- construction checks
@pytest.mark.parametrize("kwargs, message", [
    ({"labels": [0, 3, 1]}, r"label 3 lies outside the classes \[0, 3\)"),
    ({"labels": [0, -1, 1]}, r"label -1 lies outside"),
    ({"labels": [0.5, 1, 1]}, "integer class indices"),
    ({"labels": [0, 1]}, r"labels has shape \(2,\); expected \(3,\)"),
    ({"bias": np.array([0.0, np.nan, 0.0])}, "bias holds NaN"),
    ({"bias": np.zeros(4)}, r"bias has shape \(4,\); expected \(3,\)"),
    ({"bias": np.full(3, 5000.0)}, "bias does not fit the 24-bit state"),
    ({"fwd_exp": None}, "needs fwd_exp: pass the weight_exponent"),
    ({"steps": 7}, "steps=7; a sample runs schedule.k1"),
    ({"phase_offset": -1}, "phase_offset must be an integer >= 0"),
    ({"fixed": 12}, "fixed must be None"),
    ({"target": np.inf}, "target holds NaN or infinite"),
])
def test_layer_rejects_bad_arguments_in_one_line(kwargs, message):
    args = {"shape": (3,), "bias": np.zeros(3), "schedule": SCHED, "fixed": FMT,
            "output": True, "labels": [0, 1, 2], "num_samples": 3, "fwd_exp": 5, **kwargs}
    with pytest.raises(ValueError, match=message) as err:
        DiffPCLayer(**args)
    assert "\n" not in str(err.value)


def test_thresholds_the_24_bit_format_cannot_hold_are_refused():
    fine = Schedule(m=-10, n=4, c1=1, c2=0)  # 2**-13 < LSB 2**-12
    with pytest.raises(ValueError, match="finer than the state's LSB"):
        DiffPCInput(data=np.ones((1, 2)), schedule=fine, fixed=FMT)
    coarse = Schedule(m=12, n=2, c1=1, c2=0)  # 2**12 beyond the 24-bit state at F = 12
    with pytest.raises(ValueError, match="does not fit the 24-bit state"):
        DiffPCLayer(shape=(2,), bias=np.zeros(2), schedule=coarse, fixed=FMT, fwd_exp=0,
                    fb_exp=0)


def test_synapse_and_input_reject_bad_arguments():
    with pytest.raises(ValueError, match="weights holds NaN"):
        DiffPCSynapse(weights=np.array([[1.0, np.inf]]), fixed=FMT)
    with pytest.raises(ValueError, match=r"weights must be \(n_out, n_in\)"):
        DiffPCSynapse(weights=np.ones(3))
    with pytest.raises(ValueError, match="overflow 8 bits at exponent 9"):
        DiffPCSynapse(weights=np.ones((2, 2)), fixed=FMT, weight_exp=9)
    with pytest.raises(ValueError, match="needs the schedule"):
        DiffPCSynapse(weights=np.ones((2, 2)), learn=OnChipRule())
    with pytest.raises(ValueError, match="data holds NaN"):
        DiffPCInput(data=np.array([[np.nan, 0.0]]), schedule=SCHED)
    with pytest.raises(ValueError, match=r"data must be \(num_samples, n\)"):
        DiffPCInput(data=np.ones(3), schedule=SCHED)


def test_processes_quantise_real_units_with_the_one_format():
    """A fixed process holds exactly what lava_diffpc.fixed_point makes of its real values."""
    x = np.array([[0.3, -1.7], [2.0, 1e9]])
    inp = DiffPCInput(data=x, schedule=SCHED, fixed=FMT)
    assert np.array_equal(inp.data.init, quantize_input(x, FMT))
    assert np.array_equal(inp.thresholds.init, schedule_tables(SCHED, FMT)[0])
    w = np.array([[0.5, -0.25]])
    syn = DiffPCSynapse(weights=w, fixed=FMT)
    mant, e = quantize_connection(w, FMT)
    assert syn.weight_exponent == e == 7 and np.array_equal(syn.weights.init, mant)
    layer = DiffPCLayer(shape=(2,), bias=[0.5, -0.25], schedule=SCHED, fixed=FMT, target=0.75,
                        fwd_exp=7, fb_exp=0)
    assert layer.bias.init.tolist() == [2048, -1024] and layer.target.init == 3072


# ---------------------------------------------------------------- refusals at run
def test_model_of_the_other_arithmetic_is_refused_before_anything_runs():
    params, x, _ = _data()
    inp = DiffPCInput(data=x, schedule=SCHED, steps=SCHED.k1)  # float
    syn, layers = _network(params, inp.s_out, fixed=None, steps=SCHED.k1)
    with pytest.raises(ValueError, match="built for float arithmetic but Lava selected its "
                                         "fixed model.*select_tag='floating_pt'"):
        run_steps(inp, 5, Loihi2SimCfg(select_tag="fixed_pt"))
    assert layers[0].runtime is None or not layers[0].runtime._is_started


SURFACE = textwrap.dedent("""
    import sys
    import numpy as np
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.source import RingBuffer
    from lava_diffpc.proc.common import ModelError, run_steps
    from lava_diffpc.proc.io.process import DiffPCInput
    from lava_diffpc.proc.layer.process import DiffPCLayer
    from lava_diffpc.proc.synapse.process import DiffPCSynapse
    from lava_diffpc.rules.schedule import Schedule

    if __name__ == "__main__":
        sched = Schedule(m=0, n=3, c1=2, c2=1)
        inp = DiffPCInput(data=np.ones((2, 3)), schedule=sched)
        syn = DiffPCSynapse(weights=np.ones((2, 3)))
        case = sys.argv[2]
        out = DiffPCLayer(shape=(2,), bias=np.zeros(2), schedule=sched,
                          output=case == "bad-label", num_samples=2)
        labels = RingBuffer(data=np.full((1, 18), 7.0 if case == "bad-label" else 1.0))
        inp.s_out.connect(syn.s_in_act)
        syn.a_out_fwd.connect(out.a_in_fwd)
        out.s_out_err.connect(syn.s_in_err)
        labels.s_out.connect(out.a_in_label)
        cfg = Loihi2SimCfg(select_tag="floating_pt")
        try:
            if sys.argv[1] == "helper":
                run_steps(inp, 18, cfg)
            else:
                inp.run(condition=RunSteps(num_steps=18), run_cfg=cfg)
        except (ModelError, RuntimeError) as exc:
            print("RAISED", type(exc).__name__, exc)
""")


MODEL_ERRORS = {
    "bad-label": "a_in_label received 7.0, not a class index in [0, 2)",
    "hidden-label": "a_in_label of a hidden layer is connected; labels clamp the output "
                    "layer: connect them to the layer built with output=True",
}


@pytest.mark.parametrize("case", sorted(MODEL_ERRORS))
@pytest.mark.parametrize("how", ["helper", "plain"])
def test_model_error_surfaces_instead_of_hanging(tmp_path, how, case):
    """A bad label received inside run_spk, or labels wired to a hidden layer (the layer
    fails before it sends, while the synapse waits for its error spikes) end run() with the
    model's message, and the interpreter exits; a hang fails the test by its time limit."""
    script = tmp_path / "surface.py"
    script.write_text(SURFACE)
    done = subprocess.run([sys.executable, str(script), how, case], capture_output=True,
                          text=True, timeout=60, cwd=ROOT,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    message = MODEL_ERRORS[case]
    if how == "helper":
        assert f"RAISED ModelError DiffPCLayer failed at time step 1: ValueError: {message}" \
            in done.stdout
    else:
        assert "RAISED RuntimeError 1 Exception(s) occurred" in done.stdout
        assert message in done.stderr


# -------------------------------------------------------------- equivalence oracles
@pytest.mark.slow
def test_hand_built_real_units_equal_the_builder():
    """Real units in, fixed_pt out: the same predictions and spike counts as DiffPCGraph,
    which quantises through QuantizedParams."""
    params, x, labels = _data()
    cfg = DiffPCConfig(sizes=SIZES, schedule=SCHED, target_scale=1.0)
    inp = DiffPCInput(data=x, schedule=SCHED, fixed=FMT)
    syn, layers = _network(params, inp.s_out, labels=labels)
    got = _readout(inp, syn, layers, SAMPLES * SCHED.steps)
    with DiffPCGraph(cfg, params, x, labels, mode="fixed") as graph:
        graph.run()
        assert got["pred"] == graph.predictions().tolist()
        assert got["act"] == [layer.act_count.get().tolist() for layer in graph.layers]
        assert got["err"] == [layer.err_count.get().tolist() for layer in graph.layers]


def _input_spike_trains(x: np.ndarray) -> list[np.ndarray]:
    """Per sample the (n, K) fixed-point spikes of the input tracking rule."""
    thresholds = schedule_tables(SCHED, FMT)[0]
    trains = []
    for sample in quantize_input(x, FMT):
        x_A, spikes = np.zeros_like(sample), []
        for k in range(SCHED.steps):
            x_A, s = track(sample, x_A, int(thresholds[k]), False, FIXED)
            spikes.append(s)
        trains.append(np.stack(spikes, axis=1))
    return trains


@pytest.mark.slow
def test_spike_dataloader_with_phase_offset_equals_diffpc_input():
    """Lava's SpikeDataloader (spikes one step late, labels on ground_truth) feeds the
    first synapse; with phase_offset=1 the predictions, counters and learned parameters
    equal those of the graph fed by DiffPCInput with stored labels."""
    params, x, labels = _data(1)
    rule = OnChipRule(lr_shift=4)
    inp = DiffPCInput(data=x, schedule=SCHED, fixed=FMT)
    syn, layers = _network(params, inp.s_out, labels=labels, learn=rule)
    want = _readout(inp, syn, layers, SAMPLES * SCHED.steps)
    dataset = list(zip(_input_spike_trains(x), labels.tolist()))
    loader = SpikeDataloader(dataset=dataset, interval=SCHED.steps)
    syn, layers = _network(params, loader.s_out, learn=rule, phase_offset=1)
    loader.ground_truth.connect(layers[1].a_in_label)
    got = _readout(loader, syn, layers, SAMPLES * SCHED.steps + 1)
    assert got == want
    assert want["weights"] != [s.weights.init.tolist() for s in syn]  # it learned


@pytest.mark.slow
def test_labels_through_a_port_equal_stored_labels():
    """On-chip training with labels from Lava's RingBuffer source on ``a_in_label`` gives
    the parameters, predictions and counters of train_dataset (stored labels)."""
    params, x, labels = _data(2)
    rule = OnChipRule(lr_shift=4)
    cfg = DiffPCConfig(sizes=SIZES, schedule=SCHED, target_scale=1.0)
    want = train_dataset(cfg, params, x, labels, rule, mode="fixed")
    inp = DiffPCInput(data=x, schedule=SCHED, fixed=FMT)
    source = RingBuffer(data=np.repeat(labels, SCHED.steps)[None, :])
    syn, layers = _network(params, inp.s_out, learn=rule)
    source.s_out.connect(layers[1].a_in_label)
    got = _readout(inp, syn, layers, SAMPLES * SCHED.steps)
    assert got["pred"] == want.predictions.tolist()
    assert got["weights"] == [w.tolist() for w in want.params.weights]
    assert got["bias"] == [b.tolist() for b in want.params.biases]


# ------------------------------------------------------------------- the one counting rule
def test_layer_one_error_spikes_are_not_wired():
    """The builder wires no error path into synapse 1 (its W^T output would reach the
    clamped input); metrics.transmitted does not count layer 1's error spikes either."""
    from lava_diffpc.metrics import transmitted

    params, x, labels = _data()
    cfg = DiffPCConfig(sizes=SIZES, schedule=SCHED, target_scale=1.0)
    graph = DiffPCGraph(cfg, params, x, labels)
    assert not graph.synapses[0].s_in_err.in_connections
    assert not graph.synapses[0].a_out_bwd.out_connections
    assert not graph.layers[0].s_out_err.out_connections
    assert graph.synapses[1].s_in_err.in_connections
    assert not transmitted("error", 1, 2) and transmitted("error", 2, 2)


# ------------------------------------------------------------------------ the docs' example
def _doc_example() -> str:
    text = (ROOT / "docs" / "lava.md").read_text()
    section = text.split("## Building a network by hand", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_docs_hand_built_example_runs_and_matches_run_dataset(tmp_path):
    """The code block of docs/lava.md's "Building a network by hand" runs as written, and
    its predictions equal run_dataset's on the same real-unit parameters."""
    check = textwrap.dedent("""
        from lava_diffpc.config import DiffPCConfig
        from lava_diffpc.lava_graph import run_dataset
        cfg = DiffPCConfig(sizes=(4, 5, 2), schedule=sched, target_scale=1.0)
        want = run_dataset(cfg, [(w1, b1), (w2, b2)], x, mode="fixed").predictions
        assert predictions.tolist() == want.tolist(), (predictions, want)
        print("DOC OK", predictions.tolist())
    """)
    script = tmp_path / "doc_example.py"
    script.write_text(_doc_example() + check)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, env={"PYTHONPATH": str(ROOT),
                                                          "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "DOC OK" in done.stdout


def test_run_dataset_still_refuses_labels_outside_the_classes():
    params, x, _ = _data()
    cfg = DiffPCConfig(sizes=SIZES, schedule=SCHED, target_scale=1.0)
    with pytest.raises(ValueError, match="class indices"):
        run_dataset(cfg, params, x, labels=[0, 1, 3])
