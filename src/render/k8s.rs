//! Kubernetes manifests of a gateway: Envoy with the filter in a Deployment (spread over nodes, drained
//! gracefully, non-root, read-only root filesystem), its PodDisruptionBudget, a LoadBalancer Service, the
//! IngressClasses it serves, the module and the configuration in ConfigMaps, and the sync sidecar with
//! the least RBAC it needs.
//!
//! How the pieces meet: Envoy's bootstrap ([`super::k8s_bootstrap`]) reads listeners, clusters and the
//! filter's configuration from the shared `emptyDir` [`XDS_DIR`], which is `ingress-wasm sync --out`;
//! an init container's `ingress-wasm sync` fills it once from the configuration rendered here (so a pod
//! starts with known routes even when the API server is slow), then the sync sidecar keeps it current
//! from the API server ([`SYNC_SCRIPT`] piped into `ingress-wasm sync --watch`). The module
//! lives in an immutable ConfigMap whose name carries its digest: a new module is a new ConfigMap and a
//! rolling update, and pods still running keep the one they started with.

use super::k8s_bootstrap::{watched_bootstrap, WatchedBootstrap};
use crate::model::settings::Settings;
use serde_json::{json, Map, Value};

/// The controller named by the IngressClasses this gateway serves.
pub const CONTROLLER: &str = "ingress-wasm.dev/envoy";
/// "The data stored in a ConfigMap cannot exceed 1 MiB" (keys and values, `binaryData` decoded).
pub const MAX_CONFIGMAP_BYTES: usize = 1 << 20;
/// Port of the HTTP listener inside the pod (non-root: above 1024).
pub const HTTP_PORT: u16 = 8080;
/// Port of the listener whose only route is `/ready`.
pub const READY_PORT: u16 = 8081;
/// Port of Envoy's admin interface, on 127.0.0.1 only.
pub const ADMIN_PORT: u16 = 9901;
/// The shared directory of the xDS files (an `emptyDir`).
pub const XDS_DIR: &str = "/config/xds";
/// Where the configuration ConfigMap is mounted.
pub const CONFIG_DIR: &str = "/etc/ingress-wasm/config";
/// Where the module ConfigMap is mounted.
pub const MODULE_DIR: &str = "/etc/ingress-wasm/module";
/// The module's key in its ConfigMap (and its file name in [`MODULE_DIR`]).
pub const MODULE_KEY: &str = "ingress_wasm.wasm";
/// Where the Secrets of basic authentication given at render time are mounted.
pub const AUTH_DIR: &str = "/etc/ingress-wasm/auth";
/// Seconds Envoy drains its listeners on shutdown before the pod is stopped.
pub const DRAIN_SECONDS: u32 = 20;
/// Envoy's worker threads: each holds its own Wasm VM with the compiled configuration, so the count is
/// set, not left to the node's CPU count.
pub const ENVOY_CONCURRENCY: u32 = 2;
/// The UID and GID of the `envoy` user of the envoyproxy/envoy image.
pub const ENVOY_UID: u32 = 101;
/// The sidecar's script (see its header).
pub const SYNC_SCRIPT: &str = include_str!("k8s_sync.sh");
/// Seconds after which the sidecar lists everything again even without a change.
pub const RESYNC_SECONDS: u32 = 60;

/// What [`manifests`] needs.
#[derive(Debug, Clone)]
pub struct K8sOptions<'a> {
    /// Name of the Deployment, Service, ServiceAccount, ... and prefix of the ConfigMaps.
    pub name: &'a str,
    pub namespace: &'a str,
    pub replicas: u32,
    pub envoy_image: &'a str,
    /// The image with `ingress-wasm`, `kubectl`, `bash` and `timeout` (users build it).
    pub sync_image: &'a str,
    /// The module's bytes (embedded in a ConfigMap) and their sha256 in hex.
    pub wasm: &'a [u8],
    pub wasm_sha256: &'a str,
    /// The plugin configuration the render loaded (`ingresses`, `settings`, maybe `secrets`).
    pub plugin_config: &'a Value,
    pub settings: &'a Settings,
    pub cluster_domain: &'a str,
}

