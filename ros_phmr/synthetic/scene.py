"""A seeded synthetic scene: 2-4 mannequins walking, turning, crossing and waving in a room.

Used by ``ros-phmr demo`` (no camera and no licensed body model needed), by tests that want
images with exact ground truth, and later as synthetic training data. Every output is a pure
function of (body model, config, seed, frame index): frames can be produced in any order.

Bodies are expressed in the camera's ROS optical frame (x right, y down, z forward) like the
estimator's outputs. SMPL-X's canonical frame is y-up and faces +z, so a person facing the camera
has a global orientation of about 180 deg about x.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, List

import numpy as np
import torch

from ..geometry.projection import boxes_from_points, clip_boxes, project_points
from ..geometry.rotations import matrix_to_axis_angle
from ..render import PALETTE, render_meshes
from .background import render_room
from .camera_rig import CameraRig
from .motion import EllipseWalk, TurnAndWave

MAX_PEOPLE = 4
NUM_BETAS = 10


@dataclass(frozen=True)
class SceneConfig:
    """Image size, horizontal field of view, number of people (1-4), frame rate, clock start."""

    width: int = 640
    height: int = 480
    hfov_deg: float = 60.0
    num_people: int = 3
    fps: float = 30.0
    start_time_ns: int = 1_700_000_000 * 1_000_000_000    # fixed, so recordings are reproducible
    rig: CameraRig = field(default_factory=CameraRig)

    def __post_init__(self):
        if int(self.width) < 16 or int(self.height) < 16:
            raise ValueError(f"image must be at least 16x16, got {self.width}x{self.height}")
        if not 10.0 <= float(self.hfov_deg) <= 150.0:
            raise ValueError(f"hfov_deg must be in [10, 150], got {self.hfov_deg}")
        if not 1 <= int(self.num_people) <= MAX_PEOPLE:
            raise ValueError(f"num_people must be in [1, {MAX_PEOPLE}], got {self.num_people}")
        if not float(self.fps) > 0:
            raise ValueError(f"fps must be positive, got {self.fps}")
        if int(self.start_time_ns) < 0:
            raise ValueError(f"start_time_ns must be >= 0, got {self.start_time_ns}")

    @property
    def K(self) -> np.ndarray:
        """(3,3) float64 pinhole intrinsics: square pixels, principal point at the image centre."""
        f = self.width / (2.0 * np.tan(np.radians(self.hfov_deg) / 2.0))
        return np.array([[f, 0.0, self.width / 2.0], [0.0, f, self.height / 2.0], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class SceneFrame:
    """One rendered frame with exact ground truth of P people (arrays are numpy).

    image (H,W,3) uint8 RGB; K (3,3); depth (H,W) float32 (+inf = room);
    body_ids (P,) int64; betas (P,10); global_orient (P,3,3) and body_pose (P,21,3,3) rotation
    matrices with their axis-angle forms global_orient_aa (P,3), body_pose_aa (P,21,3);
    transl (P,3) (SMPL-X convention: pelvis = rest pelvis + transl, camera frame);
    vertices (P,10475,3), joints (P,127,3) in metres, optical frame; joints2d (P,127,2) pixels;
    boxes (P,4) xyxy of the projected mesh, clipped to the image; masks (P,H,W) bool visible pixels.
    """

    index: int
    stamp_ns: int
    image: np.ndarray
    K: np.ndarray
    depth: np.ndarray
    body_ids: np.ndarray
    betas: np.ndarray
    global_orient: np.ndarray
    body_pose: np.ndarray
    global_orient_aa: np.ndarray
    body_pose_aa: np.ndarray
    transl: np.ndarray
    vertices: np.ndarray
    joints: np.ndarray
    joints2d: np.ndarray
    boxes: np.ndarray
    masks: np.ndarray


def _heading_rotation(heading: float) -> np.ndarray:
    """(3,3) world-from-canonical rotation of a body facing ``heading`` (radians about world z):
    canonical x (body left) -> world left of the heading, y (up) -> world z, z (front) -> heading."""
    c, s = np.cos(heading), np.sin(heading)
    return np.array([[-s, 0.0, c],
                     [c, 0.0, s],
                     [0.0, 1.0, 0.0]])


def _motion_scripts(rng: np.random.Generator, count: int) -> List[object]:
    """Seeded motions: two walkers on nested ellipses going opposite ways (they pass each other),
    one person turning and waving behind them, and a fourth walker further back."""
    def j(scale: float) -> float:
        """Uniform jitter in [-scale, scale]."""
        return float(rng.uniform(-scale, scale))

    center = (4.3 + j(0.2), j(0.2))
    scripts = [
        EllipseWalk(center=center, radii=(1.0 + j(0.1), 1.6 + j(0.15)), speed=1.2 + j(0.15),
                    direction=1, start_angle=rng.uniform(0, 2 * np.pi)),
        EllipseWalk(center=center, radii=(0.55 + j(0.05), 1.05 + j(0.1)), speed=1.0 + j(0.15),
                    direction=-1, start_angle=rng.uniform(0, 2 * np.pi)),
        TurnAndWave(position=(5.6 + j(0.2), 1.3 + j(0.2)), mean_heading=np.pi + j(0.3),
                    wave_hz=1.6 + j(0.3)),
        EllipseWalk(center=(5.8 + j(0.1), -1.3 + j(0.1)), radii=(0.3, 0.6), speed=0.9 + j(0.1),
                    direction=1, start_angle=rng.uniform(0, 2 * np.pi)),
    ]
    return scripts[:count]


class SyntheticScene:
    """Frames of a deterministic scene rendered with ``body`` (a ``ros_phmr.body.BodyModel``)."""

    def __init__(self, body, config: SceneConfig = SceneConfig(), seed: int = 0):
        self.body = body
        self.config = config
        self.seed = int(seed)
        rng = np.random.default_rng(self.seed)
        self.betas = np.clip(rng.normal(0.0, 0.8, (config.num_people, NUM_BETAS)), -2.0, 2.0).astype(np.float32)
        self.scripts = _motion_scripts(rng, config.num_people)
        self.body_ids = np.arange(config.num_people, dtype=np.int64)
        self.K = config.K
        self.room = render_room(self.K, config.width, config.height, config.rig)   # (H, W, 3), static
        self.faces = body.faces.detach().cpu().numpy().astype(np.int64)          # (F, 3)

    def stamp_ns(self, index: int) -> int:
        return self.config.start_time_ns + int(round(index * 1e9 / self.config.fps))

    def frame(self, index: int) -> SceneFrame:
        if int(index) < 0:
            raise ValueError(f"frame index must be >= 0, got {index}")
        index = int(index)
        t = index / self.config.fps
        rig = self.config.rig
        states = [script.state(t) for script in self.scripts]
        positions = np.stack([s[0] for s in states])                                # (P, 2) world xy
        camera_from_world = rig.world_from_camera.T
        global_orient = np.stack([camera_from_world @ _heading_rotation(s[1]) for s in states])  # (P,3,3)
        body_pose = np.stack([s[2] for s in states])                                # (P, 21, 3, 3)

        device = self.body.faces.device
        with torch.no_grad():
            out = self.body(global_orient=torch.as_tensor(global_orient, dtype=torch.float32, device=device),
                            body_pose=torch.as_tensor(body_pose, dtype=torch.float32, device=device),
                            betas=torch.as_tensor(self.betas, device=device))
        vertices = out.vertices.cpu().numpy().astype(np.float64)                    # (P, V, 3)
        joints = out.joints.cpu().numpy().astype(np.float64)                        # (P, J, 3)
        pelvis_rest = joints[:, 0]                                                  # (P, 3)
        # Stand on the floor: the lowest vertex touches z = 0 under the pelvis' world (x, y).
        lowest = ((vertices - pelvis_rest[:, None]) @ rig.up_in_camera).min(axis=1)  # (P,) below pelvis
        pelvis_world = np.column_stack([positions, -lowest])
        transl = rig.world_to_camera(pelvis_world) - pelvis_rest                    # (P, 3)
        vertices += transl[:, None]
        joints += transl[:, None]

        cfg = self.config
        colors = PALETTE[self.body_ids % len(PALETTE)]
        rendered = render_meshes([(v, self.faces) for v in vertices], self.K, cfg.width, cfg.height,
                                 colors=colors, background=self.room)
        boxes = clip_boxes(boxes_from_points(project_points(vertices, self.K)), cfg.width, cfg.height)
        with torch.no_grad():
            go_aa = matrix_to_axis_angle(torch.as_tensor(global_orient)).numpy()
            bp_aa = matrix_to_axis_angle(torch.as_tensor(body_pose)).numpy()
        return SceneFrame(
            index=index, stamp_ns=self.stamp_ns(index), image=rendered.image, K=self.K.copy(),
            depth=rendered.depth, body_ids=self.body_ids.copy(), betas=self.betas.copy(),
            global_orient=global_orient.astype(np.float32), body_pose=body_pose.astype(np.float32),
            global_orient_aa=go_aa.astype(np.float32), body_pose_aa=bp_aa.astype(np.float32),
            transl=transl.astype(np.float32), vertices=vertices.astype(np.float32),
            joints=joints.astype(np.float32),
            joints2d=project_points(joints, self.K).astype(np.float32),
            boxes=boxes.astype(np.float32), masks=rendered.masks(len(self.body_ids)))

    def frames(self, count: int, start: int = 0) -> Iterator[SceneFrame]:
        """Frames ``start`` .. ``start + count - 1`` in order."""
        for index in range(int(start), int(start) + int(count)):
            yield self.frame(index)
