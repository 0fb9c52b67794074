"""Build the spiking network of a ReLU ANN from :mod:`lava_ternary.block` with given thresholds.

Each neuron stage becomes a block of integrate-and-fire neurons: current = input (``current_decay=1``),
no leak (``voltage_decay=0``), soft reset, threshold ``theta_l``, ``v_init = v0_l`` (``theta_l/2``), spike
amplitude ``theta_l`` held (fixed) as the next block's ``input_amplitude`` and folded into its 8-bit
weights (:mod:`lava_ternary.fold`), BatchNorm folded into weights and bias. The last ``Linear`` becomes an :class:`~lava_ternary.block.Affine` readout whose
voltage is its per-step input (``voltage_decay=1``), summed over the ``T`` output steps.

Fixed-point scaling: a block's spikes do not change when its weights, bias, threshold and initial
potential are multiplied by the same positive number. Every output channel ``i`` is scaled by
``s_i = Theta / theta_i``, with the block threshold ``Theta`` (a multiple of 1/64, at most
:data:`THETA_MAX`) chosen as large as the 8-bit weights (``[-4, 254/64]``, step 1/32) and 13-bit bias
allow, so the weights use their range; per-channel thresholds thus become per-channel weight scales
under one neuron threshold. The input is integer levels; ``input_amplitude`` (ANN input per level) is
folded into the first block the same way.

Time: every spiking block delays by one step, so block ``i`` first sees input at step ``i``; its bias
for those ``i`` steps is subtracted from its initial potential so that it holds ``v0`` when input arrives.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch

from lava_ternary import block as tblock
from lava_ternary.neuron import MAX_BIAS_MANT, W_SCALE

from .activations import Stage

W_MAX = 254 / W_SCALE
B_MAX = MAX_BIAS_MANT / W_SCALE
THETA_MAX = 1024.0
V_INIT_MAX = 2000.0


@dataclass
class StagePlan:
    """ANN-domain threshold and initial potential of one neuron stage (scalars or per-channel arrays)."""

    theta: np.ndarray
    v0: np.ndarray


@dataclass
class BlockScale:
    """How one block's parameters relate to the ANN's: ``raw = s[i] * ann * extra`` (bias without ``extra``)."""

    s: np.ndarray
    extra: float = 1.0


def ann_parameters(stages: Sequence[Stage]) -> List[Optional[Tuple[np.ndarray, np.ndarray]]]:
    """``(W, b)`` of every weighted stage with BatchNorm folded in (``None`` for the others)."""
    out: List[Optional[Tuple[np.ndarray, np.ndarray]]] = []
    for stage in stages:
        if stage.kind not in ("conv", "dense", "readout"):
            out.append(None)
            continue
        w = stage.module.weight.detach().double().cpu().numpy()
        b = (stage.module.bias.detach().double().cpu().numpy() if stage.module.bias is not None
             else np.zeros(w.shape[0]))
        if stage.norm is not None:
            n = stage.norm
            g = (n.weight.detach().double() if n.weight is not None else torch.ones(w.shape[0], dtype=torch.float64))
            g = (g / torch.sqrt(n.running_var.double() + n.eps)).cpu().numpy()
            beta = n.bias.detach().double().cpu().numpy() if n.bias is not None else 0.0
            w = w * g.reshape((-1,) + (1,) * (w.ndim - 1))
            b = (b - n.running_mean.double().cpu().numpy()) * g + beta
        out.append((w, b))
    return out


class ConvertedNet(torch.nn.Module):
    """A plain sequence of :mod:`lava_ternary.block` blocks (``.blocks``); each folds its input amplitude itself.

    ``forward`` takes integer input levels ``[N, C, (H, W,) T]`` and appends ``latency`` zero steps;
    :meth:`readout` sums the readout over the last ``T`` steps (what a deployed network emits).
    """

    def __init__(self, blocks: Sequence[torch.nn.Module], scales: Sequence[Optional[BlockScale]],
                 plans: Sequence[StagePlan], stages: Sequence[Stage]):
        super().__init__()
        self.blocks = torch.nn.ModuleList(blocks)
        tblock.propagate_shapes(self.blocks)
        self.scales = list(scales)
        self.plans = list(plans)
        self.stages = list(stages)
        self.latency = sum(int(getattr(b, "delay_shift", False)) for b in self.blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Readout per step ``[N, classes, T + latency]``."""
        x = torch.nn.functional.pad(x, (0, self.latency))
        for b in self.blocks:
            x = b(x)
        return x

    def readout(self, output: torch.Tensor) -> torch.Tensor:
        """Class scores: the readout summed over the last ``T`` steps."""
        return output[..., self.latency:].sum(-1)

    def ann_parameters(self) -> List[Optional[Tuple[np.ndarray, np.ndarray]]]:
        """The blocks' current weights and biases mapped back to ANN units (to rebuild at another ``T``)."""
        out: List[Optional[Tuple[np.ndarray, np.ndarray]]] = []
        for blk, scale, stage in zip(self.blocks, self.scales, self.stages):
            if scale is None or stage.kind == "pool":
                out.append(None)
                continue
            w = blk.synapse.weight.detach().double().cpu().numpy()[..., 0]
            if stage.kind != "conv":
                w = w.reshape(w.shape[0], -1)
            s = scale.s.reshape((-1,) + (1,) * (w.ndim - 1))
            b = blk.bias.detach().double().cpu().numpy() if blk.bias is not None else np.zeros(w.shape[0])
            out.append((w / (s * scale.extra), b / scale.s))
        return out


