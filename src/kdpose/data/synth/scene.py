"""Render one synthetic scene: layout -> z-buffer -> keypoint labels, silhouettes -> RGB or depth image.

``render_scene(cfg, seed)`` is the one entry point; the same (cfg, seed) always gives the same scene. ``seed`` is
anything ``np.random.default_rng`` accepts; the writer and the datasets use ``(seed, split, index)``."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...skeletons import get_skeleton
from . import rgb
from .body import SKIN
from .camera import Camera
from .config import SynthConfig
from .depth import fuse_depth, room_depth, silhouette_dropout, simulate_sensor
from .layout import SceneLayout, sample_layout
from .raster import ZBuffer, capsule_fragments, composite, polygon_fragments
from .visibility import box_from_mask_and_points, keypoint_flags

MIN_INSTANCE_AREA = 8  # pixels; people with a smaller visible silhouette are not annotated
MIN_PART_SIZE = 6.0  # pixels; smaller faces / hands / feet are left unlabelled, as in COCO-WholeBody
WHOLEBODY_PARTS = ("foot", "face", "lefthand", "righthand")


@dataclass
class SynthInstance:
    """One annotated person.

    Attributes:
        keypoints: (K, 2) float32 projected keypoints (pixels), also where not labelled.
        flags: (K,) uint8 COCO flags: 2 visible, 1 occluded inside the image, 0 not labelled (outside the image,
            or part of an invalid whole-body part).
        keypoints_cam: (K, 3) float32 camera-frame keypoints (metres).
        depth_offset: (K,) float32 radius of the body volume around each keypoint (metres).
        bbox: (4,) float32 xyxy box of the silhouette and the visible keypoints.
        area: silhouette area in pixels.
        person_index: index of the person in the scene (value in ``SynthScene.instance_map``).
        part_valid: whole-body part -> labelled (``{}`` for the COCO-17 layout).
        part_boxes: whole-body part -> (4,) xyxy box (zeros when invalid).
    """

    keypoints: np.ndarray
    flags: np.ndarray
    keypoints_cam: np.ndarray
    depth_offset: np.ndarray
    bbox: np.ndarray
    area: float
    person_index: int
    part_valid: dict = field(default_factory=dict)
    part_boxes: dict = field(default_factory=dict)

    @property
    def num_keypoints(self) -> int:
        """Number of labelled body keypoints (COCO ``num_keypoints`` counts the first 17 only)."""
        return int((self.flags[:17] > 0).sum())


@dataclass
class SynthScene:
    """A rendered scene.

    Attributes:
        image: (H, W, 3) uint8 BGR (RGB mode) or (H, W) uint16 millimetres (depth mode).
        modality: ``"rgb"`` or ``"depth"``.
        instances: the annotated people.
        instance_map: (H, W) int16 visible person index per pixel, -1 elsewhere (silhouettes).
        zbuffer: (H, W) float32 clean camera z of the people and occluders (``inf`` elsewhere), metres.
        camera: the camera.
        skeleton_name: ``"coco"`` or ``"coco_wholebody"``.
        layout: the 3D scene (people, objects) it was rendered from.
    """

    image: np.ndarray
    modality: str
    instances: list[SynthInstance]
    instance_map: np.ndarray
    zbuffer: np.ndarray
    camera: Camera
    skeleton_name: str
    layout: SceneLayout | None = None

    def masks(self) -> np.ndarray:
        """(N, H, W) bool silhouettes of the annotated instances, in ``instances`` order."""
        ids = np.array([inst.person_index for inst in self.instances], np.int16)
        return self.instance_map[None] == ids[:, None, None]


@dataclass
class _Primitives:
    """All drawable geometry of a scene in camera coordinates, with its owner (person index, or
    ``num_people + object index``) and material per primitive."""

    zbuffer: ZBuffer
    owner: np.ndarray
    material: np.ndarray


def _rasterise(layout: SceneLayout, objects: list[int], normals: bool = True) -> _Primitives:
    cam = layout.camera
    n = len(layout.people)
    a, b, ra, rb, owner, material = [], [], [], [], [], []
    for i, p in enumerate(layout.people):
        a.append(cam.to_camera(p.cap_a))
        b.append(cam.to_camera(p.cap_b))
        ra.append(p.cap_ra)
        rb.append(p.cap_rb)
        owner.append(np.full(len(p.cap_ra), i))
        material.append(p.cap_material)
    polygons, poly_owner = [], []
    for j in objects:
        obj = layout.objects[j]
        if obj.kind == "capsule":
            a.append(cam.to_camera(obj.a[None]))
            b.append(cam.to_camera(obj.b[None]))
            ra.append(np.array([obj.radius]))
            rb.append(np.array([obj.radius]))
            owner.append(np.array([n + j]))
            material.append(np.array([-1]))
        else:
            centre = cam.to_camera(obj.centre + [0.0, obj.size[1] / 2, 0.0])
            for face in obj.box_faces():
                fc = cam.to_camera(face)
                if np.dot(fc.mean(0) - centre, fc.mean(0)) < 0:  # outward normal faces the camera
                    polygons.append(fc)
                    poly_owner.append(n + j)
    if a:
        a_all, b_all = np.concatenate(a), np.concatenate(b)
        ra_all, rb_all = np.concatenate(ra), np.concatenate(rb)
        owner_all, mat_all = np.concatenate(owner), np.concatenate(material)
    else:
        a_all = b_all = np.zeros((0, 3))
        ra_all = rb_all = np.zeros(0)
        owner_all = mat_all = np.zeros(0, np.int64)
    chunks = capsule_fragments(cam, a_all, b_all, ra_all, rb_all, normals=normals)
    chunks += polygon_fragments(cam, polygons, first_id=len(ra_all))
    zb = composite(chunks, cam.width, cam.height, normals=normals)
    owner_all = np.concatenate([owner_all, np.asarray(poly_owner, np.int64)]).astype(np.int64)
    mat_all = np.concatenate([mat_all, np.full(len(poly_owner), -1)]).astype(np.int64)
    return _Primitives(zb, owner_all, mat_all)


def _part_box(points: np.ndarray, pad: float = 0.1) -> np.ndarray:
    lo, hi = points.min(0), points.max(0)
    margin = pad * (hi - lo)
    return np.concatenate([lo - margin, hi + margin]).astype(np.float32)


def _annotate(cfg: SynthConfig, layout: SceneLayout, zb: ZBuffer, instance_map: np.ndarray) -> list[SynthInstance]:
    cam = layout.camera
    skeleton = get_skeleton(cfg.skeleton_name)
    k = skeleton.num_keypoints
    out = []
    for i, person in enumerate(layout.people):
        mask = instance_map == i
        area = int(mask.sum())
        if area < MIN_INSTANCE_AREA:
            continue
        kc = cam.to_camera(person.keypoints[:k])
        px = cam.project(kc)
        offset = person.kp_depth_offset[:k]
        normals = person.kp_normal[:k] @ cam.rotation.T
        flags = keypoint_flags(px, kc[:, 2], offset, zb.depth, cam.focal, kc, normals, cfg.facing_margin)
        part_valid, part_boxes = {}, {}
        if cfg.wholebody:
            for name in WHOLEBODY_PARTS:
                lo, hi = skeleton.parts[name]
                box = _part_box(px[lo:hi])
                size = float(max(box[2] - box[0], box[3] - box[1]))
                valid = bool((flags[lo:hi] == 2).any()) and size >= MIN_PART_SIZE
                if not valid:
                    flags[lo:hi] = 0
                part_valid[name] = valid
                part_boxes[name] = box if valid else np.zeros(4, np.float32)
        bbox = box_from_mask_and_points(mask, px, flags)
        too_small = max(bbox[2] - bbox[0], bbox[3] - bbox[1]) < cfg.min_keypoint_size or area < cfg.min_label_area
        hardly_visible = int((flags[:17] == 2).sum()) < cfg.min_visible_keypoints
        if too_small or hardly_visible:  # an annotator would not label its keypoints (COCO); detection keeps it
            flags[:] = 0
            part_valid = {name: False for name in part_valid}
            part_boxes = {name: np.zeros(4, np.float32) for name in part_boxes}
            bbox = box_from_mask_and_points(mask, px, flags)
        out.append(SynthInstance(px.astype(np.float32), flags, kc.astype(np.float32), offset.astype(np.float32),
                                 bbox, float(area), i, part_valid, part_boxes))
    return out


def _rgb_image(cfg: SynthConfig, rng: np.random.Generator, layout: SceneLayout, prims: _Primitives,
               instances: list[SynthInstance], backgrounds: list) -> np.ndarray:
    cam = layout.camera
    background = rgb.user_background(rng, backgrounds, cam.width, cam.height) if backgrounds else None
    image = background if background is not None else rgb.procedural_background(rng, cam)
    slots: list[rgb.Appearance] = []
    for person in layout.people:
        depth = float(cam.to_camera(person.keypoints[11:13].mean(0))[2])
        slots.extend(rgb.person_appearance(rng, depth))
    n = len(layout.people)
    for obj in layout.objects:
        centre = obj.centre if obj.kind == "box" else obj.a
        slots.append(rgb.object_appearance(rng, float(cam.to_camera(centre)[2])))
    prim_slot = np.where(prims.owner < n, prims.owner * 5 + np.maximum(prims.material, 0), 4 * n + prims.owner)
    rgb.shade(image, prims.zbuffer.prim, prims.zbuffer.normal, prim_slot, slots, rng, cam.focal)
    for inst in instances:  # facial features are cues for the body's eyes/nose/ears too, in both layouts
        person = layout.people[inst.person_index]
        kc = cam.to_camera(person.keypoints[23:91])
        face_px = cam.project(kc)
        face_flags = keypoint_flags(face_px, kc[:, 2], np.zeros(68), prims.zbuffer.depth, cam.focal, kc,
                                    person.kp_normal[23:91] @ cam.rotation.T)
        rgb.paint_face(image, face_px, face_flags, slots[inst.person_index * 5 + SKIN].color * 0.9)
    return rgb.camera_effects(image, rng, cfg.blur, cfg.noise)


def _depth_image(cfg: SynthConfig, rng: np.random.Generator, layout: SceneLayout, prims: _Primitives,
                 instance_map: np.ndarray) -> np.ndarray:
    cam = layout.camera
    layer = prims.zbuffer.depth
    layer_mask = np.isfinite(layer)
    pts = [p.keypoints for p in layout.people]
    pts += [np.stack([o.centre, o.a, o.b]) for o in layout.objects]
    if pts:
        pts = np.concatenate(pts)
        extent = (float(np.abs(pts[:, 0]).max()), float(pts[:, 2].max()))
    else:
        extent = (1.0, 3.0)
    room = room_depth(rng, cam, extent)
    # the paper's fusion: people (and their occluders) rendered alone are pasted onto the background depth with
    # the margin check; the fused frame then goes through the sensor model once (noise, edge holes, ranges)
    people_m = np.where(layer_mask, layer, np.float32(0.0))
    fused = fuse_depth(people_m, layer_mask, room, cfg.fusion_margin_mm / 1000.0)
    out = simulate_sensor(fused, rng, cfg.noise)
    if rng.random() < cfg.dropout_prob:
        out = silhouette_dropout(out, instance_map >= 0, rng, cfg.dropout_rate)
    return out


def render_scene(cfg: SynthConfig, seed, backgrounds: list | None = None) -> SynthScene:
    """Render the scene of ``seed`` (an int or a tuple of ints) with the settings ``cfg``.

    ``backgrounds``: the user background files (``rgb.list_backgrounds(cfg.background_dir)``); listed here when
    not given (pass it in loops to avoid listing the folder for every image)."""
    cfg = cfg.validated()
    rng = np.random.default_rng(seed)
    num_people = int(rng.integers(cfg.min_people, cfg.max_people + 1))
    layout = sample_layout(rng, cfg, num_people)
    n = len(layout.people)
    # every object is drawn with the people (in depth mode they form the foreground layer that is fused onto the
    # room, so objects can occlude people in both modes)
    prims = _rasterise(layout, list(range(len(layout.objects))), normals=cfg.modality == "rgb")
    covered = np.flatnonzero(prims.zbuffer.prim >= 0)
    owner = prims.owner[prims.zbuffer.prim.reshape(-1)[covered]]
    instance_map = np.full(prims.zbuffer.prim.shape, -1, np.int16)
    instance_map.reshape(-1)[covered] = np.where(owner < n, owner, -1)
    instances = _annotate(cfg, layout, prims.zbuffer, instance_map)
    if cfg.modality == "rgb":
        if backgrounds is None:
            backgrounds = rgb.list_backgrounds(cfg.background_dir)
        image = _rgb_image(cfg, rng, layout, prims, instances, backgrounds)
    else:
        image = _depth_image(cfg, rng, layout, prims, instance_map)
    return SynthScene(image, cfg.modality, instances, instance_map, prims.zbuffer.depth, layout.camera,
                      cfg.skeleton_name, layout)
