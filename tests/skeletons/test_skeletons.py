import numpy as np
import pytest

from kdpose.errors import UnknownNameError
from kdpose.skeletons import OPENPOSE_FROM_COCO, coco_to_openpose, get_skeleton, list_skeletons
from kdpose.skeletons.base import mirror_name

SIZES = {"coco": 17, "body": 17, "coco_wholebody": 133, "wholebody": 133, "crowdpose": 14, "mpii": 16, "hand": 21,
         "face": 68, "openpose": 18, "dih": 17}

# COCO-WholeBody flip list as written in MMPose's metainfo (spec section 14).
WHOLEBODY_FLIP = (
    [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 20, 21, 22, 17, 18, 19]
    + [39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40]
    + [50, 51, 52, 53, 58, 57, 56, 55, 54, 68, 67, 66, 65, 70, 69, 62, 61, 60, 59, 64, 63, 77, 76, 75, 74, 73, 72,
       71, 82, 81, 80, 79, 78, 87, 86, 85, 84, 83, 90, 89, 88]
    + list(range(112, 133)) + list(range(91, 112))
)


def test_registry_names_and_sizes():
    assert set(list_skeletons()) == set(SIZES)
    for name, k in SIZES.items():
        s = get_skeleton(name)
        assert s.num_keypoints == k
        assert len(s.sigmas) == k and len(s.keypoint_colors) == k and len(s.flip_indices) == k
        assert len(s.link_colors) == len(s.links)
    assert get_skeleton("wholebody") is get_skeleton("coco_wholebody")


def test_unknown_name_suggests():
    with pytest.raises(UnknownNameError, match="did you mean coco"):
        get_skeleton("cocoo")


@pytest.mark.parametrize("name", sorted(SIZES))
def test_flip_is_involution_mapping_left_to_right(name):
    s = get_skeleton(name)
    flip = np.asarray(s.flip_indices)
    assert np.array_equal(flip[flip], np.arange(s.num_keypoints))
    for i, j in enumerate(flip):
        a, b = s.keypoint_names[i], s.keypoint_names[j]
        if a.startswith("left_") or a.startswith("right_"):
            assert b == mirror_name(a), (a, b)
        if not a.startswith("face-"):  # face landmarks mirror by index, not name
            assert b == mirror_name(a)
    # flipping the names twice is the identity on every layout
    assert [s.keypoint_names[k] for k in flip[flip]] == list(s.keypoint_names)
    # body sigmas are symmetric under the flip (whole-body foot/face sigmas are not, in the official table)
    if name in ("coco", "crowdpose", "mpii", "openpose"):
        assert np.allclose(s.sigmas_array, s.sigmas_array[flip])


def test_exact_values_coco_and_wholebody():
    coco = get_skeleton("coco")
    assert coco.flip_indices == (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)
    assert coco.links[:4] == ((15, 13), (13, 11), (16, 14), (14, 12))
    assert set(coco.links) == {(15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
                               (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6)}
    assert coco.upper_ids == tuple(range(11)) and coco.lower_ids == tuple(range(11, 17))
    wb = get_skeleton("coco_wholebody")
    assert list(wb.flip_indices) == WHOLEBODY_FLIP
    assert wb.parts == {"body": (0, 17), "foot": (17, 23), "face": (23, 91), "lefthand": (91, 112),
                        "righthand": (112, 133)}
    assert len(wb.links) == 65
    assert (91, 92) in wb.links and (110, 111) in wb.links and (112, 113) in wb.links and (15, 17) in wb.links
    assert wb.sigmas[:17] == coco.sigmas
    assert wb.sigmas[17:23] == (0.068, 0.066, 0.066, 0.092, 0.094, 0.094)
    assert wb.sigmas[91:112] == wb.sigmas[112:133] == get_skeleton("hand").sigmas
    assert wb.sigmas[23:91] == get_skeleton("face").sigmas
    assert wb.sigmas[23] == 0.042 and wb.sigmas[90] == 0.008 and wb.sigmas[70] == 0.034
    assert wb.keypoint_names[91] == "left_hand_root" and wb.keypoint_names[132] == "right_pinky_finger4"
    assert wb.lower_ids == tuple(range(11, 23))


def test_crowdpose_mpii_names():
    cp = get_skeleton("crowdpose")
    assert cp.keypoint_names[12:] == ("top_head", "neck")
    assert cp.flip_indices == (1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 12, 13)
    mp = get_skeleton("mpii")
    assert mp.keypoint_names[9] == "head_top"
    assert mp.flip_indices == (5, 4, 3, 2, 1, 0, 6, 7, 8, 9, 15, 14, 13, 12, 11, 10)


def test_openpose_mapping_matches_names():
    op, coco = get_skeleton("openpose"), get_skeleton("coco")
    for i, src in enumerate(OPENPOSE_FROM_COCO):
        if src >= 0:
            assert op.keypoint_names[i] == coco.keypoint_names[src]
        else:
            assert op.keypoint_names[i] == "neck"


@pytest.mark.parametrize("k", [17, 133])
def test_coco_to_openpose(k):
    rng = np.random.default_rng(0)
    kpts = rng.uniform(0, 100, (3, k, 2)).astype(np.float32)
    scores = rng.uniform(0, 1, (3, k)).astype(np.float32)
    ok, os_ = coco_to_openpose(kpts, scores)
    assert ok.shape == (3, k + 1, 2) and os_.shape == (3, k + 1)
    np.testing.assert_allclose(ok[:, 1], (kpts[:, 5] + kpts[:, 6]) / 2)
    np.testing.assert_allclose(os_[:, 1], np.minimum(scores[:, 5], scores[:, 6]))
    np.testing.assert_array_equal(ok[:, 2], kpts[:, 6])  # right shoulder
    np.testing.assert_array_equal(ok[:, 14], kpts[:, 2])  # right eye
    np.testing.assert_array_equal(ok[:, 18:], kpts[:, 17:])  # whole-body tail unchanged
    single_k, single_s = coco_to_openpose(kpts[0], scores[0])
    np.testing.assert_array_equal(single_k, ok[0])
    with pytest.raises(ValueError):
        coco_to_openpose(kpts[:, :16], scores[:, :16])