def _floor64(x: float) -> float:
    return float(np.floor(x * W_SCALE) / W_SCALE)


def _neuron(theta: float, v_init, spike_mode: str, voltage_decay: float = 0.0) -> dict:
    return dict(threshold=theta, current_decay=1.0, voltage_decay=voltage_decay, reset="soft",
                spike_mode=spike_mode, v_init=np.asarray(v_init, dtype=np.float64).tolist(), surrogate="ste")


def _amplitude_args(alpha: Optional[np.ndarray], dense: bool) -> dict:
    """Block arguments for receiving spikes of amplitude ``alpha`` (None: the first block, graded input)."""
    if alpha is None:
        return {}
    if alpha.size == 1 or np.all(alpha == alpha[0]):
        return {"input_amplitude": "layer"}
    return {"input_amplitude": "channel", **({"amplitude_channels": int(alpha.size)} if dense else {})}


def _set_amplitude(blk: torch.nn.Module, alpha: Optional[np.ndarray]) -> None:
    """Fix the block's input amplitude to ``alpha`` (not trained by calibration)."""
    if alpha is None:
        return
    count = blk.input_amplitude.numel()
    blk.input_amplitude.data = torch.tensor(alpha[:count], dtype=torch.float32)
    blk.input_amplitude.requires_grad_(False)


