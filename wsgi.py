"""WSGI entry point: ``gunicorn wsgi:app``."""

from arena import create_app
from arena.ops import nodes
from arena.ops.setup import ensure_database

app = create_app()
# Migrations and the prompt bank before gunicorn forks its workers (preload_app): a wrong
# database stops the start here instead of failing the first visitors.
ensure_database(app)
# This web node records itself; when other live nodes serve the same database while limits
# are counted per node (no RATELIMIT_STORAGE_URI=redis://...), it says so now, in the log.
nodes.announce(app)
