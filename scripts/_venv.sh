# Sourced by scripts/*: make ./.venv (Python >= 3.11) and install kibitz with its dev extras into it,
# again only when pyproject.toml changed since the last install.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "kibitz needs Python 3.11 or newer (found: $("$python" --version 2>&1))" >&2; exit 1; }
  "$python" -m venv .venv
fi
stamp=.venv/.kibitz-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[dev]"
  touch "$stamp"
fi
export PATH="$root/.venv/bin:$PATH"
