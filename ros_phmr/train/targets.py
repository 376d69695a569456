"""Training targets from a labelled batch: detector heat map / offsets and decoder prompts.

Detector (Multi-HMR): a person is the token holding its head joint (SMPL-X joint 15); target
offsets are the head pixel's position inside that token, in patch units, as the network decodes
them (``loc = (token + 0.5 + offset) * 14``). Two people whose heads share a token keep only
the nearer. People that are in the image but hardly visible are neither positives nor negatives.
Offset votes: every token of the 3x3 window around a positive's head token also learns the offset
to that head (the nearest one where windows overlap), so that at inference a person's
neighbouring tokens can be told from another person's head (``peak_scores`` with heads).

Decoder (PromptHMR): every visible person is prompted, with a box of a random kind (the full
mesh box, the visible-pixel box or a loose box, each jittered), sometimes with its mask too, or
with the mask alone (empty box); text is always empty.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ros_phmr.model.multihmr.detection import token_centres
from ros_phmr.model.prompthmr.prompts import PersonPrompts
from ros_phmr.synthetic.dataset import BODY_JOINTS, HEAD_JOINT

PATCH = 14


@dataclass
class DetectorTargets:
    heat: torch.Tensor        # (B, N) float: 1 at head tokens, Gaussian tail around them
    weight: torch.Tensor      # (B, N) float: 0 where a barely visible person's head lies
    token: torch.Tensor       # (B, P) long head token (0 for unused slots)
    positive: torch.Tensor    # (B, P) bool: slot is a detector positive
    offset: torch.Tensor      # (B, P, 2) target offset (x, y) in patch units
    vote_offset: torch.Tensor  # (B, N, 2) every token's offset to the head it votes for, patch units
    vote_weight: torch.Tensor  # (B, N) float: 1 where a token votes (within 1 token of a positive's head)


def detector_targets(joints2d: torch.Tensor, valid: torch.Tensor, detectable: torch.Tensor,
                     depth: torch.Tensor, image_size: int, sigma: float = 0.8) -> DetectorTargets:
    """joints2d (B, P, J, 2) pixels of the S x S input; valid / detectable (B, P); depth (B, P)
    head depth (nearer wins a shared token)."""
    B, P = valid.shape
    grid = image_size // PATCH
    head = joints2d[:, :, HEAD_JOINT]                                           # (B, P, 2)
    cell = torch.floor(head / PATCH).clamp(0, grid - 1)
    token = (cell[..., 1] * grid + cell[..., 0]).long()                         # (B, P)
    offset = head / PATCH - cell - 0.5
    # Nearer person wins a token shared with another detectable person.
    same = (token[:, :, None] == token[:, None, :]) & detectable[:, None, :] & detectable[:, :, None]
    nearer = (depth[:, None, :] < depth[:, :, None]) | ((depth[:, None, :] == depth[:, :, None])
                                                       & (torch.arange(P, device=valid.device)[None, :] < torch.arange(P, device=valid.device)[:, None]))
    beaten = (same & nearer).any(-1)                                            # (B, P)
    positive = detectable & ~beaten
    token = torch.where(valid, token, torch.zeros_like(token))
    heat, g = token_heat(token, positive, grid, sigma)
    # Ignore the neighbourhood of valid people that are not positives (hidden, head outside).
    ignore = valid & ~detectable
    weight = 1.0 - ((g > 0.3) & ignore[..., None]).any(1).float()
    vote_offset, vote_weight = offset_votes(head, cell, positive, grid)
    return DetectorTargets(heat=heat, weight=weight, token=token, positive=positive, offset=offset,
                           vote_offset=vote_offset, vote_weight=vote_weight)


def offset_votes(head: torch.Tensor, cell: torch.Tensor, positive: torch.Tensor, grid: int):
    """head (B, P, 2) pixels, cell (B, P, 2) its token (col, row), positive (B, P) -> (offset
    (B, N, 2) in patch units from each token's centre to the nearest positive head whose token is
    at most one token away, weight (B, N): 1 where there is one)."""
    centres = token_centres(torch.arange(grid * grid, device=head.device), grid)    # (N, 2) pixels
    cells = centres / PATCH - 0.5                                                   # (N, 2) (col, row)
    near = ((cells[None, None] - cell[:, :, None]).abs().amax(-1) <= 1) & positive[..., None]   # (B, P, N)
    gap = (centres[None, None] - head[:, :, None]).square().sum(-1)                 # (B, P, N)
    nearest = torch.where(near, gap, torch.full_like(gap, float("inf"))).argmin(1)   # (B, N)
    voted = head.gather(1, nearest[..., None].expand(-1, -1, 2))                    # (B, N, 2)
    return voted / PATCH - cells - 0.5, near.any(1).float()


def token_heat(token: torch.Tensor, present: torch.Tensor, grid: int, sigma: float):
    """token (B, P) long cell of each point on a grid x grid token map, present (B, P) bool ->
    (heat (B, N): max over present points of a Gaussian in token units, exactly 1 at their cells;
    g (B, P, N): each point's own Gaussian)."""
    cells = torch.arange(grid, device=token.device).float()
    ty, tx = (token // grid).float(), (token % grid).float()                   # (B, P)
    gy = torch.exp(-(cells[None, None] - ty[..., None]) ** 2 / (2 * sigma ** 2))   # (B, P, grid)
    gx = torch.exp(-(cells[None, None] - tx[..., None]) ** 2 / (2 * sigma ** 2))
    g = (gy[..., :, None] * gx[..., None, :]).flatten(2)                       # (B, P, N)
    if token.shape[1] == 0:
        return torch.zeros(token.shape[0], grid * grid, device=token.device), g
    return (g * present[..., None]).amax(1), g


def joint_heat_targets(joints2d: torch.Tensor, valid: torch.Tensor, image_size: int,
                       joints: int = BODY_JOINTS, sigma: float = 0.8) -> torch.Tensor:
    """Token-level 2D heat maps of the body joints: joints2d (B, P, J, 2) pixels of the S x S input,
    valid (B, P) -> (B, N, joints), per joint the max over people of a Gaussian around the token
    holding it (1 there). Joints outside the image have no peak; occluded joints keep theirs."""
    B, P = valid.shape
    grid = image_size // PATCH
    uv = joints2d[:, :, :joints].transpose(1, 2)                                # (B, J, P, 2)
    inside = ((uv >= 0) & (uv < image_size)).all(-1) & valid[:, None]           # (B, J, P)
    cell = torch.floor(uv / PATCH).clamp(0, grid - 1)
    token = (cell[..., 1] * grid + cell[..., 0]).long()                         # (B, J, P)
    heat, _ = token_heat(token.reshape(B * joints, P), inside.reshape(B * joints, P), grid, sigma)
    return heat.view(B, joints, -1).transpose(1, 2)                             # (B, N, J)


def _jitter(boxes: torch.Tensor, scale: float, shift: float, generator) -> torch.Tensor:
    """(N, 4) xyxy boxes -> randomly scaled (+-scale) and shifted (+-shift of the size)."""
    n = boxes.shape[0]
    r = torch.rand(n, 4, generator=generator, device=generator.device).to(boxes.device) * 2 - 1
    c = (boxes[:, :2] + boxes[:, 2:]) / 2
    wh = (boxes[:, 2:] - boxes[:, :2]).clamp(min=2.0)
    wh = wh * (1 + scale * r[:, :2])
    c = c + shift * wh * r[:, 2:]
    return torch.cat([c - wh / 2, c + wh / 2], -1)


@dataclass
class DecoderSelection:
    """Who is decoded: flat indices into the (B, P) slots, and their prompts."""

    image_index: torch.Tensor   # (N,)
    slot: torch.Tensor          # (N,)
    prompts: PersonPrompts


def decoder_prompts(boxes: torch.Tensor, visible_boxes: torch.Tensor, masks: torch.Tensor,
                    chosen: torch.Tensor, image_size: int, generator: torch.Generator,
                    mask_rate: float = 0.3, mask_only_rate: float = 0.05) -> DecoderSelection:
    """boxes / visible_boxes (B, P, 4), masks (B, P, S, S) bool, chosen (B, P) bool: who to decode."""
    B = boxes.shape[0]
    b_idx, s_idx = chosen.nonzero(as_tuple=True)                               # host sync: training only
    n = b_idx.shape[0]
    dev = boxes.device

    def r(*shape):
        return torch.rand(*shape, generator=generator, device=generator.device).to(dev)

    full, vis = boxes[b_idx, s_idx], visible_boxes[b_idx, s_idx]
    kind = r(n)
    loose = _jitter(full, 0.15, 0.05, generator) * 1.0
    loose_c = (loose[:, :2] + loose[:, 2:]) / 2
    loose_wh = (loose[:, 2:] - loose[:, :2]) * (1.1 + 0.2 * r(n, 1))
    loose = torch.cat([loose_c - loose_wh / 2, loose_c + loose_wh / 2], -1)
    box = torch.where((kind < 0.5)[:, None], _jitter(full, 0.08, 0.04, generator),
                      torch.where((kind < 0.75)[:, None], _jitter(vis, 0.08, 0.04, generator), loose))
    box = box.clamp(0, image_size)
    box = torch.cat([box[:, :2], torch.maximum(box[:, 2:], box[:, :2] + 1.0)], -1)
    use_mask = r(n) < mask_rate
    mask_only = use_mask & (r(n) < mask_only_rate / max(mask_rate, 1e-6))
    conf = (~mask_only).float()[:, None]
    box = torch.where(mask_only[:, None], box.new_tensor([0.0, 0.0, image_size, image_size]), box)
    size = 4 * (image_size // PATCH)
    m = F.interpolate(masks[b_idx, s_idx][:, None].float(), size=(size, size), mode="area")
    m = (m > 0.5).float() * use_mask.float().view(n, 1, 1, 1)                  # (N, 1, M, M)
    prompts = PersonPrompts(boxes=torch.cat([box, conf], -1), image_index=b_idx, masks=m, texts=None,
                            interaction=False, num_images=B)
    return DecoderSelection(image_index=b_idx, slot=s_idx, prompts=prompts)