/// One file of the output: its name and the objects it holds (multi-document YAML).
#[derive(Debug, Clone)]
pub struct Manifest {
    pub file: String,
    pub objects: Vec<Value>,
}

impl Manifest {
    fn new(file: &str, objects: Vec<Value>) -> Manifest {
        Manifest {
            file: file.to_string(),
            objects,
        }
    }

    /// The objects as multi-document YAML.
    pub fn to_yaml(&self) -> String {
        self.objects
            .iter()
            .map(super::envoy::to_yaml)
            .collect::<Vec<_>>()
            .join("---\n")
    }
}

/// Every manifest, in the order `kubectl apply -f DIR` applies them (by file name). `Err` names what does
/// not fit a ConfigMap.
pub fn manifests(opts: &K8sOptions<'_>) -> Result<Vec<Manifest>, String> {
    let secrets = opts
        .plugin_config
        .get("secrets")
        .and_then(Value::as_array)
        .filter(|s| !s.is_empty());
    let reads_secrets = secrets.is_some() || uses_auth_secrets(opts.plugin_config);
    let mut snapshot = opts.plugin_config.clone();
    if let Some(map) = snapshot.as_object_mut() {
        map.remove("secrets");
    }
    let module = configmap_with_module(opts)?;
    let config = config_map(opts, &snapshot)?;
    let mut files = vec![
        Manifest::new("00-namespace.yaml", vec![namespace(opts)]),
        Manifest::new("10-rbac.yaml", rbac(opts, reads_secrets)),
    ];
    let classes = ingress_classes(opts);
    if !classes.is_empty() {
        files.push(Manifest::new("20-ingressclass.yaml", classes));
    }
    files.push(Manifest::new("30-module.yaml", vec![module]));
    let mut configs = vec![config];
    if let Some(secrets) = secrets {
        configs.push(auth_secret(opts, secrets));
    }
    files.push(Manifest::new("31-config.yaml", configs));
    files.push(Manifest::new(
        "40-deployment.yaml",
        vec![deployment(opts, secrets.is_some(), reads_secrets)],
    ));
    files.push(Manifest::new(
        "41-poddisruptionbudget.yaml",
        vec![pod_disruption_budget(opts)],
    ));
    files.push(Manifest::new("50-service.yaml", vec![service(opts)]));
    Ok(files)
}

/// Whether an Ingress of the configuration names a Secret for basic authentication: the sidecar must
/// then read Secrets.
fn uses_auth_secrets(plugin_config: &Value) -> bool {
    plugin_config["ingresses"]["items"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|ingress| {
            ingress["metadata"]["annotations"]
                .get(AUTH_SECRET_ANNOTATION)
                .is_some()
        })
}

const AUTH_SECRET_ANNOTATION: &str = "nginx.ingress.kubernetes.io/auth-secret";

/// The name of the module's ConfigMap: immutable, so it carries the module's digest.
pub fn module_configmap_name(name: &str, sha256: &str) -> String {
    format!("{name}-module-{}", sha256.get(..12).unwrap_or(sha256))
}

fn config_map_name(name: &str) -> String {
    format!("{name}-config")
}

fn auth_secret_name(name: &str) -> String {
    format!("{name}-auth")
}

fn labels(opts: &K8sOptions<'_>) -> Value {
    json!({"app.kubernetes.io/name": "ingress-wasm", "app.kubernetes.io/instance": opts.name})
}

fn metadata(opts: &K8sOptions<'_>, name: &str) -> Value {
    json!({"name": name, "namespace": opts.namespace, "labels": labels(opts)})
}

/// The namespace enforces the `restricted` Pod Security Standard, which the pods meet: a later edit that
/// weakens them is refused.
fn namespace(opts: &K8sOptions<'_>) -> Value {
    let labels = json!({
        "app.kubernetes.io/name": "ingress-wasm",
        "app.kubernetes.io/instance": opts.name,
        "pod-security.kubernetes.io/enforce": "restricted",
    });
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": opts.namespace, "labels": labels},
    })
}

