#!/usr/bin/env bash
# Prepare .venv/ at the repository root with ecomdesk installed (editable), ready to run.
#
#   packaging/setup-venv.sh          the app
#   packaging/setup-venv.sh --dev    the app plus the test, lint, type-check and bundling tools
#   packaging/setup-venv.sh --bundle the app plus PyInstaller (what packaging/build-linux.sh uses)
#
# Safe to run again. When a display is present on Debian or Ubuntu
# it also installs the few X11 libraries Qt needs to open a window, if they are missing (as root,
# or through sudo when that needs no password); otherwise it prints the command to run.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
case "${1:-}" in
  --dev) extras="[dev]" ;;
  --bundle) extras="[bundle]" ;;
  "") ;;
  *) echo "setup-venv.sh: unknown option $1 (use --dev or --bundle)" >&2; exit 2 ;;
esac
python="${PYTHON:-python3}"

if ! "$python" -c 'import sys; raise SystemExit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "ecomdesk needs Python 3.11 or newer as '$python' (set PYTHON=/path/to/python3.11)." >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".$extras"

# Qt's X11 platform plugin loads a few libraries at run time that minimal systems lack. The app
# itself knows which (ecomdesk.ui.app.missing_x11_packages); ask it rather than keep a second list.
if [ -n "${DISPLAY:-}" ] && command -v apt-get >/dev/null 2>&1; then
  read -r -a need <<<"$(.venv/bin/python -c \
    'from ecomdesk.ui.app import missing_x11_packages; print(" ".join(missing_x11_packages()))')"
  if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
    echo "Installing the X11 libraries Qt needs to open a window: ${need[*]}" >&2
    if ! { $sudo apt-get install -y -q "${need[@]}" >/dev/null 2>&1 ||
           { $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q "${need[@]}" >/dev/null 2>&1; }; }; then
      echo "Could not install them; please run: sudo apt-get install ${need[*]}" >&2
    fi
  fi
fi
