"""Multi-HMR: one DINOv2 pass, head-token detection, the HPH regressor and metric placement.

``MultiHMRNet`` holds exactly the released checkpoint's tensors (keys ``backbone.encoder.*``,
``mlp_classif.*``, ``mlp_offset.*``, ``x_attention_head.*``; our compact models may add a box
head, ``x_attention_head.decbox.*``) and returns SMPL-X parameters, head pixel locations and
camera-frame head positions. ``MultiHMR`` adds a body model and places
the meshes. Shapes depend only on (B, S, max_people), never on the image content: the forward
pass has no host syncs and can be captured in a CUDA graph.
"""
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, Optional, Tuple, Union

import torch
from torch import nn

from ros_phmr.geometry.projection import boxes_between_intrinsics, boxes_from_points, project_points
from ros_phmr.geometry.rotations import rot6d_to_matrix
from ros_phmr.model.backbone import PATCH_SIZE, DinoV2
from ros_phmr.model.camera_rays import CameraRayEncoder, invert_intrinsics
from ros_phmr.model.checkpoint import load_checkpoint_file, load_state_dict_strict
from ros_phmr.model.multihmr.config import MAX_DEPTH_M, NUM_EXPRESSION, NUM_ROTATIONS, MultiHMRConfig
from ros_phmr.model.multihmr.detection import (
    Detections,
    decode_person_boxes,
    detection_scores,
    peak_scores,
    score_mlp,
    select_detections,
    token_centres,
)
from ros_phmr.model.multihmr.hph import HumanPerceptionHead

LOG_DEPTH_EPS = 1e-10
# A standing person seen from the front, boxed from the token holding the head: a little
# left and right, hardly up, a third of a typical training image down.
INITIAL_BOX = (0.06, 0.03, 0.06, 0.33)
DEFAULT_MAX_PEOPLE = 32


class BackboneSlot(nn.Module):
    """Holds the DINOv2 under the released key prefix 'backbone.encoder.'."""

    def __init__(self, encoder: DinoV2):
        super().__init__()
        self.encoder = encoder


@dataclass
class MultiHMROutput:
    """Per image B and person slot P (valid slots first, in token order). Rotations follow the
    released order [global, 21 body, 15 left hand, 15 right hand, jaw]. Positions are metres in
    the camera frame of the model input (x right, y down, z forward); pixels are in the S x S
    model input."""

    valid: torch.Tensor  # (B, P) bool
    scores: torch.Tensor  # (B, P) detection probability
    token_index: torch.Tensor  # (B, P) long, row-major head token
    num_candidates: torch.Tensor  # (B,) long, people above threshold before the max_people cap
    score_map: torch.Tensor  # (B, S/14, S/14) detection probability of every token (before NMS)
    offset: torch.Tensor  # (B, P, 2) sub-token head offset (x, y) in patch units
    loc: torch.Tensor  # (B, P, 2) head pixel (u, v)
    pose6d: torch.Tensor  # (B, P, 318) raw rot6d ('columns' convention), init included
    cam: torch.Tensor  # (B, P, 3) raw cam output; [..., 0] = normalised log-depth
    rotmat: torch.Tensor  # (B, P, 53, 3, 3)
    betas: torch.Tensor  # (B, P, num_betas)
    expression: torch.Tensor  # (B, P, 10)
    depth: torch.Tensor  # (B, P) z of the head (person-center) joint, clamped to [0, 50] m
    head_position: torch.Tensor  # (B, P, 3) camera-frame position of the person-center joint
    transl: Optional[torch.Tensor] = None  # (B, P, 3) standard SMPL-X transl (needs a body model)
    vertices: Optional[torch.Tensor] = None  # (B, P, V, 3) camera frame
    joints: Optional[torch.Tensor] = None  # (B, P, J, 3) camera frame (127 for SMPL-X)
    box: Optional[torch.Tensor] = None  # (B, P, 4) xyxy input pixels, from a box head (else None)

    @property
    def global_orient(self) -> torch.Tensor:
        return self.rotmat[:, :, 0]  # (B, P, 3, 3)

    @property
    def body_pose(self) -> torch.Tensor:
        return self.rotmat[:, :, 1:22]  # (B, P, 21, 3, 3)

    @property
    def left_hand_pose(self) -> torch.Tensor:
        return self.rotmat[:, :, 22:37]  # (B, P, 15, 3, 3)

    @property
    def right_hand_pose(self) -> torch.Tensor:
        return self.rotmat[:, :, 37:52]  # (B, P, 15, 3, 3)

    @property
    def jaw_pose(self) -> torch.Tensor:
        return self.rotmat[:, :, 52]  # (B, P, 3, 3)


