#!/usr/bin/env bash
# Regenerates the hash-pinned requirements/*.txt from requirements/*.in with pip-compile (in a
# throwaway venv), keeping the versions already pinned; `bash requirements/lock.sh --upgrade`
# moves every package to its newest release. Every file of a pinned version is hashed (all
# platforms), so that `pip install --require-hashes` picks the same version anywhere.
# tests.txt is compiled under build.txt's pins, since both go into the one venv.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q pip-tools
export PIP_FIND_LINKS="" CUSTOM_COMPILE_COMMAND="bash requirements/lock.sh"
compile() {
  "$tmp/venv/bin/pip-compile" -q --generate-hashes --allow-unsafe --strip-extras \
    --no-emit-find-links --annotation-style line "$@"
}
compile "$@" -o requirements/build.txt requirements/build.in
compile "$@" -o requirements/model.txt requirements/model.in
compile "$@" -c requirements/build.txt -o requirements/tests.txt requirements/tests.in
