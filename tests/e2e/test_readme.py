"""The README's walk-throughs, run as written against a live system.

Every shell block of README.md right after the line ``<!-- walk-through: checked by tests/e2e/test_readme.py -->``
runs, in README order and in one ``bash -euo pipefail`` (the README says "same terminal, G and AUTH as
above": later blocks use the variables of earlier ones), against a fresh system started as ``qsr up``
starts it, with ``G`` set to its gateway. A comment ``# → …`` states the exact output of the command it
ends (a ``# →`` line of its own under a command states its next line of output); each stated result is
compared with what the command really printed, and a mismatch names the README line, the command, what
the README states and what came out. Other comments are prose and are not checked.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from services.common.launcher import System

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = "<!-- walk-through: checked by tests/e2e/test_readme.py -->"
PATH = "/usr/bin:/bin"
# "# →" after the command on its last line; the stated text may itself contain "→".
TRAILING = re.compile(r"\s#\s→(?: (.*))?$")
OWN_LINE = re.compile(r"^\s*#\s→(?: (.*))?$")
FAILED = re.compile(r"^readme-failed-at (\d+) (\d+)$", re.MULTILINE)


class ReadmeError(AssertionError):
    """The README's blocks cannot be checked as written (a marker without a block, a dangling result…)."""


@dataclass
class Command:
    """One complete shell command of a block, with the README lines it spans (1-based) and what it states."""

    first: int
    last: int
    text: str
    expected: list[str] = field(default_factory=list)


@dataclass
class Block:
    start: int  # README line of the block's first line
    lines: list[str]


def walk_throughs(readme: str) -> list[Block]:
    lines = readme.split("\n")
    blocks = []
    for number, line in enumerate(lines):
        if line.strip() != MARKER:
            continue
        if number + 1 >= len(lines) or lines[number + 1].strip() != "```sh":
            raise ReadmeError(f"README.md line {number + 1}: the marker must be followed by a ```sh block")
        end = next((i for i in range(number + 2, len(lines)) if lines[i].strip() == "```"), None)
        if end is None:
            raise ReadmeError(f"README.md line {number + 2}: the block is never closed")
        blocks.append(Block(start=number + 3, lines=lines[number + 2 : end]))
    return blocks


def _complete(text: str) -> bool:
    """Whether bash would run ``text`` as it is, without reading another line."""
    if text.rstrip().endswith("\\"):
        return False
    return subprocess.run(["bash", "-n"], input=text, text=True, capture_output=True).returncode == 0


def commands(block: Block) -> list[Command]:
    found: list[Command] = []
    last: Command | None = None  # the command a "# →" line of its own may belong to
    i = 0
    while i < len(block.lines):
        line, number = block.lines[i], block.start + i
        own = OWN_LINE.match(line)
        if own:
            if last is None:
                raise ReadmeError(f"README.md line {number}: a stated result under no command")
            last.expected.append((own.group(1) or "").rstrip())
            i += 1
            continue
        if not line.strip() or line.lstrip().startswith("#"):
            last = None
            i += 1
            continue
        j = i
        while not _complete("\n".join(block.lines[i : j + 1])):
            j += 1
            if j == len(block.lines):
                raise ReadmeError(f"README.md line {number}: this command never ends")
        text = "\n".join(block.lines[i : j + 1])
        last = Command(first=number, last=block.start + j, text=text)
        trailing = TRAILING.search(block.lines[j])
        if trailing:
            last.expected.append((trailing.group(1) or "").rstrip())
        found.append(last)
        i = j + 1
    return found


def script(blocks: list[Block]) -> tuple[str, list[int], list[Command]]:
    """The blocks as one script: each command with a stated result writes its output to a file of its own.

    Returns the script, the README line of each script line, and the commands with stated results."""
    out = ["trap 's=$?; echo \"readme-failed-at $LINENO $s\" >&2' ERR"]
    origin = [0]
    stated: list[Command] = []
    for block in blocks:
        for command in commands(block):
            lines = command.text.split("\n")
            numbers = list(range(command.first, command.last + 1))
            if command.expected:
                if command.text.rstrip().split("#", 1)[0].rstrip().endswith("&"):
                    raise ReadmeError(f"README.md line {command.last}: a background command states no result")
                stated.append(command)
                lines = ["{", *lines, f'}} >"$README_OUT/{command.last}"']
                numbers = [command.first, *numbers, command.last]
            out += lines
            origin += numbers
    return "\n".join(out) + "\n", origin, stated


