"""Batched bit-exact simulator of a netx network: the integers of Lava ``fixed_pt``, for many samples at once.

Lava runs one sample stream through message-passing processes (~1-2 ms per step); this module runs a
whole batch ``[batch, *input_shape, T]`` layer by layer with vectorised numpy/torch, reproducing the
Lava run exactly (tested spike for spike in every layer against Lava, ``tests/test_sim.py``):

* synapses: ``Dense`` accumulates ``W @ s`` with the weights as Lava's ``Dense`` sees them after netx's
  ``optimize_weight_bits`` and Lava's clip/truncate, then shifts by the weight exponent (``>>`` is a
  floor); ``Conv`` accumulates the convolution and wraps it to 24 bits (``signed_clamp``); both send
  through ``int32`` channels; a consumer whose producer sends ``num_message_bits == 0`` sees
  ``spikes != 0`` (Lava casts to ``bool``: a -1 counts as +1), otherwise the graded signed values;
* neurons: :func:`lava_ternary.fixed.step` (the one definition of the integer step), compiled by numba
  into one fused loop per layer (:mod:`lava_ternary.sim.kernel`);
* timing: every synapse adds one step of latency. Each sample starts from the reset state; the
  *window* of a layer (``T`` steps) is where Lava's ``reset_interval`` puts it, see :class:`Timing`;
* graph files (``concat`` layers, ``docs/netx_schema.md``): the shortcut synapse of a residual block reads
  its source layer's kept messages one step later than the main synapse reads the previous layer (its
  axonal delay), both sums feed one neuron group, and window step 1 is discarded (see :class:`lava_ternary.sim.layers.Shortcut`);
* axonal delays (a TERNARY dense layer's ``delay``, one per output neuron, Lava's ``DelayDense``):
  neuron ``n`` integrates its synaptic input ``delay[n]`` steps later, and, as
  :class:`lava_ternary.proc.TernaryCUBA` does, discards what reaches it in window steps
  ``1 .. delay[n]`` (the previous sample's carry-over).

Float32 (float64) matrix products and convolutions are exact integer arithmetic while every partial
sum stays below ``2**24`` (``2**53``); the simulator proves that bound from the weights and the largest
message before it picks a precision, and falls back to int64 arithmetic when it cannot. Producer steps
that send nothing at all, or that no consumer step reads (a TERNARY layer's reset step discards its
input), are not multiplied.

The package is split by job: :mod:`.layers` (the compiled records, :func:`compile_network`),
:mod:`.synapse` (exact sums, wraps, delays), :mod:`.schedule` (windows and lags), :mod:`.runner`
(:func:`simulate`, threads), :mod:`.kernel` (the compiled neuron loop) and :mod:`.reference` (the Lava run
it is checked against). What depends on a layer's type lives in its kind (:mod:`lava_ternary.kinds`).
"""
from lava_ternary import readout
from lava_ternary.netfile import NetSpec
from lava_ternary.sim.layers import SimLayer, SimNeuron, compile_network, lava_dense_weights
from lava_ternary.sim.runner import SimResult, simulate
from lava_ternary.sim.schedule import Timing, default_timing
from lava_ternary.sim.synapse import synapse

predictions = readout.predictions  # the one readout (lava_ternary.readout)

__all__ = ["SimLayer", "SimNeuron", "SimResult", "Timing", "NetSpec", "compile_network",
           "default_timing", "lava_dense_weights", "predictions", "simulate", "synapse"]
