"""``ros-phmr infer`` on tiny random-weight assets: JSON content, meshes, strict prompt errors."""
import json

import cv2
import numpy as np
import pytest

from ros_phmr.assets import write_assets
from ros_phmr.cli import main


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("infer")
    write_assets(root / "assets", size="tiny", seed=2)
    image = (np.random.default_rng(1).random((240, 320, 3)) * 255).astype(np.uint8)
    cv2.imwrite(str(root / "img.png"), image)
    mask = np.zeros((240, 320), np.uint8)
    mask[30:200, 150:260] = 255
    cv2.imwrite(str(root / "mask.png"), mask)
    cv2.imwrite(str(root / "small_mask.png"), mask[::2, ::2])
    return root


def _args(root, *extra):
    a = root / "assets"
    return ["infer", str(root / "img.png"), "--prompthmr", str(a / "prompthmr" / "checkpoint.ckpt"),
            "--smplx", str(a), "--resolution", "224", "--device", "cpu",
            "--json", str(root / "out.json"), *extra]


def test_infer_writes_people_with_prompts_and_meshes(setup):
    code = main(_args(setup, "--boxes", "10,10,100,200", "140,20,330,230",
                      "--text", "tall man", "", "--masks", "", str(setup / "mask.png"),
                      "--interaction", "--obj", str(setup / "objs")))
    assert code == 0
    report = json.loads((setup / "out.json").read_text())
    assert report["profile"] == "prompthmr" and report["width"] == 320
    people = report["people"]
    assert [p["id"] for p in people] == [0, 1]
    assert people[1]["box_xyxy"] == [140, 20, 320, 230]  # clipped to the image
    for p in people:
        assert len(p["body_pose"]) == 21 and len(p["joints_3d"]) == 127
        assert len(p["betas"]) == 10 and len(p["transl"]) == 3
    objs = sorted((setup / "objs").glob("*.obj"))
    assert len(objs) == 2
    text = objs[0].read_text()
    assert text.count("\nv ") + text.startswith("v ") == 10475


@pytest.mark.parametrize("extra, message", [
    (["--boxes", "50,10,20,200"], "x2 > x1"),
    (["--boxes", "10,10,100,200", "--text", "a", "b"], "one value per box"),
    (["--boxes", "10,10,100,200", "--masks", "MASK"], "masks must have the image's size"),
    (["--boxes", "10,10,100"], "4 numbers"),
    ([], "needs prompts"),
])
def test_bad_prompts_fail_with_a_clear_message(setup, capsys, extra, message):
    extra = [str(setup / "small_mask.png") if e == "MASK" else e for e in extra]
    assert main(_args(setup, *extra)) == 1
    assert message in capsys.readouterr().err


def test_missing_image_and_wrong_checkpoint_kind(setup, capsys):
    args = _args(setup, "--boxes", "10,10,100,200")
    args[1] = str(setup / "nope.png")
    assert main(args) == 1
    assert "does not exist" in capsys.readouterr().err
    wrong = _args(setup, "--boxes", "10,10,100,200")
    wrong[3] = str(setup / "assets" / "multihmr" / "multiHMR_tiny.pt")
    assert main(wrong) == 1
    assert "Multi-HMR" in capsys.readouterr().err
