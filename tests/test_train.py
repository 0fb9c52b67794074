"""Training script: determinism, exact resume, netx export of the best checkpoint, DDP gradients, models."""
import json

import numpy as np
import pytest
import torch

import lava_ternary  # noqa: F401
from lava_ternary.errors import CheckpointError
from training import checkpoint, data, models, train

TINY = ["--dataset", "digits", "--timesteps", "1", "--train-limit", "96", "--batch-size", "32", "--quiet",
        "--seed", "3"]


def _run(out, *extra):
    args = train.build_parser().parse_args(TINY + ["--out", str(out)] + list(extra))
    return train.train(args)


def _state(path):
    return checkpoint.read_checkpoint(path)["model"]


def _assert_same_state(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], torch.Tensor):
            assert torch.equal(a[k], b[k]), k


def test_fixed_seed_gives_bit_identical_weights(tmp_path):
    _run(tmp_path / "a", "--epochs", "1", "--no-export")
    _run(tmp_path / "b", "--epochs", "1", "--no-export")
    _assert_same_state(_state(tmp_path / "a" / "last.pt"), _state(tmp_path / "b" / "last.pt"))
    _run(tmp_path / "c", "--epochs", "1", "--no-export", "--seed", "4")
    c = _state(tmp_path / "c" / "last.pt")
    assert not torch.equal(c["blocks.0.synapse.weight"], _state(tmp_path / "a" / "last.pt")["blocks.0.synapse.weight"])


def test_resume_continues_exactly(tmp_path):
    full = _run(tmp_path / "full", "--epochs", "2", "--no-export")
    part = _run(tmp_path / "part", "--epochs", "2", "--stop-after", "1", "--no-export")
    assert not part["finished"] and not (tmp_path / "part" / "result.json").exists()
    resumed = _run(tmp_path / "part", "--epochs", "2", "--resume", "--no-export")
    assert resumed["finished"]
    _assert_same_state(_state(tmp_path / "full" / "last.pt"), _state(tmp_path / "part" / "last.pt"))
    assert resumed["curves"] == full["curves"]
    assert resumed["test_accuracy"] == full["test_accuracy"]


def test_resume_with_other_settings_is_refused(tmp_path):
    _run(tmp_path, "--epochs", "2", "--stop-after", "1", "--no-export")
    with pytest.raises(CheckpointError, match="neuron='binary'"):
        _run(tmp_path, "--epochs", "2", "--resume", "--neuron", "binary", "--no-export")


def test_training_learns_and_exports_best_checkpoint_to_netx(tmp_path):
    from lava_ternary import sim
    result = _run(tmp_path, "--epochs", "2", "--train-limit", "400", "--timesteps", "2")
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["test_accuracy"] == result["test_accuracy"] > 0.5
    assert result["netx"] == str(tmp_path / "model.net")
    model, meta = checkpoint.load_model(tmp_path / "best.pt")
    assert meta["epoch"] == result["best_epoch"] and meta["timesteps"] == 2
    test = data.load_split("digits", "test", 2, signed=True)
    x, y = test.batch(range(60))
    with torch.no_grad():
        expected = model(x)
    padded = torch.nn.functional.pad(x, (0, model.latency)).numpy().astype(np.int64)
    spikes = sim.simulate(sim.compile_network(tmp_path / "model.net"), padded, input_message_bits=8).output
    np.testing.assert_array_equal(spikes, expected.numpy())


def test_global_batches_cover_the_epoch_for_ddp_loss_scaling():
    sizes = [train.global_batch_size(23, 4, 2, s) for s in range(3)]
    assert sizes == [8, 8, 7]


@pytest.mark.parametrize("name,shape,kw", [("mlp", (1, 8, 8), {}), ("vgg", (3, 32, 32), {"width": 2}),
                                           ("resnet20", (3, 32, 32), {"width": 2}),
                                           ("resnet19", (3, 32, 32), {"width": 2})])
def test_other_models_run_forward_and_backward(name, shape, kw):
    torch.manual_seed(0)
    net = models.build_model(name, shape, 10, "ternary-learned", 15, population=1, **kw)
    x = torch.randint(0, 16, (2,) + shape + (2,)).float()
    out = net(x)
    assert out.shape == (2, 10, 2 + net.latency)
    net.readout(out).sum().backward()
    assert all(p.grad is not None for n, p in net.named_parameters() if p.requires_grad and "synapse" in n)
    assert name in models.DEPLOYABLE


def test_first_threshold_suits_integer_input_and_bad_arguments_are_named():
    net = models.build_model(max_level=16)
    assert net.blocks[0].neuron.threshold == 8.0 and net.blocks[1].neuron.threshold == 0.5
    with pytest.raises(ValueError, match="model="):
        models.build_model("alexnet")
    with pytest.raises(ValueError, match="neuron="):
        models.build_model(neuron="quaternary")
    with pytest.raises(ValueError, match="population="):
        models.build_model(population=0)