def _expand_inputs(alpha: np.ndarray, in_features: int) -> np.ndarray:
    """Input amplitude per input feature (a dense layer after a flatten repeats each channel)."""
    alpha = np.asarray(alpha, dtype=np.float64).reshape(-1)
    if alpha.size == 1:
        return np.full(in_features, alpha[0])
    return np.repeat(alpha, in_features // alpha.size)


def _block_threshold(m: np.ndarray, b: np.ndarray, theta: np.ndarray, where: str) -> float:
    """Largest multiple of 1/64 such that weights and bias scaled by ``Theta/theta`` stay in range."""
    limit = THETA_MAX
    ratio_w = np.max(m / theta)
    if ratio_w > 0:
        limit = min(limit, W_MAX / ratio_w)
    ratio_b = np.max(np.abs(b) / theta)
    if ratio_b > 0:
        limit = min(limit, B_MAX / ratio_b)
    big = _floor64(limit)
    if big < 1 / W_SCALE:
        raise ValueError(f"{where}: no threshold >= 1/64 keeps the weights in the 8-bit range")
    return big


def build_snn(stages: Sequence[Stage], params: Sequence[Optional[Tuple[np.ndarray, np.ndarray]]],
              plans: Sequence[StagePlan], input_shape: Sequence[int], input_amplitude: float = 1.0,
              spike_mode: str = "binary") -> ConvertedNet:
    """The SNN of ``stages`` with ANN-domain ``params`` (see :func:`ann_parameters`) and thresholds ``plans``.

    Parameters
    ----------
    stages : sequence of Stage
        From :func:`lava_ternary.convert.activations.parse_ann`.
    params : sequence
        ``(W, b)`` per weighted stage (``None`` elsewhere), ANN units, BatchNorm folded.
    plans : sequence of StagePlan
        One per neuron stage, in order: ``theta`` and ``v0`` (scalars or per output channel).
    input_shape : sequence of int
        ``(C, H, W)`` (or ``(C,)``) of one input step.
    input_amplitude : float
        ANN input value of one input level (e.g. 1/16 for digits levels 0..16 fed to an ANN on [0, 1]).
    spike_mode : {'binary', 'ternary'}
        Neuron spikes.
    """
    blocks: List[torch.nn.Module] = []
    scales: List[Optional[BlockScale]] = []
    plan_iter = iter(plans)
    alpha: np.ndarray = np.array([input_amplitude])
    first = True
    delay = 0
    shape = tuple(int(s) for s in input_shape)
    used_plans: List[StagePlan] = []
    for index, (stage, p) in enumerate(zip(stages, params)):
        where = f"stage {index} ({stage.name})"
        extra = input_amplitude if first else 1.0
        received = None if first else alpha
        if stage.kind == "flatten":
            blocks.append(tblock.Flatten())
            scales.append(None)
            shape = (int(np.prod(shape)),)
            continue
        if stage.kind == "readout":
            w, b = p
            m = np.abs(w * _expand_inputs(alpha, w.shape[1])[None, :]).max()
            s = min(W_MAX / m if m > 0 else 1.0, B_MAX / np.abs(b).max() if np.abs(b).max() > 0 else np.inf)
            blk = tblock.Affine(_neuron(1.0, 0.0, spike_mode, voltage_decay=1.0), w.shape[1], w.shape[0],
                                bias=bool(np.any(b != 0)), **_amplitude_args(received, dense=True))
            _set_amplitude(blk, received)
            blk.synapse.weight.data = torch.tensor(s * extra * w, dtype=torch.float32).reshape(
                blk.synapse.weight.shape)
            _set_bias(blk, s * b)
            blocks.append(blk)
            scales.append(BlockScale(np.full(w.shape[0], s), extra))
            continue
        plan = next(plan_iter)
        used_plans.append(plan)
        theta = np.asarray(plan.theta, dtype=np.float64).reshape(-1)
        v0 = np.asarray(plan.v0, dtype=np.float64).reshape(-1)
        if stage.kind == "pool":
            if alpha.size > 1 and not np.all(alpha == alpha[0]):
                raise ValueError(f"{where}: pooling needs one threshold for the layer before it")
            k = _pair(stage.module.kernel_size)
            stride = _pair(stage.module.stride if stage.module.stride is not None else stage.module.kernel_size)
            if theta.size > 1:
                raise ValueError(f"{where}: pooling takes one threshold per layer")
            big = _block_threshold(np.array([alpha[0] / (k[0] * k[1])]), np.zeros(1), theta, where)
            s = big / theta
            blk = tblock.Pool(_neuron(big, s * v0, spike_mode), kernel_size=k, stride=stride,
                              **_amplitude_args(received, dense=False))
            _set_amplitude(blk, received)
            blk.synapse.weight.data = torch.full_like(blk.synapse.weight, float(s[0] / (k[0] * k[1])))
            scales.append(BlockScale(s))
            shape = (shape[0], (shape[1] - k[0]) // stride[0] + 1, (shape[2] - k[1]) // stride[1] + 1)
        else:
            w, b = p
            out_ch = w.shape[0]
            theta = np.broadcast_to(theta, (out_ch,)).copy()
            v0 = np.broadcast_to(v0, (out_ch,)).copy()
            a_in = _expand_inputs(alpha, w.shape[1])
            scaled = np.abs(w * a_in.reshape((1, -1) + (1,) * (w.ndim - 2)))
            m = scaled.reshape(out_ch, -1).max(axis=1)
            big = _block_threshold(m, b, theta, where)
            s = big / theta
            bias = s * b
            v_init = np.clip(s * v0 - delay * bias, -V_INIT_MAX, V_INIT_MAX)
            neuron = _neuron(big, v_init if np.ptp(v_init) > 0 else v_init[:1], spike_mode)
            raw = w * s.reshape((-1,) + (1,) * (w.ndim - 1)) * extra
            if stage.kind == "conv":
                mod = stage.module
                blk = tblock.Conv(neuron, w.shape[1] * mod.groups, out_ch, _pair(mod.kernel_size),
                                  stride=_pair(mod.stride), padding=_pair(mod.padding), dilation=_pair(mod.dilation),
                                  groups=mod.groups, bias=bool(np.any(b != 0)), input_shape=shape,
                                  **_amplitude_args(received, dense=False))
                shape = tuple(int(v) for v in blk.neuron.shape)
            else:
                blk = tblock.Dense(neuron, w.shape[1], out_ch, bias=bool(np.any(b != 0)),
                                   **_amplitude_args(received, dense=True))
                shape = (out_ch,)
            _set_amplitude(blk, received)
            blk.synapse.weight.data = torch.tensor(raw, dtype=torch.float32).reshape(blk.synapse.weight.shape)
            _set_bias(blk, bias)
            scales.append(BlockScale(s, extra))
        blocks.append(blk)
        alpha = theta
        first = False
        delay += 1
    if next(plan_iter, None) is not None:
        raise ValueError("plans: more plans than neuron stages")
    return ConvertedNet(blocks, scales, used_plans, stages)


def _pair(v) -> Tuple[int, int]:
    return (int(v), int(v)) if np.isscalar(v) else (int(v[0]), int(v[1]))


def _set_bias(blk: torch.nn.Module, bias: np.ndarray) -> None:
    if blk.bias is not None:
        blk.bias.data = torch.tensor(bias, dtype=torch.float32)
