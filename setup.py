"""Build script for ros_phmr: one file that serves both colcon (ament_python) and pip.

Metadata and dependencies live in setup.cfg. This file adds what only a ROS install needs:
the ament index marker, package.xml, launch and config files under ``share/ros_phmr``, and
the node executable under ``lib/ros_phmr`` where ``ros2 run`` and launch files look for it.

The usual ament_python ``setup.cfg`` sections ``[develop] script_dir`` / ``[install]
install_scripts`` make ``pip install -e .`` fail under setuptools >= 80, so they are not in
setup.cfg. colcon drives this file through the legacy ``setup.py develop|install`` commands,
which pip never uses (pip builds through PEP 517/660 hooks); the script directory is set
only for those commands.
"""
import glob
import sys

from setuptools import find_packages, setup

PACKAGE = "ros_phmr"
LEGACY_COMMANDS = {"develop", "install"}

data_files = [
    ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
    (f"share/{PACKAGE}", ["package.xml"]),
    (f"share/{PACKAGE}/launch", sorted(glob.glob("launch/*.launch.py"))),
    (f"share/{PACKAGE}/config", sorted(glob.glob("config/*.yaml"))),
    # ros_phmr_msgs definitions, for rosbags/MCAP writing where the ROS package is absent.
    (f"share/{PACKAGE}/msg", sorted(glob.glob("msg/msg/*.msg"))),
]

options = {}
if LEGACY_COMMANDS.intersection(sys.argv[1:]):
    options = {
        "develop": {"script_dir": f"$base/lib/{PACKAGE}"},
        "install": {"install_scripts": f"$base/lib/{PACKAGE}"},
    }

setup(
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[(dest, files) for dest, files in data_files if files],
    options=options,
)
