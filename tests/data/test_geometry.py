import cv2
import numpy as np
import pytest

from kdpose.data import geometry as G
from kdpose.skeletons import get_skeleton


def reference_warp(center, scale, rot, size, shift=(0.0, 0.0)):
    """MMPose's three-point construction, written independently with cv2.getAffineTransform."""
    w, h = size
    r = np.deg2rad(rot)
    rotm = np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]])
    src0 = np.asarray(center) + np.asarray(scale) * np.asarray(shift)
    src1 = src0 + rotm @ np.array([0.0, -0.5 * scale[0]])
    dst0 = np.array([w * 0.5, h * 0.5])
    dst1 = dst0 + np.array([0.0, -0.5 * w])

    def third(a, b):
        d = a - b
        return b + np.array([-d[1], d[0]])

    src = np.float32([src0, src1, third(src0, src1)])
    dst = np.float32([dst0, dst1, third(dst0, dst1)])
    return cv2.getAffineTransform(src, dst)


def test_bbox_conversions():
    xywh = np.array([[10, 20, 30, 40], [0, 0, 5, 5]], np.float32)
    xyxy = G.bbox_xywh_to_xyxy(xywh)
    np.testing.assert_array_equal(xyxy[0], [10, 20, 40, 60])
    np.testing.assert_array_equal(G.bbox_xyxy_to_xywh(xyxy), xywh)
    c, s = G.bbox_xyxy_to_center_scale(xyxy[0])
    np.testing.assert_allclose(c, [25, 40])
    np.testing.assert_allclose(s, [37.5, 50])
    np.testing.assert_allclose(G.center_scale_to_bbox_xyxy(c, s, padding=1.25), xyxy[0])
    np.testing.assert_array_equal(G.clip_bbox_xywh_to_xyxy(np.array([-5, 3, 100, 10]), 50, 40), [0, 3, 49, 13])


def test_fix_aspect_ratio():
    out = G.fix_aspect_ratio(np.array([[100, 100], [30, 200]], np.float32), 192 / 256)
    np.testing.assert_allclose(out, [[100, 100 / 0.75], [150, 200]])


@pytest.mark.parametrize("rot", [0.0, 17.0, -80.0, 135.0])
@pytest.mark.parametrize("shift", [(0.0, 0.0), (0.1, -0.05)])
def test_warp_matrix_matches_three_point_construction(rot, shift):
    c, s = np.array([123.4, 87.6]), np.array([90.0, 120.0])
    m = G.get_warp_matrix(c, s, rot, (192, 256), shift=shift)
    np.testing.assert_allclose(m, reference_warp(c, s, rot, (192, 256), shift), atol=1e-4)
    inv = G.get_warp_matrix(c, s, rot, (192, 256), shift=shift, inv=True)
    np.testing.assert_allclose(G.compose_affine(inv, m), np.eye(2, 3), atol=1e-5)


def test_warp_matrix_is_vectorised():
    c = np.array([[10.0, 20.0], [50.0, 60.0]])
    s = np.array([[30.0, 40.0], [60.0, 80.0]])
    rot = np.array([0.0, 30.0])
    batched = G.get_warp_matrix(c, s, rot, (48, 64))
    for i in range(2):
        np.testing.assert_allclose(batched[i], G.get_warp_matrix(c[i], s[i], rot[i], (48, 64)), atol=1e-6)
    batched_udp = G.get_udp_warp_matrix(c, s, rot, (48, 64))
    for i in range(2):
        np.testing.assert_allclose(batched_udp[i], G.get_udp_warp_matrix(c[i], s[i], rot[i], (48, 64)), atol=1e-6)


def test_udp_matrix_geometry():
    c, s = np.array([100.0, 50.0]), np.array([40.0, 80.0])
    m = G.get_udp_warp_matrix(c, s, 0.0, (48, 96))
    corners = np.array([[80.0, 10.0], [120.0, 90.0], [100.0, 50.0]])
    np.testing.assert_allclose(G.transform_points(corners, m), [[0, 0], [47, 95], [23.5, 47.5]], atol=1e-4)
    # rotation is about the centre: the centre stays fixed
    m_rot = G.get_udp_warp_matrix(c, s, 33.0, (48, 96))
    np.testing.assert_allclose(G.transform_points(c[None], m_rot), [[23.5, 47.5]], atol=1e-4)


@pytest.mark.parametrize("udp", [False, True])
def test_warp_then_inverse_returns_keypoints(udp):
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 600, (5, 17, 2))
    centers = rng.uniform(100, 500, (5, 2))
    scales = rng.uniform(50, 400, (5, 2))
    scales = G.fix_aspect_ratio(scales, 192 / 256)
    rots = rng.uniform(-90, 90, 5)
    make = G.get_udp_warp_matrix if udp else G.get_warp_matrix
    m = make(centers, scales, rots, (192, 256))
    crop = G.transform_points(pts, m)
    back = G.transform_points(crop, G.invert_affine(m))
    assert np.abs(back - pts).max() < 1e-3
    if not udp:  # MMPose's closed-form prediction inverse (no rotation at test time)
        m0 = G.get_warp_matrix(centers, scales, np.zeros(5), (192, 256))
        back0 = G.invert_crop_points(G.transform_points(pts, m0), centers, scales, (192, 256))
        assert np.abs(back0 - pts).max() < 1e-3


def test_flip_twice_is_identity_and_reindexes():
    sk = get_skeleton("coco")
    rng = np.random.default_rng(1)
    k = rng.uniform(0, 99, (3, 17, 2)).astype(np.float32)
    v = rng.integers(0, 2, (3, 17)).astype(np.float32)
    k1, v1 = G.flip_keypoints(k, v, 100, sk.flip_indices)
    np.testing.assert_allclose(k1[:, 1, 0], 99 - k[:, 2, 0])  # left eye <- mirrored right eye
    k2, v2 = G.flip_keypoints(k1, v1, 100, sk.flip_indices)
    np.testing.assert_allclose(k2, k, atol=1e-5)
    np.testing.assert_array_equal(v2, v)
    box = np.array([10, 5, 30, 40], np.float32)
    np.testing.assert_array_equal(G.flip_bbox_xyxy(G.flip_bbox_xyxy(box, 100), 100), box)
    np.testing.assert_array_equal(G.flip_bbox_xyxy(box, 100), [69, 5, 89, 40])


def test_flip_folded_into_warp_equals_flipping_the_image():
    rng = np.random.default_rng(2)
    img = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    m = G.get_warp_matrix(np.array([40.0, 30.0]), np.array([45.0, 60.0]), 20.0, (24, 32))
    a = G.warp_image(img[:, ::-1].copy(), m, (24, 32))
    b = G.warp_image(img, G.compose_affine(m, G.hflip_matrix(80)), (24, 32))
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_warp_image_depth_keeps_dtype():
    depth = np.full((40, 30), 1234, np.uint16)
    out = G.warp_image(depth, G.get_warp_matrix(np.array([15.0, 20.0]), np.array([10.0, 10.0]), 0, (8, 8)), (8, 8))
    assert out.dtype == np.uint16 and out.shape == (8, 8) and (out == 1234).all()
