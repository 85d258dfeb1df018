#!/usr/bin/env bash
# Installs the peer engines the sidecar tests and bench/compare.sh run against, into a
# git-ignored directory. Never project dependencies: nothing here enters the venv.
#
#   tools/peers.sh [dynoxide] [dynalite] [moto]     # no argument: all three
#
#   dynoxide  npm @dynoxide/linux-x64@$DYNOXIDE_VERSION  -> $PEERS_DIR/node_modules/@dynoxide/linux-x64/dynoxide
#   dynalite  npm dynalite@$DYNALITE_VERSION             -> $PEERS_DIR/node_modules/dynalite/cli.js
#   moto      PyPI moto[server]==$MOTO_VERSION in a venv -> $PEERS_DIR/moto-venv/bin/python -m moto.server
#
# Idempotent and quick when installed: each peer is (re)installed only when the version
# found differs from the pin. Concurrent runs (parallel test workers) wait on a lock.
#
# Environment (defaults in brackets): PEERS_DIR [<repo>/.cache/peers]
#   DYNOXIDE_VERSION [1.2.1] DYNALITE_VERSION [4.0.0] MOTO_VERSION [5.2.5]
#   PEERS_PYTHON [python3]  the interpreter the moto venv is made from
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEERS_DIR="${PEERS_DIR:-$ROOT/.cache/peers}"
DYNOXIDE_VERSION="${DYNOXIDE_VERSION:-1.2.1}"
DYNALITE_VERSION="${DYNALITE_VERSION:-4.0.0}"
MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
PEERS_PYTHON="${PEERS_PYTHON:-python3}"

log() { echo "[peers] $*" >&2; }

installed_version() { # package.json -> version, or nothing
    sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$1" 2>/dev/null | head -n 1
}

npm_peer() { # package version
    local package="$1" version="$2"
    if [[ "$(installed_version "$PEERS_DIR/node_modules/$package/package.json")" == "$version" ]]; then
        return
    fi
    command -v npm >/dev/null || { log "npm not found: cannot install $package"; exit 1; }
    log "installing $package@$version into $PEERS_DIR"
    # --no-save with no package.json: npm would prune the other peer, so keep one
    [[ -f "$PEERS_DIR/package.json" ]] || echo '{"private": true}' >"$PEERS_DIR/package.json"
    npm install --prefix "$PEERS_DIR" --no-audit --no-fund --loglevel error \
        "$package@$version" >&2
}

moto_peer() {
    local venv="$PEERS_DIR/moto-venv" stamp
    stamp="$venv/.installed-moto-$MOTO_VERSION"
    [[ -f "$stamp" ]] && return
    log "installing moto[server]==$MOTO_VERSION into $venv"
    rm -rf "$venv"
    "$PEERS_PYTHON" -m venv "$venv"
    "$venv/bin/python" -m pip --disable-pip-version-check -q install "moto[server]==$MOTO_VERSION" >&2
    touch "$stamp"
}

peers=("$@")
((${#peers[@]})) || peers=(dynoxide dynalite moto)
mkdir -p "$PEERS_DIR"
exec 9>"$PEERS_DIR/.lock"
flock 9
for peer in "${peers[@]}"; do
    case "$peer" in
    dynoxide)
        npm_peer "@dynoxide/linux-x64" "$DYNOXIDE_VERSION"
        chmod +x "$PEERS_DIR/node_modules/@dynoxide/linux-x64/dynoxide"
        ;;
    dynalite) npm_peer dynalite "$DYNALITE_VERSION" ;;
    moto) moto_peer ;;
    *) log "unknown peer: $peer (dynoxide, dynalite or moto)"; exit 2 ;;
    esac
done
