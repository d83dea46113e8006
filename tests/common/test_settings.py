from pathlib import Path

import pytest

from services.common.internal_keys import new_pair
from services.common.settings import InvalidSettings, Settings, read_settings

PUBLIC = new_pair()[1]
REAL = {"secret_key": "s" * 40, "internal_public_key": PUBLIC, "pii_key": "p" * 40}


def problems(**values: object) -> list[str]:
    with pytest.raises(InvalidSettings) as refused:
        read_settings(**values)
    return refused.value.problems


def test_production_refuses_every_placeholder_or_short_secret_at_once() -> None:
    found = problems(env="production")
    assert [line.split("：")[0] for line in found] == [
        "QSR_SECRET_KEY",
        "QSR_INTERNAL_PUBLIC_KEY",
        "QSR_PII_KEY",
    ]
    assert "32 个字符" in found[0] and "32 个字符" in found[2]  # what to do, not only what is wrong
    assert "公钥" in found[1] and "openssl" in found[1]

    short = problems(env="production", secret_key="s" * 40, internal_public_key=PUBLIC, pii_key="short")
    assert [line.split("：")[0] for line in short] == ["QSR_PII_KEY"]
    assert "只有 5 个字符" in short[0] and "short" not in short[0]  # a secret is never echoed

    read_settings(env="production", **REAL)
    read_settings(env="development")  # the placeholders are fine where they are meant to be


def test_an_invalid_value_and_a_missing_secret_are_reported_together() -> None:
    found = problems(env="production", secret_key="s" * 40, internal_public_key=PUBLIC, gateway_port="http")
    assert [line.split("：")[0] for line in found] == ["QSR_GATEWAY_PORT", "QSR_PII_KEY"]
    assert "'http' 不是整数" in found[0] and "默认值 8000" in found[0]


def test_an_unknown_env_is_refused_and_the_secrets_are_checked_as_outside_development() -> None:
    found = problems(env="prod")
    assert found[0].startswith("QSR_ENV：'prod' 不是可用的环境") and "production" in found[0]
    assert {line.split("：")[0] for line in found[1:]} == {
        "QSR_SECRET_KEY",
        "QSR_INTERNAL_PUBLIC_KEY",
        "QSR_PII_KEY",
    }


@pytest.mark.parametrize(
    ("values", "variable", "said"),
    [
        ({"embedded_nats_port": 70000}, "QSR_EMBEDDED_NATS_PORT", "不能大于 65535"),
        ({"replicas": 0}, "QSR_REPLICAS", "不能小于 1"),
        ({"ack_wait_seconds": 0}, "QSR_ACK_WAIT_SECONDS", "必须大于 0"),
        ({"rate_limit_login": "ten a minute"}, "QSR_RATE_LIMIT_LOGIN", "不是限流写法"),
        (
            {"trusted_proxies": ["10.0.0.0/8", "proxy.local"]},
            "QSR_TRUSTED_PROXIES",
            "'proxy.local' 不是 IP 地址或网段",
        ),
        (
            {"database_url": "mysql+aiomysql://qsr@db/qsr"},
            "QSR_DATABASE_URL",
            "驱动 'mysql+aiomysql' 不受支持",
        ),
        ({"database_url": "postgresql://qsr@db/qsr"}, "QSR_DATABASE_URL", "驱动 'postgresql' 不受支持"),
        ({"nats_url": "nats://a:4222,http://b"}, "QSR_NATS_URL", "'http://b' 不是 NATS 地址"),
        ({"registry_url": "127.0.0.1:8001"}, "QSR_REGISTRY_URL", "不是 HTTP 地址"),
        ({"rate_limit_enabled": "maybe"}, "QSR_RATE_LIMIT_ENABLED", "不是 true 或 false"),
    ],
)
def test_each_invalid_value_names_its_variable(values: dict[str, object], variable: str, said: str) -> None:
    [line] = problems(**values)
    assert line.startswith(f"{variable}：") and said in line, line
    assert "请" in line  # and says what to do


def test_the_packs_dir_must_be_a_readable_directory_of_packs(tmp_path: Path) -> None:
    [missing] = problems(grading_packs_dir=tmp_path / "nowhere")
    assert missing.startswith("QSR_GRADING_PACKS_DIR：") and "不是可读的目录" in missing
    [empty] = problems(grading_packs_dir=tmp_path)
    assert "没有规则包" in empty
    (tmp_path / "national.yaml").write_text("pack: national\n", encoding="utf-8")
    assert read_settings(grading_packs_dir=tmp_path).grading_packs_dir == tmp_path


def test_the_data_dir_must_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("", encoding="utf-8")
    [line] = problems(data_dir=tmp_path / "file" / "var")
    assert line.startswith("QSR_DATA_DIR：") and "不是目录" in line
    assert read_settings(data_dir=tmp_path / "new" / "var").data_dir == tmp_path / "new" / "var"


def test_lists_from_the_environment_are_json_and_every_bad_one_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QSR_TRUSTED_PROXIES", "10.0.0.1")  # not JSON: once a SettingsError that hid the rest
    monkeypatch.setenv("QSR_PII_ROLES", '["personnel_officer", 1]')
    monkeypatch.setenv("QSR_GATEWAY_PORT", "eighty")
    found = problems()
    assert sorted(line.split("：")[0] for line in found) == [
        "QSR_GATEWAY_PORT",
        "QSR_PII_ROLES",
        "QSR_TRUSTED_PROXIES",
    ]
    assert any('["a", "b"]' in line for line in found)
    monkeypatch.setenv("QSR_TRUSTED_PROXIES", '["10.0.0.0/8"]')
    monkeypatch.delenv("QSR_PII_ROLES")
    monkeypatch.delenv("QSR_GATEWAY_PORT")
    assert read_settings().trusted_proxies == ("10.0.0.0/8",)


def test_one_database_per_service_from_a_template() -> None:
    settings = Settings(database_url="postgresql+asyncpg://qsr@db:5432/qsr_{service}")
    assert settings.database_url_for("grading") == "postgresql+asyncpg://qsr@db:5432/qsr_grading"
    assert Settings(data_dir="var").database_url_for("registry") == "sqlite+aiosqlite:///var/registry.db"


def test_several_nats_urls_make_a_cluster_list() -> None:
    assert Settings(nats_url="nats://a:4222, nats://b:4222").nats_servers == [
        "nats://a:4222",
        "nats://b:4222",
    ]
