#!/usr/bin/env bash
# Check that the project installs as a package: a fresh virtualenv outside the checkout,
# `pip install .` (not editable), then, from another directory, the `arena` command and the
# app's pages, templates and static files as the installed package finds them.
#
#   scripts/ci/check-install.sh [pip options]      e.g. scripts/ci/check-install.sh --quiet
#
# The interpreter is $PYTHON, else python3. The source is copied first (without .venv/,
# instance/ and build leftovers), so the build writes nothing into the checkout and sees no
# stale build/ folder. pip's cache is used as usual, so the runtime wheels are not downloaded
# again. Everything lives in one temporary folder, removed at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-python3}"

work="$(mktemp -d "${TMPDIR:-/tmp}/arena-install.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir "$work/src" "$work/elsewhere"
tar --exclude=./.git --exclude=./.venv --exclude=./instance --exclude=./test-artifacts \
    --exclude=./build --exclude=./dist --exclude='*.egg-info' --exclude=__pycache__ \
    --exclude=./.hypothesis --exclude=./.pytest_cache --exclude=./.ruff_cache \
    --exclude=./.mypy_cache -cf - . | tar -xf - -C "$work/src"

"$PYTHON" -m venv "$work/venv"
(cd "$work/src" && "$work/venv/bin/pip" install --disable-pip-version-check "$@" .)

# From another directory, with no ARENA_* setting of the caller's and a fresh instance folder.
cd "$work/elsewhere"
while IFS= read -r name; do unset "$name"; done < <(compgen -e | grep '^ARENA_' || true)
"$work/venv/bin/python" -c '
import sys
from arena import create_app
path, expected = create_app().instance_path, sys.prefix + "/var/arena-instance"
assert path == expected, f"the default instance folder is {path}, not {expected}"
'
export ARENA_INSTANCE_PATH="$work/instance"

help="$("$work/venv/bin/arena" --help)"
for command in run worker pregenerate models db doctor demo; do
    grep -qE "^  $command( |$)" <<<"$help" || { echo "arena --help lists no '$command'" >&2; exit 1; }
done
"$work/venv/bin/arena" db --help >/dev/null
if [[ -e "$work/instance/arena.db" ]]; then
    echo "arena --help created a database" >&2
    exit 1
fi
echo "arena --help: every command listed, no database touched"

"$work/venv/bin/python" - "$work/src" <<'PY'
"""The installed app, on a fresh instance: pages from its templates, files from its static."""

import sys
from pathlib import Path

import arena
from arena import create_app

source = Path(sys.argv[1])
site = Path(sys.prefix).resolve()
package = Path(arena.__file__).resolve().parent
assert package.is_relative_to(site), f"arena imported from {package}, not from {site}"

app = create_app()
for folder in (app.template_folder, app.static_folder):
    assert folder and Path(folder).is_relative_to(package), f"{folder} is not in {package}"

client = app.test_client()
pages = {
    "/": "No battle to show right now",
    "/leaderboard": "<h1>Leaderboard</h1>",
    "/charts": "<h1>Charts</h1>",
}
for url, text in pages.items():
    response = client.get(url)
    body = response.get_data(as_text=True)
    assert response.status_code == 200, f"GET {url}: {response.status_code}"
    assert text in body and "GPU-Poor Arena</title>" in body, f"GET {url}: not the real page"
    print(f"GET {url}: 200, {len(body)} characters")
for name in ("style.css", "battle.js", "favicon.svg"):
    response = client.get(f"/static/{name}")
    assert response.status_code == 200, f"GET /static/{name}: {response.status_code}"
    assert response.data == (source / "static" / name).read_bytes(), f"{name} differs"
    response.close()
    print(f"GET /static/{name}: 200, {len(response.data)} bytes, the repository's file")

# The first request migrated the database (arena/migrations/) and loaded the prompt bank
# (arena/data/prompts.jsonl): both are package data.
with app.app_context():
    from arena.extensions import db
    from arena.models import Prompt

    prompts = db.session.query(Prompt).count()
assert prompts > 0, "no prompt loaded from arena/data/prompts.jsonl"
print(f"migrations ran and {prompts} prompts were loaded, from the installed package")
PY
echo "check-install: OK (pip install . in a fresh virtualenv)"
