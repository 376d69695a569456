"""The node's parameter table, config/phmr.yaml and the launch arguments must agree."""
import ast
from pathlib import Path

import pytest
import yaml

from ros_phmr.ros.parameters import BY_NAME, PARAMETERS

ROOT = Path(__file__).resolve().parents[1]


def test_yaml_defaults_equal_the_table():
    params = yaml.safe_load((ROOT / "config" / "phmr.yaml").read_text())["phmr_node"][
        "ros__parameters"]
    assert set(params) == set(BY_NAME)
    for name, value in params.items():
        BY_NAME[name].check(value)
        assert value == BY_NAME[name].default, name


def test_every_parameter_has_a_description_and_a_valid_default():
    for p in PARAMETERS:
        assert len(p.description) > 15, p.name
        p.check(p.default)


@pytest.mark.parametrize("name, value", [("max_people", 0), ("profile", "yolo"),
                                         ("detection_threshold", "high"),
                                         ("publish_vertices", 1)])
def test_check_rejects_bad_values(name, value):
    with pytest.raises(ValueError, match=name):
        BY_NAME[name].check(value)


def test_launch_files_parse():
    for path in (ROOT / "launch").glob("*.launch.py"):
        ast.parse(path.read_text(), filename=str(path))
