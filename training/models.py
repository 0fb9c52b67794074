"""Ternary / binary spiking networks built from :mod:`lava_ternary.block` (lava-dl tutorial convention).

Every model is a ``torch.nn.Module`` with a ``blocks`` ``ModuleList`` and a ``forward`` that loops
over it. With ``neuron='ternary-learned'`` every weighted block that receives spikes is built with
``input_amplitude='layer'`` (the paper's learnt amplitude of the layer before, folded into the block's
own 8-bit weights, :mod:`lava_ternary.fold`), so each block trains on the weights that deploy and no
call links them. ``model.config`` holds everything :func:`build_model` needs to rebuild the model (it
is stored in checkpoints); checkpoints of earlier versions, whose amplitudes sat on the firing
neurons, are migrated on ``load_state_dict`` (:func:`lava_ternary.fold.migrate_state_dict`).

Time axis. Every weighted block adds one step of latency (slayer ``delay_shift``, Loihi's synaptic
buffer), so a network of ``L`` such blocks answers ``L`` steps late. ``forward`` therefore appends
``model.latency`` zero steps to the ``T`` input steps and :meth:`SpikingNet.readout` sums the output
spikes ``b`` over the last ``T`` steps: the same computation as the paper's latency-free ``T``-step network,
and exactly what a deployed network running ``T + latency`` steps per sample emits.

Which models the netx deploy path can express today:

- ``digits-conv`` (default), ``mlp`` and ``vgg`` are plain sequences of Conv (stride instead of
  pooling), Flatten and Dense blocks: netx's sequential layer list expresses them.
- ``resnet19`` / ``resnet20`` (the paper's CIFAR backbones) are built from the paper's basic block
  (:class:`lava_ternary.residual.Residual`: conv-norm-ternary-conv-norm plus a shortcut synapse into one
  neuron group, then ternary; the norms fold into the 8-bit weights in training as at export, and each
  block starts as its shortcut); each block exports as a ``conv`` and a ``concat`` layer, the graph
  extension of netx (``docs/netx_schema.md``), and the global pooling as a sum-pooling ``pool`` layer.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Optional, Sequence

import torch

from lava_ternary import block as tblock
from lava_ternary import fold, readout
from lava_ternary.neuron import PAPER_PARAMS
from lava_ternary.residual import Residual

MODELS = ("digits-conv", "mlp", "vgg", "resnet19", "resnet20")
NEURONS = ("binary", "ternary", "ternary-learned")
DEPLOYABLE = MODELS


def neuron_params(neuron: str, threshold: float = PAPER_PARAMS["threshold"], **overrides: Any) -> Dict[str, Any]:
    """The paper's neuron (``PAPER_PARAMS``) in one of the three study modes.

    Parameters
    ----------
    neuron : str
        ``'binary'`` ({0, 1} spikes), ``'ternary'`` ({-1, 0, 1}) or ``'ternary-learned'`` (ternary; the
        trainable layer-wise amplitude ``a`` of Eq. 14 is :func:`amplitude_args` of the receiving blocks).
    threshold : float
        Firing threshold θ.
    **overrides
        Further ``lava_ternary.neuron.Ternary`` arguments (e.g. ``surrogate``, ``reset``).
    """
    if neuron not in NEURONS:
        raise ValueError(f"neuron={neuron!r} is not one of {', '.join(NEURONS)}")
    params = dict(PAPER_PARAMS, threshold=threshold, tau_grad=1.0, scale_grad=1.0, reset="hard",
                  spike_mode="binary" if neuron == "binary" else "ternary", surrogate="ste")
    params.update(overrides)
    return params


def amplitude_args(neuron: str) -> Dict[str, Any]:
    """Block arguments of a block that receives spikes: ``input_amplitude='layer'`` for ``'ternary-learned'``."""
    return {"input_amplitude": "layer"} if neuron == "ternary-learned" else {}


def _latency(module: torch.nn.Module) -> int:
    """Steps of delay a block adds: its ``latency_steps`` if it has one, else 1 with ``delay_shift``."""
    if hasattr(module, "latency_steps"):
        return int(module.latency_steps)
    return int(bool(getattr(module, "delay_shift", False)))


class SpikingNet(torch.nn.Module):
    """A sequence of blocks with the time padding and readout described in the module docstring.

    Parameters
    ----------
    blocks : list of torch.nn.Module
        The blocks in order; unknown shapes are filled in (:func:`lava_ternary.block.propagate_shapes`).
    config : dict
        The :func:`build_model` arguments that rebuild this network.
    latency : int, optional
        Output delay in steps; by default the sum of the blocks' delays (one per ``delay_shift``).
    """

    def __init__(self, blocks: Sequence[torch.nn.Module], config: Dict[str, Any], latency: Optional[int] = None):
        super().__init__()
        self.blocks = torch.nn.ModuleList(blocks)
        self.config = copy.deepcopy(config)
        tblock.propagate_shapes(self.blocks)
        self.latency = sum(_latency(b) for b in self.blocks) if latency is None else latency
        self._register_load_state_dict_pre_hook(_migrate_amplitudes, with_module=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Output spikes ``b`` ``[N, classes, T + latency]`` for input ``[N, C, (H, W,) T]``."""
        x = torch.nn.functional.pad(x, (0, self.latency))
        for block in self.blocks:
            x = block(x)
        return x

    def readout(self, output: torch.Tensor) -> torch.Tensor:
        """Class scores ``[N, classes]``: output summed over the last ``T`` steps and over each class's population.

        Works on the deployed network's output spikes too (a tensor ``[N, classes * population, T + latency]``):
        the prediction is ``readout(...).argmax(1)`` on both sides.
        """
        return readout.class_scores(output, self.latency, int(self.config.get("population", 1)))

    def spiking_blocks(self) -> List[torch.nn.Module]:
        """Blocks (also inside residual units) that own a spiking neuron, in forward order."""
        return [m for m in self.modules() if getattr(m, "neuron", None) is not None
                and isinstance(getattr(m, "neuron"), torch.nn.Module) and m is not self]