class MultiHMRNet(nn.Module):
    """The released Multi-HMR network (SMPL-X variant) without the body model."""

    def __init__(self, config: MultiHMRConfig, max_people: int = DEFAULT_MAX_PEOPLE):
        super().__init__()
        self.config = config
        self.max_people = max_people
        self.backbone = BackboneSlot(DinoV2(config.backbone))
        dim = config.backbone.embed_dim
        self.mlp_classif = score_mlp(dim, 1)
        self.mlp_offset = score_mlp(dim, 2)
        self.x_attention_head = HumanPerceptionHead(config)
        self.camera_rays = CameraRayEncoder(PATCH_SIZE, config.camera_num_bands, config.camera_max_resolution)

    @classmethod
    def from_checkpoint(cls, path: Union[str, Path], max_people: int = DEFAULT_MAX_PEOPLE) -> "MultiHMRNet":
        """Build from a released (or random official-layout) ``.pt`` and load it strictly."""
        checkpoint = load_checkpoint_file(path, "multihmr")
        return cls.from_state_dict(checkpoint["state_dict"], checkpoint["args"], max_people, what=str(path))

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, torch.Tensor], args: Mapping, max_people: int = DEFAULT_MAX_PEOPLE,
                        what: str = "Multi-HMR weights") -> "MultiHMRNet":
        """Build from official-layout tensors and their training ``args`` (a dict)."""
        config = MultiHMRConfig.from_checkpoint(args, state_dict)
        net = cls(config, max_people)
        load_state_dict_strict(net, state_dict, f"Multi-HMR checkpoint {what}")
        return net.eval()

    def add_box_head_(self) -> "MultiHMRNet":
        """Give a network without one a new box head (to fine-tune an older compact file)."""
        if self.x_attention_head.decbox is not None:
            return self
        self.config = replace(self.config, box_head=True)
        head = self.x_attention_head
        head.decbox = nn.Linear(self.config.hph_dim, 4).to(head.deccam.weight.device)
        initialise_box_head_(head.decbox)
        return self

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, S, S) ImageNet-normalised -> patch tokens (B, N, D)."""
        size = self.config.image_size
        if images.dim() != 4 or tuple(images.shape[1:]) != (3, size, size):
            raise ValueError(f"this Multi-HMR model takes images of shape (B, 3, {size}, {size}), got {tuple(images.shape)}")
        return self.backbone.encoder(images)

    def detect(self, tokens: torch.Tensor, threshold: float = 0.3, nms_kernel: int = 3,
               max_people: Optional[int] = None) -> Tuple[Detections, torch.Tensor]:
        """tokens (B, N, D) -> (person slots, score map (B, N) before NMS)."""
        grid = self.config.grid
        scores = detection_scores(self.mlp_classif(tokens))  # (B, N)
        heads = None
        if self.config.duplicate_radius > 0:
            heads = self.token_heads(tokens)  # (B, N, 2)
        peaks = peak_scores(scores, grid, grid, nms_kernel, heads, self.config.duplicate_radius * PATCH_SIZE,
                            self.config.duplicate_min_score)
        return select_detections(peaks, threshold, max_people or self.max_people), scores

    def token_heads(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, N, D) -> (B, N, 2) pixel (u, v) of the head each token points at: its centre
        plus its offset, the decoding ``regress`` applies to the detected tokens."""
        return token_centres(torch.arange(tokens.shape[1], device=tokens.device), self.config.grid) + \
            self.mlp_offset(tokens).float() * PATCH_SIZE

    def regress(self, tokens: torch.Tensor, K: torch.Tensor, detections: Detections, score_map: torch.Tensor,
                rays: Optional[torch.Tensor] = None) -> MultiHMROutput:
        """SMPL-X parameters and head positions for the detected slots.

        K (B, 3, 3) intrinsics of the S x S input; rays (B, N, 99) may be precomputed."""
        grid = self.config.grid
        if K.dim() != 3 or K.shape[0] != tokens.shape[0] or K.shape[-2:] != (3, 3):
            raise ValueError(f"K must have shape ({tokens.shape[0]}, 3, 3), got {tuple(K.shape)}")
        if rays is None:
            rays = self.camera_rays(K, grid, grid, device=tokens.device)
        context = torch.cat([tokens, rays.to(tokens.dtype)], dim=-1)  # (B, N, C')
        index = detections.token_index
        person_tokens = tokens.gather(1, index[..., None].expand(-1, -1, tokens.shape[-1]))  # (B, P, D)
        queries = context.gather(1, index[..., None].expand(-1, -1, context.shape[-1]))  # (B, P, C')

        offset = self.mlp_offset(person_tokens)  # (B, P, 2) (x, y)
        token_xy = torch.stack([index % grid, index // grid], dim=-1).to(offset.dtype)  # (col, row)
        loc = (token_xy + 0.5 + offset) * PATCH_SIZE  # (B, P, 2) pixels

        head = self.x_attention_head(queries, context, index, detections.valid)
        batch, slots = index.shape
        rotmat = rot6d_to_matrix(head.pose6d.view(batch, slots, NUM_ROTATIONS, 6), "columns")

        depth, head_position = self._place_head(head.cam[..., 0], loc, K)
        box = None if head.box is None else decode_person_boxes(head.box, index, grid)
        return MultiHMROutput(
            valid=detections.valid, scores=detections.scores, token_index=index,
            num_candidates=detections.num_candidates, score_map=score_map.view(batch, grid, grid),
            offset=offset, loc=loc, pose6d=head.pose6d, cam=head.cam, rotmat=rotmat,
            betas=head.betas, expression=head.expression, depth=depth, head_position=head_position,
            box=box,
        )

    def _place_head(self, log_depth: torch.Tensor, loc: torch.Tensor, K: torch.Tensor):
        """Undo the focal normalisation of the depth output and back-project the head pixel."""
        K = K.float()
        focal = K[:, 0, 0, None]  # (B, 1)
        depth = log_depth.float() * (focal / self.config.reference_focal)
        if self.config.log_depth:
            depth = torch.exp(depth) - LOG_DEPTH_EPS
        depth = depth.clamp(0.0, MAX_DEPTH_M)  # (B, P)
        pixels = torch.cat([loc.float(), torch.ones_like(loc[..., :1], dtype=torch.float32)], dim=-1)  # (B, P, 3)
        rays = torch.einsum("bij,bpj->bpi", invert_intrinsics(K), pixels)
        return depth, rays * depth[..., None]

    def forward(self, images: torch.Tensor, K: torch.Tensor, threshold: float = 0.3, nms_kernel: int = 3,
                max_people: Optional[int] = None) -> MultiHMROutput:
        tokens = self.tokens(images)
        detections, score_map = self.detect(tokens, threshold, nms_kernel, max_people)
        return self.regress(tokens, K, detections, score_map)


def place_bodies(body: nn.Module, out: MultiHMROutput, person_center_joint: int) -> MultiHMROutput:
    """Fill vertices / joints / transl: pose the body (global orientation applied about the pelvis),
    move its person-center joint to ``head_position``.

    With transl = 0 the posed pelvis stays at its rest position, so rotating about the pelvis (as
    released) equals posing with global_orient R; the standard SMPL-X transl is then
    head_position - joint_center.
    """
    batch, slots = out.valid.shape
    flat = lambda t: t.reshape(batch * slots, *t.shape[2:]).float()  # noqa: E731
    posed = body(
        global_orient=flat(out.global_orient),
        body_pose=flat(out.body_pose),
        betas=flat(out.betas),
        left_hand_pose=flat(out.left_hand_pose),
        right_hand_pose=flat(out.right_hand_pose),
        jaw_pose=flat(out.jaw_pose),
        expression=flat(out.expression),
    )
    joints = posed.joints.view(batch, slots, -1, 3)
    transl = out.head_position - joints[:, :, person_center_joint]  # (B, P, 3)
    out.transl = transl
    out.joints = joints + transl[:, :, None]
    out.vertices = posed.vertices.view(batch, slots, -1, 3) + transl[:, :, None]
    return out


def person_image_boxes(out: MultiHMROutput, K: torch.Tensor, K_input: torch.Tensor, index=0) -> torch.Tensor:
    """xyxy boxes (..., 4) in the image of intrinsics K (3, 3) for the slots ``index`` picks from
    (B, P) (0: image 0's slots; (0, mask): some of them): the box head's, mapped from the model
    input (intrinsics K_input), else the box around each placed mesh (``place_bodies`` first)."""
    if out.box is not None:
        return boxes_between_intrinsics(out.box[index].float(), K_input, K)
    return boxes_from_points(project_points(out.vertices[index].float(), K))


def initialise_box_head_(decbox: nn.Linear, initial_box: Tuple[float, float, float, float] = INITIAL_BOX) -> None:
    """A new box head starts small around ``initial_box``: distances (left, top, right, bottom)
    from the head token to the box edges, as fractions of the input size."""
    with torch.no_grad():
        decbox.weight.mul_(0.1)
        decbox.bias.copy_(torch.tensor(initial_box).log())


class MultiHMR(nn.Module):
    """Multi-HMR network + SMPL-X body model: images and intrinsics in, placed meshes out."""

    def __init__(self, net: MultiHMRNet, body: Optional[nn.Module] = None):
        super().__init__()
        self.net = net
        self.body = body

    @classmethod
    def from_checkpoint(cls, path: Union[str, Path], body: Union[None, str, Path, nn.Module] = None,
                        max_people: int = DEFAULT_MAX_PEOPLE) -> "MultiHMR":
        """``body``: a body model, an SMPL-X file / folder for :class:`ros_phmr.body.BodyModel`, or None
        (parameters and head positions only)."""
        net = MultiHMRNet.from_checkpoint(path, max_people)
        if isinstance(body, (str, Path)):
            from ros_phmr.body import BodyModel  # deferred: the network alone needs no body model

            body = BodyModel.from_file(body, num_betas=net.config.num_betas, num_expression=NUM_EXPRESSION)
        return cls(net, body).eval()

    @property
    def config(self) -> MultiHMRConfig:
        return self.net.config

    def forward(self, images: torch.Tensor, K: torch.Tensor, threshold: float = 0.3, nms_kernel: int = 3,
                max_people: Optional[int] = None) -> MultiHMROutput:
        out = self.net(images, K, threshold, nms_kernel, max_people)
        if self.body is not None:
            out = place_bodies(self.body, out, self.config.person_center_joint)
        return out
