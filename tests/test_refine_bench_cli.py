"""``ros-phmr bench --suite tracking|refine``: the benchmarks behind the CLI write their JSON."""
import json

import torch

from ros_phmr.cli import main


def test_bench_suite_tracking_writes_json(tmp_path, capsys):
    out = tmp_path / "tracking.json"
    assert main(["bench", "--suite", "tracking", "--sequences", "2", "--sequence-frames", "40",
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["scene"]["sequences"] == 2 and report["scene"]["frames"] == 40
    # Five walkers over 80 frames, a few missed: most person-frames are real and counted.
    assert 0.5 * 2 * 40 * 5 < report["person_frames"] <= 2 * 40 * 5
    assert 0.0 <= report["fragmented_track_rate"] <= 1.0 and report["mota"] <= 1.0
    assert report["id_switches"] >= 0 and report["tracker_ms_per_frame"] > 0
    assert "MOTA" in capsys.readouterr().out


def test_bench_suite_refine_writes_json(tmp_path, capsys):
    torch.set_num_threads(1)
    out = tmp_path / "refine.json"
    assert main(["bench", "--suite", "refine", "--device", "cpu", "--iterations", "3",
                 "--repeats", "1", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["device"] == "cpu" and report["config"]["iterations"] == 3
    assert set(report["scenes"]) == {"hand_on_shoulder", "handshake", "hug"}
    for scene in report["scenes"].values():
        assert scene["ms_median"] > 0 and scene["touching_distance_before_m"] > 0.01
        assert scene["touching_distance_ground_truth_m"] < 0.002
    # Three steps already bring the hand most of the way to the shoulder.
    shoulder = report["scenes"]["hand_on_shoulder"]
    assert shoulder["touching_distance_after_m"] < 0.5 * shoulder["touching_distance_before_m"]
    assert "refine handshake (cpu, 3 iterations)" in capsys.readouterr().out
