"""The README's opening commands are the contract with a new user and with CI."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _opening_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README must open with a bash block"
    assert text.index(block.group(0)) < 30, "the command block must open the README"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_exactly_two_commands():
    commands = _opening_commands()
    assert len(commands) == 2
    assert "ros-phmr demo" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme_test = _opening_commands()[1]
    # CI may silence pip (-q) but must otherwise run the very same command.
    assert readme_test.replace("pip install ", "pip install -q ") in ci
