"""Telling neighbouring people apart: offset-vote targets (det_votes), the peak rule that uses the
votes (``peak_scores`` with heads), and the duplicate radius a model is saved with."""
import math

import pytest
import torch

from ros_phmr.model.fused import FusedConfig, FusedModel
from ros_phmr.model.multihmr.detection import peak_scores
from ros_phmr.train.targets import detector_targets
from fit_loss_term import fit_loss_term

PATCH = 14


def _centres(grid: int) -> torch.Tensor:
    """(grid*grid, 2) token centres (u, v) in row-major token order."""
    i = torch.arange(grid * grid)
    return torch.stack([i % grid, i // grid], -1).float() * PATCH + PATCH / 2


def test_an_infinite_radius_is_the_plain_3x3_nms():
    g = torch.Generator().manual_seed(0)
    scores = torch.rand(3, 64, generator=g).round(decimals=1)        # ties: plateaus must behave alike
    heads = torch.rand(3, 64, 2, generator=g) * 112
    plain = peak_scores(scores, 8, 8, 3)
    torch.testing.assert_close(peak_scores(scores, 8, 8, 3, heads, radius=1e9), plain, rtol=0, atol=0)
    # A radius of zero means no votes: the plain rule too.
    torch.testing.assert_close(peak_scores(scores, 8, 8, 3, heads, radius=0.0), plain, rtol=0, atol=0)


def test_neighbouring_heads_both_stay_and_a_duplicate_goes():
    """4 x 4 tokens. A's head token (1, 1) scores 0.9; B's head is in the next token (1, 2) at 0.7;
    token (2, 1) scores 0.5 and points at A's head; token (3, 3) scores 0.4 alone."""
    scores = torch.zeros(1, 16)
    heads = _centres(4)[None].clone()                                # every token points at itself
    a, b, dup, alone = 1 * 4 + 1, 1 * 4 + 2, 2 * 4 + 1, 3 * 4 + 3
    scores[0, [a, b, dup, alone]] = torch.tensor([0.9, 0.7, 0.5, 0.4])
    heads[0, a] = torch.tensor([25.0, 24.0])                         # A's head, in token (1, 1)
    heads[0, b] = torch.tensor([31.0, 22.0])                         # B's head, 6.3 px from A's
    heads[0, dup] = torch.tensor([26.0, 25.0])                       # 1.4 px from A's head
    kept = peak_scores(scores, 4, 4, 3, heads, radius=5.0)[0]
    assert (kept > 0).nonzero().flatten().tolist() == [a, b, alone]
    # With votes closer than the radius, B is A's duplicate; the plain rule cannot keep B at all.
    assert (peak_scores(scores, 4, 4, 3, heads, radius=7.0)[0] > 0).nonzero().flatten().tolist() == [a, alone]
    assert (peak_scores(scores, 4, 4, 3)[0] > 0).nonzero().flatten().tolist() == [a, alone]
    # B scores 0.7: it stays while the rule asks at most that of a token beside a higher one.
    assert (peak_scores(scores, 4, 4, 3, heads, 5.0, min_score=0.7)[0] > 0).nonzero().flatten().tolist() == [a, b, alone]
    assert (peak_scores(scores, 4, 4, 3, heads, 5.0, min_score=0.71)[0] > 0).nonzero().flatten().tolist() == [a, alone]


def test_vote_targets_point_each_window_at_its_nearest_head():
    # 112 px -> 8 x 8 tokens. P0's head in token (col 2, row 2); P1's in (col 4, row 2): their 3x3
    # windows share column 3. P2 is not detectable: no votes for it.
    j2d = torch.zeros(1, 3, 127, 2)
    j2d[0, 0, 15] = torch.tensor([2 * 14 + 12.0, 2 * 14 + 7.0])     # near the right edge of its token
    j2d[0, 1, 15] = torch.tensor([4 * 14 + 9.0, 2 * 14 + 3.0])
    j2d[0, 2, 15] = torch.tensor([7 * 14 + 7.0, 7 * 14 + 7.0])
    valid = torch.tensor([[True, True, True]])
    detectable = torch.tensor([[True, True, False]])
    t = detector_targets(j2d, valid, detectable, torch.tensor([[3.0, 4.0, 5.0]]), 112)
    votes = t.vote_weight[0].view(8, 8)
    want = torch.zeros(8, 8)
    want[1:4, 1:6] = 1.0
    torch.testing.assert_close(votes, want)
    for col, row in ((1, 1), (3, 3), (4, 2), (5, 1), (3, 1)):
        token = row * 8 + col
        centre = torch.tensor([col * 14 + 7.0, row * 14 + 7.0])
        # Nearest of the heads whose 3x3 window holds the token, by pixel distance (here computed per token).
        candidates = [p for p in (0, 1) if max(abs(col - [2, 4][p]), abs(row - 2)) <= 1]
        nearest = min(candidates, key=lambda p: float((j2d[0, p, 15] - centre).norm()))
        want_offset = (j2d[0, nearest, 15] - centre) / 14
        torch.testing.assert_close(t.vote_offset[0, token], want_offset)
    # Column 3 row 2 (centre 49, 35): 9 px from P0's head, 16.5 px from P1's -> votes for P0.
    torch.testing.assert_close(t.vote_offset[0, 2 * 8 + 3] * 14 + torch.tensor([49.0, 35.0]), j2d[0, 0, 15])


def test_the_votes_learn(tmp_path):
    from ros_phmr.train.model import TrainModel

    first, last = fit_loss_term(TrainModel.new_fused("tiny", seed=1), "det_votes", tmp_path, steps=10, lr=3e-3,
                                max_people=3, seed=2)
    assert math.isfinite(first) and last < 0.7 * first


def test_the_radius_is_saved_with_the_model(tmp_path):
    from ros_phmr.cli import main
    from ros_phmr.model.compact import read_compact

    new = FusedModel.build(FusedConfig.tiny(), seed=0)
    assert (new.detector.config.duplicate_radius, new.detector.config.duplicate_min_score) == (0.5, 0.6)
    plain = FusedModel.build(FusedConfig(**{**FusedConfig.tiny().__dict__, "duplicate_radius": 0.0}), seed=0)
    path = plain.save_compact(tmp_path / "plain.safetensors")
    assert "duplicate_radius" not in read_compact(path)["multihmr"]["args"]     # released-style args
    assert FusedModel.from_compact(path).detector.config.duplicate_radius == 0.0

    out = tmp_path / "run"
    assert main(["train", "--out", str(out), "--model", str(path), "--duplicate-radius", "0.8",
                 "--duplicate-min-score", "0.55", "--steps", "1", "--batch-size", "1", "--device", "cpu"]) == 0
    trained = FusedModel.from_compact(out / "model.safetensors")
    assert trained.detector.config.duplicate_radius == 0.8 and trained.config.duplicate_radius == 0.8
    assert trained.detector.config.duplicate_min_score == 0.55 and trained.config.duplicate_min_score == 0.55
    with pytest.raises(ValueError, match="duplicate_radius"):
        FusedConfig(duplicate_radius=-1.0).multihmr()
    with pytest.raises(ValueError, match="duplicate_min_score"):
        FusedConfig(duplicate_min_score=1.5).multihmr()