/// The sidecar reads exactly what it watches and lists ([`sync_kinds`]: Ingresses, Services and
/// EndpointSlices; Secrets only when an Ingress uses basic authentication) and gets its own Service's
/// address; it writes only the status of Ingresses. Cluster-wide, as Ingresses are.
fn rbac(opts: &K8sOptions<'_>, secrets: bool) -> Vec<Value> {
    let read = json!(["get", "list", "watch"]);
    let mut rules = vec![
        json!({"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": read}),
        json!({"apiGroups": [""], "resources": ["services"], "verbs": read}),
        json!({"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read}),
        // `kubectl patch --subresource=status` is a PATCH of the status subresource: it cannot touch
        // an Ingress's spec.
        json!({"apiGroups": ["networking.k8s.io"], "resources": ["ingresses/status"], "verbs": ["patch"]}),
    ];
    if secrets {
        rules.push(json!({"apiGroups": [""], "resources": ["secrets"], "verbs": read}));
    }
    let cluster_name = format!("{}-{}", opts.namespace, opts.name);
    vec![
        json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": metadata(opts, opts.name),
            "automountServiceAccountToken": true,
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": cluster_name, "labels": labels(opts)},
            "rules": rules,
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": cluster_name, "labels": labels(opts)},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_name},
            "subjects": [{"kind": "ServiceAccount", "name": opts.name, "namespace": opts.namespace}],
        }),
    ]
}

/// One IngressClass per class the settings serve (`*` names none).
fn ingress_classes(opts: &K8sOptions<'_>) -> Vec<Value> {
    opts.settings
        .ingress_classes
        .iter()
        .filter(|c| c.as_str() != "*")
        .map(|class| {
            json!({
                "apiVersion": "networking.k8s.io/v1",
                "kind": "IngressClass",
                "metadata": {"name": class, "labels": labels(opts)},
                "spec": {"controller": CONTROLLER},
            })
        })
        .collect()
}

/// The bytes a ConfigMap counts toward its limit: keys and values.
fn configmap_bytes<'v>(entries: impl IntoIterator<Item = (&'v str, usize)>) -> usize {
    entries.into_iter().map(|(k, len)| k.len() + len).sum()
}

fn configmap_with_module(opts: &K8sOptions<'_>) -> Result<Value, String> {
    let size = configmap_bytes([(MODULE_KEY, opts.wasm.len())]);
    if size > MAX_CONFIGMAP_BYTES {
        return Err(format!(
            "--wasm: the module is {} bytes; a ConfigMap holds at most {MAX_CONFIGMAP_BYTES} bytes (1 MiB): ship \
             it as an OCI image instead (render oci, and render istio for Istio)",
            opts.wasm.len()
        ));
    }
    let name = module_configmap_name(opts.name, opts.wasm_sha256);
    let mut meta = metadata(opts, &name);
    meta["annotations"] = json!({"ingress-wasm.dev/module-sha256": opts.wasm_sha256});
    Ok(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta,
        "immutable": true,
        "binaryData": {MODULE_KEY: crate::encoding::base64::encode(opts.wasm)},
    }))
}

