#!/usr/bin/env python3
"""Inputs for benches/envoy_load.sh (standard library only).

    envoy_load_gen.py ingress N HOST            one Ingress, N Prefix paths /svc{i}/api -> bench/svc{i}:80
    envoy_load_gen.py endpoints N ADDR          endpoints file: every bench/svc{i}:80 -> [ADDR]
    envoy_load_gen.py native DUMP N HOST MATCH  native Envoy bootstrap (JSON) derived from the filter Envoy
    envoy_load_gen.py floor DUMP                native bootstrap with a single catch-all route

`native` and `floor` read DUMP, the admin `/config_dump` of the running filter Envoy (the CLI's rendering as
Envoy actually loaded it), keep its listener, HTTP connection manager settings (normalize_path,
merge_slashes, ...), admin and clusters unchanged, remove the Wasm filter, and replace the single
`cluster_header` route:

- native: one virtual host for HOST with N routes in Ingress order, route i matching /svc{i}/api with
  MATCH (`path_separated_prefix`, the exact Ingress Prefix semantics: /svc1/api and /svc1/api/..., not
  /svc1/apix; or plain `prefix`) and forwarding to cluster bench/svc{i}:80;
- floor: the rendered virtual host (domains ["*"]) with one `prefix: /` route to bench/svc0:80.
"""

import json
import sys

NAMESPACE = "bench"
WASM_FILTER = "envoy.filters.http.wasm"


def cluster(i):
    # The CLI's default clusterTemplate "{namespace}/{service}:{port}".
    return f"{NAMESPACE}/svc{i}:80"


def ingress(n, host):
    paths = [
        {
            "path": f"/svc{i}/api",
            "pathType": "Prefix",
            "backend": {"service": {"name": f"svc{i}", "port": {"number": 80}}},
        }
        for i in range(n)
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "bench", "namespace": NAMESPACE},
        "spec": {"ingressClassName": "nginx", "rules": [{"host": host, "http": {"paths": paths}}]},
    }


def endpoints(n, addr):
    return {cluster(i): [addr] for i in range(n)}


def filter_bootstrap(dump_file):
    with open(dump_file, encoding="utf-8") as f:
        dump = json.load(f)
    for config in dump["configs"]:
        if config["@type"].endswith(".BootstrapConfigDump"):
            bootstrap = config["bootstrap"]
            # Only what the rendered file had: drop `node` (Envoy's build info, filled in at start-up).
            return {key: bootstrap[key] for key in ("admin", "static_resources") if key in bootstrap}
    sys.exit(f"{dump_file}: no BootstrapConfigDump")


def hcm_of(bootstrap):
    (listener,) = bootstrap["static_resources"]["listeners"]
    (chain,) = listener["filter_chains"]
    (hcm,) = chain["filters"]
    return hcm["typed_config"]


def without_wasm(dump_file):
    bootstrap = filter_bootstrap(dump_file)
    hcm = hcm_of(bootstrap)
    filters = [f["name"] for f in hcm["http_filters"]]
    if filters != [WASM_FILTER, "envoy.filters.http.router"]:
        sys.exit(f"{dump_file}: unexpected http_filters {filters}")
    hcm["http_filters"] = hcm["http_filters"][1:]
    return bootstrap, hcm


def native(dump_file, n, host, match):
    if match not in ("path_separated_prefix", "prefix"):
        sys.exit(f"match {match!r}: expected path_separated_prefix or prefix")
    bootstrap, hcm = without_wasm(dump_file)
    routes = [{"match": {match: f"/svc{i}/api"}, "route": {"cluster": cluster(i)}} for i in range(n)]
    # The filter ignores the port of :authority when matching hosts; so does host:* here.
    hcm["route_config"] = {
        "name": "ingress",
        "virtual_hosts": [{"name": host, "domains": [host, f"{host}:*"], "routes": routes}],
    }
    return bootstrap


def floor(dump_file):
    bootstrap, hcm = without_wasm(dump_file)
    (vhost,) = hcm["route_config"]["virtual_hosts"]
    vhost["routes"] = [{"match": {"prefix": "/"}, "route": {"cluster": cluster(0)}}]
    return bootstrap


def main(argv):
    usage = __doc__.split("\n\n")[1]
    try:
        command, args = argv[1], argv[2:]
        if command == "ingress" and len(args) == 2:
            out = ingress(int(args[0]), args[1])
        elif command == "endpoints" and len(args) == 2:
            out = endpoints(int(args[0]), args[1])
        elif command == "native" and len(args) == 4:
            out = native(args[0], int(args[1]), args[2], args[3])
        elif command == "floor" and len(args) == 1:
            out = floor(args[0])
        else:
            raise ValueError
    except (IndexError, ValueError):
        sys.exit(f"usage:\n{usage}")
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv)
