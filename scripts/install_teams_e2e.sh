#!/usr/bin/env bash
# Installs what `make e2e-teams` needs, idempotently, from package registries only:
#   - Debian Chromium (/usr/bin/chromium) via apt, only when it is missing, with --no-install-recommends (the
#     browser and the libraries it needs: no avahi, CUPS or printer tools);
#   - the Microsoft 365 Agents Playground (npm) into .e2e/ inside the repo (gitignored);
#   - the Playwright Python package into the venv (never `playwright install`: Debian's browser is used).
set -euo pipefail
cd "$(dirname "$0")/.."

PLAYGROUND_VERSION="${PLAYGROUND_VERSION:-0.2.28}"
E2E_DIR="${E2E_DIR:-.e2e}"
VENV_BIN="${VENV_BIN:-.venv/bin}"

if [ ! -x /usr/bin/chromium ]; then
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends chromium
else
  echo "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo present)"
fi

command -v npm >/dev/null 2>&1 || { echo "npm is required (apt-get install -y nodejs npm)" >&2; exit 1; }
mkdir -p "$E2E_DIR"
PKG_JSON="$E2E_DIR/node_modules/@microsoft/m365agentsplayground/package.json"
if [ -f "$PKG_JSON" ] && grep -q "\"version\": \"$PLAYGROUND_VERSION\"" "$PKG_JSON"; then
  echo "agents playground $PLAYGROUND_VERSION: present"
else
  [ -f "$E2E_DIR/package.json" ] || echo '{"name": "parley-e2e", "private": true}' > "$E2E_DIR/package.json"
  (cd "$E2E_DIR" && npm install --no-save --no-audit --no-fund "@microsoft/m365agentsplayground@$PLAYGROUND_VERSION")
fi

if "$VENV_BIN/python" -c "import playwright" 2>/dev/null; then
  echo "playwright (python): present"
else
  "$VENV_BIN/pip" install --quiet -c constraints.txt 'playwright>=1.40,<2' 
fi
