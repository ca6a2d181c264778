"""Domain adaptation: gradient reversal, lambda schedule, classifier, task and model selection."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from kdpose.distill.domain import (DomainAdaptationTask, DomainBatch, DomainClassifier, GradientReversal,
                                   dann_lambda, domain_confusion, grad_reverse, select_adapted_model)
from kdpose.errors import ConfigError
from kdpose.models.pose_machines import create_pose_machine
from kdpose.utils.progress import TrainProgress


def test_grl_is_identity_forward_and_reverses_and_scales_gradients():
    x = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = grad_reverse(x, 2.5)
    torch.testing.assert_close(y, x.detach())
    (y * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([-2.5, -5.0, -7.5]))
    x.grad = None
    GradientReversal(0.0)(x).sum().backward()
    assert torch.all(x.grad == 0)
    assert len(list(GradientReversal().parameters())) == 0


def test_lambda_schedule_values():
    assert dann_lambda(0.0) == 0.0
    assert dann_lambda(0.1) == pytest.approx(200 / (1 + math.exp(-1)) - 100)  # 46.21
    assert dann_lambda(0.1) == pytest.approx(46.21, abs=0.01)
    assert dann_lambda(0.5) == pytest.approx(98.66, abs=0.01)
    assert dann_lambda(1.0) == pytest.approx(99.991, abs=0.001)
    assert dann_lambda(1.0, max_lambda=1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)  # DANN's original
    assert dann_lambda(2.0) == dann_lambda(1.0)  # progress is clamped to [0, 1]


def test_classifier_shapes_and_probability():
    clf = DomainClassifier(16)
    logits = clf(torch.randn(3, 16, 7, 9))
    assert logits.shape == (3,)
    p = clf.probability(torch.randn(3, 16, 46, 55))
    assert p.shape == (3,) and torch.all((p > 0) & (p < 1))
    kinds = [type(m).__name__ for m in clf.layers]
    assert kinds.count("AvgPool2d") + kinds.count("AdaptiveAvgPool2d") == 2 and kinds.count("Linear") == 2
    assert kinds.count("Conv2d") == 1


def _batch(model, n, rng):
    t = [model.codec.encode(rng.uniform(2, 14, (1, 17, 2)), np.ones((1, 17))) for _ in range(n)]
    target = SimpleNamespace(**{k: torch.from_numpy(np.stack([getattr(x, k) for x in t]))
                                for k in ("heatmaps", "pafs", "weight")})
    return SimpleNamespace(inputs=torch.randn(n, 1, 16, 16), target=target)


def test_task_reverses_the_domain_gradient_into_the_extractor():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = create_pose_machine("mpm", 1, width=8, input_size=(16, 16))
    task = DomainAdaptationTask(model)
    batch = DomainBatch(_batch(model, 2, rng), torch.randn(2, 1, 16, 16))
    out = task(batch, TrainProgress(epoch=0, max_epochs=1, iteration=5, max_iterations=10))
    assert out["lambda"].item() == pytest.approx(dann_lambda(0.5))
    assert out["loss"].item() == pytest.approx(out["loss_pm"].item() + out["loss_domain"].item(), rel=1e-5)
    # the extractor's gradient from the domain loss alone is -lambda times the plain one
    feat_param = next(model.backbone.parameters())

    def domain_grad(lam):
        task.zero_grad()
        feats = model.forward_features(torch.cat([batch.source.inputs, batch.target_inputs]))
        logits = task.classifier(grad_reverse(feats[-1], lam))
        torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.tensor([0.0, 0, 1, 1])).backward()
        return feat_param.grad.clone(), next(task.classifier.parameters()).grad.clone()

    model.eval()  # fixed BN statistics so both passes see the same function
    g_rev, c_rev = domain_grad(3.0)
    g_plain, c_plain = domain_grad(-1.0)  # -(-1) = identity
    torch.testing.assert_close(g_rev, -3.0 * g_plain)
    torch.testing.assert_close(c_rev, c_plain)  # the classifier itself is trained normally


def test_confusion_and_model_selection():
    logits = torch.tensor([2.0, -1.0, 0.5, -0.3])
    labels = torch.tensor([0.0, 0.0, 1.0, 1.0])
    assert domain_confusion(logits, labels) == 2  # one FP (first), one FN (last)
    hist = [{"val_pose_loss": 3.0, "confusion": 10}, {"val_pose_loss": 2.0, "confusion": 30},
            {"val_pose_loss": 2.5, "confusion": 50}]
    assert select_adapted_model(hist, "pose_loss") == 1
    assert select_adapted_model(hist, "confusion") == 2
    with pytest.raises(ConfigError):
        select_adapted_model(hist, "accuracy")
