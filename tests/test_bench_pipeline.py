"""`ros-phmr bench` on tiny random-weight assets (CPU): forced people counts, stage and
end-to-end statistics, JSON and the stage plot."""
import json

import numpy as np
import pytest

from ros_phmr.assets import write_assets
from ros_phmr.bench.pipeline_bench import BenchConfig, percentiles, person_boxes, run_bench
from ros_phmr.cli import main


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench_assets")
    write_assets(out, size="tiny", seed=2)
    return {"smplx_model": str(out), "prompthmr_checkpoint": str(out / "prompthmr" / "checkpoint.ckpt"),
            "multihmr_checkpoint": str(out / "multihmr" / "multiHMR_tiny.pt")}


def _config(assets, profile, **kw):
    settings = dict(people=(1, 2), frames=1, warmup=1, width=320, height=240, device="cpu",
                    resolution=224, distinct_frames=2)
    settings.update(kw)
    return BenchConfig(profile=profile, **assets, **settings)


def test_percentiles_against_numpy():
    values = np.random.default_rng(0).random(101)
    stats = percentiles(values)
    assert stats["p50"] == pytest.approx(1e3 * np.median(values))
    assert stats["p99"] == pytest.approx(1e3 * np.percentile(values, 99))
    assert stats["min"] <= stats["p50"] <= stats["p95"] <= stats["p99"] <= stats["max"]


def test_person_boxes_are_inside_the_image_and_distinct():
    boxes = person_boxes(20, 1920, 1080)
    assert boxes.shape == (20, 4)
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 1920).all()
    assert (boxes[:, 1] >= 0).all() and (boxes[:, 3] <= 1080).all()
    assert (boxes[:, 2] > boxes[:, 0]).all() and len({tuple(b) for b in boxes}) == 20


@pytest.mark.parametrize("profile, people, modes", [("prompthmr+multihmr", (1, 2), ("stages", "e2e")),
                                                    ("multihmr", (2,), ("stages",))])
def test_bench_forces_the_number_of_people(assets, profile, people, modes):
    result = run_bench(_config(assets, profile, people=people, modes=modes), log=lambda *a, **k: None)
    runs = {(r["mode"], r["people"]): r for r in result["runs"]}
    assert set(runs) == {(m, p) for m in modes for p in people}
    if len(people) > 1:
        for mode in modes:
            slope = (runs[(mode, people[-1])]["end_to_end"]["p50"] - runs[(mode, people[0])]["end_to_end"]["p50"])
            assert result["per_added_person_ms"][mode] == pytest.approx(slope / (people[-1] - people[0]))
    for (mode, people), run in runs.items():
        assert run["people_decoded"] == {"min": people, "max": people}
        assert len(run["warmup"]["end_to_end_ms"]) == 1
        assert run["frames_per_second"] > 0
        if mode == "stages":
            stages = run["stages"]
            assert {"upload", "detector", "body_model", "message_build"} <= set(stages)
            # stages are laps of one clock: their sum cannot exceed the end-to-end time
            assert sum(s["min"] for s in stages.values()) <= run["end_to_end"]["max"] + 1e-6
        else:
            assert "stages" not in run


def test_cli_writes_json_and_plot(assets, tmp_path):
    out, png = tmp_path / "bench.json", tmp_path / "bench.png"
    code = main(["bench", "--profile", "prompthmr", "--prompthmr", assets["prompthmr_checkpoint"],
                 "--smplx", assets["smplx_model"], "--people", "1", "--frames", "1", "--mode", "stages",
                 "--warmup", "0", "--width", "320", "--height", "240", "--resolution", "224",
                 "--device", "cpu", "--json", str(out), "--plot", str(png)])
    assert code == 0
    result = json.loads(out.read_text())
    assert result["config"]["profile"] == "prompthmr" and len(result["runs"]) == 1
    assert result["runs"][0]["people_decoded"] == {"min": 1, "max": 1}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_commit_is_marked_dirty_when_tracked_files_changed(tmp_path, monkeypatch):
    import shutil
    import subprocess

    from ros_phmr.bench.pipeline_bench import git_commit

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    monkeypatch.delenv("ROS_PHMR_BENCH_COMMIT", raising=False)
    run = lambda *args: subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)  # noqa: E731
    run("init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    run("add", "a.py")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "one")
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    (tmp_path / "untracked.txt").write_text("not part of the code\n")
    assert git_commit(tmp_path) == head
    (tmp_path / "a.py").write_text("x = 2\n")
    assert git_commit(tmp_path) == head + "+dirty"
    monkeypatch.setenv("ROS_PHMR_BENCH_COMMIT", "abc1234")
    assert git_commit(tmp_path) == "abc1234"
