#!/usr/bin/env bash
# Create or refresh the project environment in .venv/ (idempotent: a ready .venv returns in seconds).
# Usage: scripts/bootstrap.sh        -> prints the path of the venv's python on the last line
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
stamp="$venv/.lava-ternary-ready"
want="$(cat "$root/requirements/lock.txt" "$root/requirements/lava.txt" "$root/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
  exit 0
fi
py="${PYTHON:-python3.11}"
command -v "$py" >/dev/null 2>&1 || py=python3
echo "bootstrap: creating $venv with $("$py" --version)" >&2
[ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
"${pip[@]}" install -r "$root/requirements/lock.txt"
"${pip[@]}" install --no-deps --ignore-requires-python -r "$root/requirements/lava.txt"
"${pip[@]}" install --no-deps --no-build-isolation -e "$root" 2>/dev/null || "${pip[@]}" install --no-deps -e "$root"
"$venv/bin/python" -m lava_ternary.compat --install-pth >&2
"$venv/bin/python" -c "import lava_ternary, lava.magma.compiler.var_model, lava.lib.dl.slayer, lava.lib.dl.netx" >&2
echo "$want" > "$stamp"
echo "bootstrap: ready" >&2