/// The Envoy bootstrap, the sidecar's script, the settings and the Ingress configuration of this render
/// (the init container's first sync), without Secrets.
fn config_map(opts: &K8sOptions<'_>, snapshot: &Value) -> Result<Value, String> {
    let bootstrap = super::envoy::to_yaml(&watched_bootstrap(&WatchedBootstrap {
        xds_dir: XDS_DIR,
        admin_port: ADMIN_PORT,
        ready_port: READY_PORT,
    }));
    // The bare settings object: the sidecar wraps each snapshot with it.
    let settings = opts.plugin_config.get("settings").cloned().unwrap_or(json!({}));
    let data = [
        ("envoy.yaml", bootstrap),
        ("settings.json", pretty(&settings)),
        ("ingresses.json", pretty(snapshot)),
        ("sync.sh", SYNC_SCRIPT.to_string()),
    ];
    let size = configmap_bytes(data.iter().map(|(k, v)| (*k, v.len())));
    if size > MAX_CONFIGMAP_BYTES {
        return Err(format!(
            "the configuration ConfigMap {} would hold {size} bytes; a ConfigMap holds at most \
             {MAX_CONFIGMAP_BYTES} bytes (1 MiB): render fewer Ingresses (the sync sidecar reads them all from \
             the API server anyway)",
            config_map_name(opts.name)
        ));
    }
    let data: Map<String, Value> = data
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::String(v)))
        .collect();
    Ok(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(opts, &config_map_name(opts.name)),
        "data": data,
    }))
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// The Secrets of basic authentication the render was given, for the init container's first sync: a
/// `List` of Secrets, as `kubectl get secret -o json` prints them.
fn auth_secret(opts: &K8sOptions<'_>, secrets: &[Value]) -> Value {
    let items: Vec<Value> = secrets
        .iter()
        .map(|secret| {
            let mut secret = secret.clone();
            if let Some(map) = secret.as_object_mut() {
                map.insert("apiVersion".into(), json!("v1"));
                map.insert("kind".into(), json!("Secret"));
            }
            secret
        })
        .collect();
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(opts, &auth_secret_name(opts.name)),
        "type": "Opaque",
        "stringData": {"secrets.json": pretty(&list)},
    })
}

