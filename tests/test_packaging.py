"""The package must build under colcon (ament_python) and install under plain pip."""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["setup.py", "setup.cfg", "package.xml", "README.md", "resource", "ros_phmr",
           "launch", "config", "msg"]


def _copy_sources(dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


def test_pip_wheel_has_package_and_console_script(tmp_path):
    src = _copy_sources(tmp_path / "src")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path / "dist"), str(src)], check=True)
    (wheel,) = (tmp_path / "dist").glob("ros_phmr-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "ros-phmr = ros_phmr.cli:main" in zf.read(entry_points).decode()
    for module in ("ros_phmr/cli.py", "ros_phmr/body/__init__.py",
                   "ros_phmr/geometry/__init__.py", "ros_phmr/ros/convert.py"):
        assert module in names, f"{module} missing from the wheel"
    # The message definitions travel with the wheel for rosbags/MCAP use without ROS.
    assert any(n.endswith("data/share/ros_phmr/msg/HumanMesh.msg") for n in names)
    assert "ros_phmr/data/demo_fused_vit192.safetensors" in names  # the shipped demo model


def _colcon():
    colcon = shutil.which("colcon", path=str(Path(sys.executable).parent))
    if colcon is None:
        pytest.skip("colcon is not installed (pip install colcon-core colcon-ros "
                    "colcon-python-setup-py colcon-package-selection)")
    return colcon


def test_colcon_finds_both_packages_with_the_documented_base_paths(tmp_path):
    """colcon does not look inside a package for another one: msg/ needs its own base path."""
    _copy_sources(tmp_path / "ws" / "src" / "ros_phmr")
    result = subprocess.run([_colcon(), "list", "--names-only", "--base-paths",
                             "src/ros_phmr", "src/ros_phmr/msg"],
                            cwd=tmp_path / "ws", capture_output=True, text=True, check=True)
    assert sorted(result.stdout.split()) == ["ros_phmr", "ros_phmr_msgs"]


@pytest.mark.parametrize("symlink", [False, True], ids=["install", "symlink-install"])
def test_colcon_build_puts_executable_where_ros2_run_looks(tmp_path, symlink):
    colcon = _colcon()
    _copy_sources(tmp_path / "ws" / "src" / "ros_phmr")
    cmd = [colcon, "build", "--packages-select", "ros_phmr"]
    if symlink:
        cmd.append("--symlink-install")
    result = subprocess.run(cmd, cwd=tmp_path / "ws", capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    install = tmp_path / "ws" / "install" / "ros_phmr"
    assert (install / "lib" / "ros_phmr" / "ros-phmr").exists()
    assert (install / "share" / "ros_phmr" / "package.xml").exists()
    marker = install / "share" / "ament_index" / "resource_index" / "packages" / "ros_phmr"
    assert marker.exists()
