"""RTMPose's roadmap options (paper section 3.4, Tables 2-3) as factory arguments: the head's first-conv kernel, the
KL loss temperature (``loss_beta`` = 1 / tau) and shared vs separate SimCC sigmas. Defaults are the released
configs; the options reach a recipe through ``model.kwargs``, and weights files record what rebuilds the network."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from kdpose.codecs import SimCCOutput, SimCCTarget
from kdpose.models import create_model, load_model, save_weights

REPO = Path(__file__).resolve().parents[2]
SIZE = (96, 128)  # the roadmap benchmark's input: 192 x bins, 256 y bins, a 3x4 stride-32 feature map


def test_defaults_are_rtmposes_released_config():
    model = create_model("rtmpose-t", input_size=(192, 256))
    conv = model.head.final_layer
    assert conv.kernel_size == (7, 7) and conv.padding == (3, 3)
    assert (model.loss_fn.kl.beta, model.loss_fn.kl.label_beta) == (10.0, 10.0)
    assert model.codec.sigma == (4.9, 5.66)  # separate sigmas, sqrt(bins / 16) per axis
    assert model.info.kwargs == {}  # nothing extra in the files of default networks (official ones included)


@pytest.mark.parametrize("kernel", [1, 3, 5, 9])
def test_kernel_size_shows_in_the_built_head(kernel):
    model = create_model("rtmpose-t", input_size=SIZE, final_layer_kernel_size=kernel).eval()
    conv = model.head.final_layer
    assert conv.kernel_size == (kernel, kernel) and conv.padding == (kernel // 2, kernel // 2)
    assert conv.weight.shape == (17, 384, kernel, kernel)
    assert model.info.kwargs == {"final_layer_kernel_size": kernel}
    with torch.no_grad():
        out = model(torch.zeros(1, 3, SIZE[1], SIZE[0]))
    assert out.x.shape == (1, 17, 192) and out.y.shape == (1, 17, 256)


def test_even_kernels_are_refused():
    with pytest.raises(ValueError, match="odd"):
        create_model("rtmpose-t", input_size=SIZE, final_layer_kernel_size=4)


def _kl_row_mean(pred: list[float], label: list[float], beta: float) -> float:
    """Paper eq. 5 by hand: T = softmax(label / tau), P = softmax(pred / tau), mean over bins of T (log T - log P)."""
    zt, zp = sum(math.exp(beta * v) for v in label), sum(math.exp(beta * v) for v in pred)
    return sum(math.exp(beta * t) / zt * (beta * t - math.log(zt) - beta * p + math.log(zp))
               for t, p in zip(label, pred)) / len(label)


@pytest.mark.parametrize("beta", [1.0, 5.0, 10.0, 15.0])
def test_loss_beta_is_the_inverse_temperature_of_both_softmaxes(beta):
    model = create_model("rtmpose-t", input_size=(8, 8), loss_beta=beta)  # 16 x bins, 16 y bins
    torch.manual_seed(0)
    pred = SimCCOutput(torch.randn(1, 17, 16) * 0.3, torch.randn(1, 17, 16) * 0.3)
    labels = model.codec.encode(torch.rand(17, 2).numpy() * 8, torch.ones(17).numpy())
    weights = torch.rand(1, 17)
    target = SimCCTarget(torch.from_numpy(labels.x_labels)[None], torch.from_numpy(labels.y_labels)[None], weights)

    class _Batch:
        pass

    batch = _Batch()
    batch.target = target
    loss = model.loss_fn(pred, batch)["loss"].item()
    expected = sum(float(weights[0, k]) * (_kl_row_mean(pred.x[0, k].tolist(), target.x_labels[0, k].tolist(), beta)
                                           + _kl_row_mean(pred.y[0, k].tolist(), target.y_labels[0, k].tolist(), beta))
                   for k in range(17)) / 17
    assert loss == pytest.approx(expected, rel=1e-4)
    assert model.info.kwargs == {}  # a training setting: nothing to rebuild or decode differently


def test_shared_and_separate_sigmas_reach_the_codec():
    separate = create_model("rtmpose-t", input_size=SIZE)
    assert separate.codec.sigma == (3.46, 4.0)  # sqrt(192 / 16), sqrt(256 / 16)
    shared = create_model("rtmpose-t", input_size=SIZE, sigma=3.46)
    assert shared.codec.sigma == (3.46, 3.46) and shared.info.kwargs == {"sigma": [3.46, 3.46]}
    pair = create_model("rtmpose-t", input_size=SIZE, sigma=(2.5, 3.0))
    assert pair.codec.sigma == (2.5, 3.0) and pair.info.codec["sigma"] == [2.5, 3.0]
    # the labels follow: one bin off the peak, exp(-1 / (2 sigma^2)) on each axis
    target = pair.codec.encode([[40.0, 60.0]] * 17, [1.0] * 17)
    assert target.x_labels[0, 81] == pytest.approx(math.exp(-1 / (2 * 2.5 ** 2)), rel=1e-6)
    assert target.y_labels[0, 121] == pytest.approx(math.exp(-1 / (2 * 3.0 ** 2)), rel=1e-6)


def test_weights_files_rebuild_kernel_and_sigma(tmp_path):
    torch.manual_seed(0)
    trained = create_model("rtmpose-t", input_size=SIZE, final_layer_kernel_size=1, sigma=3.0, use_dark=True).eval()
    path = save_weights(trained, tmp_path / "roadmap.safetensors")
    loaded = load_model("rtmpose-t", weights=path)  # kernel, sigma and decoding come from the file's header
    assert loaded.head.final_layer.kernel_size == (1, 1)
    assert loaded.codec.sigma == (3.0, 3.0) and loaded.codec.use_dark and loaded.input_size == SIZE
    x = torch.randn(1, 3, SIZE[1], SIZE[0])
    with torch.no_grad():
        assert torch.equal(loaded(x).x, trained(x).x)


def test_options_reach_a_recipe_through_model_kwargs():
    from kdpose.engine.config import load_recipe
    from kdpose.tasks.base import build_model

    cfg = load_recipe(REPO / "configs" / "rtmpose-t_synth-body.yaml",
                      ["model.init_weights=", "model.kwargs={final_layer_kernel_size: 3, loss_beta: 5, sigma: 3.0}"])
    model = build_model(cfg.model)
    assert model.head.final_layer.kernel_size == (3, 3)
    assert model.loss_fn.kl.beta == model.loss_fn.kl.label_beta == 5.0
    assert model.codec.sigma == (3.0, 3.0)
