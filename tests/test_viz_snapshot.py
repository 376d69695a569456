"""The live-frame PNG: real pipeline (tiny random weights) on a synthetic frame, drawn with the
software renderer; overlays change exactly where the people are."""
import cv2
import numpy as np

from offline_inputs import shared_estimator, synthetic_frames
from ros_phmr.io.foxglove_scene import body_color
from ros_phmr.demo import ground_truth_people, load_demo_body, render_live_frame_png
from ros_phmr.viz.snapshot import overlay_people


def test_overlay_draws_meshes_in_track_colours():
    frame = synthetic_frames(1)[0]
    body, _, _ = load_demo_body(None)
    faces = body.faces.numpy()
    people = ground_truth_people(frame)
    out = overlay_people(np.zeros_like(frame.image), frame.K, people, faces, alpha=1.0)
    covered = out.any(axis=2)
    # Every visible ground-truth pixel of a person is painted (boxes/skeleton may add more).
    assert covered[frame.masks.any(axis=0)].all()
    # Each person's pixels are, on average, closest in hue to that person's own track colour.
    palette = np.array([body_color("estimate", p.track_id)[:3] for p in people])           # (P, 3)
    palette /= np.linalg.norm(palette, axis=1, keepdims=True)
    for i, mask in enumerate(frame.masks):
        skin = mask & ~np.all(out == 255, axis=2)                       # without the white skeleton
        if skin.sum() < 5:
            continue
        mean = out[skin].astype(float).mean(axis=0)
        assert np.argmax(palette @ (mean / np.linalg.norm(mean))) == i


def test_live_frame_png(tmp_path):
    path = render_live_frame_png(tmp_path / "live.png", frame_index=3, width=96, height=64, model=shared_estimator())
    picture = cv2.imread(str(path))
    assert picture.shape == (64, 192, 3)
