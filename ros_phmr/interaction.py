"""Who touches whom: per pair of people the minimum surface distance and the body-region pairs
in contact, plus each person's self-contacts.

Regions come from the body model (:class:`ros_phmr.body.BodyRegions`, left/right resolved);
reported are the base regions with the hips split into butt and waist, so every vertex belongs
to a reported region and no region contains another.

Exact all-vertex distances between two 10475-vertex meshes are 110 M pairs, too many per frame,
so the distance runs in two passes, both batched over every pair of people at once:

1. each region is represented by ``points_per_region`` surface samples (farthest-point
   sampling of the rest mesh); one ``cdist`` gives an upper bound of every region-pair distance;
2. region pairs whose bound, less the samples' covering radii, is under the contact threshold
   are measured again on all their vertices (exact; usually a handful of pairs).

Pairs of regions that touch in the rest pose (forearm and hand, neck and head, ...) are never
reported as self-contact. People whose bounding boxes are more than ``far_distance`` apart are
not measured further: their ``min_distance`` is the gap between the boxes (a lower bound), so a
crowd costs only what its close pairs cost.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import torch

from ros_phmr.body.regions import BASE_REGIONS, HIP_SPLITS, BodyRegions

REPORTED_REGIONS: list[str] = [r for r in BASE_REGIONS if r != "hips"] + list(HIP_SPLITS)
_CHUNK_PAIRS = 8  # person pairs per cdist call (bounds memory at ~60 MB with the defaults)


@dataclass(frozen=True)
class InteractionEstimate:
    """One pair of people: ``region_pairs`` are (region of a, region of b) closer than the
    contact threshold, nearest first; ``prompted``: the pair was named in an interaction prompt."""

    id_a: int
    id_b: int
    min_distance: float  # metres, surface to surface (see the module docstring)
    region_pairs: list = field(default_factory=list)  # list[tuple[str, str]]
    prompted: bool = False

    @property
    def in_contact(self) -> bool:
        return bool(self.region_pairs)


@dataclass(frozen=True)
class SelfContactEstimate:
    """Region pairs of one person that touch each other (not counting neighbours at rest)."""

    track_id: int
    region_pairs: list = field(default_factory=list)  # list[tuple[str, str]], names sorted


def farthest_point_samples(points: np.ndarray, count: int) -> np.ndarray:
    """Indices of ``count`` points spread over ``points`` (N, 3) by farthest-point sampling,
    starting from the point farthest from the centroid (deterministic); repeats when N < count."""
    n = len(points)
    if n <= count:
        return np.resize(np.arange(n), count)
    chosen = [int(np.argmax(np.linalg.norm(points - points.mean(0), axis=1)))]
    dist = np.linalg.norm(points - points[chosen[0]], axis=1)
    for _ in range(count - 1):
        chosen.append(int(np.argmax(dist)))
        dist = np.minimum(dist, np.linalg.norm(points - points[chosen[-1]], axis=1))
    return np.array(chosen)


class InteractionAnalyzer:
    """Contacts between and within people from posed vertices; see the module docstring.

    ``contact_threshold`` (m): region pairs closer than this are in contact.
    ``points_per_region``: samples per region for the first pass. ``far_distance`` (m):
    pairs whose bounding boxes are farther apart are not measured vertex by vertex.
    """

    def __init__(self, regions: BodyRegions, rest_vertices, contact_threshold: float = 0.02,
                 points_per_region: int = 48, far_distance: float = 0.5) -> None:
        if contact_threshold <= 0:
            raise ValueError(f"contact_threshold must be > 0 m, got {contact_threshold}")
        if far_distance < contact_threshold:
            raise ValueError(f"far_distance ({far_distance} m) must be >= contact_threshold "
                             f"({contact_threshold} m)")
        self.far_distance = float(far_distance)
        if points_per_region < 1:
            raise ValueError(f"points_per_region must be >= 1, got {points_per_region}")
        self.threshold = float(contact_threshold)
        self.names = list(REPORTED_REGIONS)
        rest = torch.as_tensor(np.asarray(rest_vertices, np.float32))            # (V, 3)
        mask = torch.stack([regions.mask[regions.index(n)].cpu() for n in self.names])  # (R, V)
        self.region_vertices = [torch.nonzero(m).flatten() for m in mask]       # R x (Mr,)
        samples = [ids[farthest_point_samples(rest[ids].numpy(), points_per_region)]
                   for ids in self.region_vertices]
        self.samples = torch.stack(samples)                                      # (R, K) long
        self.covering_radius = torch.stack([                                     # (R,)
            torch.cdist(rest[ids], rest[s]).amin(1).amax() for ids, s in zip(self.region_vertices, samples)])
        rest_dist = self._exact_rest_distances(rest, mask)                      # (R, R)
        self.self_pairs_allowed = (rest_dist > 2.0 * self.threshold).triu(1)     # (R, R) bool
        self._device = torch.device("cpu")

    @classmethod
    def from_body(cls, body, contact_threshold: float = 0.02, points_per_region: int = 48,
                  far_distance: float = 0.5) -> "InteractionAnalyzer":
        """From a :class:`ros_phmr.body.BodyModel` (its regions and rest mesh)."""
        return cls(body.regions, body.v_template.detach().cpu().numpy(), contact_threshold,
                   points_per_region, far_distance)

    @staticmethod
    def _exact_rest_distances(rest: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Minimum vertex distance between every two regions of the rest mesh (R, R)."""
        inf = torch.tensor(float("inf"))
        rows = []
        for m in mask:
            nearest = torch.cdist(rest[m], rest).amin(0)                         # (V,)
            rows.append(torch.where(mask, nearest[None], inf).amin(1))           # (R,)
        return torch.stack(rows)

    def _to(self, device: torch.device) -> None:
        if device != self._device:
            self.samples = self.samples.to(device)
            self.covering_radius = self.covering_radius.to(device)
            self.region_vertices = [v.to(device) for v in self.region_vertices]
            self._device = device

    def sampled_distances(self, vertices: torch.Tensor, pair_a: torch.Tensor,
                          pair_b: torch.Tensor) -> torch.Tensor:
        """Pass 1: region-pair distance upper bounds (P, R, R) for person pairs (P,) x (P,)
        of vertices (N, V, 3); no host synchronisation."""
        R, K = self.samples.shape
        pts = vertices[:, self.samples.reshape(-1)]                              # (N, R*K, 3)
        out = []
        for s in range(0, len(pair_a), _CHUNK_PAIRS):
            a, b = pair_a[s:s + _CHUNK_PAIRS], pair_b[s:s + _CHUNK_PAIRS]
            d = torch.cdist(pts[a], pts[b])                                      # (c, R*K, R*K)
            out.append(d.view(-1, R, K, R, K).amin(dim=(2, 4)))                 # (c, R, R)
        return torch.cat(out) if out else vertices.new_zeros(0, R, R)

    def _exact(self, vertices: torch.Tensor, cand: list[tuple[int, int, int, int]]) -> list[float]:
        """Pass 2: all-vertex distances of candidate (person a, region a, person b, region b)."""
        out = []
        for pa, ra, pb, rb in cand:
            va = vertices[pa, self.region_vertices[ra]]
            vb = vertices[pb, self.region_vertices[rb]]
            out.append(torch.cdist(va, vb).amin())
        return torch.stack(out).tolist() if out else []

    @staticmethod
    def _box_gaps(verts: torch.Tensor, pairs: list[tuple[int, int]]) -> list[float]:
        """Distance between the axis-aligned bounding boxes of each pair (0 if they overlap)."""
        if not pairs:
            return []
        lo, hi = verts.amin(1), verts.amax(1)                                        # (N, 3)
        a = torch.tensor([p[0] for p in pairs], device=verts.device)
        b = torch.tensor([p[1] for p in pairs], device=verts.device)
        gap = torch.maximum(lo[a] - hi[b], lo[b] - hi[a]).clamp(min=0.0)             # (P, 3)
        return gap.norm(dim=-1).tolist()

    def _far_only(self, pairs, far, ids, prompted_pairs) -> list[InteractionEstimate]:
        prompted = {(min(a, b), max(a, b)) for a, b in prompted_pairs}
        return [InteractionEstimate(ids[i], ids[j], far[(i, j)], [], (ids[i], ids[j]) in prompted)
                for i, j in pairs]

    @torch.no_grad()
    def analyze(self, vertices, ids: Sequence[int], prompted_pairs: Iterable = (),
                self_contact: bool = True) -> tuple[list[InteractionEstimate], list[SelfContactEstimate]]:
        """Interactions of every pair (id_a < id_b) and self-contacts of every person.

        vertices (N, V, 3) torch (any device) or numpy, metres; ``ids`` (N,) distinct person
        ids; ``prompted_pairs``: id pairs named in an interaction prompt.
        """
        verts = torch.as_tensor(vertices)
        if verts.ndim != 3 or verts.shape[-1] != 3:
            raise ValueError(f"vertices must be (N, V, 3), got {tuple(verts.shape)}")
        ids = [int(i) for i in ids]
        if len(ids) != verts.shape[0]:
            raise ValueError(f"got {verts.shape[0]} meshes but {len(ids)} ids")
        if len(set(ids)) != len(ids):
            raise ValueError(f"person ids must be distinct, got {ids}")
        verts = verts.float()
        self._to(verts.device)
        n = len(ids)
        order = sorted(range(n), key=lambda i: ids[i])
        all_pairs = [(order[x], order[y]) for x in range(n) for y in range(x + 1, n)]
        box_gap = self._box_gaps(verts, all_pairs)                                   # host list
        pairs = [p for p, g in zip(all_pairs, box_gap) if g <= self.far_distance]
        far = {p: g for p, g in zip(all_pairs, box_gap) if g > self.far_distance}
        selfs = [(i, i) for i in order] if self_contact else []
        everything = pairs + selfs
        if not everything:
            return self._far_only(all_pairs, far, ids, prompted_pairs), []
        pa = torch.tensor([p[0] for p in everything], device=verts.device)
        pb = torch.tensor([p[1] for p in everything], device=verts.device)
        bound = self.sampled_distances(verts, pa, pb)                            # (P, R, R)
        slack = self.covering_radius[:, None] + self.covering_radius[None, :]    # (R, R)
        maybe = (bound - slack) < self.threshold                                 # (P, R, R)
        if selfs:
            allowed = self.self_pairs_allowed.to(verts.device)
            maybe[len(pairs):] &= allowed
        cand_idx = torch.nonzero(maybe).tolist()                                 # host sync
        bound_cpu = bound.amin(dim=(1, 2)).tolist()
        cand = [(everything[p][0], ra, everything[p][1], rb) for p, ra, rb in cand_idx]
        exact = self._exact(verts, cand)

        contacts: dict[int, list[tuple[float, int, int]]] = {p: [] for p in range(len(everything))}
        nearest = list(bound_cpu)
        for (p, ra, rb), d in zip(cand_idx, exact):
            if p < len(pairs):
                nearest[p] = min(nearest[p], d)
            if d < self.threshold:
                contacts[p].append((d, ra, rb))
        prompted = {(min(a, b), max(a, b)) for a, b in prompted_pairs}
        measured = {pair: p for p, pair in enumerate(pairs)}
        interactions = []
        for i, j in all_pairs:
            p = measured.get((i, j))
            found = sorted(contacts[p]) if p is not None else []
            interactions.append(InteractionEstimate(
                id_a=ids[i], id_b=ids[j],
                min_distance=float(nearest[p]) if p is not None else far[(i, j)],
                region_pairs=[(self.names[ra], self.names[rb]) for _, ra, rb in found],
                prompted=(ids[i], ids[j]) in prompted))
        self_contacts = []
        for k, (i, _) in enumerate(selfs):
            found = sorted(contacts[len(pairs) + k])
            self_contacts.append(SelfContactEstimate(
                track_id=ids[i], region_pairs=[(self.names[ra], self.names[rb]) for _, ra, rb in found]))
        return interactions, self_contacts
