#!/usr/bin/env bash
# Compare several DynamoDB-compatible servers with the same benchmarks, in one run.
#
#   bench/compare.sh                      # every server found (see below)
#   bench/compare.sh 'label=cmd {port}' ...   # explicit servers instead
#
# For each server, ONE AT A TIME (the machine has 2 cores; running servers side
# by side would make them compete): startup.py (cold start + idle RSS), then
# start it on its own free loopback port, run loadgen.py --op all (and the
# growth run if GROWTH_ITEMS > 0), and stop it.  Every JSON line goes to stdout
# (and to $OUT if set); progress and server logs go to stderr / a temp dir.
#
# Environment knobs (defaults in brackets):
#   PY [.venv/bin/python]   python that runs the bench tools (needs uvloop+orjson)
#   DURATION [10] WARMUP [2] CONCURRENCY [16] ITEMS [1000] RUNS [5]
#   OPS [all]               or one of PutItem GetItem Query BatchWriteItem
#   GROWTH_ITEMS [0]        e.g. 100000 to add the growth run (slow on moto)
#   SKIP_STARTUP [0]        1 to skip startup.py
#   OUT []                  also append the JSON lines to this file
#   DYNAMODB_LOCAL_DIR []   directory with DynamoDBLocal.jar (+ java on PATH)
#
# Default servers (each only if available):
#   dynoxide-streams  .venv/bin/dynoxide-streams serve --port {port} --in-memory
#   moto              python3 -m moto.server -p {port}
#   dynamodb-local    java -jar $DYNAMODB_LOCAL_DIR/DynamoDBLocal.jar -inMemory -port {port}
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
PY="${PY:-$ROOT/.venv/bin/python}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
CONCURRENCY="${CONCURRENCY:-16}"
ITEMS="${ITEMS:-1000}"
RUNS="${RUNS:-5}"
OPS="${OPS:-all}"
GROWTH_ITEMS="${GROWTH_ITEMS:-0}"
SKIP_STARTUP="${SKIP_STARTUP:-0}"
OUT="${OUT:-}"
LOGDIR="$(mktemp -d /tmp/bench-compare.XXXXXX)"

log() { echo "[compare] $*" >&2; }
emit() { # JSON lines from stdin -> stdout (+ $OUT)
    if [[ -n "$OUT" ]]; then tee -a "$OUT"; else cat; fi
}

servers=()
if (($# > 0)); then
    servers=("$@")
else
    if [[ -x "$ROOT/.venv/bin/dynoxide-streams" ]]; then
        servers+=("dynoxide-streams=$ROOT/.venv/bin/dynoxide-streams serve --port {port} --in-memory")
    fi
    if python3 -c 'import moto.server' 2>/dev/null; then
        servers+=("moto=python3 -m moto.server -p {port}")
    fi
    if [[ -n "${DYNAMODB_LOCAL_DIR:-}" && -f "${DYNAMODB_LOCAL_DIR}/DynamoDBLocal.jar" ]] \
        && command -v java >/dev/null; then
        servers+=("dynamodb-local=java -Djava.library.path=${DYNAMODB_LOCAL_DIR}/DynamoDBLocal_lib -jar ${DYNAMODB_LOCAL_DIR}/DynamoDBLocal.jar -inMemory -port {port}")
    fi
fi
if ((${#servers[@]} == 0)); then
    log "no servers found"
    exit 1
fi

SERVER_PID=""
stop_server() {
    # The server was started with setsid, so its pid is its process group id:
    # signal exactly that group (the server and any children it spawned).
    if [[ -n "$SERVER_PID" ]]; then
        kill -TERM -- "-$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
trap stop_server EXIT INT TERM

for spec in "${servers[@]}"; do
    label="${spec%%=*}"
    cmd="${spec#*=}"
    log "=== $label: $cmd"

    if [[ "$SKIP_STARTUP" != 1 ]]; then
        "$PY" "$HERE/startup.py" --cmd "$cmd" --runs "$RUNS" --label "$label" | emit \
            || log "$label: startup.py failed"
    fi

    port="$("$PY" "$HERE/dynproto.py" --free-port)"
    # shellcheck disable=SC2086  # word-splitting the command is intended
    setsid ${cmd//\{port\}/$port} >"$LOGDIR/$label.log" 2>&1 </dev/null &
    SERVER_PID=$!
    if ! "$PY" "$HERE/dynproto.py" --wait "http://127.0.0.1:$port" --timeout 60; then
        log "$label did not come up; log tail:"
        tail -n 20 "$LOGDIR/$label.log" >&2 || true
        stop_server
        continue
    fi

    "$PY" "$HERE/loadgen.py" --endpoint "http://127.0.0.1:$port" --op "$OPS" \
        --concurrency "$CONCURRENCY" --duration "$DURATION" --warmup "$WARMUP" \
        --items "$ITEMS" --label "$label" --server-pid "$SERVER_PID" --quiet | emit \
        || log "$label: loadgen failed"

    if ((GROWTH_ITEMS > 0)); then
        "$PY" "$HERE/loadgen.py" --endpoint "http://127.0.0.1:$port" --op PutItem --growth \
            --target-items "$GROWTH_ITEMS" --concurrency "$CONCURRENCY" --warmup "$WARMUP" \
            --label "$label" --server-pid "$SERVER_PID" | emit \
            || log "$label: growth run failed"
    fi
    stop_server
done
log "server logs in $LOGDIR"