def _migrate_amplitudes(module: torch.nn.Module, state_dict: Dict[str, Any], prefix: str, *args: Any) -> None:
    """``load_state_dict`` pre-hook: move an earlier version's neuron amplitudes to the receiving blocks."""
    own = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    if not any(k.endswith(".neuron.amplitude") for k in own):
        return
    for key in own:
        del state_dict[prefix + key]
    state_dict.update({prefix + k: v for k, v in fold.migrate_state_dict(module, own).items()})


def _digits_conv(params, first, shape, classes, amp, width: int = 8) -> List[torch.nn.Module]:
    c, h, w = shape
    h2, w2 = (h + 1) // 2, (w + 1) // 2
    return [tblock.Conv(first, c, width, 3, padding=1, weight_scale=2, input_shape=shape),
            tblock.Conv(params, width, 2 * width, 3, stride=2, padding=1, weight_scale=2, **amp),
            tblock.Flatten(),
            tblock.Dense(params, 2 * width * h2 * w2, 8 * width, weight_scale=2, **amp),
            tblock.Dense(params, 8 * width, classes, weight_scale=2, **amp)]


def _mlp(params, first, shape, classes, amp, width: int = 128) -> List[torch.nn.Module]:
    c, h, w = shape
    return [tblock.Flatten(input_shape=shape),
            tblock.Dense(first, c * h * w, width, weight_scale=2),
            tblock.Dense(params, width, width, weight_scale=2, **amp),
            tblock.Dense(params, width, classes, weight_scale=2, **amp)]


def _vgg(params, first, shape, classes, amp, width: int = 64) -> List[torch.nn.Module]:
    """VGG-11-style: conv stages with stride-2 convolutions in place of max pooling (netx has no pool)."""
    c, h, w = shape
    plan = [width, "down", 2 * width, "down", 4 * width, 4 * width, "down", 8 * width, 8 * width, "down"]
    blocks: List[torch.nn.Module] = []
    ch = c
    for item in plan:
        p = first if not blocks else params
        extra = amp if blocks else {"input_shape": shape}
        if item == "down":
            blocks.append(tblock.Conv(p, ch, ch, 3, stride=2, padding=1, weight_scale=2, **extra))
            h, w = (h + 1) // 2, (w + 1) // 2
        else:
            blocks.append(tblock.Conv(p, ch, item, 3, padding=1, weight_scale=2, **extra))
            ch = item
    return blocks + [tblock.Flatten(), tblock.Dense(params, ch * h * w, classes, weight_scale=2, **amp)]


