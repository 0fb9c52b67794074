"""Every hardware and energy constant the report uses, in one place, each with its source.

Each constant states its source next to it (and in the ``source`` field of its record); labels say
how sure we are: ``[code]`` read in a package, ``[page]`` from a public page, ``[recall]`` a commonly
quoted number not confirmed from a primary source. Every constant is a field of a frozen dataclass,
so a caller overrides any of them with :func:`dataclasses.replace` (or the ``--energy``/``--loihi``
options of ``lava-ternary report``) instead of editing this file.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Dict, Mapping, Type, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class EnergyConvention:
    """Energy per operation (joules) of one accounting convention.

    Parameters
    ----------
    name : str
        Short label used in tables.
    mac_j : float
        Energy of one multiply-accumulate (the first layer's direct, non-spiking input).
    sop_j : float
        Energy of one synaptic operation (one spike reaching one synapse: an accumulate).
    sign_j : float
        Energy charged per emitted spike for the sign/amplitude operation (0 where the convention has none).
    flops_per_mac : float
        How many "FLOPs" one multiply-accumulate counts as under this convention.
    source : str
        Where the numbers come from.
    """

    name: str
    mac_j: float
    sop_j: float
    sign_j: float
    flops_per_mac: float
    source: str


#: Ternary Spike (Guo et al., AAAI 2024, Sec. "Energy Estimation", Table 5) after Hu, Tang & Pan
#: (IEEE TNNLS 2021): 12.5 pJ per FLOP, 77 fJ per SOP, 3.7 pJ per sign (charged per spike). One MAC of
#: the first (non-spiking) layer is counted as one FLOP, as the paper's #Flops column does.
PAPER = EnergyConvention(
    name="paper", mac_j=12.5e-12, sop_j=77e-15, sign_j=3.7e-12, flops_per_mac=1.0,
    source="Hu, Tang & Pan, IEEE TNNLS 2021 (via Guo et al., Ternary Spike, AAAI 2024, Table 5) [page]")

#: Horowitz, ISSCC 2014 keynote, 45 nm, 0.9 V, FP32: multiply 3.7 pJ + add 0.9 pJ = 4.6 pJ per MAC,
#: 0.9 pJ per accumulate (one synaptic operation). No sign term.
HOROWITZ_45NM = EnergyConvention(
    name="horowitz45", mac_j=4.6e-12, sop_j=0.9e-12, sign_j=0.0, flops_per_mac=1.0,
    source="Horowitz, 'Computing's energy problem', ISSCC 2014, 45 nm FP32 (SpikingJelly simple_energy preset) [code]")

ENERGY_CONVENTIONS: Dict[str, EnergyConvention] = {c.name: c for c in (PAPER, HOROWITZ_45NM)}


@dataclass(frozen=True)
class LoihiCore:
    """Per-core and per-chip resource limits of a Loihi-class chip, for a fit estimate.

    Parameters
    ----------
    name : str
        Chip label.
    cores_per_chip : int
        Neuromorphic cores per chip.
    neurons_per_core : int
        Neurons (compartments) one core can hold.
    synaptic_memory_bits : int
        Synaptic memory per core available for weights, in bits.
    weight_bits : int
        Bits stored per synapse (8-bit mantissa, mixed-sign mode).
    input_axons_per_core : int
        Distinct input axons (fan-in sources) one core can receive.
    conv_weight_sharing : bool
        Whether a convolution's weights are stored once per kernel (True) or once per connection
        (False, the conservative default).
    source : str
        Where the numbers come from.
    """

    name: str
    cores_per_chip: int
    neurons_per_core: int
    synaptic_memory_bits: int
    weight_bits: int
    input_axons_per_core: int
    conv_weight_sharing: bool
    source: str


#: Loihi 2: 128 cores per chip (8x16 mesh) [page: open-neuromorphic.org, WikiChip]; up to 1 M neurons
#: per chip, i.e. 8192 per core [page: WikiChip, open-neuromorphic]; "128 KB local SRAM, flexibly
#: partitioned" per core [page: press; the Intel brief may say 192 KB, conflicting -> configurable];
#: 4096 input axons per core is the Loihi 1 figure [issue spikingjelly#543, recall Davies 2018],
#: kept for Loihi 2 until a primary source says otherwise; 8-bit signed weights [code: lava weightutils].
LOIHI2 = LoihiCore(
    name="loihi2", cores_per_chip=128, neurons_per_core=8192, synaptic_memory_bits=128 * 1024 * 8,
    weight_bits=8, input_axons_per_core=4096, conv_weight_sharing=False,
    source="Intel Loihi 2 brief 2021; Orchard et al. SiPS 2021 [page/recall]")

#: Loihi 1 (Davies et al., IEEE Micro 2018): 128 cores, 1024 compartments per core, 128 KB synaptic
#: memory per core (16 MB total), 4096 input axons per core [page: IEEE CAS Magazine Q2 2022].
LOIHI1 = LoihiCore(
    name="loihi1", cores_per_chip=128, neurons_per_core=1024, synaptic_memory_bits=128 * 1024 * 8,
    weight_bits=8, input_axons_per_core=4096, conv_weight_sharing=False,
    source="Davies et al., IEEE Micro 38(1) 2018; IEEE CAS Magazine Q2 2022 [page]")

CHIPS: Dict[str, LoihiCore] = {c.name: c for c in (LOIHI2, LOIHI1)}


def override(base: T, values: Mapping[str, object]) -> T:
    """Return ``base`` with the named fields replaced (values cast to each field's type).

    Raises ``ValueError`` naming the field when a name is unknown or a value does not convert.
    """
    fields = {f.name: f for f in dataclasses.fields(base)}
    changes = {}
    for key, value in values.items():
        if key not in fields or key in ("name", "source"):
            raise ValueError(f"unknown {type(base).__name__} field {key!r}; choose from "
                             f"{sorted(k for k in fields if k not in ('name', 'source'))}")
        kind: Type = type(getattr(base, key))
        try:
            changes[key] = (str(value).lower() in ("1", "true", "yes")) if kind is bool else kind(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{type(base).__name__} field {key!r}: cannot use {value!r} ({exc})") from None
    return dataclasses.replace(base, **changes)
