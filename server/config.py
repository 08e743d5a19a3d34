"""Configuration read from the environment, with defaults that run on a laptop.

Every variable is listed in README.md ("Configuration"). Nothing here connects
to anything: reading the configuration has no side effects beyond creating the
data directory and, on first run, a persisted secret key inside it.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw not in (None, "") else default


def _persisted_secret(data_dir: Path) -> str:
    """A random secret kept in DATA_DIR so restarts keep sessions valid."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(48)
    path.write_text(value)
    path.chmod(0o600)
    return value


def _persisted_secrets_key(data_dir: Path) -> str:
    """The key that seals stored integration secrets (webhook secrets, CRM
    tokens) when SECRETS_KEY is not set: random, kept in DATA_DIR."""
    path = data_dir / "secrets_key"
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(32)
    path.write_text(value)
    path.chmod(0o600)
    return value


def load_config() -> dict:
    """Build the Flask configuration mapping from environment variables."""
    env = os.environ
    data_dir = Path(env.get("DATA_DIR", "instance")).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    app_env = env.get("APP_ENV", "development")
    database_url = env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'app.db'}"
    if database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgres://"):]
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]
    return {
        "APP_ENV": app_env,
        "DATA_DIR": str(data_dir),
        "SECRET_KEY": env.get("SECRET_KEY") or _persisted_secret(data_dir),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": env.get("REDIS_URL") or None,
        "SMTP_URL": env.get("SMTP_URL") or None,
        "MAIL_FROM": env.get("MAIL_FROM", "CallSync <no-reply@localhost>"),
        "OUTBOX_DIR": env.get("OUTBOX_DIR") or str(data_dir / "outbox"),
        "PUBLIC_BASE_URL": env.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000"),
        "INVITE_TTL_HOURS": _int("INVITE_TTL_HOURS", 72),
        "LOGIN_MAX_FAILURES": _int("LOGIN_MAX_FAILURES", 5),
        "LOGIN_MAX_FAILURES_PER_ADDRESS": _int("LOGIN_MAX_FAILURES_PER_ADDRESS", 30),
        "LOGIN_WINDOW_S": _int("LOGIN_WINDOW_S", 900),
        # How long a request waits for the embedded SQLite file's write lock
        # before it is answered 503 with Retry-After.
        "SQLITE_BUSY_TIMEOUT_MS": _int("SQLITE_BUSY_TIMEOUT_MS", 30_000),
        "MAX_CONTENT_LENGTH": _int("MAX_BODY_BYTES", 2 * 1024 * 1024),
        "CSV_IMPORT_MAX_BYTES": _int("CSV_IMPORT_MAX_BYTES", 64 * 1024 * 1024),
        "CSV_IMPORT_WORKERS": _int("CSV_IMPORT_WORKERS", 0) or None,
        "TRIAL_DAYS": _int("TRIAL_DAYS", 30),
        "FCM_CREDENTIALS": env.get("FCM_CREDENTIALS") or None,
        "FCM_PROJECT_ID": env.get("FCM_PROJECT_ID") or None,
        "FCM_URL": env.get("FCM_URL") or None,
        # Threads per web process that send ringing pushes right after the
        # commit (with Redis; 0: every push goes through RQ).
        "PUSH_DISPATCH_THREADS": _int("PUSH_DISPATCH_THREADS", 2),
        # Access events handed to a writer thread instead of pushed to Redis
        # inside the request (with Redis; see server/audit.py).
        "AUDIT_WRITE_BEHIND": _bool(env.get("AUDIT_WRITE_BEHIND"), app_env == "production"),
        "LOG_LEVEL": env.get("LOG_LEVEL", "INFO"),
        "TRUST_PROXY": _bool(env.get("TRUST_PROXY")),
        "HASH_KEY": env.get("HASH_KEY") or None,
        # Bearer token for GET /metrics. Unset: open in development, 404 in production.
        "METRICS_TOKEN": env.get("METRICS_TOKEN") or None,
        # Seals webhook secrets and CRM tokens at rest (any string; a Fernet key is derived from it).
        "SECRETS_KEY": env.get("SECRETS_KEY") or _persisted_secrets_key(data_dir),
        # Webhook URLs may resolve to loopback (development and tests only; private addresses never).
        "WEBHOOK_ALLOW_LOOPBACK": _bool(env.get("WEBHOOK_ALLOW_LOOPBACK")),
        "WEBHOOK_CONNECT_TIMEOUT_S": float(env.get("WEBHOOK_CONNECT_TIMEOUT_S") or 5),
        "WEBHOOK_TIMEOUT_S": float(env.get("WEBHOOK_TIMEOUT_S") or 15),
        # CRM connectors: each CRM's API (a fake on 127.0.0.1 in tests) and the timeout of one request.
        "HUBSPOT_API_URL": env.get("HUBSPOT_API_URL") or "https://api.hubapi.com",
        "PIPEDRIVE_API_URL": env.get("PIPEDRIVE_API_URL") or "https://api.pipedrive.com",
        "CRM_TIMEOUT_S": float(env.get("CRM_TIMEOUT_S") or 15),
        "JSON_SORT_KEYS": False,
    }


def is_production(config) -> bool:
    return config.get("APP_ENV") == "production"
