"""What ``qsr up`` checks beyond the settings' own fields: packs that load, the region table, the ports."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from services.common import preflight
from services.common.internal_keys import new_pair
from services.common.policy import PACKS_DIR
from services.common.settings import SERVICES
from tests.harness import free_port


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """A development system on free ports; what preflight reads comes from the environment, as under qsr up."""
    values = {
        "QSR_ENV": "development",
        "QSR_DATA_DIR": str(tmp_path / "var"),
        "QSR_GATEWAY_PORT": str(free_port()),
        "QSR_EMBEDDED_NATS_PORT": str(free_port()),
        **{f"QSR_{s.upper()}_URL": f"http://127.0.0.1:{free_port()}" for s in SERVICES},
    }
    for name in (
        "QSR_NATS_URL",
        "QSR_DATABASE_URL",
        "QSR_GRADING_PACKS_DIR",
        "QSR_REGION_TABLE",
        "QSR_INTERNAL_SIGNING_KEY",
        "QSR_INTERNAL_PUBLIC_KEY",
        "QSR_FAILPOINTS",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def test_a_sound_system_has_no_problem(env: dict[str, str]) -> None:
    settings, problems = preflight.check(env)
    assert problems == [] and settings is not None and settings.development


def test_a_pack_that_does_not_load_is_named_with_its_file_and_line(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    packs = Path(shutil.copytree(PACKS_DIR, tmp_path / "packs"))
    text = (packs / "jiangsu.yaml").read_text(encoding="utf-8")
    (packs / "jiangsu.yaml").write_text(
        text.replace("extends: national", "extends: nationwide"), encoding="utf-8"
    )
    monkeypatch.setenv("QSR_GRADING_PACKS_DIR", str(packs))
    _, [problem] = preflight.check(env)
    assert problem.startswith("QSR_GRADING_PACKS_DIR：规则包有误：jiangsu.yaml 第 ") and "请改正" in problem


def test_the_region_table_must_be_readable_with_the_shipped_columns(
    env: dict[str, str], tmp_path: Path
) -> None:
    _, [missing] = preflight.check({**env, "QSR_REGION_TABLE": str(tmp_path / "gb2260-2026.csv")})
    assert missing.startswith("QSR_REGION_TABLE：") and "不是可读的文件" in missing
    (tmp_path / "gb2260-2026.csv").write_text("代码,名称\n110000,北京市\n", encoding="utf-8")
    _, [columns] = preflight.check({**env, "QSR_REGION_TABLE": str(tmp_path / "gb2260-2026.csv")})
    assert "缺少列 code, level, name, parent_code" in columns


def test_a_region_table_problem_is_reported_with_the_settings_problems(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("QSR_MAX_DELIVER", "0")
    settings, problems = preflight.check({**env, "QSR_REGION_TABLE": str(tmp_path / "none.csv")})
    assert settings is None
    assert [p.split("：")[0] for p in problems] == ["QSR_MAX_DELIVER", "QSR_REGION_TABLE"]


def test_a_port_given_twice_or_taken_is_named(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QSR_EXAM_URL", f"http://127.0.0.1:{env['QSR_GATEWAY_PORT']}")
    monkeypatch.setenv("QSR_REPORTING_URL", "http://127.0.0.1")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(env["QSR_EMBEDDED_NATS_PORT"])))
        taken.listen()
        _, problems = preflight.check(env)
        # With an external NATS, its port is not qsr up's to check.
        _, external = preflight.check({**env, "QSR_NATS_URL": "nats://127.0.0.1:4222"})
    assert len(problems) == 3, problems
    assert problems[0].startswith("QSR_REPORTING_URL：") and "没有写明端口" in problems[0]
    assert problems[1] == (
        f"端口 {env['QSR_GATEWAY_PORT']} 同时给了 gateway（QSR_GATEWAY_PORT）、exam（QSR_EXAM_URL）。"
        "请给每个进程不同的端口。"
    )
    assert problems[2].startswith("QSR_EMBEDDED_NATS_PORT：") and "已被占用" in problems[2]
    assert "QSR_EMBEDDED_NATS_PORT" not in " ".join(external)


def test_production_names_a_missing_or_unparsable_key_with_the_other_problems(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QSR_ENV", "production")
    monkeypatch.setenv("QSR_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("QSR_MAX_DELIVER", "none")
    monkeypatch.setenv("QSR_FAILPOINTS", "inbox.after_commit=exit")
    production = {**env, "QSR_ENV": "production", "QSR_FAILPOINTS": "inbox.after_commit=exit"}
    settings, problems = preflight.check(production)
    assert settings is None
    assert [p.split("：")[0] for p in problems] == [
        "QSR_INTERNAL_PUBLIC_KEY",
        "QSR_MAX_DELIVER",
        "QSR_PII_KEY",
        "QSR_INTERNAL_SIGNING_KEY",
        "QSR_FAILPOINTS",
    ], problems
    production.pop("QSR_FAILPOINTS")

    garbled = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----"
    monkeypatch.setenv("QSR_INTERNAL_SIGNING_KEY", garbled)
    monkeypatch.setenv("QSR_INTERNAL_PUBLIC_KEY", "ssh-ed25519 AAAA")
    _, problems = preflight.check({**production, "QSR_INTERNAL_SIGNING_KEY": garbled})
    named = {p.split("：")[0]: p for p in problems}
    assert "不是 Ed25519 私钥" in named["QSR_INTERNAL_SIGNING_KEY"] and "not a key" not in "".join(problems)
    assert "不是 Ed25519 公钥" in named["QSR_INTERNAL_PUBLIC_KEY"] and "AAAA" not in "".join(problems)


def test_a_public_key_list_without_the_gateways_own_is_named(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (private, _public), (_other, other_public) = new_pair(), new_pair()
    monkeypatch.setenv("QSR_INTERNAL_SIGNING_KEY", private)
    monkeypatch.setenv("QSR_INTERNAL_PUBLIC_KEY", other_public)
    _, [problem] = preflight.check(env)
    assert problem.startswith("QSR_INTERNAL_PUBLIC_KEY：不含 QSR_INTERNAL_SIGNING_KEY 对应的公钥")
    monkeypatch.setenv("QSR_INTERNAL_PUBLIC_KEY", other_public + _public)  # a rotation: both listed
    assert preflight.check(env)[1] == []


@pytest.mark.parametrize(("environment", "obeyed"), [("development", True), ("production", False)])
def test_a_failpoint_is_never_obeyed_in_production(environment: str, obeyed: bool) -> None:
    """A process started some other way than ``qsr up`` (a unit file, a container) still ignores it."""
    code = "from services.common import failpoints; failpoints.hit('x.y'); print('alive')"
    env = {**os.environ, "QSR_ENV": environment, "QSR_FAILPOINTS": "x.y=exit"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == ((75, "") if obeyed else (0, "alive"))
