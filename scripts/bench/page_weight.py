"""Weight of the charts page: ``/charts`` and every file it references, raw and gzip-compressed.

Run from the project root (builds a throw-away instance with a small generated pool):

    .venv/bin/python scripts/bench/page_weight.py [--models 12] [--votes 600]
        [--old-bundle PATH] [--gzip-level 1]

Serves the app in-process, fetches ``/charts`` and every ``<script src>`` and ``<link href>``
(stylesheet, icon) it names, and sums their bytes as sent (raw) and gzip-compressed, as nginx
would send them (``deploy/nginx-arena.conf``: ``gzip on`` for HTML, CSS, JavaScript and SVG, at
nginx's default ``gzip_comp_level`` 1). Prints the page with the Plotly bundle it serves, then the
same page with the old bundle in its place: by default the full plotly.js that the Python
``plotly`` package ships (``plotly/package_data/plotly.min.js``, byte for byte the file
``static/vendor/`` served before the partial bundle), or ``--old-bundle`` (say, the
``plotly.min.js`` of ``npm pack plotly.js-dist-min@<version>``). Both totals come from the same
run, so their ratio is measured, not remembered.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import gzip  # noqa: E402
import random  # noqa: E402
import tempfile  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import timedelta  # noqa: E402

import plotly  # noqa: E402
from flask import Flask  # noqa: E402
from flask.testing import FlaskClient  # noqa: E402

from arena import create_app  # noqa: E402
from arena.extensions import db  # noqa: E402
from arena.ops.setup import ensure_database  # noqa: E402
from tests.support.html_checks import start_tags  # noqa: E402
from tests.support.leaderboard_data import add_models, add_votes  # noqa: E402

INSTALLED_BUNDLE = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
#: The static path of the Plotly bundle, whichever one the page names.
BUNDLE_PREFIX = "/static/vendor/plotly"
OUTCOMES = ("a", "a", "b", "b", "tie", "both_bad")
SIZES = (0.5, 1.0, 1.5, 3.0, 4.0, 7.0, 8.0, 9.0)


@dataclass
class Asset:
    path: str
    body: bytes
    gzip_level: int

    @property
    def raw(self) -> int:
        return len(self.body)

    @property
    def compressed(self) -> int:
        return len(gzip.compress(self.body, compresslevel=self.gzip_level, mtime=0))


def pool(instance: Path, models: int, votes: int) -> Flask:
    """The app on a fresh instance: ``models`` models of 0.5-9B and ``votes`` random votes."""
    app = create_app({"INSTANCE_PATH": str(instance), "OLLAMA_URL": "http://127.0.0.1:9"})
    ensure_database(app)
    tags = [f"model-{i:02d}:{SIZES[i % len(SIZES)]:g}b" for i in range(models)]
    add_models(app, {tag: SIZES[i % len(SIZES)] for i, tag in enumerate(tags)})
    rng = random.Random(1)
    pairs = [rng.sample(tags, 2) for _ in range(votes)]
    add_votes(app, [(a, b, rng.choice(OUTCOMES)) for a, b in pairs], step=timedelta(minutes=7))
    return app


def referenced(html: str) -> list[str]:
    """The local URLs of every script and linked file (stylesheet, icon) of a page, in order."""
    attribute = {"script": "src", "link": "href"}
    urls = []
    for tag, attrs in start_tags(html):
        url = dict(attrs).get(attribute[tag]) if tag in attribute else None
        if url and url.startswith("/"):
            urls.append(url)
    return urls


def fetch(client: FlaskClient, url: str, gzip_level: int) -> Asset:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    body = response.get_data()
    response.close()
    return Asset(url.split("?", 1)[0], body, gzip_level)


def report(title: str, assets: list[Asset]) -> tuple[int, int]:
    print(title)
    for asset in assets:
        print(f"  {asset.path:<44} {asset.raw:>11,} B {asset.compressed:>11,} B")
    raw, compressed = sum(a.raw for a in assets), sum(a.compressed for a in assets)
    print(f"  {'total':<44} {raw:>11,} B {compressed:>11,} B")
    return raw, compressed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=12)
    parser.add_argument("--votes", type=int, default=600)
    parser.add_argument(
        "--old-bundle",
        type=Path,
        default=INSTALLED_BUNDLE,
        help="the full plotly.js to compare with (default: the Python plotly package's copy)",
    )
    parser.add_argument("--gzip-level", type=int, default=1, help="nginx's gzip_comp_level")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        app = pool(Path(folder), args.models, args.votes)
        client = app.test_client()
        page = fetch(client, "/charts", args.gzip_level)
        html = page.body.decode()
        assert 'type="application/json"' in html, "the page drew no chart"
        assets = [page] + [fetch(client, url, args.gzip_level) for url in referenced(html)]
        with app.app_context():
            db.engine.dispose()
    bundles = [a for a in assets if a.path.startswith(BUNDLE_PREFIX)]
    assert len(bundles) == 1, f"expected one Plotly bundle, found {[a.path for a in bundles]}"
    old_body = args.old_bundle.read_bytes()
    old = Asset(f"{args.old_bundle.name} (--old-bundle)", old_body, args.gzip_level)
    before = [old if a is bundles[0] else a for a in assets]
    print(
        f"/charts with {args.models} models and {args.votes} votes, the files it references; "
        f"bytes raw and gzip -{args.gzip_level}:"
    )
    new_raw, new_gz = report(f"now, {bundles[0].path}:", assets)
    shown = args.old_bundle.resolve()
    shown = shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown
    old_raw, old_gz = report(f"before, the full bundle {shown}:", before)
    print(
        f"now / before: raw {new_raw / old_raw:.1%} ({(old_raw - new_raw) / 1e6:.2f} MB less), "
        f"gzip {new_gz / old_gz:.1%} ({(old_gz - new_gz) / 1e6:.2f} MB less)"
    )


if __name__ == "__main__":
    main()
