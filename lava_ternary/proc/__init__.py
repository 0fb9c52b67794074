"""Lava Process and ProcessModels of the ternary/binary CUBA neuron (own package: see below).

Lava's model discovery imports every module in the directory of the module that defines a Process,
so the Process and its models live alone in this package.
"""
from lava_ternary.proc.process import TernaryCUBA

__all__ = ["TernaryCUBA"]
