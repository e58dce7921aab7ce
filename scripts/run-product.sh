#!/usr/bin/env bash
# Runs LocalMoE in an editor: VS Code in your browser (code-server) with the extension installed.
#   scripts/run-product.sh [--port N] [--host ADDR] [--folder DIR]     (npm start)
# Sets up code-server once (cached in ~/.cache/localmoe-e2e/, ~3 min the first time), builds if
# needed, packages the extension (.vsix), installs it into its own profile under
# ~/.cache/localmoe-e2e/product/, and starts code-server on a sample workspace (or --folder DIR).
# Open the printed URL in a browser. Ctrl+C stops it.
#   --port N      port to listen on (default 8080, or $LOCALMOE_PORT)
#   --host ADDR   address to bind (default 127.0.0.1; anyone who can reach it gets an editor with
#                 your files: keep it on localhost and use SSH port forwarding from another machine)
#   --folder DIR  the folder to open (default: a copy of the sample workspace)
#   --vsix FILE   install this .vsix instead of packaging the working tree
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
log() { echo "[run-product] $*"; }
die() { echo "[run-product] ERROR: $*" >&2; exit 1; }

PORT_ARG="${LOCALMOE_PORT:-8080}"
HOST=127.0.0.1
FOLDER=""
VSIX=""
while (($#)); do
  case "$1" in
    --port) PORT_ARG="${2:?--port needs a number}"; shift 2 ;;
    --host) HOST="${2:?--host needs an address}"; shift 2 ;;
    --folder) FOLDER="${2:?--folder needs a directory}"; shift 2 ;;
    --vsix) VSIX="${2:?--vsix needs a file}"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ "$PORT_ARG" =~ ^[0-9]+$ ]] || die "--port must be a number, got '$PORT_ARG'"

# 1. code-server + chromium (cached).
eval "$(bash scripts/e2e-setup.sh --print-env)"
CODE_SERVER="$E2E_CODE_SERVER"
PRODUCT="$E2E_CACHE/product"
USER_DATA="$PRODUCT/user-data"
EXTENSIONS="$PRODUCT/extensions"
mkdir -p "$USER_DATA/User" "$EXTENSIONS" "$PRODUCT/xdg/config" "$PRODUCT/xdg/data"
# code-server's own config and data stay in this profile too (not ~/.config, ~/.local/share).
CS_CONFIG="$PRODUCT/config.yaml"
printf 'auth: none\ncert: false\n' >"$CS_CONFIG"
export XDG_CONFIG_HOME="$PRODUCT/xdg/config" XDG_DATA_HOME="$PRODUCT/xdg/data"

# 2. The extension: build if needed, package, install into this profile.
if [[ -z "$VSIX" ]]; then
  VSIX="$REPO/build/e2e/localmoe.vsix"
  bash scripts/e2e-package.sh "$VSIX"
fi
[[ -f "$VSIX" ]] || die "no such .vsix: $VSIX"
log "installing $(basename "$VSIX") into $EXTENSIONS"
env -u PORT EXTENSIONS_GALLERY='{}' "$CODE_SERVER" --config "$CS_CONFIG" --user-data-dir "$USER_DATA" --extensions-dir "$EXTENSIONS" \
  --install-extension "$VSIX" --force >"$PRODUCT/install.log" 2>&1 ||
  { cat "$PRODUCT/install.log" >&2; die "code-server --install-extension failed"; }

# 3. Quiet user settings (written once; your later changes in the editor are kept).
SETTINGS="$USER_DATA/User/settings.json"
if [[ ! -f "$SETTINGS" ]]; then
  cat >"$SETTINGS" <<'EOF'
{
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "workbench.secondarySideBar.defaultVisibility": "hidden",
  "telemetry.telemetryLevel": "off",
  "security.workspace.trust.enabled": false,
  "chat.disableAIFeatures": true,
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "update.mode": "none"
}
EOF
  log "wrote quiet settings to $SETTINGS"
fi

# 4. The folder to open.
if [[ -z "$FOLDER" ]]; then
  FOLDER="$PRODUCT/workspace"
  if [[ ! -d "$FOLDER" ]]; then
    cp -r test/e2e/workspace "$FOLDER"
    log "sample workspace: $FOLDER"
  fi
fi
[[ -d "$FOLDER" ]] || die "--folder $FOLDER is not a directory"
FOLDER="$(cd "$FOLDER" && pwd)"

# 5. Start code-server in the foreground (Ctrl+C stops it).
if (exec 3<>"/dev/tcp/$HOST/$PORT_ARG") 2>/dev/null; then
  die "port $PORT_ARG on $HOST is already in use: pass --port N"
fi
URL="http://$HOST:$PORT_ARG/?folder=$FOLDER"
echo
log "LocalMoE in VS Code (code-server) — open this in your browser:"
log "    $URL"
log "(the status bar shows the engine; the LocalMoE icon in the activity bar opens the chat; Ctrl+C stops)"
echo
# $PORT would override --bind-addr; EXTENSIONS_GALLERY={} keeps the editor from querying a gallery.
exec env -u PORT EXTENSIONS_GALLERY='{}' "$CODE_SERVER" \
  --config "$CS_CONFIG" --auth none --bind-addr "$HOST:$PORT_ARG" \
  --user-data-dir "$USER_DATA" --extensions-dir "$EXTENSIONS" \
  --disable-telemetry --disable-update-check --disable-workspace-trust --disable-getting-started-override \
  "$FOLDER"
