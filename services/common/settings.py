"""Settings shared by every service, read from the environment with the prefix ``QSR_``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("registry", "grading", "inspection", "exam", "reporting")
# Systems outside QSR that publish into its NATS (each gets a stream QSR_<NAME> on subjects qsr.<name>.>).
EXTERNAL_SOURCES = ("credit",)
DEFAULT_PORTS = {
    "gateway": 8000,
    "registry": 8001,
    "grading": 8002,
    "inspection": 8003,
    "exam": 8004,
    "reporting": 8005,
}
# Not 4222: a NATS of the machine's own may already hold the standard port.
EMBEDDED_NATS_PORT = 14222
_PLACEHOLDER = "dev-only-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QSR_", extra="ignore")

    env: str = "development"
    data_dir: Path = Path("var")
    # SQLAlchemy async URL; ``{service}`` becomes the service name (one database per service).
    database_url: str = ""
    # Comma-separated NATS URLs.
    nats_url: str = f"nats://127.0.0.1:{EMBEDDED_NATS_PORT}"
    secret_key: str = _PLACEHOLDER + "-user-token-signing-key"
    internal_secret: str = _PLACEHOLDER + "-internal-identity-key"
    token_ttl_seconds: int = 8 * 3600
    # JetStream consumer behaviour
    ack_wait_seconds: float = 30.0
    max_deliver: int = 5
    nats_replicas: int = 1
    # A request naming a unit this service has not learned of yet (its registration event is on the way) waits
    # this long for the event before it answers 404; 0 answers at once. Keep it below the gateway's timeout.
    unknown_unit_wait_seconds: float = 3.0
    # Upstreams of the gateway
    gateway_host: str = "127.0.0.1"
    gateway_port: int = DEFAULT_PORTS["gateway"]
    registry_url: str = f"http://127.0.0.1:{DEFAULT_PORTS['registry']}"
    grading_url: str = f"http://127.0.0.1:{DEFAULT_PORTS['grading']}"
    inspection_url: str = f"http://127.0.0.1:{DEFAULT_PORTS['inspection']}"
    exam_url: str = f"http://127.0.0.1:{DEFAULT_PORTS['exam']}"
    reporting_url: str = f"http://127.0.0.1:{DEFAULT_PORTS['reporting']}"
    upstream_timeout_seconds: float = 10.0
    # Imports, exports and phones' batch uploads through the gateway may take minutes.
    upstream_bulk_timeout_seconds: float = 600.0
    # The largest request body the gateway passes on (streamed, counted as it arrives): 413 beyond it.
    gateway_max_body_bytes: int = 1 << 30
    # Gateway rate limits (``limits`` notation: "1200/minute", "10/minute;100/hour"), counted in each gateway
    # process's memory: per user on the API and the event stream, per client address and per username on
    # log-in, per client address without a valid token. Health checks are never limited.
    rate_limit_enabled: bool = True
    rate_limit_per_user: str = "1200/minute"
    rate_limit_login: str = "10/minute"
    rate_limit_anonymous: str = "120/minute"
    # Proxies (addresses or CIDR networks) whose X-Forwarded-For names the client; otherwise the peer is.
    trusted_proxies: tuple[str, ...] = ()
    # Grading: a directory of policy packs to use instead of the shipped ones, and how often the windows
    # are re-checked (a unit falls back when its signals lapse).
    grading_packs_dir: Path | None = None
    grading_recompute_interval_seconds: float = 3600.0
    # Registry: the key that encrypts personal data (ID numbers, phones) and keys its lookup hashes;
    # attachments on local disk (``{data_dir}/attachments`` unless set) with a size and type limit;
    # the roles that read personal data unmasked; how often owed self-checks are checked.
    pii_key: str = _PLACEHOLDER + "-personal-data-key"
    attachments_dir: Path | None = None
    attachment_max_bytes: int = 20 * 1024 * 1024
    attachment_content_types: tuple[str, ...] = (
        "application/pdf",
        "image/jpeg",
        "image/png",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    pii_roles: tuple[str, ...] = ("personnel_officer",)
    registry_duty_check_interval_seconds: float = 3600.0
    # Inspection: how often rectifications past their deadline are looked for (整改逾期).
    inspection_overdue_check_interval_seconds: float = 3600.0
    # A batch's Idempotency-Key is answered from its kept response this long; a phone retrying later still
    # changes nothing (operations carry the device's ids and versions), it only gets a fresh answer.
    inspection_idempotency_retention_days: int = 30

    @field_validator("env")
    @classmethod
    def _known_env(cls, value: str) -> str:
        if value not in {"development", "production"}:
            raise ValueError("QSR_ENV must be development or production")
        return value

    @model_validator(mode="after")
    def _no_placeholder_secrets(self) -> Settings:
        if self.env != "development":
            for name in ("secret_key", "internal_secret", "pii_key"):
                value = getattr(self, name)
                if value.startswith(_PLACEHOLDER) or len(value) < 32:
                    raise ValueError(f"QSR_{name.upper()} must be set to a real secret of 32+ characters")
        return self

    @property
    def development(self) -> bool:
        return self.env == "development"

    @property
    def nats_servers(self) -> list[str]:
        return [url.strip() for url in self.nats_url.split(",") if url.strip()]

    def database_url_for(self, service: str) -> str:
        if self.database_url:
            return self.database_url.replace("{service}", service)
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{service}.db').as_posix()}"

    @property
    def attachments_path(self) -> Path:
        return self.attachments_dir or self.data_dir / "attachments"

    def upstream_url(self, service: str) -> str:
        return getattr(self, f"{service}_url")


@lru_cache
def get_settings() -> Settings:
    return Settings()
