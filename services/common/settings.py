"""Settings shared by every service, read from the environment with the prefix ``QSR_``.

Every value is checked when the settings are read, and every problem is reported at once (pydantic collects
the field errors): ``get_settings()`` raises :class:`InvalidSettings` with one Chinese line per problem,
naming the variable, what is wrong and what to do. ``qsr up`` reads them before it starts anything
(``services/common/preflight.py``); each service reads them again at its own start.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from ipaddress import ip_network
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from limits import parse_many
from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from services.common import internal_keys

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
SECRETS = ("secret_key", "pii_key")
# The internal identity's Ed25519 keys (PEM): never echoed in a problem, like the secrets.
INTERNAL_KEYS = ("internal_signing_key", "internal_public_key")
SECRET_MIN_LENGTH = 32
# The async drivers the services run on (a sync driver such as plain ``postgresql://`` fails at the first query).
DATABASE_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")
_NATS_SCHEMES = ("nats", "tls", "ws", "wss")

Port = Annotated[int, Field(ge=1, le=65535)]
Positive = Annotated[float, Field(gt=0)]
# Lists are JSON (``["10.0.0.0/8"]``); read as text so that a malformed one is a field error collected with the
# others, not pydantic-settings' SettingsError that stops at the first.
JsonList = Annotated[tuple[str, ...], NoDecode]


def _problem(message: str) -> PydanticCustomError:
    return PydanticCustomError("qsr_setting", message)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QSR_", extra="ignore")

    env: str = "development"
    data_dir: Path = Path("var")
    # SQLAlchemy async URL; ``{service}`` becomes the service name (one database per service).
    database_url: str = ""
    # Comma-separated NATS URLs.
    nats_url: str = f"nats://127.0.0.1:{EMBEDDED_NATS_PORT}"
    # The port of the NATS ``qsr up`` starts when QSR_NATS_URL is not set.
    embedded_nats_port: Port = EMBEDDED_NATS_PORT
    # Processes per service under ``qsr up`` (``qsr up --replicas N`` wins).
    replicas: int = Field(1, ge=1)
    secret_key: str = _PLACEHOLDER + "-user-token-signing-key"
    # The internal identity (X-QSR-Identity): the gateway signs it with this Ed25519 private key (PEM; the gateway
    # only), the services verify it with the public key(s) (PEM, one or more one after the other: old and new
    # during a rotation). In development, when neither is set, a pair is made once in {data_dir}/keys.
    internal_signing_key: str = ""
    internal_public_key: str = ""
    token_ttl_seconds: int = Field(8 * 3600, gt=0)
    # JetStream consumer behaviour
    ack_wait_seconds: Positive = 30.0
    max_deliver: int = Field(5, ge=1)
    nats_replicas: int = Field(1, ge=1, le=5)
    # A request naming a unit this service has not learned of yet (its registration event is on the way) waits
    # this long for the event before it answers 404; 0 answers at once. Keep it below the gateway's timeout.
    unknown_unit_wait_seconds: float = Field(3.0, ge=0)
    # Upstreams of the gateway
    gateway_host: str = "127.0.0.1"
    gateway_port: Port = DEFAULT_PORTS["gateway"]
    registry_url: str = f"http://127.0.0.1:{DEFAULT_PORTS['registry']}"
    grading_url: str = f"http://127.0.0.1:{DEFAULT_PORTS['grading']}"
    inspection_url: str = f"http://127.0.0.1:{DEFAULT_PORTS['inspection']}"
    exam_url: str = f"http://127.0.0.1:{DEFAULT_PORTS['exam']}"
    reporting_url: str = f"http://127.0.0.1:{DEFAULT_PORTS['reporting']}"
    upstream_timeout_seconds: Positive = 10.0
    # Imports, exports and phones' batch uploads through the gateway may take minutes.
    upstream_bulk_timeout_seconds: Positive = 600.0
    # The largest request body the gateway passes on (streamed, counted as it arrives): 413 beyond it.
    gateway_max_body_bytes: int = Field(1 << 30, gt=0)
    # Gateway rate limits (``limits`` notation: "1200/minute", "10/minute;100/hour"), counted in each gateway
    # process's memory: per user on the API and the event stream, per client address and per username on
    # log-in, per client address without a valid token. Health checks are never limited.
    rate_limit_enabled: bool = True
    rate_limit_per_user: str = "1200/minute"
    rate_limit_login: str = "10/minute"
    rate_limit_anonymous: str = "120/minute"
    # Proxies (addresses or CIDR networks) whose X-Forwarded-For names the client; otherwise the peer is.
    trusted_proxies: JsonList = ()
    # Grading: a directory of policy packs to use instead of the shipped ones, and how often the windows
    # are re-checked (a unit falls back when its signals lapse).
    grading_packs_dir: Path | None = None
    grading_recompute_interval_seconds: Positive = 3600.0
    # Registry: the key that encrypts personal data (ID numbers, phones) and keys its lookup hashes;
    # attachments on local disk (``{data_dir}/attachments`` unless set) with a size and type limit;
    # the roles that read personal data unmasked; how often owed self-checks are checked.
    pii_key: str = _PLACEHOLDER + "-personal-data-key"
    attachments_dir: Path | None = None
    attachment_max_bytes: int = Field(20 * 1024 * 1024, gt=0)
    attachment_content_types: JsonList = (
        "application/pdf",
        "image/jpeg",
        "image/png",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    pii_roles: JsonList = ("personnel_officer",)
    registry_duty_check_interval_seconds: Positive = 3600.0
    # Inspection: how often rectifications past their deadline are looked for (整改逾期).
    inspection_overdue_check_interval_seconds: Positive = 3600.0
    # A batch's Idempotency-Key is answered from its kept response this long; a phone retrying later still
    # changes nothing (operations carry the device's ids and versions), it only gets a fresh answer.
    inspection_idempotency_retention_days: int = Field(30, ge=1)
    # Exam: how often sittings still open past their deadline are closed and scored (到时自动交卷); a sitting
    # read or written after its deadline is closed at once whatever this says.
    exam_deadline_check_interval_seconds: Positive = 15.0

    @field_validator("env")
    @classmethod
    def _known_env(cls, value: str) -> str:
        if value not in {"development", "production"}:
            raise _problem(f"{value!r} 不是可用的环境。请设为 development（开发）或 production（生产）")
        return value

    # One check for every secret, so that each placeholder or short one is reported, not the first only. ``env``
    # is declared first, so it is validated by now; an invalid one counts as not development.
    @field_validator(*SECRETS)
    @classmethod
    def _real_secret_outside_development(cls, value: str, info: ValidationInfo) -> str:
        if info.data.get("env") == "development":
            return value
        if value.startswith(_PLACEHOLDER):
            wrong = "未设置（仍是开发用的占位值）"
        elif len(value) < SECRET_MIN_LENGTH:
            wrong = f"只有 {len(value)} 个字符"
        else:
            return value
        raise _problem(
            f"{wrong}，生产环境需要真实的密钥。请设为至少 {SECRET_MIN_LENGTH} 个字符的随机字符串，"
            """例如 python -c "import secrets; print(secrets.token_urlsafe(32))" 的输出"""
        )

    @field_validator("internal_signing_key")
    @classmethod
    def _signing_key(cls, value: str) -> str:
        if value.strip():
            try:
                internal_keys.private_key(value)
            except ValueError:
                raise _problem(
                    "不是 Ed25519 私钥（PEM）。请用 openssl genpkey -algorithm ed25519 生成，"
                    "把整个 PEM（含 BEGIN/END 行）设为该变量"
                ) from None
        return value

    @field_validator("internal_public_key")
    @classmethod
    def _public_keys(cls, value: str, info: ValidationInfo) -> str:
        if not value.strip():
            if info.data.get("env") == "development":
                return value
            raise _problem(
                "未设置，生产环境的每个进程都需要网关的公钥来核验身份凭证。请设为 openssl pkey -pubout "
                "从网关私钥导出的 PEM；轮换密钥期间可依次写新旧两个公钥"
            )
        try:
            internal_keys.public_keys(value)
        except ValueError:
            raise _problem(
                "不是 Ed25519 公钥（PEM）。请设为 openssl pkey -in 私钥.pem -pubout 的输出（含 BEGIN/END 行），"
                "轮换密钥期间可依次写新旧两个公钥"
            ) from None
        return value

    @field_validator("trusted_proxies", "attachment_content_types", "pii_roles", mode="before")
    @classmethod
    def _json_list(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            items = json.loads(value)
        except ValueError:
            items = None
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise _problem(f'{value!r} 不是 JSON 字符串列表。请写成 JSON 列表，例如 ["a", "b"]，空列表为 []')
        return items

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for proxy in value:
            try:
                ip_network(proxy, strict=False)
            except ValueError:
                raise _problem(
                    f'{proxy!r} 不是 IP 地址或网段。请只列地址或 CIDR 网段，例如 ["10.0.0.0/8", "192.0.2.7"]'
                ) from None
        return value

    @field_validator("rate_limit_per_user", "rate_limit_login", "rate_limit_anonymous")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError:
            raise _problem(
                f"{value!r} 不是限流写法。请写成“次数/时间单位”，例如 600/minute，多个用分号分隔：10/minute;100/hour"
            ) from None
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not value:
            return value
        try:
            driver = make_url(value).drivername
        except ArgumentError:
            raise _problem(
                "不是数据库连接串。请写成 postgresql+asyncpg://用户@主机:5432/qsr_{service}，或删去它以用 SQLite"
            ) from None
        if driver not in DATABASE_DRIVERS:
            raise _problem(
                f"驱动 {driver!r} 不受支持。请用 {' 或 '.join(DATABASE_DRIVERS)}，"
                "例如 postgresql+asyncpg://用户@主机:5432/qsr_{service}"
            )
        return value

    @field_validator("nats_url")
    @classmethod
    def _nats_urls(cls, value: str) -> str:
        for url in value.split(","):
            if url.strip() and not _url_ok(url.strip(), _NATS_SCHEMES):
                raise _problem(
                    f"{url.strip()!r} 不是 NATS 地址。请写成 nats://主机:4222，多个用逗号分隔；"
                    "删去它则 qsr up 自带一个 NATS"
                )
        return value

    @field_validator(*(f"{service}_url" for service in SERVICES))
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not _url_ok(value, ("http", "https")):
            raise _problem(f"{value!r} 不是 HTTP 地址。请写成 http://主机:端口，例如 http://127.0.0.1:8001")
        return value

    @field_validator("grading_packs_dir")
    @classmethod
    def _packs_dir(cls, value: Path | None) -> Path | None:
        if value is None:
            return value
        if not value.is_dir() or not os.access(value, os.R_OK | os.X_OK):
            raise _problem(
                f"{str(value)!r} 不是可读的目录。请指向存放规则包（*.yaml）的目录，或删去它以用自带的规则包"
            )
        if not any(value.glob("*.yaml")):
            raise _problem(
                f"目录 {str(value)!r} 中没有规则包（*.yaml）。请放入规则包，或删去它以用自带的规则包"
            )
        return value

    @field_validator("data_dir", "attachments_dir")
    @classmethod
    def _directory(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return value
        existing = next((p for p in (value, *value.absolute().parents) if p.exists()), None)
        if existing is not None and not existing.is_dir():
            raise _problem(f"{str(existing)!r} 已存在且不是目录。请指向一个目录")
        # Every process writes its data directory (SQLite, JetStream, logs). The attachments directory only has
        # to be one: its volume's permissions are the deployment's, met at the first upload.
        if (
            info.field_name == "data_dir"
            and existing is not None
            and not os.access(existing, os.W_OK | os.X_OK)
        ):
            raise _problem(f"{str(existing)!r} 不可写。请指向本进程可写的目录")
        return value

    @property
    def development(self) -> bool:
        return self.env == "development"

    @property
    def internal_signer(self) -> Ed25519PrivateKey:
        """The gateway's key for the internal identity: set, or in development the data directory's own."""
        if self.internal_signing_key.strip():
            return internal_keys.private_key(self.internal_signing_key)
        if self.development and not self.internal_public_key.strip():
            return internal_keys.private_key(_development_pair(self.data_dir)[0])
        raise InvalidSettings([f"QSR_INTERNAL_SIGNING_KEY：{MISSING_SIGNING_KEY}。"])

    @property
    def internal_verify_keys(self) -> tuple[Ed25519PublicKey, ...]:
        """The public keys a service accepts an internal identity from."""
        if self.internal_public_key.strip():
            return internal_keys.public_keys(self.internal_public_key)
        # Development only (production refuses an empty QSR_INTERNAL_PUBLIC_KEY): the pair's own public half.
        return (self.internal_signer.public_key(),)

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


MISSING_SIGNING_KEY = (
    "未设置，网关需要 Ed25519 私钥来签发身份凭证。请用 openssl genpkey -algorithm ed25519 生成，"
    "把整个 PEM 设为该变量（只给网关），公钥设为 QSR_INTERNAL_PUBLIC_KEY"
)


@lru_cache
def _development_pair(data_dir: Path) -> tuple[str, str]:
    return internal_keys.development_pair(data_dir)


def _url_ok(url: str, schemes: tuple[str, ...]) -> bool:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        return False
    return parts.scheme in schemes and bool(parts.hostname)


class InvalidSettings(ValueError):
    """Settings that cannot be used: ``problems`` holds one Chinese line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("QSR 的设置有误，未启动：\n" + "\n".join(problems))


