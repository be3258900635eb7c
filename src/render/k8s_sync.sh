#!/usr/bin/env bash
# The sync sidecar of ingress-wasm, rendered by `ingress-wasm render k8s` into the gateway's ConfigMap.
#
#   sync.sh COMMAND...
#
# Watches the kinds in $KINDS (comma-separated, e.g. ingress,service,endpointslice) across all namespaces with
# kubectl; on every change (a burst of changes counts once) it lists them all again and writes that
# snapshot with the settings of $SETTINGS_FILE, one JSON document {"settings": ..., "ingresses": <the
# List>}, to the standard input of COMMAND (`ingress-wasm sync --input - --watch ...`, which keeps the
# shared xDS directory current). Every watch restarts after $RESYNC_SECONDS, which
# lists every object again: nothing missed stays missed. After each snapshot it writes the address of
# the gateway's Service ($GATEWAY_SERVICE in $POD_NAMESPACE) into the status of every Ingress this
# gateway serves ($INGRESS_CLASSES, space-separated, "*" for all; $SERVE_WITHOUT_CLASS), so `kubectl get
# ingress` shows it as it did with ingress-nginx. Needs bash, kubectl and timeout (coreutils).
set -uo pipefail
set -f # "*" in INGRESS_CLASSES is a class, not a glob

: "${KINDS:=ingress,service,endpointslice}"
: "${RESYNC_SECONDS:=60}"
: "${INGRESS_CLASSES:=nginx}"
: "${SERVE_WITHOUT_CLASS:=true}"
: "${SETTINGS_FILE:=}"
: "${GATEWAY_SERVICE:?names the gateway Service}"
: "${POD_NAMESPACE:?the namespace of the gateway Service}"
# A burst of changes counts once: at most this many lines are swallowed after the first one.
BURST_LINES=1000

log() { printf 'sync.sh: %s\n' "$*" >&2; }

# One line per change of any watched object.
changes() {
    local kind
    for kind in ${KINDS//,/ }; do
        (
            while :; do
                timeout "$RESYNC_SECONDS" kubectl get "$kind" --all-namespaces --watch --output name
                sleep 1
            done
        ) &
    done
    wait
}

# Each change: one snapshot on stdout, then the Ingresses' status.
snapshots() {
    local snapshot _line i settings="{}"
    if [[ -n "$SETTINGS_FILE" ]]; then
        settings=$(<"$SETTINGS_FILE") || exit 1
    fi
    while read -r _line; do
        for ((i = 0; i < BURST_LINES; i++)); do
            read -r -t 1 _line || break
        done
        if snapshot=$(kubectl get "$KINDS" --all-namespaces --output json); then
            printf '{"settings": %s, "ingresses": %s}\n' "$settings" "$snapshot"
            publish_status >&2
        else
            log "kubectl get $KINDS failed; the configuration in use stays"
        fi
    done
}

# Whether an Ingress of this class (spec.ingressClassName, else the old annotation) is served.
served() {
    local class=${1:-$2} c
    if [[ -z "$class" ]]; then
        [[ "$SERVE_WITHOUT_CLASS" == true ]]
        return
    fi
    for c in $INGRESS_CLASSES; do
        [[ "$c" == "*" || "$c" == "$class" ]] && return 0
    done
    return 1
}

# Addresses, one a line, as the status of an Ingress lists them: [{"ip": ...}, {"hostname": ...}].
status_json() {
    local address out=""
    while read -r address; do
        [[ -n "$address" ]] || continue
        if [[ "$address" =~ ^[0-9.]+$ || "$address" == *:* ]]; then
            out+="${out:+,}{\"ip\":\"$address\"}"
        else
            out+="${out:+,}{\"hostname\":\"$address\"}"
        fi
    done
    printf '[%s]' "$out"
}

# The gateway Service's load balancer addresses into the status of each served Ingress that lacks them.
publish_status() {
    local want ns name class annotation have
    want=$(kubectl get service --namespace "$POD_NAMESPACE" "$GATEWAY_SERVICE" \
        --output jsonpath='{range .status.loadBalancer.ingress[*]}{.ip}{.hostname}{"\n"}{end}' | status_json) || return 0
    [[ "$want" != "[]" ]] || return 0
    kubectl get ingresses --all-namespaces --output jsonpath='{range .items[*]}{.metadata.namespace}{"|"}{.metadata.name}{"|"}{.spec.ingressClassName}{"|"}{.metadata.annotations.kubernetes\.io/ingress\.class}{"|"}{range .status.loadBalancer.ingress[*]}{.ip}{.hostname}{","}{end}{"\n"}{end}' |
        while IFS='|' read -r ns name class annotation have; do
            served "$class" "$annotation" || continue
            [[ "$(tr ',' '\n' <<<"$have" | status_json)" == "$want" ]] && continue
            kubectl patch ingress --namespace "$ns" "$name" --subresource=status --type=merge \
                --patch "{\"status\":{\"loadBalancer\":{\"ingress\":$want}}}" ||
                log "cannot write the status of $ns/$name"
        done
}

(($# > 0)) || { log "usage: sync.sh COMMAND..."; exit 2; }
# In the background, so that a stop signal is handled at once (bash as PID 1 ignores an untrapped
# SIGTERM, and would run a trap only after the pipeline ends); the pod's end stops the rest.
trap 'exit 0' TERM INT
changes | snapshots | "$@" &
wait "$!"
