#!/usr/bin/env python3
"""Inputs and report of benches/envoy_load.sh (standard library only).

    envoy_load_gen.py ingress KIND HOSTS N          one Ingress: N paths spread over HOSTS hosts
    envoy_load_gen.py endpoints N ADDR              endpoints file: every bench/svc{i}:80 -> [ADDR]
    envoy_load_gen.py request KIND HOSTS N RULE     "HOST PATH UPSTREAM_PATH CLUSTER" of rule RULE
    envoy_load_gen.py native DUMP KIND HOSTS N PORT ADMIN   native bootstrap (JSON) from the filter Envoy
    envoy_load_gen.py floor DUMP PORT ADMIN         native bootstrap with a single catch-all route
    envoy_load_gen.py report RAW META ENVOYS OUTDIR the markdown tables (printed) and results.json

KIND is one of
- prefix: paths /svc{i}/api (pathType Prefix) on hosts h{j}.bench.example.com;
- wildcard: the same on hosts *.h{j}.bench.example.com (requests go to x.h{j}.bench.example.com);
- regex: paths /svc{i}/api(/|$)(.*) with use-regex and rewrite-target /$2 (the upstream sees /items).
Path i belongs to host i * HOSTS // N (contiguous blocks): rule 0 is the first path of the first host, rule
N-1 the last path of the last host. Backend of path i: bench/svc{i}:80.

`native` and `floor` read DUMP, the admin `/config_dump` of the running filter Envoy (the CLI's rendering as
Envoy actually loaded it), keep its listener, HTTP connection manager settings (normalize_path,
merge_slashes, ...) and clusters, move the listener and admin to PORT and ADMIN, remove the Wasm filter, and
replace the single `cluster_header` route:

- native: one virtual host per host (domains: the host and host:*, or *.h{j}.bench.example.com), its routes
  in Ingress order; Prefix paths as `path_separated_prefix` (exactly Ingress Prefix semantics: /svc1/api
  and /svc1/api/..., not /svc1/apix); regex paths as `safe_regex` with `regex_rewrite` to \\2;
- floor: one virtual host (domains ["*"]) with one `prefix: /` route to bench/svc0:80.
"""

import json
import statistics
import sys

NAMESPACE = "bench"
WASM_FILTER = "envoy.filters.http.wasm"
KINDS = ("prefix", "wildcard", "regex")


def cluster(i):
    # The CLI's default clusterTemplate "{namespace}/{service}:{port}".
    return f"{NAMESPACE}/svc{i}:80"


def host_of(i, hosts, n):
    return i * hosts // n


def host_name(kind, j):
    name = f"h{j}.bench.example.com"
    return f"*.{name}" if kind == "wildcard" else name


def path_of(kind, i):
    return f"/svc{i}/api(/|$)(.*)" if kind == "regex" else f"/svc{i}/api"


def ingress(kind, hosts, n):
    rules = {}
    for i in range(n):
        rule = rules.setdefault(host_of(i, hosts, n), [])
        rule.append(
            {
                "path": path_of(kind, i),
                "pathType": "ImplementationSpecific" if kind == "regex" else "Prefix",
                "backend": {"service": {"name": f"svc{i}", "port": {"number": 80}}},
            }
        )
    annotations = {}
    if kind == "regex":
        annotations = {
            "nginx.ingress.kubernetes.io/use-regex": "true",
            "nginx.ingress.kubernetes.io/rewrite-target": "/$2",
        }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "bench", "namespace": NAMESPACE, "annotations": annotations},
        "spec": {
            "ingressClassName": "nginx",
            "rules": [{"host": host_name(kind, j), "http": {"paths": paths}} for j, paths in sorted(rules.items())],
        },
    }


def endpoints(n, addr):
    return {cluster(i): [addr] for i in range(n)}


def request(kind, hosts, n, i):
    host = host_name(kind, host_of(i, hosts, n)).replace("*", "x")
    path = f"/svc{i}/api/items"
    upstream = "/items" if kind == "regex" else path
    return f"{host} {path} {upstream} {cluster(i)}"


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


def without_wasm(dump_file, port, admin):
    bootstrap = filter_bootstrap(dump_file)
    (listener,) = bootstrap["static_resources"]["listeners"]
    listener["address"]["socket_address"]["port_value"] = port
    bootstrap["admin"]["address"]["socket_address"]["port_value"] = admin
    hcm = hcm_of(bootstrap)
    filters = [f["name"] for f in hcm["http_filters"]]
    if filters != [WASM_FILTER, "envoy.filters.http.router"]:
        sys.exit(f"{dump_file}: unexpected http_filters {filters}")
    hcm["http_filters"] = hcm["http_filters"][1:]
    return bootstrap, hcm


def native_route(kind, i):
    if kind == "regex":
        pattern = path_of(kind, i)
        return {
            "match": {"safe_regex": {"regex": pattern}},
            "route": {
                "cluster": cluster(i),
                "regex_rewrite": {"pattern": {"regex": f"^{pattern}"}, "substitution": "/\\2"},
            },
        }
    return {"match": {"path_separated_prefix": path_of(kind, i)}, "route": {"cluster": cluster(i)}}


