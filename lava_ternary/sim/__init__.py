"""Batched bit-exact simulation of netx networks (:mod:`.core`) and the Lava reference run it is checked against (:mod:`.reference`)."""
from lava_ternary.netfile import NetSpec
from lava_ternary.sim.core import (SimLayer, SimNeuron, SimResult, Timing, compile_network,
                                   default_timing, lava_dense_weights, predictions, simulate, synapse)

__all__ = ["SimLayer", "SimNeuron", "SimResult", "Timing", "NetSpec", "compile_network",
           "default_timing", "lava_dense_weights", "predictions", "simulate", "synapse"]
