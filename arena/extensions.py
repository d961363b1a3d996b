"""Flask extensions, created unbound and attached to the app in ``create_app``."""

from typing import TYPE_CHECKING

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

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

# The base class of every table. At run time it is ``db.Model``: ``Base`` plus Flask-SQLAlchemy's
# mixins (a ``__tablename__`` from the class name, the bind key). A type checker cannot follow a
# class built at run time (``class Vote(db.Model)`` is "not defined" to mypy), so to it the
# tables derive from ``Base``, whose typed ``Mapped`` attributes and ``__init__`` they share.
if TYPE_CHECKING:
    DbModel = Base
else:
    DbModel = db.Model
migrate = Migrate()
csrf = CSRFProtect()
