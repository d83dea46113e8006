import pytest

from services.common.settings import Settings


def test_production_refuses_placeholder_secrets() -> None:
    with pytest.raises(ValueError, match="QSR_SECRET_KEY"):
        Settings(env="production")
    with pytest.raises(ValueError, match="QSR_INTERNAL_SECRET"):
        Settings(env="production", secret_key="s" * 40, internal_secret="short")
    with pytest.raises(ValueError, match="QSR_PII_KEY"):  # personal data is never sealed with a known key
        Settings(env="production", secret_key="s" * 40, internal_secret="i" * 40)
    Settings(env="production", secret_key="s" * 40, internal_secret="i" * 40, pii_key="p" * 40)


def test_one_database_per_service_from_a_template() -> None:
    settings = Settings(database_url="postgresql+asyncpg://qsr@db:5432/qsr_{service}")
    assert settings.database_url_for("grading") == "postgresql+asyncpg://qsr@db:5432/qsr_grading"
    assert Settings(data_dir="var").database_url_for("registry") == "sqlite+aiosqlite:///var/registry.db"


def test_several_nats_urls_make_a_cluster_list() -> None:
    assert Settings(nats_url="nats://a:4222, nats://b:4222").nats_servers == [
        "nats://a:4222",
        "nats://b:4222",
    ]
