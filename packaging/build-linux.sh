#!/usr/bin/env bash
# Build the Linux app: a one-folder bundle that runs without Python, with its desktop entry,
# AppStream metainfo and icons, validated, plus a tarball to hand out.
#
#   packaging/build-linux.sh [--out DIR] [--work DIR] [--no-setup] [--no-tarball]
#
# Output: dist/ecomdesk/ (run dist/ecomdesk/ecomdesk; install with dist/ecomdesk/install.sh)
#         dist/ecomdesk-<version>-linux-<arch>.tar.gz
# --out/--work move the output and PyInstaller's work folder (default dist, build/pyinstaller);
# --no-setup uses .venv/ as it is (the test suite builds while other tests import from it).
# Safe to run again: it starts from an empty output and work folder each time.
set -euo pipefail
cd "$(dirname "$0")/.."

APP_ID=shop.ecomdesk.ecomdesk
out=dist work=build/pyinstaller setup=true tarball=true
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift ;;
    --work) work=$2; shift ;;
    --no-setup) setup=false ;;
    --no-tarball) tarball=false ;;
    *) echo "build-linux.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
started=$(date +%s)

if $setup; then packaging/setup-venv.sh --bundle; fi
version=$(.venv/bin/python -c 'import ecomdesk; print(ecomdesk.__version__)')

# The validators of the desktop entry and the metainfo: Debian's desktop-file-utils and appstream.
missing=()
command -v desktop-file-validate >/dev/null 2>&1 || missing+=(desktop-file-utils)
command -v appstreamcli >/dev/null 2>&1 || missing+=(appstream)
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  echo "Installing the validators: ${missing[*]}" >&2
  $sudo apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 ||
    { $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q "${missing[@]}" >/dev/null 2>&1; } ||
    true
fi
for tool in desktop-file-validate appstreamcli; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "build-linux.sh: '$tool' is needed to validate the desktop files;" \
         "install desktop-file-utils and appstream (apt-get install desktop-file-utils appstream)" >&2
    exit 1
  fi
done

rm -rf "$out/ecomdesk" "$work"
.venv/bin/pyinstaller --noconfirm --clean --log-level WARN \
  --distpath "$out" --workpath "$work" packaging/ecomdesk.spec

# The freedesktop files, laid out as they install under a prefix (share/…), next to the app.
bundle=$out/ecomdesk
share=$bundle/share
install -D -m 644 "packaging/linux/$APP_ID.desktop" "$share/applications/$APP_ID.desktop"
install -D -m 644 "packaging/linux/$APP_ID.metainfo.xml" "$share/metainfo/$APP_ID.metainfo.xml"
install -D -m 644 packaging/linux/ecomdesk-snapshot.xml "$share/mime/packages/$APP_ID.xml"
for png in resources/icons/app/ecomdesk-*.png; do
  size=${png##*-}; size=${size%.png}
  install -D -m 644 "$png" "$share/icons/hicolor/${size}x${size}/apps/$APP_ID.png"
done
install -D -m 644 resources/icons/app/ecomdesk.svg "$share/icons/hicolor/scalable/apps/$APP_ID.svg"
install -m 755 packaging/linux/install.sh "$bundle/install.sh"

desktop-file-validate "$share/applications/$APP_ID.desktop"
appstreamcli validate --no-net --pedantic "$share/metainfo/$APP_ID.metainfo.xml"

# The bundle answers before it is handed out.
"$bundle/ecomdesk" --version

summary="bundle: $bundle ($(du -sh "$bundle" | cut -f1) on disk)"
if $tarball; then
  archive="$out/ecomdesk-$version-linux-$(uname -m).tar.gz"
  tar -C "$out" -czf "$archive" ecomdesk
  summary="$summary, $archive ($(du -h "$archive" | cut -f1))"
fi
echo "$summary, built in $(( $(date +%s) - started )) s"