def _resnet(params, first, shape, classes, amp, widths: Sequence[int], units: Sequence[int],
            head: Optional[int]) -> List[torch.nn.Module]:
    c, h, w = shape
    blocks: List[torch.nn.Module] = [tblock.Conv(first, c, widths[0], 3, padding=1, weight_scale=2,
                                                 input_shape=shape)]
    ch = widths[0]
    for stage, (width, n) in enumerate(zip(widths, units)):
        for k in range(n):
            stride = 2 if stage > 0 and k == 0 else 1
            blocks.append(Residual(params, ch, width, stride, amp))
            if stride == 2:
                h, w = (h + 1) // 2, (w + 1) // 2
            ch = width
    blocks += [tblock.Pool(params, (h, w)), tblock.Flatten()]
    if head:
        blocks.append(tblock.Dense(params, ch, head, weight_scale=2, **amp))
        ch = head
    return blocks + [tblock.Dense(params, ch, classes, weight_scale=2, **amp)]


def build_model(name: str = "digits-conv", in_shape: Sequence[int] = (1, 8, 8), num_classes: int = 10,
                neuron: str = "ternary", max_level: int = 16, width: Optional[int] = None,
                population: int = 1, neuron_overrides: Optional[Dict[str, Any]] = None) -> SpikingNet:
    """Build one of :data:`MODELS`.

    Parameters
    ----------
    name : str
        ``'digits-conv'``, ``'mlp'``, ``'vgg'``, ``'resnet19'`` or ``'resnet20'``.
    in_shape : sequence of int
        ``(C, H, W)`` of one input step.
    num_classes : int
        Output neurons.
    neuron : str
        ``'binary'``, ``'ternary'`` or ``'ternary-learned'``.
    max_level : int
        Largest input value (integer graded input, e.g. 16 for digits, 1 for spikes); the first
        block's threshold is ``θ · max_level`` so that it suits the input range.
    width : int, optional
        Base channel / hidden width (model default when ``None``).
    population : int
        Output neurons per class; the class score is the population's summed spike count, which
        resolves ties that a single neuron's count of at most ``T`` spikes cannot.
    neuron_overrides : dict, optional
        Extra neuron arguments for every block (e.g. ``{'surrogate': 'exp'}``).
    """
    if name not in MODELS:
        raise ValueError(f"model={name!r} is not one of {', '.join(MODELS)}")
    if max_level < 1:
        raise ValueError(f"max_level={max_level} must be >= 1")
    if population < 1:
        raise ValueError(f"population={population} must be >= 1")
    overrides = dict(neuron_overrides or {})
    config = {"name": name, "in_shape": [int(s) for s in in_shape], "num_classes": int(num_classes),
              "neuron": neuron, "max_level": int(max_level), "width": width, "population": int(population),
              "neuron_overrides": overrides}
    params = neuron_params(neuron, **overrides)
    first = dict(params, threshold=params["threshold"] * max_level)
    shape = tuple(config["in_shape"])
    outputs = num_classes * population
    kw = {} if width is None else {"width": width}
    amp = amplitude_args(neuron)
    if name == "digits-conv":
        blocks = _digits_conv(params, first, shape, outputs, amp, **kw)
    elif name == "mlp":
        blocks = _mlp(params, first, shape, outputs, amp, **kw)
    elif name == "vgg":
        blocks = _vgg(params, first, shape, outputs, amp, **kw)
    elif name == "resnet19":
        w = width or 128
        blocks = _resnet(params, first, shape, outputs, amp, (w, 2 * w, 4 * w), (3, 3, 2), head=256)
    else:
        w = width or 16
        blocks = _resnet(params, first, shape, outputs, amp, (w, 2 * w, 4 * w), (3, 3, 3), head=None)
    return SpikingNet(blocks, config)


def build_from_config(config: Dict[str, Any]) -> SpikingNet:
    """Rebuild a model from its ``config`` (as stored in a checkpoint)."""
    return build_model(**config)