def native(dump_file, kind, hosts, n, port, admin):
    bootstrap, hcm = without_wasm(dump_file, port, admin)
    vhosts = {}
    for i in range(n):
        vhosts.setdefault(host_of(i, hosts, n), []).append(native_route(kind, i))
    virtual_hosts = []
    for j, routes in sorted(vhosts.items()):
        name = host_name(kind, j)
        # The filter ignores the port of :authority when matching hosts; so does host:* here.
        domains = [name] if kind == "wildcard" else [name, f"{name}:*"]
        virtual_hosts.append({"name": name, "domains": domains, "routes": routes})
    hcm["route_config"] = {"name": "ingress", "virtual_hosts": virtual_hosts}
    return bootstrap


def floor(dump_file, port, admin):
    bootstrap, hcm = without_wasm(dump_file, port, admin)
    (vhost,) = hcm["route_config"]["virtual_hosts"]
    vhost["routes"] = [{"match": {"prefix": "/"}, "route": {"cluster": cluster(0)}}]
    return bootstrap


# --- report ----------------------------------------------------------------------------------------------

RAW_FIELDS = ("kind", "hosts", "n", "setup", "route", "round", "rps", "p50", "p99", "cpu_pct", "cpu_us", "requests")


def report(raw_file, meta_file, envoys_file, outdir):
    with open(meta_file, encoding="utf-8") as f:
        meta = json.load(f)
    phases = []
    with open(raw_file, encoding="utf-8") as f:
        for line in f:
            values = line.split()
            if len(values) != len(RAW_FIELDS):
                continue
            row = dict(zip(RAW_FIELDS, values))
            for key in ("hosts", "n", "round", "requests"):
                row[key] = int(row[key])
            for key in ("rps", "p50", "p99", "cpu_pct", "cpu_us"):
                row[key] = float(row[key])
            phases.append(row)

    # Mean over the rounds of each (scenario, setup, route); the floor has one route per scenario.
    groups = {}
    for p in phases:
        groups.setdefault((p["kind"], p["hosts"], p["n"], p["setup"], p["route"]), []).append(p)
    mean = {
        key: {m: statistics.fmean(p[m] for p in ps) for m in ("rps", "p50", "p99", "cpu_pct", "cpu_us")}
        for key, ps in groups.items()
    }
    scenarios = []
    for p in phases:
        s = (p["kind"], p["hosts"], p["n"])
        if s not in scenarios:
            scenarios.append(s)
    reference = mean.get(("prefix", 1, 10, "filter", "first"))
    rows = []
    for kind, hosts, n in scenarios:
        fl = mean.get((kind, hosts, n, "floor", "any"))
        for route in ("first", "last"):
            f = mean.get((kind, hosts, n, "filter", route))
            nat = mean.get((kind, hosts, n, "native", route))
            if not f or not nat:
                continue
            row = {
                "kind": kind,
                "hosts": hosts,
                "paths": n,
                "route": route,
                "rounds": len(groups[(kind, hosts, n, "filter", route)]),
                "filter": f,
                "native": nat,
                "floor": fl,
                "filter_vs_native_rps": f["rps"] / nat["rps"],
                "filter_vs_native_cpu": f["cpu_us"] / nat["cpu_us"],
                "filter_vs_floor_rps": f["rps"] / fl["rps"] if fl else None,
                "native_vs_floor_rps": nat["rps"] / fl["rps"] if fl else None,
                # Flatness: against the filter's own 10-path, one-host, first-rule figure of this run.
                "filter_vs_10_paths_rps": f["rps"] / reference["rps"] if reference else None,
            }
            base = mean.get((kind, hosts, n, "baseline", route))
            if base:
                row["baseline"] = base
                row["filter_vs_baseline_rps"] = f["rps"] / base["rps"]
                row["filter_vs_baseline_cpu"] = f["cpu_us"] / base["cpu_us"]
            rows.append(row)

    def r2(x):
        return "–" if x is None else f"{x:.2f}"

    head = (
        "| paths | hosts | rule | filter req/s | native req/s | floor req/s | **filter/native** | filter/floor "
        "| native/floor | filter vs 10 paths | p50/p99 µs filter | p50/p99 µs native | CPU µs/req filter "
        "| native | floor |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        label = {"prefix": "Prefix", "wildcard": "Prefix, wildcard hosts", "regex": "regex + rewrite"}[r["kind"]]
        f, nat, fl = r["filter"], r["native"], r["floor"]
        lines.append(
            f"| {r['paths']:,} {label} | {r['hosts']:,} | {r['route']} | {f['rps']:,.0f} | {nat['rps']:,.0f} "
            f"| {fl['rps']:,.0f} | **{r2(r['filter_vs_native_rps'])}** | {r2(r['filter_vs_floor_rps'])} "
            f"| {r2(r['native_vs_floor_rps'])} | {r2(r['filter_vs_10_paths_rps'])} "
            f"| {f['p50']:.0f}/{f['p99']:.0f} | {nat['p50']:.0f}/{nat['p99']:.0f} "
            f"| {f['cpu_us']:.1f} | {nat['cpu_us']:.1f} | {fl['cpu_us']:.1f} |"
        )
    caption = (
        f"Envoy {meta['envoy']} `--concurrency 1` pinned to one CPU, wrk -t1 -c{meta['connections']}, "
        f"{meta['rounds']} alternating rounds of {meta['duration']} s per phase, {meta['cpus']} × {meta['cpu_model']}, "
        f"load average {meta['load']} at the start, module {meta['wasm_bytes']:,} bytes."
    )
    # Start-up and memory: the filter Envoy runs workers + 1 = 2 VMs, so the resident memory it has over
    # the native Envoy with the same clusters, halved, is an upper bound of one VM's.
    envoys = {}
    with open(envoys_file, encoding="utf-8") as f:
        for line in f:
            kind, hosts, n, setup, _, ready_ms, _, rss_kib, _, compile_ms = line.split()
            envoys[(kind, int(hosts), int(n), setup)] = {
                "ready_ms": int(ready_ms),
                "rss_kib": int(rss_kib),
                "compile_ms": None if compile_ms == "-" else float(compile_ms),
            }
    memory = []
    for kind, hosts, n in scenarios:
        f, nat = envoys.get((kind, hosts, n, "filter")), envoys.get((kind, hosts, n, "native"))
        if f and nat:
            memory.append(
                {
                    "kind": kind,
                    "hosts": hosts,
                    "paths": n,
                    "filter": f,
                    "native": nat,
                    "per_vm_mib": (f["rss_kib"] - nat["rss_kib"]) / 2 / 1024,
                }
            )
    if any("baseline" in r for r in rows):
        lines += ["", "| paths | hosts | rule | filter req/s | baseline req/s | filter/baseline req/s | CPU µs/req filter | baseline | filter/baseline CPU |", "|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            if "baseline" in r:
                f, b = r["filter"], r["baseline"]
                lines.append(
                    f"| {r['paths']:,} {r['kind']} | {r['hosts']:,} | {r['route']} | {f['rps']:,.0f} | {b['rps']:,.0f} "
                    f"| **{r['filter_vs_baseline_rps']:.3f}** | {f['cpu_us']:.1f} | {b['cpu_us']:.1f} | {r['filter_vs_baseline_cpu']:.3f} |"
                )
    mem_lines = [
        "| paths | hosts | compile in the VM, ms (slowest VM) | Envoy ready ms filter / native "
        "| RSS MiB filter / native | per VM MiB (difference / 2) |",
        "|---|---|---|---|---|---|",
    ]
    for m in memory:
        compile_ms = m["filter"]["compile_ms"]
        mem_lines.append(
            f"| {m['paths']:,} {m['kind']} | {m['hosts']:,} | {'–' if compile_ms is None else f'{compile_ms:.1f}'} "
            f"| {m['filter']['ready_ms']} / {m['native']['ready_ms']} "
            f"| {m['filter']['rss_kib'] / 1024:.0f} / {m['native']['rss_kib'] / 1024:.0f} | {m['per_vm_mib']:.1f} |"
        )
    failures = []
    try:
        with open(f"{outdir}/failures.txt", encoding="utf-8") as f:
            failures = [line.strip() for line in f if line.strip()]
    except FileNotFoundError:
        pass
    fail_lines = ["", "Not measured (the filter failed):", *[f"- {line}" for line in failures]] if failures else []
    table = "\n".join([caption, "", *lines, *fail_lines, "", *mem_lines])
    print(table)
    with open(f"{outdir}/results.md", "w", encoding="utf-8") as f:
        f.write(table + "\n")
    with open(f"{outdir}/results.json", "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "rows": rows, "failures": failures, "memory": memory, "phases": phases}, f, indent=1)
        f.write("\n")


def main(argv):
    usage = __doc__.split("\n\n")[1]
    try:
        command, args = argv[1], argv[2:]
        if command in ("ingress", "request", "native") and args[1 if command == "native" else 0] not in KINDS:
            raise ValueError
        if command == "ingress" and len(args) == 3:
            out = ingress(args[0], int(args[1]), int(args[2]))
        elif command == "endpoints" and len(args) == 2:
            out = endpoints(int(args[0]), args[1])
        elif command == "request" and len(args) == 4:
            print(request(args[0], int(args[1]), int(args[2]), int(args[3])))
            return
        elif command == "native" and len(args) == 6:
            out = native(args[0], args[1], int(args[2]), int(args[3]), int(args[4]), int(args[5]))
        elif command == "floor" and len(args) == 3:
            out = floor(args[0], int(args[1]), int(args[2]))
        elif command == "report" and len(args) == 4:
            report(*args)
            return
        else:
            raise ValueError
    except (IndexError, ValueError):
        sys.exit(f"usage:\n{usage}")
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv)