_WRONG = {
    "int_parsing": "不是整数",
    "int_from_float": "不是整数",
    "int_type": "不是整数",
    "float_parsing": "不是数字",
    "float_type": "不是数字",
    "bool_parsing": "不是 true 或 false",
    "path_type": "不是路径",
    "string_type": "不是文本",
}


def describe(error: Any) -> str:
    """One line for one of pydantic's errors: the variable, what is wrong, what to do."""
    field = str(error["loc"][0]) if error["loc"] else ""
    variable = f"QSR_{field.upper()}"
    if error["type"] == "qsr_setting":
        return f"{variable}：{error['msg']}。"
    value = "" if field in (*SECRETS, *INTERNAL_KEYS) else f"{error['input']!r} "
    ctx = {key: _shown(bound) for key, bound in (error.get("ctx") or {}).items()}
    if error["type"] == "greater_than":
        wrong = f"必须大于 {ctx['gt']}"
    elif error["type"] == "greater_than_equal":
        wrong = f"不能小于 {ctx['ge']}"
    elif error["type"] == "less_than_equal":
        wrong = f"不能大于 {ctx['le']}"
    else:
        wrong = _WRONG.get(error["type"], f"无效（{error['msg']}）")
    known = Settings.model_fields.get(field)
    default = (
        f"，或删去它以用默认值 {_shown(known.default)}"
        if known and field not in (*SECRETS, *INTERNAL_KEYS)
        else ""
    )
    return f"{variable}：{value}{wrong}。请改正{default}。"


def _shown(value: Any) -> str:
    """A value as it would be written in the environment."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple):
        return json.dumps(list(value))
    return str(value)


def read_settings(**values: Any) -> Settings:
    """The settings from the environment (and ``values``), or InvalidSettings naming every problem."""
    try:
        return Settings(**values)
    except ValidationError as exc:
        # ``from None``: pydantic's own text repeats the values given, secrets among them.
        raise InvalidSettings([describe(error) for error in exc.errors()]) from None


@lru_cache
def get_settings() -> Settings:
    return read_settings()
