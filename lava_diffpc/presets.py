"""Named configurations: the paper's networks and the embedded digits default.

A preset is a flat dict of command-line defaults; any ``train`` option overrides it.
Timesteps per sample are ``(c1 + c2) * n``: DiffPC-L and DiffPC-M use 120 (n = 4,
c1 = c2 = 15), DiffPC-S 75 (n = 5, c1 = 8, c2 = 7; the paper gives only the total).

Threshold exponent m (the paper does not give it; ``python -m lava_diffpc align`` measures
the choice): m = 0 (thresholds 1 .. 1/8 at n = 4) suits the one-hidden-layer nets, whose
hidden layer learns from the output's errors directly (DiffPC-S and -M match their backprop
twins). DiffPC-L uses m = -3 (thresholds 1/8 .. 1/64): at m = 0 its second hidden layer's
errors stay below 1/8, so they never spike and the first layer never learns (cosine of
W_1's update with backprop's 0.00 after 100 backprop batches; 0.80 at m = -3, with
W_2 and W_3 at 0.96-0.97). One phase of 15 cycles still moves a state by up to
15 * (2^-2 - 2^-6) = 3.5, above MNIST's largest standardised pixel (2.8). Measured on an
H200, 3 epochs: 94.81% at m = 0 against 98.00% at m = -3 (backprop 98.03%); the price is
about 4x the feed-forward activity spikes (5.1 against 1.3 per neuron per sample).
Late in training on shifted images (``--augment``, with the CIFAR presets' gain bound) that
finest threshold is DiffPC-L's limit: many samples' output errors fall below 1/64, never
spike, and each update becomes a sum over the samples still badly fitted. A fifth,
finer threshold per cycle at the same 120 steps (n = 5, c1 = c2 = 12: 1/8 .. 1/128; a
phase still reaches 12 * (2^-2 - 2^-7) = 2.9, where lowering m to -4 would cut it to
1.8) realigned the updates with backprop's (``align``) and, over 30 epochs and three seeds,
ended above four thresholds and above the preset without shifts, still below the backprop
twin (``docs/results/cpu-mnist-augment.json``); shifts of up to one pixel instead of two
(``--shift 1``, two seeds) ended level with them, and 45 epochs instead of 30 (seed 0) as
well. The paper's cyclic-decay schedule, its thresholds falling to half by a phase's last
cycle, needs m one step coarser to keep the feed-forward reach (12 cycles then move a state
by up to 4.4; at m = -3 only 2.2, and the network fell far behind): with m = -2 its last
cycle matches the cyclic schedule's at m = -3 (1/8 .. 1/128), and over three seeds it ended
above the cyclic runs with about half their activity spikes. Random rotations of up to 15
degrees on top of the shifts lifted each of three seeds a little further, while the backprop
twins ended level on average (``docs/results/cpu-mnist-l-rotate.json``). Trained 45 epochs
instead of 30 (three seeds), DiffPC-L and its twin each ended a little higher again, the gap
between them as before. Elastic distortions (``--elastic``) left the twin lower, and a sixth
threshold per cycle at the same 120 steps (n = 6, c1 = c2 = 10) did not lift DiffPC (two
seeds, same file). Less dropout reached the 45-epoch accuracy in 30 epochs (0.1 and none,
three seeds each), and without dropout every twin reached the paper's baseline; the paper's
DiffPC-L row stands on those runs: ``--augment --rotate 15 --gamma 0.25 --max-gain 0.8 --n
5 --c1 12 --c2 12 --schedule cyclic-decay --m -2 --dropout 0``. The preset keeps n = 4,
the cyclic schedule and no shifts: without the shifts the fifth threshold did not beat it,
unstable at gamma 1/2 and, with the bound, fitting the training images closer and the test
images less well (seed 0, ``docs/results/cpu-mnist-l-30ep.json``); cyclic-decay without the
shifts is untried.

DiffPC-S trains with AdamW at 1e-3 instead of the common 5e-4 and with dropout 0.05: over
three seeds of 30 epochs the learning rate gained about a tenth of a point and matched the
backprop twin, and dropout 0.05 (or none) instead of 0.1 a further, smaller gain, within
the spread over seeds; a learning rate of 2e-3, dropout 0.2, finer thresholds (m = -1),
batches of 128 and 50 epochs did not help, and still finer thresholds (m = -2, 1/4 .. 1/64)
made the learning phase unstable: from the twelfth epoch on its error spikes grew and the
accuracy fell far below the preset's, with gamma 1/4 and the gain bound 0.8 as well (one seed
each; ``docs/results/cpu-mnist-s-variants-30ep.json``). What lifted DiffPC-S and its twin
alike is shifting the training images by up to one pixel (``--augment --shift 1``; up to
two, the MNIST default, did not help this network): over three seeds both ended above the
preset and above the paper's row, which stands on those runs
(``docs/results/cpu-mnist-augment.json``). The preset trains on the images as they are, as
the on-chip rule must.

On-chip rule (``--rule onchip``): learning rate ``2**-7`` held constant, error shift 5 and
no weight headroom (each connection's weight exponent fits its initial weights exactly).
The learning engine rounds every update to the 8-bit weight grid with one random number per
sample for the whole matrix; a finer grid made that correlated rounding error smaller, and
on the first 10,000 MNIST images it brought DiffPC-S closest to the float reference trained
with the same per-sample SGD, although more weights then stop at +-127; halving the rate
per epoch lost accuracy (``docs/results/cpu-onchip-mnist-s-10k-study.json``, the per-epoch
table in ``docs/results.md``).

Threshold schedule: every preset uses the plain cyclic one. The paper's cyclic-decay
(within each phase the cycles' thresholds shrink linearly from 1 to ``a = 0.5`` times the
cyclic ones) was trained beside it for 30 epochs on DiffPC-S and DiffPC-M (same seed;
``docs/results``, the ``schedule`` column of the runs table): on DiffPC-S the two ended
level and cyclic sent fewer spikes; on DiffPC-M the decay reached the higher accuracy, but
the fast engine runs it slower: every cycle's thresholds are finer than the last, so the
spikes spread over the whole phase, and in a batch of 256 some sample sends at nearly every
step, where on the cyclic schedule most layers soon rest for the rest of the phase. Pass
``--schedule cyclic-decay`` for the paper's DiffPC-M row.

CIFAR-10 (the paper: two 5x5 stride-2 convolutions, then three fully connected layers;
widths are our choice): ``3x32x32-c32k5s2-c64k5s2-512-128-10``, i.e. 3x32x32 -> 32x14x14
-> 64x5x5 (flattened: 1600) -> 512 -> 128 -> 10, dropout on the two hidden fully connected
layers. The paper gives n (16 for DiffPC-Long, 12 for DiffPC-Efficient) but not m, c1, c2;
ours, measured on a CIFAR batch at initialisation (first conv pre-activations reach ~3):

* c1 = 3: the feed-forward phase of this 5-connection net needs about three cycles (the
  output is 0.018 off the dense network after 2 cycles, 0.005 after 3, n = 16);
* c2 = 6: the error reaches layer l after ``L - l`` cycles of the learning phase
  (gamma2 acts once per cycle), so layer 1 needs >= 5; with 6 cycles the local updates of
  all five connections have cosine 0.81-0.99 with backprop's (Long, gamma = 1/2);
* m: Long m = 1 (reach 2^(m+1) = 4 per cycle, finest threshold 2^-14); Efficient m = 0
  (finest 2^-11: at m = 1 the finest threshold 2^-10 is above most first-layer errors,
  which then never spike; the first conv update's cosine with backprop falls to 0.63).

Steps per sample: Long (3 + 6) * 16 = 144, Efficient (3 + 6) * 12 = 108. Dropout 0.2
(the paper uses dropout but gives no rate), AdamW 5e-4 with a cosine schedule. On the first
CIFAR batch (gamma = 1/2) the learning phase sends 0.75 (Long) and 0.25 (Efficient) error
spikes per neuron per sample, 1.5 and 0.5 bits (the paper: 1.9 and 0.7 bits). CIFAR
presets train on 45,000 images and report accuracy on a held-out 5,000 (``heldout``) as
well as on the 1000 stored official test images.

gamma = 1/4 once per cycle and the relaxation-gain bound ``max_gain`` = 0.8 (after every
optimiser step the matrices above hidden layers are scaled to singular values of at most
``sqrt(0.8 / 0.25 - 1)`` = 1.48; :mod:`lava_diffpc.reference.stability`). Without a bound,
at MNIST's gamma = 1/2, DiffPC's own updates grow the fully connected weights until the
learning phase's relaxation gain ``gamma * (1 + sigma(W D)^2)`` passes 2, the phase no
longer settles, the updates lose backprop's direction and accuracy falls within a few
epochs; gamma = 1/4 alone postponed that, and gamma at every step (1/8) fell to chance in
the first epoch. A bound of 1.9 kept the phase settling and stopped the fall but left DiffPC
well below its backprop twin: the settled output error is each sample's error shrunk by
``(I + W D W^T)^{-1}``, unevenly across samples when sigma is large, and late in training
the batch update then loses backprop's direction. The bound 0.8 keeps that shrinkage
nearly even, and on both presets DiffPC tracked its twin epoch by epoch over eight epochs
(over sixteen the twin pulled ahead while DiffPC's matrices sat at the bound); gamma = 1/2
under the same bound started lower (``docs/results/cpu-cifar-augment.json``;
``docs/results.md``, CIFAR section).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lava_diffpc.config import ConvSpec, conv_shapes, neurons
from lava_diffpc.rules.fixed_learning import OnChipRule

_ONCHIP = OnChipRule()  # the on-chip rule's settings are written once, as its defaults

COMMON: dict[str, Any] = {
    "m": 0, "n": 4, "c1": 15, "c2": 15, "schedule": "cyclic", "a": 0.5,
    "gamma": 0.5, "gamma_mode": "cycle-start", "input_gate": False, "presyn": "x_T",
    "target_scale": 1.0, "dropout": 0.0, "optimizer": "adamw", "lr": 5e-4,
    "weight_decay": 1e-4, "clip": 0.0, "max_gain": 0.0, "lr_schedule": "cosine",
    "batch_size": 256, "epochs": 10, "bp_loss": "mse", "heldout": 0,
    "rule": "local", "lr_shift": _ONCHIP.lr_shift, "err_shift": _ONCHIP.err_shift,
    "headroom": _ONCHIP.headroom, "lr_shift_decay": 0,
    "augment": False, "shift": None, "rotate": 0.0, "elastic": 0.0, "elastic_sigma": None,
    "bound_twin": False,
}

CIFAR_ARCH = "3x32x32-c32k5s2-c64k5s2-512-128-10"
_CIFAR: dict[str, Any] = {
    "dataset": "cifar10", "arch": CIFAR_ARCH, "c1": 3, "c2": 6, "dropout": 0.2,
    "gamma": 0.25, "max_gain": 0.8, "epochs": 20, "heldout": 5000, "augment": True,
}

PRESETS: dict[str, dict[str, Any]] = {
    "digits": {
        "dataset": "digits", "arch": "64-128-10", "batch_size": 32, "lr": 2e-3,
        "epochs": 20, "description": "embedded default: scikit-learn digits, no download",
    },
    "mnist-l": {
        "dataset": "mnist", "arch": "784-1024-512-10", "m": -3, "dropout": 0.2, "epochs": 30,
        "description": "DiffPC-L: MNIST, 784-1024-512-10, 120 steps (paper: 99.3%)",
    },
    "mnist-s": {
        "dataset": "mnist", "arch": "784-400-10", "n": 5, "c1": 8, "c2": 7,
        "dropout": 0.05, "epochs": 30, "lr": 1e-3,
        "description": "DiffPC-S: MNIST, 784-400-10, 75 steps (paper: 98.3%)",
    },
    "fmnist-m": {
        "dataset": "fashion-mnist", "arch": "784-1000-10", "dropout": 0.1, "epochs": 30,
        "description": "DiffPC-M: Fashion-MNIST, 784-1000-10, 120 steps (paper: 89.6%)",
    },
    "cifar-long": {
        **_CIFAR, "m": 1, "n": 16,
        "description": "DiffPC-Long: CIFAR-10, 2 conv + 3 FC, n=16, 144 steps (paper: 65.6%)",
    },
    "cifar-efficient": {
        **_CIFAR, "m": 0, "n": 12,
        "description": "DiffPC-Efficient: CIFAR-10, 2 conv + 3 FC, n=12, 108 steps "
                       "(paper: 63.3%)",
    },
}


def preset(name: str) -> dict[str, Any]:
    """The full option dict of a preset (COMMON overlaid with its own values)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return {**COMMON, **PRESETS[name], "preset": name}


