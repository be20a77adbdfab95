"""One typed settings object, read from the environment.

The embedded default needs no configuration at all: a SQLite file under ``./var/``, in-process
cache and pub/sub, files under ``./files``. Production sets ``DATABASE_URL`` and ``REDIS_URL``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from app.storage.names import ENTITY_NAMES, LIMIT_KEYS


class ConfigurationError(Exception):
    """Raised with one readable line when the environment describes an unusable server."""


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class StorageBackend(StrEnum):
    LOCAL = "local"
    S3 = "s3"


class S3AddressingStyle(StrEnum):
    AUTO = "auto"
    PATH = "path"
    VIRTUAL = "virtual"


class S3Serve(StrEnum):
    PROXY = "proxy"
    REDIRECT = "redirect"


DEFAULT_VAR_DIR = Path("var")
#: What RFC 3986 allows in a URL, percent-escapes included.
_URL_CHARACTERS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
SECRET_KEY_FILE = "secret_key"


def normalise_database_url(url: str) -> str:
    """Accept the URLs people paste (``postgres://``, ``sqlite:///``) and pick our async drivers."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("must look like postgresql://user@host/db or sqlite:///path.db")
    base = scheme.split("+", 1)[0].lower()
    if base in {"postgres", "postgresql"}:
        return f"postgresql+asyncpg://{rest}"
    if base == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    raise ValueError(f"unsupported database {scheme!r}: use postgresql:// or sqlite://")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    database_url: str = Field(
        default="",
        description="PostgreSQL or SQLite URL; empty means the embedded ./var/contentgraph.db",
    )
    redis_url: str | None = Field(default=None, description="Redis URL; empty = in-process")
    files_root: Path = Field(
        default=Path("files"),
        description="Where uploaded files are stored (STORAGE_BACKEND=local)",
    )
    storage_backend: StorageBackend = Field(
        default=StorageBackend.LOCAL,
        description="Where blobs live: local (under FILES_ROOT) or s3 (an S3-compatible bucket)",
    )
    s3_bucket: str | None = Field(default=None, description="The bucket (required for s3)")
    s3_prefix: str = Field(
        default="", description="A key prefix inside the bucket, to share it: contentgraph/"
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        description="The S3 API's URL for servers other than AWS (MinIO: http://minio:9000)",
    )
    s3_region: str | None = Field(default=None, description="The bucket's region (us-east-1)")
    s3_access_key_id: str | None = Field(
        default=None, description="Credentials; empty: the AWS chain (AWS_* variables, a role)"
    )
    s3_secret_access_key: SecretStr | None = None
    s3_addressing_style: S3AddressingStyle = Field(
        default=S3AddressingStyle.AUTO,
        description="path (bucket in the path: MinIO and most self-hosted servers), virtual "
        "(bucket in the host name) or auto",
    )
    s3_part_bytes: Annotated[int, Field(ge=5 * 1024 * 1024, le=5 * 1024**3)] = Field(
        default=8 * 1024 * 1024,
        description="Multipart upload part size: each upload holds one part in memory",
    )
    s3_serve: S3Serve = Field(
        default=S3Serve.PROXY,
        description="Restricted files: stream through the server (proxy), or redirect the "
        "client to a presigned GET (redirect)",
    )
    s3_redirect_seconds: Annotated[int, Field(ge=1, le=7 * 24 * 3600)] = Field(
        default=300, description="Lifetime of the presigned URLs of S3_SERVE=redirect"
    )
    var_dir: Path = DEFAULT_VAR_DIR
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    forwarded_allow_ips: str = Field(
        default="127.0.0.1,::1",
        description="Proxies whose X-Forwarded-For and X-Forwarded-Proto are believed: "
        "addresses or networks, comma-separated ('*': any peer)",
    )
    public_url: str | None = Field(
        default=None,
        description="Where clients reach this server (https://api.example.com); file URLs "
        "are absolute under it. Empty: relative URLs (/files/...)",
    )
    log_level: LogLevel = LogLevel.INFO
    log_format: LogFormat = Field(
        default=LogFormat.TEXT,
        description="text: one line per record for people; json: one JSON object per line "
        "for log collectors (ours and uvicorn's alike)",
    )
    secret_key: SecretStr | None = None
    otel_exporter_otlp_traces_endpoint: str = Field(
        default="",
        description="Where to send traces (OTLP over HTTP, e.g. "
        "http://collector:4318/v1/traces): a span per GraphQL operation with its SQL "
        "statements and Redis calls under it. Empty: tracing off, at no cost",
    )
    otel_service_name: str = Field(
        default="contentgraph", description="The service.name traces carry"
    )

    page_size_default: Annotated[int, Field(ge=1, le=1000)] = 20
    page_size_max: Annotated[int, Field(ge=1, le=1000)] = 100
    max_query_depth: Annotated[int, Field(ge=2, le=100)] = 12
    # Parsing and validating cost up to ~31 us a token on the 2-core development machine
    # (bench/hostile.py), plus the collection of what they allocate: 800 tokens keep any
    # document under 50 ms.
    max_query_tokens: Annotated[int, Field(ge=100)] = 800
    max_aliases: Annotated[int, Field(ge=1)] = 50
    max_query_nodes: Annotated[int, Field(ge=1)] = 10_000
    max_query_bytes: Annotated[int, Field(ge=1024)] = Field(
        default=32 * 1024, description="Largest GraphQL document (query text) accepted"
    )
    operation_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description="Queries and subscription events running longer are stopped",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins whose pages may call this server, comma-separated ('*': any)",
    )
    cors_origin_regex: str | None = Field(
        default=None,
        description="Origins matching this pattern may too; default: localhost (embedded only)",
    )
    cors_allow_credentials: bool = False
    cors_max_age: Annotated[int, Field(ge=0, le=86_400)] = 600
    ws_max_connections_per_address: Annotated[int, Field(ge=1)] = 50
    ws_max_anonymous_connections_per_address: Annotated[int, Field(ge=1)] = 10
    ws_max_subscriptions: Annotated[int, Field(ge=1)] = 100
    ws_max_anonymous_subscriptions: Annotated[int, Field(ge=1)] = 10
    ws_per_message_deflate: bool = Field(
        default=False,
        description="Compress websocket messages (permessage-deflate). Off: events are a few "
        "hundred bytes, and compression costs a zlib state per socket and a compression per "
        "subscriber per event",
    )
    graphiql: bool = True
    max_request_bytes: Annotated[int, Field(ge=1024)] = 1024 * 1024
    db_pool_size: Annotated[int, Field(ge=1, le=200)] = 10
    background_pool_size: Annotated[int, Field(ge=1, le=50)] = Field(
        default=2,
        description="Database connections for subscription events and the event relay, "
        "apart from requests' pool: a burst of events never starves a request",
    )
    event_retention: Annotated[int, Field(ge=100, le=10_000_000)] = Field(
        default=10_000, description="Events kept for subscriptions that resume (`after`)"
    )
    event_retention_seconds: Annotated[int, Field(ge=60)] = Field(
        default=24 * 3600, description="...and for at most this long"
    )
    db_echo: bool = False
    db_pgbouncer: bool = Field(
        default=False,
        description="DATABASE_URL leads to PgBouncer in transaction pooling mode: no prepared "
        "statement outlives its transaction (asyncpg's and SQLAlchemy's statement caches off), "
        "and the connection budget is PgBouncer's, not PostgreSQL's",
    )
    viewer_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="How long a resolved session and its scopes are reused (0: every request)",
    )
    compiled_reads: bool = Field(
        default=True,
        description="Answer queries that map onto tables with one SQL statement (PostgreSQL)",
    )

    redis_prefix: str = "cg"
    redis_max_connections: Annotated[int, Field(ge=2, le=10_000)] = 64
    redis_timeout_seconds: float = Field(
        default=0.5,
        gt=0,
        le=10,
        description="A Redis call taking longer fails, and the circuit breaker opens",
    )
    anonymous_read: bool | None = Field(
        default=None,
        description="Let anonymous callers read contacts and albums; default: on only embedded",
    )
    session_idle_seconds: Annotated[int, Field(ge=60)] = 24 * 3600
    session_lifetime_seconds: Annotated[int, Field(ge=60)] = 30 * 24 * 3600
    login_window_seconds: Annotated[int, Field(ge=1)] = 15 * 60
    login_max_failures_per_user: Annotated[int, Field(ge=1)] = 5
    login_max_failures_per_address: Annotated[int, Field(ge=1)] = 20
    login_max_failures_per_username: Annotated[int, Field(ge=1)] = 100
    password_time_cost: Annotated[int, Field(ge=1)] = 3
    password_memory_kib: Annotated[int, Field(ge=8)] = 64 * 1024

    upload_max_file_bytes: Annotated[int, Field(ge=1)] = 25 * 1024 * 1024
    upload_max_files: Annotated[int, Field(ge=1, le=1000)] = 20
    upload_max_request_bytes: Annotated[int, Field(ge=1024)] | None = None
    storage_limits: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description='Per-entity overrides: {"albums.photos": {"max_bytes": N, "max_files": N}}',
    )
    image_max_pixels: Annotated[int, Field(ge=1)] = 50_000_000
    signed_url_ttl_seconds: Annotated[int, Field(ge=60)] = 3600
    gc_grace_seconds: Annotated[int, Field(ge=0)] = 3600
    cache_ttl_seconds: Annotated[int, Field(ge=0)] = Field(
        default=60, description="Row cache lifetime; 0 turns the cache off"
    )

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str) -> str:
        value = value.strip()
        return normalise_database_url(value) if value else ""

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        if not value:
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _check_forwarded_allow_ips(cls, value: str) -> str:
        """Addresses and networks (a typo would silently trust nobody, or the wrong peer)."""
        entries = [entry.strip() for entry in value.split(",") if entry.strip()]
        if entries == ["*"]:
            return "*"
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an address or a network (10.0.0.0/8); '*' trusts any peer"
                ) from None
        return ",".join(entries)

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        """What file URLs are built under: scheme and host, maybe a path prefix (a proxy's
        mount point); no query or fragment, since signed URLs append their own query."""
        value = (value or "").strip()
        if not value:
            return None
        if not _URL_CHARACTERS.fullmatch(value):
            # (also what lets the compiled path splice URLs into JSON without escaping them)
            raise ValueError(
                "must be a URL in ASCII without spaces, quotes or backslashes "
                "(an international domain in its xn-- form)"
            )
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 (raises on a port that is not a number)
        except ValueError:
            raise ValueError("must be an absolute http:// or https:// URL") from None
        if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
            raise ValueError(
                "must be an absolute http:// or https:// URL, like https://example.com"
            )
        if parts.query or parts.fragment or "?" in value or "#" in value:
            raise ValueError("must not have a query or a fragment (? or #)")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not carry credentials: every client would see them")
        return value.rstrip("/")

    @field_validator("storage_limits")
    @classmethod
    def _check_storage_limits(cls, value: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        """A misspelt entity or key would be ignored for good: refuse it like any bad value."""
        entities, keys = ", ".join(sorted(ENTITY_NAMES)), ", ".join(sorted(LIMIT_KEYS))
        for entity, limits in value.items():
            if entity not in ENTITY_NAMES:
                raise ValueError(f"unknown storage entity {entity!r} (there are {entities})")
            for key, limit in limits.items():
                if key not in LIMIT_KEYS:
                    raise ValueError(f"{entity}: unknown limit {key!r} (there are {keys})")
                if limit < 1:
                    raise ValueError(f"{entity}: {key} must be at least 1, not {limit}")
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        """A comma-separated list (or a JSON one); trailing slashes dropped, as browsers send
        an Origin without one."""
        if isinstance(value, str):
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else text.split(",")
        if isinstance(value, list):
            return [str(origin).strip().rstrip("/") for origin in value if str(origin).strip()]
        return value

    @field_validator("cors_origin_regex")
    @classmethod
    def _check_origin_regex(cls, value: str | None) -> str | None:
        if value:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "log_format", "storage_backend", "s3_addressing_style", "s3_serve", mode="before"
    )
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("s3_bucket", "s3_endpoint_url", "s3_region", "s3_access_key_id")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return (value or "").strip() or None

    @field_validator("s3_secret_access_key", mode="before")
    @classmethod
    def _empty_secret_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("s3_endpoint_url")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in {"http", "https"} or not parts.hostname:
                raise ValueError("must be an http:// or https:// URL, like http://minio:9000")
        return value

    @field_validator("s3_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        """Keys go under it: no leading slash, one trailing slash (added when missing)."""
        value = value.strip().strip("/")
        if any(part in {"", ".", "..", ".tmp"} for part in value.split("/")) and value:
            raise ValueError("must be path segments like contentgraph/ (no empty, . or ..)")
        return f"{value}/" if value else ""

    @model_validator(mode="after")
    def _page_sizes_agree(self) -> Settings:
        if self.page_size_default > self.page_size_max:
            raise ValueError("PAGE_SIZE_DEFAULT must not exceed PAGE_SIZE_MAX")
        return self

    @model_validator(mode="after")
    def _no_wildcard_with_credentials(self) -> Settings:
        if self.cors_allow_credentials and "*" in self.cors_origins:
            raise ValueError(
                "CORS_ORIGINS '*' cannot go with CORS_ALLOW_CREDENTIALS: any site could then "
                "act with its visitors' credentials; list the origins instead"
            )
        return self

    @model_validator(mode="after")
    def _s3_is_complete(self) -> Settings:
        if self.storage_backend is StorageBackend.S3 and not self.s3_bucket:
            raise ValueError("STORAGE_BACKEND=s3 needs S3_BUCKET")
        if (self.s3_access_key_id is None) != (self.s3_secret_access_key is None):
            raise ValueError(
                "S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together (or leave both empty "
                "for the AWS credential chain)"
            )
        return self

    @property
    def is_embedded(self) -> bool:
        """True when running on the embedded SQLite default (no DATABASE_URL given)."""
        return not self.database_url

    @property
    def multipart_max_bytes(self) -> int:
        """The largest multipart request: every file at its largest, plus the JSON parts."""
        if self.upload_max_request_bytes is not None:
            return self.upload_max_request_bytes
        largest = max(
            [self.upload_max_file_bytes]
            + [limits.get("max_bytes", 0) for limits in self.storage_limits.values()]
        )
        most = max(
            [self.upload_max_files]
            + [limits.get("max_files", 0) for limits in self.storage_limits.values()]
        )
        return largest * most + self.max_request_bytes

    @property
    def allows_anonymous_read(self) -> bool:
        return self.is_embedded if self.anonymous_read is None else self.anonymous_read

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.var_dir / 'contentgraph.db').as_posix()}"

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")

    def secret(self) -> str:
        """The signing key; generated once and kept under var/ for the embedded default."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        if not self.is_embedded:
            raise ConfigurationError("SECRET_KEY must be set when DATABASE_URL is set")
        path = self.var_dir / SECRET_KEY_FILE
        if path.exists():
            return path.read_text().strip()
        self.var_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
        return key


def _where(location: tuple[int | str, ...]) -> str:
    """``STORAGE_LIMITS.albums.photos.max_bytes``: the variable as it is set, keys as written."""
    if not location:
        return "settings"
    name, *keys = (str(part) for part in location)
    return ".".join([name.upper(), *keys])


def load_settings(**overrides: object) -> Settings:
    """Read the environment; turn pydantic's report into one line a human can act on."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"{_where(err['loc'])}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise ConfigurationError(f"invalid configuration: {problems}") from None
    except SettingsError as exc:  # a JSON-valued variable (STORAGE_LIMITS) that is not JSON
        field = re.search(r'field "(\w+)"', str(exc))
        name = field.group(1).upper() if field else "settings"
        raise ConfigurationError(f"invalid configuration: {name}: not valid JSON") from None
    if settings.secret_key is not None and len(settings.secret_key.get_secret_value()) < 32:
        raise ConfigurationError("invalid configuration: SECRET_KEY: use at least 32 characters")
    return settings
