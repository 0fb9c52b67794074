"""Networks written the way lava-dl's tutorials write them, with lava_ternary blocks and nothing else.

Own ``torch.nn.Module``, ``self.blocks = torch.nn.ModuleList([...])``, a loop forward and the tutorials'
per-block ``export_hdf5`` loop: no package-specific call. Used by ``tests/test_from_lava_dl.py`` and as
the ``module:function`` factory of ``lava-ternary verify`` there (``tutorial_net:conv_net``).
"""
import h5py
import torch

from lava_ternary import block

NEURON = {"threshold": 1.0, "current_decay": 0.5, "voltage_decay": 0.25}


class Network(torch.nn.Module):
    """Conv (graded input) -> Conv (per-channel amplitude) -> Pool -> Flatten -> Dense (per channel) -> Dense."""

    def __init__(self):
        super().__init__()
        first = dict(NEURON, threshold=8.0)
        self.blocks = torch.nn.ModuleList([
            block.Conv(first, 1, 4, 3, padding=1, weight_scale=2, input_shape=(1, 8, 8)),
            block.Conv(NEURON, 4, 6, 3, stride=2, padding=1, weight_scale=2, input_amplitude="channel"),
            block.Pool(NEURON, 2, input_amplitude="layer"),
            block.Flatten(),
            block.Dense(NEURON, 6 * 2 * 2, 16, weight_scale=2, input_amplitude="channel", amplitude_channels=6),
            block.Dense(NEURON, 16, 10, weight_scale=2, input_amplitude="layer"),
        ])

    def forward(self, spike):
        for b in self.blocks:
            spike = b(spike)
        return spike

    def export_hdf5(self, filename):
        h = h5py.File(filename, "w")
        layer = h.create_group("layer")
        for i, b in enumerate(self.blocks):
            b.export_hdf5(layer.create_group(f"{i}"))
        h.close()


def conv_net() -> Network:
    """The factory ``tests.tutorial_net:conv_net``."""
    return Network()


def delayed_sequential() -> torch.nn.Sequential:
    """Dense blocks with learnable axonal delays (lava-dl's N-MNIST tutorial style) in an ``nn.Sequential``."""
    return torch.nn.Sequential(
        block.Dense(dict(NEURON, threshold=4.0), 64, 24, weight_scale=2, delay=True, bias=True),
        block.Dense(NEURON, 24, 16, weight_scale=2, delay=True, input_amplitude="channel"),
        block.Dense(NEURON, 16, 10, weight_scale=2, input_amplitude="layer"))
