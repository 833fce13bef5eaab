"""A trained DiffPC network's inference path as a lava-dl netx HDF5 file, its bit-exact
NumPy model, and its runner on lava-dl's own ``netx.hdf5.Network``.

**What is exported.** DiffPC's feed-forward phase computes, with ternary spikes, the ReLU
network ``h_0 = x`` (``relu(x)`` with ``input_gate``), ``z_l = W_l h_{l-1} + b_l``,
``h_l = relu(z_l)`` for ``l < L``, prediction ``argmax z_L``. The file computes the same
network with netx's sigma-delta ReLU neurons (``neuron/type = SDNN``): each neuron sends the
*change* of its activation as a graded spike, so a static input costs one message per neuron
that changes. The weights are the 8-bit mantissas of :mod:`lava_diffpc.fixed_point` (those
of an on-chip run as they are); DiffPC's feedback path, error spikes and learning are not
part of netx.

**File layout** (what ``lava.lib.dl.netx.hdf5.Network`` 0.6 reads; HDF5 attributes are
ignored by it and carry this module's metadata)::

    layer/0  type b"input", shape [C, H, W] or [n_0]   shape only: the input goes straight
                                                        into layer/1's synapse (netx.inp)
    layer/i  type b"dense": shape [n], weight (n, n_in), bias (n,)
             type b"conv":  shape [C, H, W], weight (C, C_in, k, k) (PyTorch layout),
                            bias (C,), stride, padding, dilation = 1, groups = 1
             neuron/type b"SDNN", neuron/vThMant 0
    layer/i  type b"flatten" between the last convolution and the first dense layer
    attrs["lava_diffpc"]  JSON: input exponent, constant, scales, calibration (below)

Shapes are written CHW (netx reverses them to its WHC); its ``flatten`` transposes back to
CHW, the order of :class:`~lava_diffpc.reference.network.DenseConnection`. No
``neuron/messageBits`` is written: lava-dl 0.6's reader returns a group wrapper for that key
and fails comparing it; every SDNN layer then has netx's default of **16-bit messages**, and
the scales below keep every message inside 16 signed bits.

**Fixed-point semantics** (netx ``fixed_pt``: ``Dense`` + ``SigmaDelta`` with
``spike_exp = state_exp = 6``, ``vThMant = 0``, checked bit for bit by the tests)::

    a_l(t)   = W_l p_{l-1}(t-1)                 synapse, one step of delay (a_l(1) = 0)
    sigma_l += a_l(t)
    act_l    = max(sigma_l + bias_l * 2**12, 0)  24-bit state
    p_l(t)   = (act_l - act_l(t-1)) >> 6         message: the change, floored

``|W| <= 127`` passes netx's ``optimize_weight_bits`` unchanged (it doubles the weights and
sets ``weight_exp = -1``; the synapse halves the sum again, exactly).

**Scales and gains.** A real value ``v`` of layer ``l`` is the state integer ``v 2**s_l`` and
travels as the message ``v 2**a_l`` with ``a_l = s_l - 6``; the input is sent as
``p_0 = round(x 2**a_0)``. The weights are written as ``round(W_l 2**e_l)``, ``|.| <= 127``,
so ``s_l = a_{l-1} + e_l``; ``e_l <= E_l``, the exponent that fills the 8 bits (then the
integers are :mod:`~lava_diffpc.fixed_point`'s mantissas, an on-chip run's as they are).
Relative to netx's own convention (messages ``v 2**12``, weights ``w 2**6``, states
``v 2**18``) layer ``l`` carries the power-of-two gain ``B_l = 2**(e_l - 6)``, the input
``g_0 = 2**(a_0 - 12)`` and layer ``l`` as a whole ``G_l = g_0 B_1 ... B_l = 2**(s_l - 18)``.
ReLU networks are positively homogeneous, so power-of-two gains change no argmax. With
``headroom`` bits to spare over the peaks on the calibration data (the training set), every
layer must satisfy::

    |sigma_l|, |sigma_l + bias_l 2**12| <= 2**23 - 1        24-bit state
    act_l <= 64 (2**15 - 1)                                  its changes >> 6 fit 16 bits
    |p_0| <= 2**15 - 1                                       16-bit input messages

Each layer adds ``e_l - 6`` bits to the chain of gains, so in a deep or wide network full
8-bit weights everywhere would push the input and the hidden messages below a few bits.
:func:`choose_exponents` therefore picks ``a_0`` and every ``e_l`` to maximise the smallest
number of significant bits (``log2`` of the largest integer) among the weights, the input and
hidden messages and the readout (``min_bits`` in the metadata; trained digits and MNIST
networks: 4-6); within that it keeps the output state as large as it can and splits each
layer's state evenly between its incoming messages and its weights.

**Biases** go through weights: every layer below one with biases gets one always-on unit
(an extra input channel with the constant message ``c``, or an extra hidden neuron, a
constant feature map for a convolution, with zero weights in and SDNN bias ``beta``: state
``beta 2**12``, one message ``beta 2**6``), and the bias column of the next layer's weights
is ``round(b 2**E / v)`` with ``v`` the unit's real value, chosen as small as fits 127. Biases
thus get the 8-bit precision of weights; netx's own ``bias`` is scaled by ``2**12`` state
LSBs, coarser than most biases once the states must fit 16-bit messages. A convolution's bias
column is one kernel tap of the constant channel, a tap every output window reads inside the
input (so ``padding <= (k - 1) / 2``).

**Output.** The last layer is a sigma-delta ReLU layer too, with the SDNN bias ``C``
(``C 2**12`` in its state, the same for every class) equal to the calibrated bound of
``|z_L|``: within the calibrated range ``relu`` never clips, and the argmax of
``z_L + C`` is that of ``z_L``. The host reads the output layer's messages and sums them
over the sample (``sum p_L = (z_L + C) 2**a_L`` up to one LSB per step): that sum is the
readout, and its argmax the prediction.

**Protocol per sample** (``S = L + 1`` steps): the input messages are sent once, at the
sample's first step; layer ``l`` has its final value at step ``l + 1``; the output messages
of the ``S`` steps are summed; after step ``S`` every neuron's ``sigma`` and ``act`` are
zeroed (Lava's ``Reset`` process, one per state Var, firing at the sample's last step), so
every sample starts from rest. netx has no reset for SDNN layers (its ``reset_interval``
ignores them), and without one the floor in ``>> 6`` would drift the downstream sums by up
to one message LSB per change, sample after sample.

:class:`NetxNetwork` holds the file's integers; :meth:`NetxNetwork.simulate` is the
bit-exact NumPy model of netx's fixed-point run (tested against Lava); :func:`run_lava` runs
the file on lava-dl's ``netx.hdf5.Network`` with ``Loihi2SimCfg(select_tag="fixed_pt")``.
Only NumPy, torch and h5py are imported at module level; Lava is imported by
:func:`run_lava`.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lava_diffpc.config import DiffPCConfig
from lava_diffpc.fixed_point import (
    DEFAULT_FORMAT,
    QuantizedParams,
    quantize_weights,
    to_numpy,
    to_state_int,
)
from lava_diffpc.reference.network import ConvConnection, connections

FORMAT = "lava_diffpc.netx/1"
META_KEY = "lava_diffpc"
WEIGHT_MAX = 127  # 8-bit signed mantissa, kept exactly by netx's optimize_weight_bits
STATE_MAX = (1 << 23) - 1  # 24-bit neuron state
MESSAGE_BITS = 16  # netx's SDNN default (the file cannot set it, see the module docstring)
MESSAGE_MAX = (1 << (MESSAGE_BITS - 1)) - 1
MESSAGE_SHIFT = 6  # SigmaDelta state_exp: message = change of act >> 6
BIAS_SHIFT = 12  # SigmaDelta: bias and vThMant are scaled by 2**(spike_exp + state_exp)
ACT_MAX = MESSAGE_MAX << MESSAGE_SHIFT  # largest activation whose change fits a message
UNIT_MAX = ACT_MAX >> BIAS_SHIFT  # largest SDNN bias of an always-on unit (511)
DEFAULT_HEADROOM = 1
EXACT_FLOAT32 = 1 << 24  # Lava's conv synapse sums in float32: exact below this


@dataclass
class NetxLayer:
    """One netx block: synapse (dense or conv) + sigma-delta ReLU neurons, as integers.

    Attributes:
        kind: ``"dense"`` or ``"conv"``.
        weight: int64, ``(n, n_in)`` (dense) or ``(C, C_in, k, k)`` (conv).
        bias: int64 SDNN bias per neuron (dense) or channel (conv); the state adds
            ``bias * 2**12``.
        shape: ``(n,)`` or ``(C, H, W)``, always units included.
        stride, padding: of a convolution.
    """

    kind: str
    weight: np.ndarray
    bias: np.ndarray
    shape: tuple[int, ...]
    stride: int = 1
    padding: int = 0

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass
class NetxRun:
    """What :meth:`NetxNetwork.simulate` returns."""

    outputs: np.ndarray  # (N, n_L) int64: the output messages summed over each sample
    peak_sigma: list[int]  # per layer: max |sigma| over samples and steps
    peak_state: list[int]  # per layer: max |sigma + bias 2**12|
    peak_message: list[int]  # per layer: max |message|; index 0 is the input
    peak_conv_sum: list[int]  # per layer: max of sum |W| |p| over a conv window (0: dense)

    def state_bits(self) -> list[float]:
        """``log2`` of each layer's largest state magnitude (must stay below 23)."""
        return [math.log2(max(max(a, b), 1)) for a, b in zip(self.peak_sigma, self.peak_state)]


