"""Scene layout: where the camera, the people and the objects (stools, occluders, clutter) go.

People stand on the ground plane at log-uniformly sampled distances (so far, small people are common), facing any
direction (half of them turned away); ``crowding`` groups them next to each other, ``occlusion`` lines them up
behind each other and puts occluders (crates, poles, balls) between them and the camera, ``truncation`` places
them across the image border."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .body import Person, sample_person
from .camera import Camera, sample_camera
from .config import SynthConfig
from .rotations import rot_y


@dataclass
class SceneObject:
    """A box (``kind="box"``: ``centre`` of its base on the ground, ``size`` (w, h, d), ``yaw``) or a capsule
    (``kind="capsule"``: ends ``a``, ``b``, ``radius``). ``occluder`` objects belong to the foreground layer."""

    kind: str
    centre: np.ndarray = field(default_factory=lambda: np.zeros(3))
    size: np.ndarray = field(default_factory=lambda: np.ones(3))
    yaw: float = 0.0
    a: np.ndarray = field(default_factory=lambda: np.zeros(3))
    b: np.ndarray = field(default_factory=lambda: np.zeros(3))
    radius: float = 0.0
    occluder: bool = False

    def box_faces(self) -> list[np.ndarray]:
        """The six faces of a box as (4, 3) world corner arrays."""
        w, h, d = self.size
        x = np.array([-w, w, w, -w]) / 2
        z = np.array([-d, -d, d, d]) / 2
        bottom = np.stack([x, np.zeros(4), z], 1)
        top = bottom + [0.0, h, 0.0]
        corners = np.concatenate([bottom, top]) @ rot_y(self.yaw).T + self.centre
        faces = [(0, 1, 2, 3), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7)]
        return [corners[list(f)] for f in faces]


@dataclass
class SceneLayout:
    camera: Camera
    people: list[Person]
    objects: list[SceneObject]


def _person_position(rng: np.random.Generator, cfg: SynthConfig, camera: Camera, placed: list[tuple[float, float]]
                     ) -> tuple[float, float]:
    """(distance, lateral) in camera terms for the next person."""
    near, far = cfg.distances
    half_fov = 0.5 * camera.width / camera.focal  # tan of the half horizontal field of view
    if placed and rng.random() < cfg.crowding:
        d0, l0 = placed[int(rng.integers(len(placed)))]
        if rng.random() < 0.6 * cfg.occlusion:  # behind or in front of that person, roughly on the same ray
            d = d0 * rng.uniform(0.55, 1.9)
            lateral = l0 * d / d0 + rng.normal(0.0, 0.2)
        else:  # side by side
            d = d0 + rng.normal(0.0, 0.6)
            lateral = l0 + rng.choice([-1.0, 1.0]) * rng.uniform(0.45, 1.1)
        return float(np.clip(d, 0.9 * near, 1.1 * far)), float(lateral)
    d = math.exp(rng.uniform(math.log(near), math.log(far)))
    half = d * half_fov
    if rng.random() < cfg.truncation:
        lateral = rng.choice([-1.0, 1.0]) * half * rng.uniform(0.8, 1.04)
    else:
        lateral = rng.uniform(-0.85, 0.85) * half
    return d, float(lateral)


def _random_object(rng: np.random.Generator, ground: np.ndarray, occluder: bool) -> SceneObject:
    kind = rng.choice(["box", "pole", "ball"], p=[0.6, 0.25, 0.15])
    if kind == "box":
        size = np.array([rng.uniform(0.3, 1.6), rng.uniform(0.3, 1.4), rng.uniform(0.3, 0.9)])
        return SceneObject("box", centre=ground.copy(), size=size, yaw=rng.uniform(0, np.pi), occluder=occluder)
    if kind == "pole":
        top = rng.uniform(1.0, 3.0)
        r = rng.uniform(0.04, 0.16)
        return SceneObject("capsule", a=ground + [0, r, 0], b=ground + [0, top, 0], radius=r, occluder=occluder)
    r = rng.uniform(0.12, 0.45)
    centre = ground + [0, r, 0]
    return SceneObject("capsule", a=centre, b=centre, radius=r, occluder=occluder)


HEADING_SPREAD = math.radians(40.0)  # std of the turn away from the camera of a camera-facing person


def _heading(rng: np.random.Generator, cfg: SynthConfig, camera: Camera, ground: np.ndarray) -> float:
    """Body yaw (about world y; yaw 0 faces world +z): uniform for a share ``cfg.heading`` of people (every one
    at ``heading`` 1, drawing exactly what earlier versions drew), towards the camera with a normal spread
    otherwise."""
    if cfg.heading >= 1.0 or rng.random() < cfg.heading:
        return float(rng.uniform(0.0, 2 * np.pi))
    to_camera = camera.position - ground
    return float(math.atan2(to_camera[0], to_camera[2]) + rng.normal(0.0, HEADING_SPREAD))


def sample_layout(rng: np.random.Generator, cfg: SynthConfig, num_people: int) -> SceneLayout:
    """Camera, ``num_people`` posed people in world coordinates, stools, occluders and clutter."""
    camera = sample_camera(rng, cfg.width, cfg.height)
    people: list[Person] = []
    placed: list[tuple[float, float]] = []
    grounds: list[np.ndarray] = []
    objects: list[SceneObject] = []
    for _ in range(num_people):
        for _attempt in range(12):
            d, lateral = _person_position(rng, cfg, camera, placed)
            ground = camera.forward_distance_to_world(d, lateral)
            # the body's middle (1 m above the ground) must project near the image (high cameras look over
            # close people), and people must not stand inside each other
            mid_v = camera.project(camera.to_camera(ground + [0.0, 1.0, 0.0]))[1]
            in_view = -0.15 * camera.height < mid_v < 1.15 * camera.height
            if in_view and all(np.hypot(*(ground - g)[[0, 2]]) > 0.5 for g in grounds):
                break
        else:
            continue  # no free spot: fewer people in this scene
        yaw = _heading(rng, cfg, camera, ground)
        person = sample_person(rng, cfg.pose_extremity).transformed(rot_y(yaw), ground)
        people.append(person)
        placed.append((d, lateral))
        grounds.append(ground)
        if person.seat_height > 0:
            pelvis = 0.5 * (person.keypoints[11] + person.keypoints[12])
            seat_ground = np.array([pelvis[0], 0.0, pelvis[2]])
            back = rot_y(yaw) @ np.array([0.0, 0.0, -0.06])
            objects.append(SceneObject("box", centre=seat_ground + back, size=np.array(
                [rng.uniform(0.35, 0.5), person.seat_height, rng.uniform(0.35, 0.5)]), yaw=yaw, occluder=True))
        if rng.random() < 0.5 * cfg.occlusion:  # an occluder between the camera and this person
            frac = rng.uniform(0.35, 0.85)
            obj_ground = ground * frac + np.array([rng.normal(0, 0.35), 0.0, 0.0])
            objects.append(_random_object(rng, obj_ground, occluder=True))
    for _ in range(int(rng.integers(0, cfg.clutter + 1))):
        near, far = cfg.distances
        # in depth mode clutter stays within the people's range so that the room (and the 8 m sensor range)
        # does not have to grow around it
        d = rng.uniform(max(1.0, 0.6 * near), 1.2 * far if cfg.modality == "rgb" else far)
        lateral = rng.uniform(-1.2, 1.2) * d * 0.5 * camera.width / camera.focal
        ground = camera.forward_distance_to_world(d, lateral, height=0.0)
        if all(np.hypot(*(ground - g)[[0, 2]]) > 0.7 for g in grounds):
            objects.append(_random_object(rng, ground, occluder=False))
    return SceneLayout(camera, people, objects)
