"""What defines a DiffPC network apart from its weights: layers, convolutions, schedule, options.

No torch and no Lava import: the fast fixed-point simulator's integer tables, the Lava
builder and the presets read it on any Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from lava_diffpc.metrics import CommStats
from lava_diffpc.rules.schedule import Schedule

PRESYN_FACTORS = ("x_T", "x_A")


@dataclass(frozen=True)
class ConvSpec:
    """A square 2-D convolution: ``channels`` output channels, ``kernel x kernel``, stride,
    zero padding. Written ``c{channels}k{kernel}s{stride}[p{padding}]`` in an arch string."""

    channels: int
    kernel: int
    stride: int = 1
    padding: int = 0

    def __post_init__(self) -> None:
        if min(self.channels, self.kernel, self.stride) < 1 or self.padding < 0:
            raise ValueError(f"convolution {self} needs channels, kernel and stride >= 1 and "
                             "padding >= 0")

    def __str__(self) -> str:
        pad = f"p{self.padding}" if self.padding else ""
        return f"c{self.channels}k{self.kernel}s{self.stride}{pad}"

    def output_shape(self, in_shape: tuple[int, ...]) -> tuple[int, int, int]:
        """``(C_out, H_out, W_out)`` for an input of shape ``(C_in, H_in, W_in)``."""
        if len(in_shape) != 3:
            raise ValueError(f"convolution {self} needs a (channels, height, width) input, "
                             f"got shape {tuple(in_shape)}")
        _, h, w = in_shape
        h_out = (h + 2 * self.padding - self.kernel) // self.stride + 1
        w_out = (w + 2 * self.padding - self.kernel) // self.stride + 1
        if h_out < 1 or w_out < 1:
            raise ValueError(f"convolution {self} does not fit its {h}x{w} input "
                             f"(kernel larger than the padded input)")
        return self.channels, h_out, w_out



def conv_shapes(input_shape: tuple[int, ...],
                convs: tuple[ConvSpec, ...]) -> list[tuple[int, ...]]:
    """Shapes of the input and of every convolution's output layer, input first."""
    shapes = [tuple(int(d) for d in input_shape)]
    for spec in convs:
        shapes.append(spec.output_shape(shapes[-1]))
    return shapes


def neurons(shape: tuple[int, ...]) -> int:
    """Number of neurons of a layer of this shape (channels x positions)."""
    return math.prod(shape)


@dataclass
class DiffPCConfig:
    """Everything that defines a DiffPC network apart from its weights.

    Attributes:
        sizes: neurons per layer ``(n_0, ..., n_L)``, input first (a convolution's output
            layer has ``C * H * W`` neurons).
        schedule: threshold/gamma schedule and phase lengths.
        input_gate: pass the input layer's spikes through the spiking-ReLU gate (off:
            the input carries signed values, spec section 8).
        presyn: presynaptic factor of the learning rule, ``x_T`` or ``x_A``.
        target_scale: the clamped output target is ``target_scale * one_hot(label)``.
        dropout: dropout rate of hidden fully connected layers during training.
        input_shape: shape of one input sample, ``(C, H, W)`` for a conv net; default
            ``(n_0,)``.
        convs: the convolutions of connections 1..len(convs); the rest are fully connected
            (at least one: the output layer is a vector of class scores).
    """

    sizes: tuple[int, ...]
    schedule: Schedule = field(default_factory=Schedule)
    input_gate: bool = False
    presyn: str = "x_T"
    target_scale: float = 1.0
    dropout: float = 0.0
    input_shape: tuple[int, ...] | None = None
    convs: tuple[ConvSpec, ...] = ()

    def comm_stats(self) -> CommStats:
        """Empty spike counters for this network and schedule (both phases)."""
        return CommStats(self.sizes, {"ff": self.schedule.k1, "learn": self.schedule.k2})

    def __post_init__(self) -> None:
        self.sizes = tuple(int(s) for s in self.sizes)
        self.convs = tuple(self.convs)
        if len(self.sizes) < 2 or min(self.sizes) < 1:
            raise ValueError(f"architecture needs >= 2 layers of >= 1 neuron, got {self.sizes}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")
        if self.presyn not in PRESYN_FACTORS:
            raise ValueError(f"presyn must be 'x_T' or 'x_A', got {self.presyn!r}")
        if not math.isfinite(self.target_scale):
            raise ValueError(f"target_scale must be a finite number, got {self.target_scale}")
        if self.input_shape is None:
            self.input_shape = (self.sizes[0],)
        self.input_shape = tuple(int(d) for d in self.input_shape)
        if len(self.convs) > len(self.sizes) - 2:
            raise ValueError(f"{len(self.convs)} convolutions need at least "
                             f"{len(self.convs) + 2} layers (a fully connected output last), "
                             f"got {len(self.sizes)}")
        expected = [neurons(s) for s in conv_shapes(self.input_shape, self.convs)]
        if list(self.sizes[:len(expected)]) != expected:
            raise ValueError(f"sizes {self.sizes} do not match input {self.input_shape} and "
                             f"convolutions {[str(c) for c in self.convs]}: the first layers "
                             f"have {expected} neurons")

    @property
    def n_layers(self) -> int:
        """``L``: the number of layers after the input (connections)."""
        return len(self.sizes) - 1

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """Per-layer neuron shapes, input first: ``(C, H, W)`` or ``(n,)``."""
        shapes = conv_shapes(self.input_shape, self.convs)
        return shapes + [(n,) for n in self.sizes[len(shapes):]]

    @property
    def dropout_layers(self) -> list[int]:
        """Layers that dropout acts on: the hidden fully connected layers."""
        return list(range(len(self.convs) + 1, len(self.sizes) - 1))
