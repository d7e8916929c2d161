#!/usr/bin/env bash
# Installs the Debian packages grantflow needs, only those missing. Safe to run again.
#   graphviz              `grantflow diagram --format svg|png`
#   fonts-wqy-microhei    Chinese glyphs in PDFs (without it WeasyPrint prints garbage, silently)
#   fonts-noto-cjk        the fonts of published documents: Noto Serif/Sans CJK SC (Song and Hei styles, real bold)
#   libharfbuzz-subset0   fast font subsetting for WeasyPrint
#   poppler-utils         pdftoppm: the tests render page one of generated PDFs to PNG
#   postgresql            the PostgreSQL tests start their own server from these binaries
#   chromium              browser tests (Playwright drives the system Chromium)
set -euo pipefail
want=(graphviz fonts-wqy-microhei fonts-noto-cjk libharfbuzz-subset0 poppler-utils postgresql chromium)
if [ "${GRANTFLOW_SKIP_SYSTEM_DEPS:-}" = "1" ]; then exit 0; fi
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: apt-get not found; please install: ${missing[*]}" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "system-deps: not root and no sudo; please install: ${missing[*]}" >&2
    exit 0
  fi
fi
echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
