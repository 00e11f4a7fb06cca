#!/usr/bin/env bash
# Install what hotline needs on a Debian machine with Python 3.11+, into ./.venv.
#   scripts/setup.sh          the service (run command)
#   scripts/setup.sh test     plus what the test suite needs (PostgreSQL, Chromium, ...)
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want="${1:-run}"

need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1; }
# audio tools: prompts are rendered with espeak-ng and converted with ffmpeg/sox (pydub)
have espeak-ng || need_pkgs+=(espeak-ng)
have ffmpeg || need_pkgs+=(ffmpeg)
have sox || need_pkgs+=(sox)
if [ "$want" = test ]; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_pkgs+=(postgresql)
  have chromium || need_pkgs+=(chromium)
  # Chinese glyphs for the browser tests' screenshots (headless Chromium has no CJK font)
  [ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need_pkgs+=(fonts-wqy-microhei)
fi

if [ "${#need_pkgs[@]}" -gt 0 ]; then
  echo "== installing Debian packages: ${need_pkgs[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  # The Debian package starts a cluster of its own; the tests start their own server.
  if [[ " ${need_pkgs[*]} " == *" postgresql "* ]]; then
    $SUDO service postgresql stop >/dev/null 2>&1 || true
  fi
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PY" -m venv .venv
fi
extra=""
[ "$want" = test ] && extra="[test]"
stamp=".venv/.installed-${want}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "== installing hotline${extra} into .venv"
  .venv/bin/pip install -q --disable-pip-version-check -e ".${extra}" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import hotline" # fail here, not later, if the install broke
  touch "$stamp"
fi
