"""gunicorn settings for GPU-Poor Arena: ``gunicorn wsgi:app`` reads this file.

Every value can be overridden on the command line or with GUNICORN_CMD_ARGS. Web workers only
serve stored answers (no generation happens in a request), so requests are short and a few
synchronous workers per core are plenty.
"""

import multiprocessing
import os

bind = os.environ.get("ARENA_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("ARENA_WEB_WORKERS", max(2, min(4, multiprocessing.cpu_count() * 2))))
worker_class = "sync"
# A request never waits on a model; anything slower than this is a fault worth a restart.
timeout = 30
graceful_timeout = 20
keepalive = 5
# Recycle workers now and then so a slow leak can never grow without bound.
max_requests = 5000
max_requests_jitter = 500
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("ARENA_LOG_LEVEL", "info")
# Migrations and the instance's secret key are prepared once, before the workers fork.
preload_app = True
