import torch

from kdpose.codecs import SimCCCodec, SimCCOutput
from kdpose.inference.flip import flip_test
from kdpose.skeletons import get_skeleton


def _mirror_world(out: SimCCOutput, flip_indices) -> SimCCOutput:
    """What an ideal model outputs for the mirrored image: left/right swapped, x bins reversed."""
    idx = torch.tensor(flip_indices)
    return SimCCOutput(out.x[:, idx].flip(-1), out.y[:, idx])


def test_ideal_equivariant_model_is_unchanged_and_calls_are_batched():
    sk = get_skeleton("coco")
    codec = SimCCCodec((8, 6), split_ratio=2.0)
    g = torch.Generator().manual_seed(0)
    inputs = torch.randn(3, 3, 6, 8, generator=g)
    truth = SimCCOutput(torch.randn(3, 17, 16, generator=g), torch.randn(3, 17, 12, generator=g))
    mirrored = _mirror_world(truth, sk.flip_indices)
    calls = []

    def model_fn(x):
        calls.append(x.shape[0])
        parts = []
        for start in range(0, len(x), 3):
            chunk = x[start:start + 3]
            if torch.equal(chunk, inputs):
                parts.append(truth)
            else:
                assert torch.equal(chunk, inputs.flip(-1))
                parts.append(mirrored)
        return SimCCOutput(torch.cat([p.x for p in parts]), torch.cat([p.y for p in parts]))

    out = flip_test(model_fn, inputs, codec, sk.flip_indices)
    assert calls == [6]  # original + mirrored in one forward
    torch.testing.assert_close(out.x, truth.x)
    torch.testing.assert_close(out.y, truth.y)
    calls.clear()
    out2 = flip_test(model_fn, inputs, codec, sk.flip_indices, one_batch=False)
    assert calls == [3, 3]
    torch.testing.assert_close(out2.x, truth.x)


def test_average_of_disagreeing_outputs():
    sk = get_skeleton("coco")
    codec = SimCCCodec((4, 4), split_ratio=1.0)
    a = SimCCOutput(torch.zeros(1, 17, 4), torch.zeros(1, 17, 4))
    b = SimCCOutput(torch.ones(1, 17, 4), torch.full((1, 17, 4), 3.0))

    def model_fn(x):
        n = x.shape[0] // 2
        return SimCCOutput(torch.cat([a.x] * n + [b.x] * n), torch.cat([a.y] * n + [b.y] * n))

    out = flip_test(model_fn, torch.zeros(1, 3, 4, 4), codec, sk.flip_indices)
    torch.testing.assert_close(out.x, torch.full((1, 17, 4), 0.5))
    torch.testing.assert_close(out.y, torch.full((1, 17, 4), 1.5))
