"""The README's settings tables name every ``QSR_`` variable the code reads, and nothing else.

The first table of "PostgreSQL and an external NATS" is the operator's: every ``Settings`` field and every
``QSR_…`` name that ``services/`` or ``gateway/`` read from the environment. The second is the developer's:
the names only ``tests/`` and ``bench/`` read.
"""

from __future__ import annotations

import re
from pathlib import Path

from services.common.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
NAME = r"[\"'](QSR_[A-Z0-9_]+)[\"']"
# A read: ``os.environ.get("X")``, ``os.getenv("X")``, ``env.get("X")``, ``environ["X"]`` / ``env["X"]`` that
# is not assigned to, ``"X" in env``.
READS = [
    re.compile(rf"(?:environ|env)\.get\(\s*{NAME}"),
    re.compile(rf"getenv\(\s*{NAME}"),
    re.compile(rf"(?:environ|env)\[\s*{NAME}\s*\](?!\s*=[^=])"),
    re.compile(rf"{NAME}\s+(?:not\s+)?in\s+(?:os\.)?(?:environ|env)\b"),
]
SECTION = "## PostgreSQL and an external NATS"


def read_in(*folders: str) -> set[str]:
    names: set[str] = set()
    for folder in folders:
        for path in (ROOT / folder).rglob("*.py"):
            if path == Path(__file__).resolve():  # its own examples of what the scan finds
                continue
            text = path.read_text(encoding="utf-8")
            for pattern in READS:
                names.update(pattern.findall(text))
    return names


def documented() -> list[set[str]]:
    """The variables named in the first cell of each table of the settings section, table by table."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split(SECTION, 1)[1].split("\n## ", 1)[0]
    tables: list[set[str]] = []
    in_table = False
    for line in section.splitlines():
        if not line.startswith("|"):
            in_table = False
            continue
        if not in_table:
            tables.append(set())
            in_table = True
        tables[-1].update(re.findall(r"`(QSR_[A-Z0-9_]+)`", line.split("|")[1]))
    return tables


def difference(documented: set[str], read: set[str]) -> str:
    return f"read but not documented: {sorted(read - documented)}; documented but never read: {sorted(documented - read)}"


def test_the_scan_finds_reads_and_skips_writes_and_stream_names() -> None:
    text = 'os.environ.get("QSR_A")\nenv["QSR_B"]\nenv["QSR_C"] = 1\nstream="QSR_D"\n"QSR_E" in env\n'
    found = {name for pattern in READS for name in pattern.findall(text)}
    assert found == {"QSR_A", "QSR_B", "QSR_E"}


def test_the_settings_table_lists_every_variable_the_system_reads() -> None:
    read = {f"QSR_{name.upper()}" for name in Settings.model_fields} | read_in("services", "gateway")
    assert {"QSR_EMBEDDED_NATS_PORT", "QSR_REGION_TABLE", "QSR_FAILPOINTS"} <= read  # the scan sees them
    operators = documented()[0]
    assert operators == read, difference(operators, read)


def test_the_developers_table_lists_what_only_the_tests_and_benchmarks_read() -> None:
    system = {f"QSR_{name.upper()}" for name in Settings.model_fields} | read_in("services", "gateway")
    read = read_in("tests", "bench") - system
    assert "QSR_TEST_DATABASE_URL" in read
    tables = documented()
    assert len(tables) == 2, "the settings section has the operator's table and the developer's"
    assert tables[1] == read, difference(tables[1], read)