@dataclass
class NetxNetwork:
    """The integers of an exported network and the conventions to feed and read it.

    Attributes:
        layers: the blocks, input side first.
        input_shape: shape of ``netx.inp`` in CHW order (units included).
        input_exp: ``a_0``: the input message is ``round(x 2**a_0)``.
        input_const: message of the constant input channel (0: none).
        input_relu: apply ``relu`` to the input first (``input_gate``).
        state_exps: ``s_l`` per layer.
        meta: everything else (source, calibration, gains), informational.
    """

    layers: list[NetxLayer]
    input_shape: tuple[int, ...]
    input_exp: int
    input_const: int
    input_relu: bool
    state_exps: list[int]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        """Time steps per sample, ``L + 1``."""
        return len(self.layers) + 1

    @property
    def n_out(self) -> int:
        return self.layers[-1].size

    # ------------------------------------------------------------------ input
    def encode(self, x: Any) -> np.ndarray:
        """Input messages ``(N, *input_shape)``, int64: ``round(x 2**a_0)`` saturated to
        16 bits, plus the constant channel. ``x``: ``(N, n_0)`` or ``(N, C, H, W)``
        standardised like the training data."""
        x = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)
        shape = self.data_shape
        if x.ndim == 2 and len(shape) == 3 and x.shape[1] == math.prod(shape):
            x = x.reshape(len(x), *shape)
        if x.shape[1:] != shape:
            raise ValueError(f"input of shape {x.shape}; expected (N, "
                             f"{', '.join(map(str, shape))})")
        if self.input_relu:
            x = np.maximum(x, 0.0)
        p = np.clip(np.rint(x * 2.0**self.input_exp), -MESSAGE_MAX, MESSAGE_MAX).astype(np.int64)
        if self.input_const:
            const = np.full((len(p), 1, *shape[1:]), self.input_const, dtype=np.int64)
            p = np.concatenate([p, const], axis=1)
        return p

    @property
    def data_shape(self) -> tuple[int, ...]:
        """Shape of one data sample (the input without its constant channel)."""
        if not self.input_const:
            return tuple(self.input_shape)
        return (self.input_shape[0] - 1, *self.input_shape[1:])

    # --------------------------------------------------------------- simulate
    def simulate(self, messages: np.ndarray, batch_size: int = 1000) -> NetxRun:
        """netx's fixed-point run of encoded samples (module docstring), bit for bit.

        Every sample starts from rest and runs :attr:`steps` steps; the output is the sum of
        the output layer's messages. Also records the largest states and messages.
        """
        n_layers = len(self.layers)
        peaks = np.zeros((4, n_layers + 1), dtype=np.int64)
        outs = []
        for i in range(0, len(messages), batch_size):
            out, pk = self._simulate(np.asarray(messages[i:i + batch_size], dtype=np.int64))
            outs.append(out)
            peaks = np.maximum(peaks, pk)
        return NetxRun(np.concatenate(outs), peaks[0, 1:].tolist(), peaks[1, 1:].tolist(),
                       peaks[2].tolist(), peaks[3, 1:].tolist())

    def _simulate(self, p0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        batch = len(p0)
        peaks = np.zeros((4, len(self.layers) + 1), dtype=np.int64)
        peaks[2, 0] = np.abs(p0).max(initial=0)
        sigma = [np.zeros((batch, *layer.shape), dtype=np.int64) for layer in self.layers]
        act = [np.zeros_like(s) for s in sigma]
        bias = [_bias_view(layer) << BIAS_SHIFT for layer in self.layers]
        sent = [None] * (len(self.layers) + 1)  # messages of the previous step
        out = np.zeros((batch, self.n_out), dtype=np.int64)
        for t in range(self.steps):
            now = [p0 if t == 0 else None]
            for l, layer in enumerate(self.layers):
                if sent[l] is not None:
                    sigma[l] += _synapse(layer, sent[l])
                    if layer.kind == "conv":  # Lava's conv sums in float32
                        peaks[3, l + 1] = max(peaks[3, l + 1], _synapse(
                            layer, np.abs(sent[l]), np.abs(layer.weight)).max(initial=0))
                state = sigma[l] + bias[l]
                new = np.maximum(state, 0)
                msg = (new - act[l]) >> MESSAGE_SHIFT
                act[l] = new
                now.append(msg if msg.any() else None)
                peaks[0, l + 1] = max(peaks[0, l + 1], np.abs(sigma[l]).max(initial=0))
                peaks[1, l + 1] = max(peaks[1, l + 1], np.abs(state).max(initial=0))
                peaks[2, l + 1] = max(peaks[2, l + 1], np.abs(msg).max(initial=0))
            if now[-1] is not None:
                out += now[-1].reshape(batch, -1)
            sent = now
        return out, peaks

    def predict(self, x: Any) -> np.ndarray:
        """Predicted classes of the NumPy model on standardised samples ``x``."""
        return self.simulate(self.encode(x)).outputs.argmax(1)

    # -------------------------------------------------------------------- file
    def write(self, path: str | Path) -> Path:
        """Write the netx HDF5 file (module docstring); returns its path."""
        import h5py

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as f:
            f.attrs[META_KEY] = json.dumps(self._meta_dict())
            _group(f, 0, "input", self.input_shape)
            i = 1
            for l, layer in enumerate(self.layers):
                if layer.kind == "dense" and l > 0 and self.layers[l - 1].kind == "conv":
                    _group(f, i, "flatten", None)
                    i += 1
                g = _group(f, i, layer.kind, layer.shape)
                g.create_dataset("weight", data=layer.weight.astype(np.int64))
                g.create_dataset("bias", data=layer.bias.astype(np.int64))
                if layer.kind == "conv":
                    for key, value in (("stride", layer.stride), ("padding", layer.padding),
                                       ("dilation", 1), ("groups", 1)):
                        g.create_dataset(key, data=np.int64(value))
                neuron = g.create_group("neuron")
                neuron.create_dataset("type", (1,), "S10", [b"SDNN"])
                neuron.create_dataset("vThMant", data=np.int64(0))
                g.attrs["state_exp"] = self.state_exps[l]
                i += 1
        return path

    def _meta_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "input_shape": list(self.input_shape),
                "input_exp": self.input_exp, "input_const": self.input_const,
                "input_relu": self.input_relu, "state_exps": self.state_exps,
                "message_bits": MESSAGE_BITS, "steps_per_sample": self.steps, **self.meta}

    @classmethod
    def read(cls, path: str | Path) -> NetxNetwork:
        """The network a file written by :meth:`write` holds (ValueError for other files)."""
        import h5py

        with h5py.File(path, "r") as f:
            if META_KEY not in f.attrs:
                raise ValueError(f"{path} was not written by lava_diffpc (no {META_KEY!r} "
                                 "attribute); only such files carry the input scale")
            meta = json.loads(f.attrs[META_KEY])
            if meta.get("format") != FORMAT:
                raise ValueError(f"{path}: format {meta.get('format')!r}, expected {FORMAT!r}")
            layers = []
            for i in range(len(f["layer"])):
                g = f[f"layer/{i}"]
                kind = g["type"][0].decode()
                if kind not in ("dense", "conv"):
                    continue
                extra = ({"stride": int(g["stride"][()]), "padding": int(g["padding"][()])}
                         if kind == "conv" else {})
                layers.append(NetxLayer(kind, g["weight"][()].astype(np.int64),
                                        g["bias"][()].astype(np.int64),
                                        tuple(int(d) for d in g["shape"][()]), **extra))
        own = ("format", "input_shape", "input_exp", "input_const", "input_relu",
               "state_exps", "message_bits", "steps_per_sample")
        return cls(layers, tuple(meta["input_shape"]), int(meta["input_exp"]),
                   int(meta["input_const"]), bool(meta["input_relu"]),
                   [int(s) for s in meta["state_exps"]],
                   {k: v for k, v in meta.items() if k not in own})

    def table(self) -> str:
        """One line per layer: type, shape, weight exponent used / full, state exponent, gain
        ``G = 2**(s - 18)`` against netx's own scale, largest weight, always-on unit."""
        exps = self.meta.get("weight_exps", [0] * len(self.layers))
        full = self.meta.get("full_weight_exps", exps)
        units = self.meta.get("units", [0] * len(self.layers))
        lines = [f"{'layer':<7}{'type':<7}{'shape':<14}{'e/E':>7}{'s':>5}{'gain G':>11}"
                 f"{'max|W|':>8}{'unit':>10}",
                 f"{'input':<7}{'':<7}{'x'.join(map(str, self.input_shape)):<14}{'':>7}"
                 f"{'':>5}{2.0 ** (self.input_exp - 12):>11.4g}{'':>8}"
                 f"{('c=' + str(self.input_const)) if self.input_const else '-':>10}"]
        for l, layer in enumerate(self.layers, start=1):
            unit = units[l] if l < len(units) else 0
            lines.append(f"{l:<7}{layer.kind:<7}{'x'.join(map(str, layer.shape)):<14}"
                         f"{f'{exps[l - 1]}/{full[l - 1]}':>7}{self.state_exps[l - 1]:>5}"
                         f"{2.0 ** (self.state_exps[l - 1] - 18):>11.4g}"
                         f"{int(np.abs(layer.weight).max(initial=0)):>8}"
                         f"{('beta=' + str(unit)) if unit else '-':>10}")
        return "\n".join(lines)


