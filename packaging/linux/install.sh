#!/usr/bin/env bash
# Install this ecomdesk bundle for everyone (as root: /opt/ecomdesk, /usr/local) or for the
# current user (--user: ~/.local/opt/ecomdesk, ~/.local): the app folder, the `ecomdesk` command,
# the menu entry, icons, metainfo and the snapshot file type. Run it again to update;
# `install.sh --uninstall [--user]` removes what it installed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
APP_ID=shop.ecomdesk.ecomdesk

user=false uninstall=false
for arg in "$@"; do
  case "$arg" in
    --user) user=true ;;
    --uninstall) uninstall=true ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $arg (use --user, --uninstall)" >&2; exit 2 ;;
  esac
done
if ! $user && [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: installing for everyone needs root; use --user to install for yourself" >&2
  exit 1
fi
if $user; then
  prefix="$HOME/.local"; app_dir="$HOME/.local/opt/ecomdesk"
else
  prefix=/usr/local; app_dir=/opt/ecomdesk
fi
files=(
  "applications/$APP_ID.desktop" "metainfo/$APP_ID.metainfo.xml" "mime/packages/$APP_ID.xml"
  "icons/hicolor/scalable/apps/$APP_ID.svg"
)
for icon in "$here"/share/icons/hicolor/*x*/apps/"$APP_ID.png"; do
  files+=("${icon#"$here/share/"}")
done

refresh() {
  command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$prefix/share/applications" || true
  command -v update-mime-database >/dev/null 2>&1 && update-mime-database "$prefix/share/mime" >/dev/null 2>&1 || true
  command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$prefix/share/icons/hicolor" || true
}

if $uninstall; then
  for f in "${files[@]}"; do rm -f "$prefix/share/$f"; done
  rm -f "$prefix/bin/ecomdesk"
  rm -rf "$app_dir"
  refresh
  echo "ecomdesk removed from $app_dir"
  exit 0
fi

if [ "$here" != "$app_dir" ]; then
  rm -rf "$app_dir.new"
  mkdir -p "$(dirname "$app_dir")"
  cp -a "$here" "$app_dir.new"
  rm -rf "$app_dir"
  mv "$app_dir.new" "$app_dir"
fi
mkdir -p "$prefix/bin"
ln -sfn "$app_dir/ecomdesk" "$prefix/bin/ecomdesk"
for f in "${files[@]}"; do
  install -D -m 644 "$app_dir/share/$f" "$prefix/share/$f"
done
# The menu entry starts this copy, wherever PATH points.
sed -i "s|^Exec=ecomdesk|Exec=$app_dir/ecomdesk|; s|^TryExec=ecomdesk|TryExec=$app_dir/ecomdesk|" \
  "$prefix/share/applications/$APP_ID.desktop"
refresh
echo "ecomdesk $("$app_dir/ecomdesk" --version | cut -d' ' -f2) installed in $app_dir;" \
     "run it from the menu or as $prefix/bin/ecomdesk"
