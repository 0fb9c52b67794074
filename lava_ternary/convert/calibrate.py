"""SNN calibration (Supplementary 8.2.1): surrogate-gradient fine-tuning of a converted network.

Train the converted network at ``T = 1`` for a few epochs, then rebuild it for ``T = 2, 3, 4`` (the
thresholds and initial potentials of that latency, from the same activations) starting from the
weights just trained, and fine-tune again. Weights move between latencies in ANN units
(:meth:`ConvertedNet.ann_parameters`), since each build rescales blocks for the fixed-point range.
"""
from __future__ import annotations

from typing import Iterable, Sequence, Tuple

import torch
from tqdm import tqdm

from .activations import LayerActivations, Stage
from .build import ConvertedNet, build_snn
from .plans import plan_thresholds, spike_mode_of


def repeat_steps(images: torch.Tensor, T: int) -> torch.Tensor:
    """Direct input: integer level images ``[N, C, H, W]`` repeated over ``T`` steps."""
    return images.float().unsqueeze(-1).expand(*images.shape, T).contiguous()


def scores(net: ConvertedNet, images: torch.Tensor, T: int) -> torch.Tensor:
    """Class scores in ANN logit units (readout sum over the ``T`` steps, unscaled, divided by ``T``)."""
    readout_scale = float(net.scales[-1].s[0])
    return net.readout(net(repeat_steps(images, T))) / (readout_scale * T)


def fine_tune(net: ConvertedNet, images: torch.Tensor, labels: torch.Tensor, T: int, epochs: int, lr: float,
              batch_size: int, seed: int, progress: bool = True) -> ConvertedNet:
    """Cross-entropy training of ``net`` at latency ``T`` with the neurons' surrogate gradient (Adam)."""
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    device = next(net.parameters()).device
    net.train()
    # tqdm, even disabled, fixes multiprocessing's start method, which breaks a later lava.magma import
    for _ in (tqdm(range(epochs), desc=f"calibrate T={T}", leave=False) if progress else range(epochs)):
        order = torch.randperm(len(labels), generator=gen)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            loss = torch.nn.functional.cross_entropy(scores(net, images[idx].to(device), T), labels[idx].to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    return net


def calibrate(stages: Sequence[Stage], params, acts: Sequence[LayerActivations], input_shape: Sequence[int],
              input_amplitude: float, method: str, images: torch.Tensor, labels: torch.Tensor,
              timesteps: Sequence[int] = (1, 2, 3, 4), epochs: Tuple[int, int] = (6, 3), lr: float = 1e-3,
              batch_size: int = 64, seed: int = 0, device: str = "cpu",
              progress: bool = True) -> Iterable[Tuple[int, ConvertedNet]]:
    """Yield ``(T, fine-tuned network)`` for each latency, each starting from the previous one's weights.

    Parameters
    ----------
    stages, params, acts
        The parsed ANN, its ``(W, b)`` in ANN units and its collected activations.
    input_shape, input_amplitude
        As :func:`lava_ternary.convert.build.build_snn`.
    method : str
        Threshold method (:data:`lava_ternary.convert.plans.CONVERSION_METHODS`).
    images, labels : torch.Tensor
        Training data: integer level images ``[N, C, H, W]`` and labels ``[N]``.
    timesteps : sequence of int
        Latencies in training order (the paper: 1, 2, 3, 4).
    epochs : (int, int)
        Epochs at the first latency and at each later one.
    lr, batch_size, seed, device
        Optimiser and data order.
    """
    current = params
    for i, T in enumerate(timesteps):
        plans = plan_thresholds(stages, acts, T, method)
        net = build_snn(stages, current, plans, input_shape, input_amplitude, spike_mode_of(method)).to(device)
        fine_tune(net, images, labels, T, epochs[0] if i == 0 else epochs[1], lr, batch_size, seed + i, progress)
        current = net.ann_parameters()
        yield T, net
