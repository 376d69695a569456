"""Data-parallel training, loss-weight overrides and the dense per-token body loss."""
import socket

import pytest
import torch
import torch.multiprocessing as mp

from ros_phmr.train.commands import _without_gpus_option, parse_loss_weights
from ros_phmr.train.losses import dense_body_loss, token_owner, weighted_total
from ros_phmr.train.trainer import DATA_SEED_STRIDE, TrainConfig


def test_token_owner_takes_the_largest_share_above_the_threshold():
    masks = torch.zeros(1, 2, 28, 28, dtype=torch.bool)    # 2 x 2 tokens of 14 px
    masks[0, 0, :14, :14] = True                           # token 0: person 0 alone
    masks[0, 0, :14, 14:20] = True                          # token 1: person 0 on 6/14 of it ...
    masks[0, 1, :14, 20:28] = True                          # ... person 1 on 8/14: person 1 owns it
    masks[0, 1, 14:17, :14] = True                          # token 2: person 1 on 3/14 < 0.3: nobody
    owner, owned = token_owner(masks)
    assert owned.tolist() == [[True, True, False, False]]
    assert owner[0, :2].tolist() == [0, 1]


def test_dense_body_loss_is_zero_for_the_owner_and_counts_owned_tokens_only():
    masks = torch.zeros(1, 2, 28, 28, dtype=torch.bool)
    masks[0, 0, :, :14] = True                              # tokens 0, 2: person 0
    masks[0, 1, :14, 14:] = True                            # token 1: person 1; token 3: nobody
    joints = torch.randn(1, 2, 127, 3)
    betas = torch.randn(1, 2, 10)
    rel = joints[:, :, :22] - joints[:, :, :1]              # (1, 2, 22, 3)
    pose = torch.stack([rel[0, 0], rel[0, 1], rel[0, 0], rel[0, 0] + 5.0]).reshape(1, 4, 66)
    shape = torch.stack([betas[0, 0], betas[0, 1], betas[0, 0], betas[0, 1] - 3.0])[None]
    losses = dense_body_loss(pose, shape, masks, joints, betas)
    assert losses["aux_pose"].item() == pytest.approx(0.0, abs=1e-6)
    assert losses["aux_shape"].item() == pytest.approx(0.0, abs=1e-6)
    # Swap the two people on token 1: its error is the mean |difference| of the two people's values.
    pose[0, 1] = rel[0, 0].reshape(-1)
    expected = (rel[0, 0] - rel[0, 1]).abs().mean().item() / 3    # one of three owned tokens
    assert dense_body_loss(pose, shape, masks, joints, betas)["aux_pose"].item() == pytest.approx(expected, rel=1e-5)


def test_loss_weight_overrides_parse_check_and_apply():
    assert parse_loss_weights(["aux_pose=0", "dec_j3d = 2.5"]) == {"aux_pose": 0.0, "dec_j3d": 2.5}
    with pytest.raises(ValueError, match="TERM=WEIGHT"):
        parse_loss_weights(["aux_pose"])
    with pytest.raises(ValueError, match="TERM=WEIGHT"):
        parse_loss_weights(["aux_pose=much"])
    with pytest.raises(ValueError, match="unknown loss term 'aux_psoe'"):
        TrainConfig(out_dir="x", loss_weights={"aux_psoe": 1.0})
    with pytest.raises(ValueError, match=">= 0"):
        TrainConfig(out_dir="x", loss_weights={"dec_j3d": -1.0})
    losses = {"dec_j3d": torch.tensor(1.0), "aux_pose": torch.tensor(1.0)}
    assert weighted_total(losses).item() == pytest.approx(5.0 + 5.0)
    assert weighted_total(losses, {"aux_pose": 0.0}).item() == pytest.approx(5.0)


def test_gpus_option_is_removed_from_the_per_process_command():
    argv = ["train", "--out", "r", "--gpus", "4", "--lr", "1e-3", "--gpus=2"]
    assert _without_gpus_option(argv) == ["train", "--out", "r", "--lr", "1e-3"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train_one_rank(rank: int, world: int, port: int, out: str, results: str) -> None:
    import os

    from ros_phmr.train.distributed import DataParallel
    from ros_phmr.train.model import TrainModel
    from ros_phmr.train.trainer import Trainer

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    torch.manual_seed(100 + rank)     # different fresh weights per rank: rank 0's must win
    cfg = TrainConfig(out_dir=out, steps=2, batch_size=1, lr=2e-3, warmup_steps=1, max_people=2, subdivisions=1,
                      log_every=1, checkpoint_every=1000, device="cpu")
    trainer = Trainer(cfg, TrainModel.new_fused("tiny", seed=rank), parallel=DataParallel(rank, world, rank))
    first = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    first_batch = trainer.maker.make(1, torch.Generator().manual_seed(cfg.seed + DATA_SEED_STRIDE * rank))
    summary = trainer.run()
    torch.save({"start": first, "end": trainer.model.state_dict(), "summary": summary,
                "first_image": first_batch.images}, f"{results}/rank{rank}.pt")


def test_two_processes_start_alike_see_different_batches_and_end_alike(tmp_path):
    world, port = 2, _free_port()
    mp.start_processes(_train_one_rank, args=(world, port, str(tmp_path / "run"), str(tmp_path)), nprocs=world,
                       join=True, start_method="spawn")
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(world))
    for name, value in r0["end"].items():
        assert torch.equal(value, r1["end"][name]), name                 # one model after every step
        assert torch.equal(r0["start"][name], r1["start"][name]), name   # broadcast from rank 0
    moved = [n for n, v in r0["end"].items() if v.is_floating_point() and not torch.equal(v, r0["start"][n])]
    assert len(moved) > 10
    assert not torch.equal(r0["first_image"], r1["first_image"])           # each rank its own data
    assert r0["summary"]["processes"] == 2 and r0["summary"]["steps"] == 2
    logged = (tmp_path / "run" / "log.jsonl").read_text().splitlines()     # rank 0 alone writes
    assert len(logged) == 2 and (tmp_path / "run" / "model.safetensors").is_file()
