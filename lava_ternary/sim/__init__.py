"""Batched bit-exact simulation of netx networks (:mod:`.core`) and the Lava run it is checked against (:mod:`.reference`: :func:`lava_ternary.parity.run_lava` at the simulator's phases)."""
from lava_ternary.netfile import NetSpec
from lava_ternary.sim.core import (SimLayer, SimNeuron, SimResult, Timing, compile_network,
                                   default_timing, lava_dense_weights, predictions, simulate, synapse)

__all__ = ["SimLayer", "SimNeuron", "SimResult", "Timing", "NetSpec", "compile_network",
           "default_timing", "lava_dense_weights", "predictions", "simulate", "synapse"]