@dataclass(frozen=True)
class NetArch:
    """A parsed architecture string: input shape, convolutions, fully connected widths."""

    input_shape: tuple[int, ...]
    convs: tuple[ConvSpec, ...]
    widths: tuple[int, ...]

    @property
    def sizes(self) -> tuple[int, ...]:
        """Neurons per layer, input first (a feature map counts ``C * H * W``)."""
        conv_sizes = tuple(neurons(s) for s in conv_shapes(self.input_shape, self.convs))
        return conv_sizes + self.widths


ARCH_HELP = ("expected fully connected widths like 784-400-10, or an input CxHxW, "
             "convolutions c<channels>k<kernel>[s<stride>][p<padding>] and fully connected "
             "widths like 3x32x32-c32k5s2-c64k5s2-512-128-10")
_CONV = re.compile(r"c(\d+)k(\d+)(?:s(\d+))?(?:p(\d+))?")


def _arch_error(arch: str, problem: str) -> ValueError:
    return ValueError(f"bad --arch {arch!r}: {problem}; {ARCH_HELP}")


def _parse_conv(token: str, arch: str) -> ConvSpec:
    match = _CONV.fullmatch(token)
    if match is None:
        raise _arch_error(arch, f"{token!r} is no convolution")
    channels, kernel, stride, padding = match.groups()
    try:
        return ConvSpec(int(channels), int(kernel), int(stride or 1), int(padding or 0))
    except ValueError as exc:
        raise _arch_error(arch, str(exc)) from None