/// The options every `ingress-wasm sync` of the pod renders with: the module where the ConfigMap is
/// mounted, the listener, the cluster domain.
pub fn sync_render_args(cluster_domain: &str) -> Vec<String> {
    [
        "--out",
        XDS_DIR,
        "--wasm",
        &format!("{MODULE_DIR}/{MODULE_KEY}"),
        "--listen",
        &format!("0.0.0.0:{HTTP_PORT}"),
        "--cluster-domain",
        cluster_domain,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// `ingress-wasm sync` reading its standard input: with `watch`, each JSON document there is a complete
/// new input (the sidecar's snapshots); without, all of it is one input (the first sync's files).
pub fn sync_command(watch: bool, cluster_domain: &str) -> Vec<String> {
    let mut command = vec!["ingress-wasm".to_string(), "sync".to_string()];
    command.push("--input".to_string());
    command.push("-".to_string());
    command.extend(sync_render_args(cluster_domain));
    if watch {
        command.push("--watch".to_string());
    }
    command
}

/// What the sidecar watches and lists (its `KINDS`): the input of `ingress-wasm sync`, as in
/// `kubectl get ingress,service,endpointslice -A -o json`; Secrets when an Ingress needs them.
pub fn sync_kinds(secrets: bool) -> String {
    let mut kinds = "ingress,service,endpointslice".to_string();
    if secrets {
        kinds.push_str(",secret");
    }
    kinds
}

fn restricted_security_context() -> Value {
    json!({
        "allowPrivilegeEscalation": false,
        "readOnlyRootFilesystem": true,
        "runAsNonRoot": true,
        "capabilities": {"drop": ["ALL"]},
    })
}

/// The preStop of Envoy: drain the listeners (Envoy answers `Connection: close` / GOAWAY and stops
/// accepting), then wait while the endpoint leaves every load balancer and in-flight requests finish.
/// The envoyproxy/envoy image has bash but no curl: bash's /dev/tcp speaks to the admin.
fn drain_command() -> String {
    format!(
        "exec 3<>/dev/tcp/127.0.0.1/{ADMIN_PORT} && printf 'POST /drain_listeners?graceful HTTP/1.1\\r\\nHost: \
         localhost\\r\\nContent-Length: 0\\r\\nConnection: close\\r\\n\\r\\n' >&3 && timeout 2 cat <&3 >/dev/null; \
         sleep {}",
        DRAIN_SECONDS + 5
    )
}

/// `secrets`: the render was given Secrets (the first sync reads them from the gateway's Secret);
/// `reads_secrets`: the sidecar lists Secrets too.
fn deployment(opts: &K8sOptions<'_>, secrets: bool, reads_secrets: bool) -> Value {
    // The rendered configuration (settings included) and the Secrets, one input on stdin.
    let mut initial_inputs = format!("{CONFIG_DIR}/ingresses.json");
    if secrets {
        initial_inputs.push_str(&format!(" {AUTH_DIR}/secrets.json"));
    }
    let initial_sync = sync_command(false, opts.cluster_domain);
    let watch_sync = sync_command(true, opts.cluster_domain);
    let kinds = sync_kinds(reads_secrets);
    let classes = opts.settings.ingress_classes.join(" ");
    let config_mount = json!({"name": "config", "mountPath": CONFIG_DIR, "readOnly": true});
    let module_mount = json!({"name": "module", "mountPath": MODULE_DIR, "readOnly": true});
    let xds_mount = json!({"name": "xds", "mountPath": XDS_DIR});
    let mut init_mounts = vec![config_mount.clone(), module_mount.clone(), xds_mount.clone()];
    if secrets {
        init_mounts.push(json!({"name": "auth", "mountPath": AUTH_DIR, "readOnly": true}));
    }
    // The first sync must not keep the pod from starting when it left something out: whatever it
    // delivered serves, and the sidecar reports the rest.
    let mut init_command = vec![
        "bash".to_string(),
        "-c".to_string(),
        format!(
            "cat {initial_inputs} | \"$@\"; status=$?; [ -e {XDS_DIR}/{} ] && exit 0; exit $status",
            super::dynamic::LDS_FILE
        ),
        "initial-sync".to_string(),
    ];
    init_command.extend(initial_sync);
    let mut sync_command_line = vec!["bash".to_string(), format!("{CONFIG_DIR}/sync.sh")];
    sync_command_line.extend(watch_sync);
    let mut volumes = vec![
        json!({"name": "config", "configMap": {"name": config_map_name(opts.name)}}),
        json!({"name": "module", "configMap": {"name": module_configmap_name(opts.name, opts.wasm_sha256)}}),
        json!({"name": "xds", "emptyDir": {}}),
        json!({"name": "tmp", "emptyDir": {}}),
    ];
    if secrets {
        volumes.push(json!({"name": "auth", "secret": {"secretName": auth_secret_name(opts.name)}}));
    }
    let selector = json!({"app.kubernetes.io/name": "ingress-wasm", "app.kubernetes.io/instance": opts.name});
    let spread = |key: &str| {
        json!({
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector},
        })
    };
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(opts, opts.name),
        "spec": {
            "replicas": opts.replicas,
            "selector": {"matchLabels": selector},
            // One new pod ready before an old one drains: never fewer than `replicas` serving.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {
                    "labels": labels(opts),
                    "annotations": {"ingress-wasm.dev/module-sha256": opts.wasm_sha256},
                },
                "spec": {
                    "serviceAccountName": opts.name,
                    "terminationGracePeriodSeconds": DRAIN_SECONDS + 15,
                    "securityContext": {
                        "runAsNonRoot": true,
                        "runAsUser": ENVOY_UID,
                        "runAsGroup": ENVOY_UID,
                        "fsGroup": ENVOY_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "topologySpreadConstraints": [
                        spread("kubernetes.io/hostname"),
                        spread("topology.kubernetes.io/zone"),
                    ],
                    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                        "weight": 100,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": selector},
                        },
                    }]}},
                    "initContainers": [{
                        "name": "initial-sync",
                        "image": opts.sync_image,
                        "command": init_command,
                        "securityContext": restricted_security_context(),
                        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
                        "volumeMounts": init_mounts,
                    }],
                    "containers": [
                        {
                            "name": "envoy",
                            "image": opts.envoy_image,
                            // Not the image's entrypoint script, which switches users when run as root.
                            "command": ["envoy"],
                            "args": [
                                "--config-path", format!("{CONFIG_DIR}/envoy.yaml"),
                                "--disable-hot-restart",
                                "--concurrency", ENVOY_CONCURRENCY.to_string(),
                                "--drain-time-s", DRAIN_SECONDS.to_string(),
                                "--drain-strategy", "immediate",
                                "--log-level", "info",
                            ],
                            "ports": [
                                {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
                                {"name": "ready", "containerPort": READY_PORT, "protocol": "TCP"},
                            ],
                            "readinessProbe": {
                                "httpGet": {"path": "/ready", "port": "ready"},
                                "periodSeconds": 5,
                                "failureThreshold": 2,
                            },
                            "lifecycle": {"preStop": {"exec": {"command": ["bash", "-c", drain_command()]}}},
                            "securityContext": restricted_security_context(),
                            "resources": {
                                "requests": {"cpu": "250m", "memory": "256Mi"},
                                "limits": {"memory": "1Gi"},
                            },
                            "volumeMounts": [config_mount.clone(), module_mount, xds_mount.clone()],
                        },
                        {
                            "name": "sync",
                            "image": opts.sync_image,
                            "command": sync_command_line,
                            "env": [
                                {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                                {"name": "GATEWAY_SERVICE", "value": opts.name},
                                {"name": "SETTINGS_FILE", "value": format!("{CONFIG_DIR}/settings.json")},
                                {"name": "KINDS", "value": kinds},
                                {"name": "INGRESS_CLASSES", "value": classes},
                                {"name": "SERVE_WITHOUT_CLASS", "value": opts.settings.serve_without_class.to_string()},
                                {"name": "RESYNC_SECONDS", "value": RESYNC_SECONDS.to_string()},
                                // kubectl's discovery cache.
                                {"name": "HOME", "value": "/tmp"},
                            ],
                            "securityContext": restricted_security_context(),
                            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
                            "volumeMounts": [
                                config_mount,
                                json!({"name": "module", "mountPath": MODULE_DIR, "readOnly": true}),
                                xds_mount,
                                json!({"name": "tmp", "mountPath": "/tmp"}),
                            ],
                        },
                    ],
                    "volumes": volumes,
                },
            },
        },
    })
}

