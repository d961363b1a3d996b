"""Flask extensions, created unbound and attached to the app in ``create_app``."""

from collections.abc import Mapping
from typing import Any

from flask import current_app
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from arena.backends import Backend

# Named constraints, so Alembic migrations can alter them on SQLite and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()


def get_backend() -> Backend:
    """The current app's LLM backend client, created on first use from its configuration."""
    backend = current_app.extensions.get("arena_backend")
    if backend is None:
        backend = _ollama_client(current_app.config)
        current_app.extensions["arena_backend"] = backend
    return backend


def probe_backend() -> str | None:
    """None when the backend answers at once, else what is wrong (one try, short timeouts).

    For pages that must answer quickly: the regular client retries with backoff.
    """
    from arena.backends import BackendError

    client = _ollama_client(current_app.config, quick=True)
    try:
        client.version()
    except BackendError as error:
        return str(error)
    return None


def _ollama_client(config: Mapping[str, Any], quick: bool = False) -> Backend:
    from arena.backends.ollama import OllamaClient

    return OllamaClient(
        config["OLLAMA_URL"],
        api_key=config.get("OLLAMA_API_KEY") or None,
        connect_timeout=1.0 if quick else float(config["OLLAMA_CONNECT_TIMEOUT"]),
        read_timeout=2.0 if quick else float(config["OLLAMA_READ_TIMEOUT"]),
        retries=0 if quick else int(config["OLLAMA_RETRIES"]),
        backoff=float(config["OLLAMA_BACKOFF"]),
    )
