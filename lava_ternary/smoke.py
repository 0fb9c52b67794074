"""A minimal Lava network (LIF -> Dense -> LIF) used to check that the stack runs on this Python."""
from __future__ import annotations

import numpy as np

#: Parameters of the smoke network per tag: (du, dv, vth, bias_mant, bias_exp) for LIF 1 and LIF 2, weight.
SMOKE_PARAMS = {
    "floating_pt": {"lif1": dict(du=1.0, dv=0.0, vth=10.0, bias_mant=3.0, bias_exp=0),
                    "lif2": dict(du=0.5, dv=0.5, vth=1000.0, bias_mant=0.0, bias_exp=0), "weight": 2.0},
    "fixed_pt": {"lif1": dict(du=4095, dv=0, vth=10, bias_mant=3, bias_exp=6),
                 "lif2": dict(du=2047, dv=2048, vth=1000, bias_mant=0, bias_exp=6), "weight": 2},
}


def run_lif_dense_lif(tag: str, steps: int = 10) -> np.ndarray:
    """Run LIF -> Dense -> LIF on ``Loihi2SimCfg(select_tag=tag)``; return ``[steps, 2]`` voltages (v1, v2).

    LIF 1 is driven by its bias alone and fires periodically; LIF 2 integrates the weighted spikes.
    """
    import lava_ternary  # noqa: F401  (installs the 3.11 fix before lava is imported)
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import Dense
    from lava.proc.lif.process import LIF

    from lava_ternary.lava_session import lava_session

    params = SMOKE_PARAMS[tag]
    lif1 = LIF(shape=(1,), **params["lif1"])
    dense = Dense(weights=np.array([[params["weight"]]]))
    lif2 = LIF(shape=(1,), **params["lif2"])
    lif1.s_out.connect(dense.s_in)
    dense.a_out.connect(lif2.a_in)
    volts = []
    with lava_session(lif1):
        for _ in range(steps):
            lif1.run(condition=RunSteps(num_steps=1), run_cfg=Loihi2SimCfg(select_tag=tag))
            volts.append((float(lif1.v.get()[0]), float(lif2.v.get()[0])))
    return np.array(volts)
