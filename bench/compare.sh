#!/usr/bin/env bash
# This server against Dynoxide (Rust) and dynalite (Node), side by side, in one run.
#
#   bench/compare.sh                            # installs the peers, runs everything
#   bench/compare.sh 'key=cmd {port}' ...       # explicit servers instead (the last is "ours")
#
# 1. Installs the peers from npm into $PEERS_DIR with tools/peers.sh (git-ignored; never a
#    project dependency): @dynoxide/linux-x64@$DYNOXIDE_VERSION and dynalite@$DYNALITE_VERSION.
# 2. $ROUNDS rounds; each round runs every server in turn, ONE AT A TIME (2 cores:
#    servers side by side would compete), the order reversed on every other round,
#    so the servers interleave (A B C C B A ...).  Per server and round:
#    startup.py (cold start to the first answered ListTables + idle RSS, $STARTUP_RUNS
#    runs), then the server on a free loopback port, in memory, and against it
#    loadgen.py GetItem, PutItem, Query (10 items, no Limit), BatchWriteItem, then
#    PutItem on a NEW_AND_OLD_IMAGES stream table, then streams_drain.py (GetRecords
#    records/s).  Servers in $NO_STREAMS skip the two stream workloads.
# 3. Prints the Markdown table (medians over the rounds; compare_table.py), the load
#    average before and after, and the command.  The JSON lines go to $OUT.
#
# Environment knobs (defaults in brackets):
#   VENV [.venv]            the project's venv: runs this server and the bench tools
#   PY [$VENV/bin/python]   python for the bench tools (needs uvloop, orjson, psutil)
#   ROUNDS [2] DURATION [4] WARMUP [1] CONCURRENCY [16] ITEMS [1000] STARTUP_RUNS [3]
#   DRAIN_RECORDS [5000]    records written, then drained, per stream drain (Dynoxide
#                           writes a stream table at ~800 items/s: 5,000 take ~6 s)
#   PEERS_DIR [.cache/peers] DYNOXIDE_VERSION [1.2.1] DYNALITE_VERSION [4.0.0]
#   NO_STREAMS [dynalite]   server keys whose streams are broken (space-separated)
#   OUT [$LOGDIR/results.jsonl]
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
VENV="${VENV:-$ROOT/.venv}"
PY="${PY:-$VENV/bin/python}"
ROUNDS="${ROUNDS:-2}"
DURATION="${DURATION:-4}"
WARMUP="${WARMUP:-1}"
CONCURRENCY="${CONCURRENCY:-16}"
ITEMS="${ITEMS:-1000}"
STARTUP_RUNS="${STARTUP_RUNS:-3}"
DRAIN_RECORDS="${DRAIN_RECORDS:-5000}"
PEERS_DIR="${PEERS_DIR:-$ROOT/.cache/peers}"
DYNOXIDE_VERSION="${DYNOXIDE_VERSION:-1.2.1}"
DYNALITE_VERSION="${DYNALITE_VERSION:-4.0.0}"
NO_STREAMS="${NO_STREAMS-dynalite}"
LOGDIR="$(mktemp -d /tmp/bench-compare.XXXXXX)"
OUT="${OUT:-$LOGDIR/results.jsonl}"
COMMAND="$0${*:+ $*} (VENV=$VENV ROUNDS=$ROUNDS DURATION=$DURATION WARMUP=$WARMUP CONCURRENCY=$CONCURRENCY ITEMS=$ITEMS STARTUP_RUNS=$STARTUP_RUNS DRAIN_RECORDS=$DRAIN_RECORDS)"

log() { echo "[compare] $(date +%T) $*" >&2; }
emit() { tee -a "$OUT" >&2; } # JSON lines: to $OUT, echoed on stderr as progress

install_peers() { # the one install script, shared with the sidecar tests
    PEERS_DIR="$PEERS_DIR" DYNOXIDE_VERSION="$DYNOXIDE_VERSION" DYNALITE_VERSION="$DYNALITE_VERSION" \
        bash "$ROOT/tools/peers.sh" dynoxide dynalite
}

