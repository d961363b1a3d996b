"""deploy/nginx-arena.conf's /_exports/ location with a real nginx in front of gunicorn.

The location block is read from the deployment file itself (its alias pointed at this test's
instance), inside a minimal server that proxies the rest to gunicorn. Skipped when nginx is
not installed (``ARENA_TEST_NGINX`` may name its binary).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from flask import Flask

from arena import PROJECT_ROOT
from tests.support.leaderboard_data import add_models, add_votes
from tests.support.live_server import free_port, gunicorn

NGINX = os.environ.get("ARENA_TEST_NGINX") or shutil.which("nginx")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not NGINX, reason="nginx is not installed")]


def exports_location(instance: Path) -> str:
    """The deployment's ``location /_exports/`` block, its alias on ``instance``."""
    text = (PROJECT_ROOT / "deploy" / "nginx-arena.conf").read_text()
    match = re.search(r"\n    location /_exports/ \{\n.*?\n    \}\n", text, re.S)
    assert match, "deploy/nginx-arena.conf has no location /_exports/"
    block, count = re.subn(r"alias [^;]+;", f"alias {instance}/exports/;", match.group(0))
    assert count == 1
    return block


@contextmanager
def nginx(folder: Path, upstream: str, location: str) -> Iterator[str]:
    port = free_port()
    temp = {name: folder / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir(parents=True, exist_ok=True)
    user = "user root;" if os.geteuid() == 0 else ""
    config = folder / "nginx.conf"
    config.write_text(
        f"""{user}
daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{}}
http {{
    types {{ text/csv csv; application/x-ndjson jsonl; }}
    access_log off;
    client_body_temp_path {temp["client_body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass {upstream};
            proxy_set_header Host $host;
        }}
{location}
    }}
}}
"""
    )
    assert NGINX is not None
    process = subprocess.Popen([NGINX, "-c", str(config), "-p", str(folder)])
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(url + "/static/style.css", timeout=2)
                break
            except requests.ConnectionError:
                assert process.poll() is None, (folder / "error.log").read_text()
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def test_nginx_sends_the_file_with_the_apps_headers(app: Flask, tmp_path: Path) -> None:
    add_models(app, {"alpha:1b": 1.0, "beta:3b": 3.0})
    add_votes(app, [("alpha:1b", "beta:3b", ("a", "b")[n % 2]) for n in range(30)])
    instance = Path(app.instance_path)
    env = {"ARENA_EXPORTS_ACCEL_REDIRECT": "/_exports/", "ARENA_EXPORTS_STREAM_MAX_ROWS": "10"}
    with (
        gunicorn(instance, "http://127.0.0.1:9", workers=2, env=env) as upstream,
        nginx(tmp_path / "nginx", upstream, exports_location(instance)) as base,
    ):
        url = base + "/api/votes.csv"
        headers = {"Origin": "https://notebook.example"}
        response = requests.get(url, headers=headers, timeout=30)
        for _ in range(60):
            if response.status_code != 202:
                break
            time.sleep(float(response.headers["Retry-After"]))
            response = requests.get(url, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        (file,) = (instance / "exports").glob("votes-*.csv")
        assert response.content == file.read_bytes()
        assert response.headers["Content-Length"] == str(file.stat().st_size)
        assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert response.headers["Content-Disposition"] == "attachment; filename=votes.csv"
        assert response.headers["Cache-Control"] == "no-cache"
        tag = response.headers["ETag"]
        assert tag.strip('"') in file.name  # the app's tag, not nginx's own
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "X-Next-After" in response.headers["Access-Control-Expose-Headers"]
        assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert "X-Accel-Redirect" not in response.headers
        assert requests.get(url, headers={"If-None-Match": tag}, timeout=30).status_code == 304
        part = requests.get(url, headers={"Range": "bytes=5-24"}, timeout=30)
        assert part.status_code == 206 and part.content == file.read_bytes()[5:25]
        direct = requests.get(f"{base}/_exports/{file.name}", timeout=30)
        assert direct.status_code == 404  # internal: only through the app