def _group(f: Any, i: int, kind: str, shape: tuple[int, ...] | None) -> Any:
    g = f.create_group(f"layer/{i}")
    g.create_dataset("type", (1,), "S10", [kind.encode()])
    if shape is not None:
        g.create_dataset("shape", data=np.asarray(shape, dtype=np.int64))
    return g


def _bias_view(layer: NetxLayer) -> np.ndarray:
    b = layer.bias.astype(np.int64)
    return b.reshape(-1, 1, 1) if layer.kind == "conv" else b


def _synapse(layer: NetxLayer, msg: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    """``W p``, exact: integer-valued float64 products and sums (all far below 2**53)."""
    x = torch.from_numpy(msg.astype(np.float64))
    w = torch.from_numpy((layer.weight if weight is None else weight).astype(np.float64))
    if layer.kind == "conv":
        out = torch.nn.functional.conv2d(x, w, stride=layer.stride, padding=layer.padding)
    else:
        out = x.reshape(len(x), -1) @ w.T
    return out.numpy().astype(np.int64)


# ---------------------------------------------------------------------- export
@dataclass
class Ranges:
    """Per layer, over the calibration data: max |W h + b| and max relu(W h + b); and the
    largest input magnitude."""

    z: list[float]
    pos: list[float]
    x: float


def calibration_ranges(config: DiffPCConfig, params: list[tuple[np.ndarray, np.ndarray]],
                       x: np.ndarray, input_relu: bool, batch_size: int = 2000) -> Ranges:
    """Peaks of the real network on the calibration samples ``x`` (float ``params``)."""
    conns = connections(config)
    z_max = [0.0] * len(conns)
    pos_max = [0.0] * len(conns)
    x_max = 0.0
    for i in range(0, len(x), batch_size):
        h = torch.as_tensor(np.asarray(x[i:i + batch_size], dtype=np.float64))
        h = h.reshape(len(h), *config.input_shape)
        if input_relu:
            h = h.clamp(min=0)
        x_max = max(x_max, float(h.abs().max()))
        for l, (conn, (w, b)) in enumerate(zip(conns, params)):
            z = conn.affine(h, torch.from_numpy(w), torch.from_numpy(b))
            z_max[l] = max(z_max[l], float(z.abs().max()))
            pos_max[l] = max(pos_max[l], float(z.clamp(min=0).max()))
            h = z.clamp(min=0)
    return Ranges(z_max, pos_max, x_max)


def _floor_log2(value: float) -> int:
    return math.floor(math.log2(value)) if value > 0 else 60


def choose_exponents(full_exps: list[int], w_max: list[float], ranges: Ranges,
                     margin: float) -> tuple[int, list[int], list[int], float]:
    """Input exponent ``a_0``, weight exponents ``e_l <= E_l`` and state exponents ``s_l``.

    Every layer's state must fit (``s_l <= s_max_l``: 24-bit states, 16-bit messages, with
    ``margin`` over the calibration peaks) and ``s_l = a_{l-1} + e_l``, ``a_l = s_l - 6``.
    Among those choices it maximises the smallest number of significant bits ``tau``
    (``log2`` of the largest integer) over the weight mantissas of every layer, the input
    and hidden messages and the output readout. At that ``tau``: the output state is as
    large as it can be, and going down each layer splits its state between its incoming
    messages and its weights as evenly as the limits allow (equal bits), never past the full
    weight exponent ``E_l``. Returns ``(a_0, e, s, tau)``.
    """
    n = len(full_exps)
    s_max = []
    for l in range(n):
        z = margin * max(ranges.z[l], 1e-12)
        if l == n - 1:  # output: z + C with C = z's bound, in [0, 2 z]
            state, pos = 2 * z, 2 * z
        else:
            state, pos = z, margin * ranges.pos[l]
        s_max.append(min(_floor_log2(STATE_MAX / state), _floor_log2(ACT_MAX / max(pos, 1e-12))))
    in_max = _floor_log2(MESSAGE_MAX / (margin * max(ranges.x, 1e-12)))
    # log2 of the largest value: weights, and messages of layers 0..L (L: the readout); an
    # all-zero matrix or a silent layer sets no precision constraint
    w_bits = [math.log2(w) if w > 0 else math.inf for w in w_max]
    m_bits = [math.log2(v) if v > 0 else math.inf
              for v in [ranges.x] + ranges.pos[:-1] + ranges.z[-1:]]

    def feasible(tau: float) -> list[tuple[int, int]] | None:
        # intervals of s_0 (= a_0 + 6), s_1 .. s_L reachable under every constraint
        e_min = [math.ceil(tau - wb) for wb in w_bits]
        s_min = [math.ceil(tau - mb) + MESSAGE_SHIFT for mb in m_bits]
        if any(lo > e for lo, e in zip(e_min, full_exps)):
            return None
        box = [(s_min[0], in_max + MESSAGE_SHIFT)]
        for l in range(n):
            lo = max(box[-1][0] - MESSAGE_SHIFT + e_min[l], s_min[l + 1])
            hi = min(box[-1][1] - MESSAGE_SHIFT + full_exps[l], s_max[l])
            if lo > hi:
                return None
            box.append((lo, hi))
        return box

    tau = math.floor(4 * min([wb + e for wb, e in zip(w_bits, full_exps)
                              if wb < math.inf] + [16.0])) / 4
    while (box := feasible(tau)) is None:
        tau -= 0.25
        if tau < -64:
            raise ValueError("no scales fit the 24-bit states and 16-bit messages")
    e_min = [math.ceil(tau - wb) for wb in w_bits]
    s = [0] * (n + 1)
    s[n] = box[n][1]
    for l in range(n, 0, -1):  # s_{l-1}: message bits of layer l-1 = weight bits of layer l
        lo = max(box[l - 1][0], s[l] + MESSAGE_SHIFT - full_exps[l - 1])
        hi = min(box[l - 1][1], s[l] + MESSAGE_SHIFT - e_min[l - 1])
        even = (s[l] + 2 * MESSAGE_SHIFT + w_bits[l - 1] - m_bits[l - 1]) / 2
        s[l - 1] = min(max(round(even), lo), hi) if math.isfinite(even) else lo
    exps = [s[l] - s[l - 1] + MESSAGE_SHIFT for l in range(1, n + 1)]
    return s[0] - MESSAGE_SHIFT, exps, s[1:], tau


def integer_params(params: Any) -> QuantizedParams:
    """``params`` as :class:`QuantizedParams`: kept as they are, or float ``[(W, b), ...]``
    (dense or convolution kernels) quantised like :func:`~lava_diffpc.fixed_point.
    quantize_params` (8-bit mantissas, one exponent per layer from ``max|W|``)."""
    if isinstance(params, QuantizedParams):
        return params
    weights, exps, biases = [], [], []
    for l, (w, b) in enumerate(params, start=1):
        mant, e = quantize_weights(to_numpy(w), DEFAULT_FORMAT)
        weights.append(mant)
        exps.append(e)
        biases.append(to_state_int(b, DEFAULT_FORMAT, f"bias of layer {l}"))
    return QuantizedParams(weights, exps, biases, DEFAULT_FORMAT)


def export_network(config: DiffPCConfig, params: Any, calibration: Any, *,
                   headroom: int = DEFAULT_HEADROOM,
                   meta: dict[str, Any] | None = None) -> NetxNetwork:
    """The netx network of a DiffPC network's integer parameters (module docstring).

    Args:
        config: architecture (dense layers, or convolutions followed by dense layers).
        params: float ``[(W_l, b_l), ...]`` (quantised by :func:`integer_params`) or
            :class:`QuantizedParams` (an on-chip run's integers, used as they are).
        calibration: standardised samples (the training set) whose ranges, times
            ``2**headroom``, must fit the states and messages.
        headroom: bits of every state and message left free above the calibration peaks.
        meta: extra metadata to store (e.g. the source run).

    ValueError for a convolution whose padding leaves no kernel tap inside every window
    (the bias tap) and when a bias needs a unit larger than a message allows.
    """
    if headroom < 0:
        raise ValueError(f"headroom must be >= 0 bits, got {headroom}")
    qparams = integer_params(params)
    conns = connections(config)
    n_layers = len(conns)
    if len(qparams.weights) != n_layers:
        raise ValueError(f"{len(qparams.weights)} weight matrices for {n_layers} layers")
    floats = qparams.dequantize()  # the 8-bit network, as fixedsim runs it
    calibration = np.asarray(calibration)
    if len(calibration) < 1:
        raise ValueError("the calibration set is empty")
    ranges = calibration_ranges(config, floats, calibration, config.input_gate)
    margin = 2.0**headroom
    full_exps = [int(e) for e in qparams.weight_exps]
    a0, exps, state_exps, bits = choose_exponents(
        full_exps, [float(np.abs(w).max(initial=0.0)) for w, _ in floats], ranges, margin)
    out_offset = math.ceil(margin * ranges.z[-1] * 2.0 ** (state_exps[-1] - BIAS_SHIFT))

    # always-on units: value v (real) of the unit below each layer, chosen so the bias column
    # fills at most WEIGHT_MAX
    units = [0] * n_layers  # units[l]: SDNN bias of the unit in layer l (l >= 1); [0]: input c
    cols = []
    for l, (e, (_, b)) in enumerate(zip(exps, floats)):
        need = float(np.abs(b).max(initial=0.0)) * 2.0**e / WEIGHT_MAX  # smallest unit value
        a_below = a0 if l == 0 else state_exps[l - 1] - MESSAGE_SHIFT
        if l == 0:  # input channel: message c, value c 2**-a0
            unit = max(1, math.ceil(need * 2.0**a_below))
            if unit > MESSAGE_MAX:
                raise ValueError(f"layer 1's biases need a constant input message of {unit} "
                                 f"> {MESSAGE_MAX}")
            value = unit * 2.0**-a_below
        else:  # hidden unit: SDNN bias beta, message beta 2**6, value beta 2**(6 - a)
            unit = max(1, math.ceil(need * 2.0 ** (a_below - MESSAGE_SHIFT)))
            if unit > UNIT_MAX:
                raise ValueError(f"layer {l + 1}'s biases need an always-on unit of {unit} "
                                 f"> {UNIT_MAX} in layer {l}")
            value = unit * 2.0 ** (MESSAGE_SHIFT - a_below)
        units[l] = unit
        cols.append(np.rint(b * 2.0**e / value).astype(np.int64))

    layers = []
    for l, (conn, (w_float, _)) in enumerate(zip(conns, floats)):
        w = np.rint(w_float * 2.0 ** exps[l]).astype(np.int64)  # W_mant, or W_mant rounded to e_l
        out_unit = l < n_layers - 1
        bias_unit = units[l + 1] if out_unit else out_offset
        if isinstance(conn, ConvConnection):
            c_out, c_in, k, _ = w.shape
            tap = _bias_tap(conn)
            full = np.zeros((c_out + out_unit, c_in + 1, k, k), dtype=np.int64)
            full[:c_out, :c_in] = w
            full[:c_out, c_in, tap, tap] = cols[l]
            bias = np.zeros(c_out + out_unit, dtype=np.int64)
            shape = (conn.out_shape[0] + out_unit, *conn.out_shape[1:])
            layer = NetxLayer("conv", full, bias, shape, conn.spec.stride, conn.spec.padding)
        else:
            n_out, n_in = w.shape
            below = conns[l - 1].out_shape if l > 0 else config.input_shape
            spatial = math.prod(below[1:]) if len(below) == 3 else 1
            full = np.zeros((n_out + out_unit, n_in + spatial), dtype=np.int64)
            full[:n_out, :n_in] = w
            full[:n_out, n_in] = cols[l]  # first position of the constant channel
            bias = np.zeros(n_out + out_unit, dtype=np.int64)
            layer = NetxLayer("dense", full, bias, (n_out + out_unit,))
        if out_unit:
            layer.bias[-1] = bias_unit
        else:
            layer.bias[:] = bias_unit
        layers.append(layer)
    input_shape = tuple(config.input_shape)
    input_shape = (input_shape[0] + 1, *input_shape[1:])
    info = {"weight_exps": exps, "full_weight_exps": full_exps, "min_bits": bits,
            "units": units, "output_offset": out_offset,
            "headroom": headroom, "calibration_samples": len(calibration),
            "calibration_peaks": {"z": ranges.z, "relu": ranges.pos, "input": ranges.x},
            **(meta or {})}
    return NetxNetwork(layers, input_shape, a0, units[0], bool(config.input_gate), state_exps,
                       info)


def _bias_tap(conn: ConvConnection) -> int:
    """A kernel index every output window reads inside the input (the centre if it can)."""
    k, p = conn.spec.kernel, conn.spec.padding
    if p > (k - 1) // 2:
        raise ValueError(f"convolution {conn.spec}: padding {p} leaves no kernel tap inside "
                         "every window, so its bias cannot come from a constant channel")
    return min(max(k // 2, p), k - 1 - p)


# ------------------------------------------------------------------------ Lava
@dataclass
class LavaNetxResult:
    """Output of :func:`run_lava`."""

    outputs: np.ndarray  # (N, n_out) output messages summed per sample
    steps: int
    seconds: float

    @property
    def predictions(self) -> np.ndarray:
        return self.outputs.argmax(1)


def run_lava(path: str | Path, x: Any, *, chunk: int = 2000) -> LavaNetxResult:
    """Run a netx file on lava-dl's ``netx.hdf5.Network`` (``Loihi2SimCfg``, ``fixed_pt``).

    Per chunk of samples: a fixed-point ``RingBuffer`` source sends each sample's input
    messages once at its first step, a ``RingBuffer`` sink records the output messages,
    and a Lava ``Reset`` per SDNN state Var (``sigma``, ``act``) zeroes it at each sample's
    last step. ``x``: standardised samples.
    """
    from lava_diffpc._lava import require_lava

    require_lava()
    net = NetxNetwork.read(path)
    messages = net.encode(x)
    outs, steps, seconds = [], 0, 0.0
    for i in range(0, len(messages), chunk):
        out, n, sec = _run_chunk(Path(path), net, messages[i:i + chunk])
        outs.append(out)
        steps += n
        seconds += sec
    return LavaNetxResult(np.concatenate(outs), steps, seconds)


def _run_chunk(path: Path, net: NetxNetwork,
               messages: np.ndarray) -> tuple[np.ndarray, int, float]:
    from lava.lib.dl.netx.hdf5 import Network
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.reset import Reset
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    n, steps = len(messages), net.steps
    lava_net = Network(net_config=str(path), input_message_bits=MESSAGE_BITS)
    data = np.zeros((*lava_net.inp.shape, n * steps), dtype=np.int32)
    # netx's input shape is (n,) or WHC (x, y, z): CHW samples are transposed to it
    sample = messages.reshape(n, -1) if len(net.input_shape) == 1 else \
        messages.transpose(0, 3, 2, 1)
    data[..., ::steps] = np.moveaxis(sample, 0, -1)
    source = Source(data=data)
    sink = Sink(shape=lava_net.out.shape, buffer=n * steps)
    source.s_out.connect(lava_net.inp)
    lava_net.out.connect(sink.a_in)
    resets = []
    for block in lava_net.layers:
        for var in (block.neuron.sigma, block.neuron.act):
            reset = Reset(interval=steps, offset=steps - 1)
            reset.connect_var(var)
            resets.append(reset)
    start = time.perf_counter()
    failed = True
    try:
        source.run(condition=RunSteps(num_steps=n * steps),
                   run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
        failed = False
        recorded = np.asarray(sink.data.get(), dtype=np.int64)
    finally:
        if not failed:  # Lava hangs on stop() after a model raised
            source.stop()
    seconds = time.perf_counter() - start
    outputs = recorded.reshape(recorded.shape[0], n, steps).sum(axis=2).T
    return outputs, n * steps, seconds


@dataclass
class NetxCheck:
    """A network exported, run on Lava and on its NumPy model (:func:`check_on_lava`)."""

    net: NetxNetwork
    lava: LavaNetxResult
    model: NetxRun

    @property
    def predictions(self) -> np.ndarray:
        return self.lava.predictions

    @property
    def bit_exact(self) -> bool:
        return bool(np.array_equal(self.lava.outputs, self.model.outputs))

    def notes(self) -> list[str]:
        """What ``evaluate --backend netx`` prints under the accuracy."""
        run, net = self.model, self.net
        same = int(np.all(self.lava.outputs == run.outputs, axis=1).sum())
        conv = [b for b, layer in zip(run.peak_conv_sum, net.layers) if layer.kind == "conv"]
        lines = [f"netx: {len(net.layers)} sigma-delta ReLU layers, {net.steps} steps per sample, "
                 f"input message round(x * 2**{net.input_exp}), smallest significant bits "
                 f"{net.meta.get('min_bits', float('nan')):g} (weights, messages, readout)",
                 f"netx: Lava's outputs equal the file's NumPy model on {same} of "
                 f"{len(run.outputs)} samples",
                 f"netx: largest state 2**{max(run.state_bits()):.2f} (limit 2**23), largest "
                 f"message 2**{math.log2(max(max(run.peak_message), 1)):.2f} (limit "
                 f"2**{MESSAGE_BITS - 1})"]
        if conv:
            lines.append(f"netx: largest conv window sum of |W| |p| 2**"
                         f"{math.log2(max(max(conv), 1)):.2f} (Lava sums in float32: exact "
                         "below 2**24)")
        return lines


def check_on_lava(config: DiffPCConfig, params: Any, x: Any, calibration: Any, *,
                  headroom: int = DEFAULT_HEADROOM, path: str | Path | None = None) -> NetxCheck:
    """Export (:func:`export_network`), write the file (``path``, or a temporary one), run it
    on lava-dl's netx (:func:`run_lava`) and on :meth:`NetxNetwork.simulate`."""
    import tempfile

    net = export_network(config, params, calibration, headroom=headroom)
    with tempfile.TemporaryDirectory() as tmp:
        file = net.write(Path(tmp) / "network.net" if path is None else path)
        lava = run_lava(file, x)
    return NetxCheck(net, lava, net.simulate(net.encode(x)))