servers=() # key=command with {port}
names=()   # --server KEY=column name for compare_table.py
if (($# > 0)); then
    servers=("$@")
    for s in "$@"; do names+=(--server "${s%%=*}=${s%%=*}"); done
else
    install_peers
    nm="$PEERS_DIR/node_modules"
    servers=(
        "dynoxide=$nm/@dynoxide/linux-x64/dynoxide serve --port {port}"
        "dynalite=node $nm/dynalite/cli.js --port {port} --createTableMs 0 --deleteTableMs 0 --updateTableMs 0"
        "this=$VENV/bin/dynoxide-streams serve --port {port} --in-memory"
    )
    names=(--server "dynoxide=Dynoxide $DYNOXIDE_VERSION (Rust)"
        --server "dynalite=dynalite $DYNALITE_VERSION (Node)" --server "this=this server")
fi
last="${servers[-1]}"
OURS="${last%%=*}"

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
trap stop_server EXIT
trap 'stop_server; exit 130' INT TERM

has_streams() { [[ " $NO_STREAMS " != *" $1 "* ]]; }

run_server() { # key cmd round
    local key="$1" cmd="$2" round="$3" port endpoint
    log "round $round: $key: $cmd"
    "$PY" "$HERE/startup.py" --cmd "$cmd" --runs "$STARTUP_RUNS" --label "$key" 2>>"$LOGDIR/tools.log" \
        | emit || log "$key: startup.py failed"

    port="$("$PY" "$HERE/dynproto.py" --free-port)"
    endpoint="http://127.0.0.1:$port"
    # shellcheck disable=SC2086  # word-splitting the command is intended
    setsid ${cmd//\{port\}/$port} >>"$LOGDIR/$key.log" 2>&1 </dev/null &
    SERVER_PID=$!
    if ! "$PY" "$HERE/dynproto.py" --wait "$endpoint" --timeout 60 2>>"$LOGDIR/tools.log"; then
        log "$key did not come up; log tail:"
        tail -n 20 "$LOGDIR/$key.log" >&2 || true
        stop_server
        return
    fi
    local common=(--endpoint "$endpoint" --concurrency "$CONCURRENCY" --duration "$DURATION"
        --warmup "$WARMUP" --label "$key" --server-pid "$SERVER_PID" --quiet)
    "$PY" "$HERE/loadgen.py" "${common[@]}" --op GetItem,PutItem,Query,BatchWriteItem \
        --query-limit 0 --items "$ITEMS" 2>>"$LOGDIR/tools.log" | emit \
        || log "$key: loadgen failed (see $LOGDIR/tools.log)"
    if has_streams "$key"; then
        "$PY" "$HERE/loadgen.py" "${common[@]}" --op PutItem --table bench_stream \
            --stream-view-type NEW_AND_OLD_IMAGES 2>>"$LOGDIR/tools.log" | emit \
            || log "$key: stream PutItem failed (see $LOGDIR/tools.log)"
        timeout 60 "$PY" "$HERE/streams_drain.py" --endpoint "$endpoint" \
            --records "$DRAIN_RECORDS" --label "$key" 2>>"$LOGDIR/tools.log" | emit \
            || log "$key: streams_drain failed (see $LOGDIR/tools.log)"
    fi
    stop_server
}

touch "$OUT"
load_before="$(cat /proc/loadavg)"
t0=$SECONDS
for ((round = 1; round <= ROUNDS; round++)); do
    order=("${servers[@]}")
    if ((round % 2 == 0)); then # reversed: A B C, C B A, A B C, ...
        order=()
        for ((i = ${#servers[@]} - 1; i >= 0; i--)); do order+=("${servers[i]}"); done
    fi
    for spec in "${order[@]}"; do
        run_server "${spec%%=*}" "${spec#*=}" "$round"
    done
done
load_after="$(cat /proc/loadavg)"

nostreams=()
for k in $NO_STREAMS; do nostreams+=(--no-streams "$k"); done
echo "Concurrency $CONCURRENCY, ~200-byte items, one load generator, $ROUNDS interleaved rounds"
echo "(medians), ${DURATION} s windows after ${WARMUP} s warmup, in-memory servers, $(nproc) cores."
echo
"$PY" "$HERE/compare_table.py" "$OUT" "${names[@]}" --ours "$OURS" "${nostreams[@]}"
echo
echo "Load average (1/5/15 min) before: ${load_before% */*}; after: ${load_after% */*}." \
    "Run took $((SECONDS - t0)) s on $(date -u +%F)."
echo "Command: \`$COMMAND\`"
log "JSON lines in $OUT; server and tool logs in $LOGDIR"