def _stop_group(pgid: int) -> bool:
    """Kills what the blocks left running; True when something was left."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + 2  # a job killed by the block's last line may still be exiting
    while time.monotonic() < deadline:
        time.sleep(0.1)
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


def check(readme: str, workdir: Path, gateway: str, timeout: float = 240) -> list[str]:
    """Runs the README's walk-throughs and returns every difference from what it states, in README order."""
    for tool in ("bash", "curl", "jq"):
        if shutil.which(tool, path=PATH) is None:
            pytest.fail(f"{tool} is not installed (on {PATH}): the README's walk-throughs need it")
    blocks = walk_throughs(readme)
    if not blocks:
        raise ReadmeError(f"README.md has no block marked {MARKER}")
    text, origin, stated = script(blocks)
    outputs = workdir / "outputs"
    outputs.mkdir(parents=True, exist_ok=True)
    (workdir / "walk-through.sh").write_text(text)
    env = {"PATH": PATH, "HOME": str(workdir), "LANG": "C.UTF-8", "G": gateway, "README_OUT": str(outputs)}
    with open(workdir / "stdout", "wb") as stdout, open(workdir / "stderr", "wb") as stderr:
        shell = subprocess.Popen(
            ["bash", "-euo", "pipefail", "walk-through.sh"],
            cwd=workdir,
            env=env,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
        try:
            code = shell.wait(timeout)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            left = _stop_group(shell.pid)
            shell.wait()
    errors = (workdir / "stderr").read_text(errors="replace")
    problems = []
    for command in stated:
        produced = outputs / str(command.last)
        if not produced.exists():
            continue  # the script stopped before it; the failure below says where
        actual = [line.rstrip() for line in produced.read_text(errors="replace").split("\n")]
        if actual and actual[-1] == "":
            actual.pop()
        if actual != command.expected:
            problems.append(
                f"README.md line {command.last}: {command.text.strip()}\n"
                + "".join(f"    stated: {line}\n" for line in command.expected)
                + "".join(f"    actual: {line}\n" for line in actual or ["(nothing)"])
            )
    if code is None:
        problems.append(f"the walk-throughs did not finish within {timeout:.0f} s\n{errors[-2000:]}")
    elif code != 0:
        failed = FAILED.findall(errors)
        where = f"README.md line {origin[int(failed[-1][0]) - 1]}" if failed else "the walk-throughs"
        problems.append(f"{where}: the command failed (exit {code})\n{errors[-2000:]}")
    if left:
        problems.append(
            "the walk-throughs left a process running (a background job the README does not stop)"
        )
    return problems


# Files of the project the walk-throughs name by their path from its root (where a reader runs them).
PROJECT_FILES = ("services/exam/data/bank.csv",)


def test_the_readme_walk_throughs_state_what_the_system_does(system: System, tmp_path: Path) -> None:
    workdir = tmp_path / "walk-through"
    for name in PROJECT_FILES:
        (workdir / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(README.parent / name, workdir / name)
    problems = check(README.read_text(), workdir, system.url("gateway"))
    assert not problems, "the README and the system disagree:\n" + "\n".join(problems)


def test_every_block_that_talks_to_the_gateway_is_checked() -> None:
    readme = README.read_text()
    checked = {block.start for block in walk_throughs(readme)}
    lines = readme.split("\n")
    for number, line in enumerate(lines, start=1):
        if line.strip() == "```sh":
            body = lines[number : lines.index("```", number)]
            if any("$G/" in part for part in body):
                assert number + 1 in checked, f"README.md line {number}: a block that calls $G lacks {MARKER}"
    assert len(checked) >= 2


def _readme_with(*block: str) -> str:
    """A README of one line of prose and one checked block: its first command is on line 4."""
    return "\n".join(["Intro", MARKER, "```sh", *block, "```"])


def test_a_wrong_stated_result_fails_with_the_line_the_command_and_both_outputs(tmp_path: Path) -> None:
    readme = _readme_with(
        "N=2",
        """printf '{"n": %s}' $N | jq -c .   # → {"n":2}""",
        "printf 'x\\n%s\\n' \\",
        "  $N",
        "# → x",
        "# → 3",
    )
    problems = check(readme, tmp_path, gateway="http://127.0.0.1:9")
    assert problems == [
        "README.md line 7: printf 'x\\n%s\\n' \\\n  $N\n    stated: x\n    stated: 3\n    actual: x\n    actual: 2\n"
    ]


def test_a_failing_command_names_its_readme_line(tmp_path: Path) -> None:
    readme = _readme_with("echo ok   # → ok", "", "curl -sf $G/nothing | jq .", "echo never  # → never")
    problems = check(readme, tmp_path, gateway="http://127.0.0.1:9")
    assert len(problems) == 1
    assert problems[0].startswith("README.md line 6: the command failed (exit 7)"), problems


def test_a_background_job_left_running_is_reported_and_stopped(tmp_path: Path) -> None:
    problems = check(_readme_with("sleep 60 &", "echo ok  # → ok"), tmp_path, gateway="http://127.0.0.1:9")
    assert problems == [
        "the walk-throughs left a process running (a background job the README does not stop)"
    ]