def parse_layers(arch: str) -> NetArch:
    """``"3x32x32-c32k5s2-c64k5s2-512-128-10"`` -> :class:`NetArch`, or a clear ValueError.

    The first token is the input: ``N`` features or a ``CxHxW`` image (needed by
    convolutions). Convolutions ``c<C>k<k>[s<s>][p<p>]`` (stride 1 and padding 0 unless
    given) come next, then at least one fully connected width (the last is the output).
    """
    tokens = arch.strip().split("-")
    try:
        input_shape = tuple(int(d) for d in tokens[0].split("x"))
    except ValueError:
        raise _arch_error(arch, f"the input {tokens[0]!r} is neither N nor CxHxW") from None
    if len(input_shape) not in (1, 3) or min(input_shape) < 1:
        raise _arch_error(arch, f"the input {tokens[0]!r} must be N or CxHxW, all positive")
    rest = tokens[1:]
    n_convs = next((i for i, t in enumerate(rest) if not t.startswith("c")), len(rest))
    convs = tuple(_parse_conv(t, arch) for t in rest[:n_convs])
    if convs and len(input_shape) != 3:
        raise _arch_error(arch, "convolutions need a CxHxW input")
    try:
        widths = tuple(int(t) for t in rest[n_convs:])
    except ValueError:
        raise _arch_error(arch, "a fully connected width is no integer (convolutions must "
                                "come before every fully connected layer)") from None
    if not widths:
        raise _arch_error(arch, "it needs at least one fully connected layer (the output)")
    if min(widths) < 1:
        raise _arch_error(arch, "layer widths must be positive")
    try:
        conv_shapes(input_shape, convs)
    except ValueError as exc:
        raise _arch_error(arch, str(exc)) from None
    return NetArch(input_shape, convs, widths)
