"""The ``ros-phmr`` command end to end: assets load with the real loaders, demo writes an MCAP."""
from collections import Counter

import pytest
from mcap.reader import make_reader

from ros_phmr.body import BodyModel, load_model_arrays
from ros_phmr.cli import main
from ros_phmr.model.multihmr.model import MultiHMR
from ros_phmr.model.prompthmr.model import PromptHMR


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    out = tmp_path_factory.mktemp("assets")
    assert main(["assets", "--out", str(out), "--size", "tiny", "--seed", "3"]) == 0
    return out


def test_assets_load_through_the_real_loaders(assets):
    smplx_file = assets / "smplx" / "SMPLX_NEUTRAL.npz"
    assert load_model_arrays(smplx_file)["v_template"].shape == (10475, 3)
    body = BodyModel.from_file(assets)
    phmr = PromptHMR.from_checkpoint(assets / "prompthmr" / "checkpoint.ckpt", body)
    mhmr = MultiHMR.from_checkpoint(assets / "multihmr" / "multiHMR_tiny.pt", body)
    assert phmr.body is body and mhmr.body is body


def test_assets_are_deterministic_per_seed(assets, tmp_path):
    assert main(["assets", "--out", str(tmp_path), "--seed", "3"]) == 0
    for rel in ("smplx/SMPLX_NEUTRAL.npz", "multihmr/multiHMR_tiny.pt"):
        assert (assets / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel


def test_demo_writes_images_camera_info_and_bodies(tmp_path, capsys):
    out = tmp_path / "d.mcap"
    assert main(["demo", "--frames", "2", "--out", str(out), "--quiet"]) == 0
    with open(out, "rb") as f:
        counts = Counter(channel.topic for _, channel, _ in make_reader(f).iter_messages())
    assert counts["/camera/image_raw"] == 2
    assert counts["/camera/camera_info"] == 2
    assert counts["/phmr/ground_truth/scene"] == 2


def test_demo_with_missing_smplx_file_fails_clearly(tmp_path, capsys):
    code = main(["demo", "--frames", "1", "--out", str(tmp_path / "x.mcap"),
                 "--smplx", str(tmp_path / "nowhere" / "SMPLX_NEUTRAL.npz"), "--quiet"])
    assert code == 1
    err = capsys.readouterr().err
    assert "SMPLX_NEUTRAL.npz" in err and "smpl-x.is.tue.mpg.de" in err


def test_frames_must_be_positive(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--frames", "0"])
    assert "must be >= 1" in capsys.readouterr().err
