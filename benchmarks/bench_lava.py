"""Simulated steps per second: DiffPC Lava graph vs a stock Lava LIF + Dense graph, and the
fast fixed-point simulator's speed-up over the Lava graph.

All for a 784-400-10 network (sizes configurable) in the same run, on Loihi2SimCfg:

* DiffPC graph: DiffPCInput, 2 DiffPCSynapse, 2 DiffPCLayer (5 processes), random
  ``nn.Linear``-style weights, Gaussian inputs, inference (``K1`` steps per sample);
* stock graph: source RingBuffer -> Dense -> LIF -> Dense -> LIF (5 processes), same sizes;
* fast simulator: :class:`lava_diffpc.fixedsim.FixedPointNetwork` on the same samples
  (predictions checked identical to the Lava graph's in fixed mode), then batched.

    .venv/bin/python benchmarks/bench_lava.py [--samples 10] [--mode fixed] [--batch 1000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from lava_diffpc.config import DiffPCConfig
from lava_diffpc.fixed_point import FixedFormat, quantize_input, quantize_params
from lava_diffpc.fixedsim import FixedPointNetwork
from lava_diffpc.lava_graph import MODES, DiffPCGraph
from lava_diffpc.reference.network import init_parameters
from lava_diffpc.rules.schedule import Schedule


def stock_steps_per_second(sizes: tuple[int, ...], steps: int, tag: str) -> float:
    """Steps/s of RingBuffer -> (Dense -> LIF) per layer, run for ``steps`` steps."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.io.source import RingBuffer
    from lava.proc.lif.process import LIF

    rng = np.random.default_rng(0)
    source = RingBuffer(data=(rng.random((sizes[0], 64)) < 0.1).astype(int))
    port = source.s_out
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        dense = Dense(weights=rng.integers(-64, 64, (n_out, n_in)))
        lif = LIF(shape=(n_out,), du=4095, dv=0, vth=64, bias_mant=0)
        port.connect(dense.s_in)
        dense.a_out.connect(lif.a_in)
        port = lif.s_out
    start = time.perf_counter()
    source.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag=tag))
    seconds = time.perf_counter() - start
    source.stop()
    return steps / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="784-400-10")
    ap.add_argument("--samples", type=int, default=10, help="samples streamed through Lava")
    ap.add_argument("--mode", default="fixed", choices=tuple(MODES))
    ap.add_argument("--batch", type=int, default=1000, help="fast simulator batch size")
    args = ap.parse_args()

    sizes = tuple(int(s) for s in args.sizes.split("-"))
    cfg = DiffPCConfig(sizes=sizes, schedule=Schedule(n=5, c1=8, c2=7))  # DiffPC-S timing
    k1 = cfg.schedule.k1
    params = init_parameters(sizes, 0, torch.float64)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(max(args.samples, args.batch), sizes[0]))
    fmt = FixedFormat()
    q = quantize_params(params, fmt)
    x_int = quantize_input(x, fmt)
    steps = args.samples * k1

    with DiffPCGraph(cfg, q if args.mode == "fixed" else params,
                     x_int[:args.samples] if args.mode == "fixed" else x[:args.samples],
                     mode=args.mode) as graph:
        graph.run()
        lava_sps = graph.steps_per_second
        lava_pred = graph.predictions()
    stock_sps = stock_steps_per_second(sizes, steps, MODES[args.mode])

    sim = FixedPointNetwork(cfg, q)
    start = time.perf_counter()
    sim_pred = sim.predict(x_int[:args.samples], batch_size=1)
    single_sps = steps / (time.perf_counter() - start)
    start = time.perf_counter()
    sim.predict(x_int[:args.batch], batch_size=args.batch)
    batch_sps = args.batch * k1 / (time.perf_counter() - start)

    print(f"network {args.sizes}, {args.samples} samples x K1={k1} steps ({steps} steps), "
          f"mode {args.mode}")
    print(f"  DiffPC Lava graph ({2 * len(sizes) - 1} processes): {lava_sps:8,.0f} steps/s")
    print(f"  stock LIF+Dense graph ({2 * len(sizes) - 1} processes): {stock_sps:8,.0f} steps/s")
    print(f"  fast fixed-point simulator, batch 1:    {single_sps:10,.0f} sample-steps/s "
          f"({single_sps / lava_sps:,.0f}x the Lava graph)")
    print(f"  fast fixed-point simulator, batch {args.batch}: {batch_sps:10,.0f} sample-steps/s "
          f"({batch_sps / lava_sps:,.0f}x the Lava graph)")
    if args.mode == "fixed":
        same = lava_pred.tolist() == sim_pred.tolist()
        print(f"  Lava fixed_pt predictions identical to the fast simulator's: {same}")


if __name__ == "__main__":
    main()
