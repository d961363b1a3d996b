"""A request body beyond MAX_CONTENT_LENGTH gets a 413 (JSON or HTML, as every error) before
it is read; the longest prompt still fits the default."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from arena.extensions import db
from tests.support.app import make_app

HUGE = 200 * 1024 * 1024


class Endless:
    """A request body of ``size`` bytes made on demand (never held), counting what is read."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.position = 0
        self.read_bytes = 0

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = offset + (self.size if whence == 2 else 0)
        return self.position

    def read(self, n: int = -1) -> bytes:
        left = self.size - self.position
        n = left if n < 0 else min(n, left)
        self.position += n
        self.read_bytes += n
        return b"a" * n

    def readline(self, n: int = -1) -> bytes:
        return self.read(n if 0 <= n < 65536 else 65536)


@pytest.fixture
def app(tmp_path: Path, nothing_listens: str) -> Iterator[Flask]:
    app = make_app(tmp_path / "instance", nothing_listens, ADMIN_TOKEN="t0ken-for-tests")
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/ask", {}),
        ("/vote", {"Accept": "application/json"}),
        ("/admin/prompts", {"Authorization": "Bearer t0ken-for-tests"}),
    ],
)
def test_a_200_mb_post_is_refused_without_being_read(
    app: Flask, path: str, headers: dict[str, str]
) -> None:
    body = Endless(HUGE)
    response = app.test_client().post(
        path,
        input_stream=body,  # its length (200 MB) is the Content-Length sent
        content_type="application/x-www-form-urlencoded",
        headers=headers,
    )
    assert response.status_code == 413
    assert body.read_bytes == 0
    if headers.get("Accept") == "application/json":
        assert response.get_json() == {
            "error": "Request Entity Too Large",
            "message": response.get_json()["message"],
            "status": 413,
        }
    else:
        assert "Too Large" in response.get_data(as_text=True)


def test_the_limit_is_a_setting_and_the_longest_prompt_fits_the_default(
    app: Flask, tmp_path: Path, nothing_listens: str
) -> None:
    assert app.config["MAX_CONTENT_LENGTH"] == 64 * 1024
    longest = "😀" * app.config["PROMPT_MAX_CHARS"]  # 12 bytes a character once form-encoded
    fits = app.test_client().post("/ask", data={"prompt": longest})
    assert fits.status_code != 413
    small = make_app(tmp_path / "small", nothing_listens, MAX_CONTENT_LENGTH=2048)
    try:
        too_long = small.test_client().post("/ask", data={"prompt": "x" * 3000})
        assert too_long.status_code == 413
    finally:
        with small.app_context():
            db.engine.dispose()