fn pod_disruption_budget(opts: &K8sOptions<'_>) -> Value {
    json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(opts, opts.name),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": "ingress-wasm", "app.kubernetes.io/instance": opts.name}},
        },
    })
}

/// `externalTrafficPolicy: Local` keeps the client's address (source ranges judge it) and sends traffic
/// only to nodes with a ready gateway pod.
fn service(opts: &K8sOptions<'_>) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(opts, opts.name),
        "spec": {
            "type": "LoadBalancer",
            "externalTrafficPolicy": "Local",
            "selector": {"app.kubernetes.io/name": "ingress-wasm", "app.kubernetes.io/instance": opts.name},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::diagnostics::Diagnostics;

    fn render(config: &Value, wasm: &[u8]) -> Result<Vec<Manifest>, String> {
        let settings = Settings::parse(config.get("settings"), &mut Diagnostics::default());
        manifests(&K8sOptions {
            name: "gw",
            namespace: "edge",
            replicas: 2,
            envoy_image: "envoyproxy/envoy:v1.40.0",
            sync_image: "registry.test/ingress-wasm:1",
            wasm,
            wasm_sha256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            plugin_config: config,
            settings: &settings,
            cluster_domain: "cluster.local",
        })
    }

    fn object<'m>(files: &'m [Manifest], kind: &str) -> &'m Value {
        files
            .iter()
            .flat_map(|m| &m.objects)
            .find(|o| o["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
    }

    #[test]
    fn a_module_over_one_mebibyte_is_refused() {
        let config = json!({"ingresses": []});
        let fits = vec![0u8; MAX_CONFIGMAP_BYTES - MODULE_KEY.len()];
        assert!(render(&config, &fits).is_ok());
        let err = render(&config, &[0u8; MAX_CONFIGMAP_BYTES]).unwrap_err();
        assert!(
            err.contains("1048576 bytes; a ConfigMap holds at most 1048576"),
            "{err}"
        );
    }

    #[test]
    fn classes_rbac_and_secrets_follow_the_configuration() {
        let config = json!({"ingresses": [], "settings": {"ingressClasses": ["envoy", "*"]}});
        let files = render(&config, b"\0asm").unwrap();
        let class = object(&files, "IngressClass");
        assert_eq!(class["metadata"]["name"], "envoy");
        assert_eq!(class["spec"]["controller"], CONTROLLER);
        let role = object(&files, "ClusterRole");
        assert!(!role.to_string().contains("secrets"));
        let writes: Vec<&Value> = role["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                r["verbs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|v| v != "get" && v != "list" && v != "watch")
            })
            .collect();
        assert_eq!(writes.len(), 1);
        assert_eq!(writes[0]["resources"], json!(["ingresses/status"]));

        let with_secrets = json!({"ingresses": [], "secrets": [{"metadata": {"name": "s"}}]});
        let files = render(&with_secrets, b"\0asm").unwrap();
        assert!(object(&files, "ClusterRole").to_string().contains("\"secrets\""));
        let config_map = object(&files, "ConfigMap");
        let all: Vec<&Value> = files.iter().flat_map(|m| &m.objects).collect();
        let data = all.iter().find(|o| o["metadata"]["name"] == "gw-config").unwrap();
        assert!(!data["data"]["ingresses.json"]
            .as_str()
            .unwrap()
            .contains("secrets"));
        assert!(config_map.is_object());
        assert_eq!(object(&files, "Secret")["metadata"]["name"], "gw-auth");
    }

    #[test]
    fn an_ingress_naming_an_auth_secret_makes_the_sidecar_read_secrets() {
        let ingress = json!({"metadata": {"name": "a", "annotations": {AUTH_SECRET_ANNOTATION: "htpasswd"}}});
        let config = json!({"ingresses": {"kind": "List", "items": [ingress]}});
        let files = render(&config, b"\0asm").unwrap();
        assert!(object(&files, "ClusterRole").to_string().contains("\"secrets\""));
        let kinds = object(&files, "Deployment")["spec"]["template"]["spec"]["containers"][1]["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == "KINDS")
            .unwrap()["value"]
            .clone();
        assert_eq!(kinds, "ingress,service,endpointslice,secret");
        // No Secret was given: no Secret object of the gateway.
        assert!(files
            .iter()
            .flat_map(|m| &m.objects)
            .all(|o| o["kind"] != "Secret"));
    }

    /// Every kind the sidecar watches has exactly get, list and watch, and nothing else is read.
    #[test]
    fn rbac_allows_exactly_what_the_sidecar_reads() {
        for (config, secrets) in [
            (json!({"ingresses": []}), false),
            (
                json!({"ingresses": [], "secrets": [{"metadata": {"name": "s"}}]}),
                true,
            ),
        ] {
            let files = render(&config, b"\0asm").unwrap();
            let rules = object(&files, "ClusterRole")["rules"].as_array().unwrap().clone();
            let read: Vec<String> = rules
                .iter()
                .filter(|r| r["verbs"] == json!(["get", "list", "watch"]))
                .map(|r| {
                    format!(
                        "{}/{}",
                        r["apiGroups"][0].as_str().unwrap(),
                        r["resources"][0].as_str().unwrap()
                    )
                })
                .collect();
            let resource = |kind: &str| match kind {
                "ingress" => "networking.k8s.io/ingresses",
                "service" => "/services",
                "endpointslice" => "discovery.k8s.io/endpointslices",
                "secret" => "/secrets",
                other => panic!("no rule for {other}"),
            };
            let kinds = sync_kinds(secrets);
            let wanted: Vec<String> = kinds.split(',').map(|k| resource(k).to_string()).collect();
            assert_eq!(read, wanted, "{kinds}");
            assert_eq!(rules.len(), wanted.len() + 1, "reads, and the status patch");
        }
    }

    #[test]
    fn the_module_configmap_is_immutable_and_named_by_its_digest() {
        let files = render(&json!({"ingresses": []}), b"\0asm\x01\0\0\0").unwrap();
        let module = files
            .iter()
            .flat_map(|m| &m.objects)
            .find(|o| o["metadata"]["name"] == "gw-module-0123456789ab")
            .unwrap();
        assert_eq!(module["immutable"], true);
        assert_eq!(module["binaryData"][MODULE_KEY], "AGFzbQEAAAA=");
        let deployment = object(&files, "Deployment");
        let volumes = deployment["spec"]["template"]["spec"]["volumes"].to_string();
        assert!(volumes.contains("gw-module-0123456789ab"), "{volumes}");
    }
}
