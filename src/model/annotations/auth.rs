//! `auth-type: basic` with `auth-secret` (`name`, or `namespace/name` of the Ingress's own namespace:
//! ingress-nginx refuses other namespaces by default), `auth-secret-type` (`auth-file`, the default: an
//! htpasswd file in the Secret's key `auth`; or `auth-map`: each key a user, each value its hash) and
//! `auth-realm` (default empty). As in ingress-nginx, without `auth-type` the others do nothing, and
//! every problem with the rest — a missing or unreadable Secret, a value ingress-nginx's validation
//! refuses — denies every path of the Ingress (503). `auth-type: digest` is not enforced: 503 too.
//! The Secret comes from the configuration's `secrets` ([`crate::model::secret`]).

use super::{field_of, Annotations, PREFIX};
use crate::decide::basic_auth::BasicAuth;
use crate::decide::htpasswd::UserFile;
use crate::diagnostics::Diagnostics;
use crate::model::secret::Secrets;
use serde_json::Value;
use std::sync::Arc;

const TYPE: &str = "auth-type";
const SECRET: &str = "auth-secret";
const SECRET_TYPE: &str = "auth-secret-type";
const REALM: &str = "auth-realm";
pub const NAMES: &[&str] = &[TYPE, SECRET, SECRET_TYPE, REALM];

const DENIED: &str =
    "every path of this Ingress answers 503 (fail closed), as ingress-nginx denies the location";

/// A reason to deny the Ingress: the annotation at fault and why.
struct Denial(&'static str, String);

/// Reads the annotations and the Secret they name. A denial is warned about and its key goes to
/// `denied`.
pub(crate) fn parse(
    a: &Annotations<'_>,
    namespace: &str,
    secrets: &Secrets,
    diags: &mut Diagnostics,
    denied: &mut Vec<String>,
) -> Option<BasicAuth> {
    match basic_auth(a, namespace, secrets, diags) {
        Ok(auth) => auth,
        Err(Denial(name, why)) => {
            denied.push(format!("{PREFIX}{name}"));
            diags.warning(a.id, &field_of(name), format!("{why}: {DENIED}"));
            None
        }
    }
}

fn basic_auth(
    a: &Annotations<'_>,
    namespace: &str,
    secrets: &Secrets,
    diags: &mut Diagnostics,
) -> Result<Option<BasicAuth>, Denial> {
    let Some(kind) = a.get(TYPE) else {
        for name in [SECRET, SECRET_TYPE, REALM] {
            if a.get(name).is_some() {
                diags.warning(
                    a.id,
                    &field_of(name),
                    "has no effect without auth-type (as in ingress-nginx): this Ingress is served without authentication",
                );
            }
        }
        return Ok(None);
    };
    // ingress-nginx denies a value without `basic` or `digest` in it, then renders `auth_basic` for
    // exactly "basic" and `auth_digest` for anything else.
    if kind != "basic" {
        let why = if kind.contains("basic") || kind.contains("digest") {
            format!("{kind:?}: digest authentication is not enforced by ingress-wasm")
        } else {
            format!("{kind:?} is not an authentication type (basic or digest)")
        };
        return Err(Denial(TYPE, why));
    }
    let realm = a.get(REALM).unwrap_or("");
    if !realm
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~/: ".contains(&b))
    {
        return Err(Denial(
            REALM,
            format!("{realm:?}: ingress-nginx allows only letters, digits, spaces and -._~/:"),
        ));
    }
    if realm == "off" {
        diags.warning(
            a.id,
            &field_of(REALM),
            "\"off\" switches nginx's auth_basic off: ingress-nginx served this Ingress without authentication, and so does ingress-wasm",
        );
        return Ok(None);
    }
    let secret_name = secret_name(a.get(SECRET), namespace).map_err(|why| Denial(SECRET, why))?;
    let Some(secret) = secrets.get(&secret_name) else {
        return Err(Denial(
            SECRET,
            format!(
                "Secret {secret_name} is not in the configuration (give it next to the Ingresses, or with \
                 --secrets-dir, to `ingress-wasm render`)"
            ),
        ));
    };
    let file = match a.get(SECRET_TYPE).unwrap_or("auth-file") {
        "auth-file" => secret
            .get("auth")
            .cloned()
            .ok_or_else(|| Denial(SECRET, format!("Secret {secret_name} has no key \"auth\"")))?,
        "auth-map" => secret.iter().fold(Vec::new(), |mut file, (user, hash)| {
            file.extend_from_slice(user.as_bytes());
            file.push(b':');
            file.extend_from_slice(hash);
            file.push(b'\n');
            file
        }),
        other => {
            return Err(Denial(
                SECRET_TYPE,
                format!("{other:?} is not a secret type (auth-file or auth-map)"),
            ))
        }
    };
    let (users, unusable) = UserFile::parse(&file);
    for line in unusable {
        diags.warning(
            a.id,
            &field_of(SECRET),
            format!("Secret {secret_name}, user file line {}: {}", line.line, line.why),
        );
    }
    Ok(Some(BasicAuth {
        realm: realm.to_string(),
        users: Arc::new(users),
    }))
}

/// `namespace/name` of the Secret `auth-secret` names, from an Ingress in `namespace`.
fn secret_name(value: Option<&str>, namespace: &str) -> Result<String, String> {
    let value = value.ok_or("auth-type basic needs auth-secret, the Secret with the users")?;
    let valid = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~/:".contains(&b));
    let (ns, name) = match value.split_once('/') {
        None => (namespace, value),
        Some((ns, name)) => (ns, name),
    };
    if !valid || name.is_empty() || name.contains('/') || ns.is_empty() {
        return Err(format!("{value:?} is not a Secret name (name or namespace/name)"));
    }
    if ns != namespace {
        return Err(format!(
            "{value:?}: a Secret of another namespace (ingress-nginx refuses them unless \
             allow-cross-namespace-resources is set)"
        ));
    }
    Ok(format!("{ns}/{name}"))
}

/// `namespace/name` of the Secret an Ingress (as JSON) names in `auth-secret`, for the CLI to pick the
/// Secrets to pass to the filter.
pub fn referenced_secret(ingress: &Value) -> Option<String> {
    let metadata = ingress.get("metadata")?;
    let namespace = metadata
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let value = metadata
        .get("annotations")?
        .get(format!("{PREFIX}{SECRET}"))?
        .as_str()?;
    secret_name(Some(value.trim()), namespace).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::annotations::tests::ingress;
    use crate::model::annotations::{parse as parse_options, IngressOptions};
    use serde_json::json;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn secrets() -> Secrets {
        let mut d = Diagnostics::default();
        let s = Secrets::parse(
            Some(&json!([
                {"metadata": {"name": "basic-auth", "namespace": "ns"}, "stringData": {"auth": "foo:{PLAIN}bar\n"}},
                {"metadata": {"name": "map", "namespace": "ns"}, "stringData": {"foo": "{PLAIN}bar", "baz": "{PLAIN}qux"}},
                {"metadata": {"name": "weak", "namespace": "ns"},
                 "stringData": {"auth": "a:{PLAIN}b\nc:$6$x$y\nd:$2y$14$NUqUsqIYl6gNznB15YgNA.A7GxzNhja7uelaIByAgy4VYiY9ptIlm\n"}},
                {"metadata": {"name": "noauth", "namespace": "ns"}, "stringData": {"htpasswd": "foo:{PLAIN}bar"}},
                {"metadata": {"name": "elsewhere", "namespace": "other"}, "stringData": {"auth": "foo:{PLAIN}bar"}},
            ])),
            &mut d,
        );
        assert!(!d.has_errors());
        s
    }

    fn parse(annotations: &[(&str, &str)]) -> (IngressOptions, Vec<String>) {
        let keyed: Vec<(String, &str)> = annotations
            .iter()
            .map(|(k, v)| (format!("{PREFIX}{k}"), *v))
            .collect();
        let pairs: Vec<(&str, &str)> = keyed.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        let mut d = Diagnostics::default();
        let o = parse_options(&ingress(&pairs), &secrets(), &mut d);
        (o, d.into_vec().iter().map(ToString::to_string).collect())
    }

    fn lets_in(o: &IngressOptions, user: &str, password: &str) -> bool {
        let auth = o.basic_auth.as_ref().expect("basic auth");
        auth.users
            .verify(user.as_bytes(), password.as_bytes(), || 1)
            .granted
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn file_and_map_secrets() {
        let (o, msgs) = parse(&[
            ("auth-type", "basic"),
            ("auth-secret", "basic-auth"),
            ("auth-realm", "test auth"),
        ]);
        assert!(msgs.is_empty(), "{msgs:?}");
        assert!(o.unenforced.is_empty());
        assert!(lets_in(&o, "foo", "bar") && !lets_in(&o, "foo", "baz"));
        assert_eq!(o.basic_auth.as_ref().unwrap().realm, "test auth");
        let (o, msgs) = parse(&[
            ("auth-type", "basic"),
            ("auth-secret", "ns/map"),
            ("auth-secret-type", "auth-map"),
        ]);
        assert!(msgs.is_empty(), "{msgs:?}");
        assert!(lets_in(&o, "foo", "bar") && lets_in(&o, "baz", "qux") && !lets_in(&o, "foo", "qux"));
        assert_eq!(o.basic_auth.as_ref().unwrap().realm, "");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn unusable_users_are_warned_about_by_line() {
        let (o, msgs) = parse(&[("auth-type", "basic"), ("auth-secret", "weak")]);
        assert!(lets_in(&o, "a", "b"));
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert!(msgs[0].ends_with("auth-secret: Secret ns/weak, user file line 2: SHA-512-crypt ($6$) is not supported (use bcrypt, $apr1$, $1$, {SHA} or {SSHA}): this user is never let in"), "{msgs:?}");
        assert!(msgs[1].contains("line 3: bcrypt cost 14 is above 10"), "{msgs:?}");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn problems_deny_the_ingress() {
        for (annotations, field, why) in [
            (
                vec![("auth-type", "basic")],
                "auth-secret",
                "auth-type basic needs auth-secret",
            ),
            (
                vec![("auth-type", "basic"), ("auth-secret", "missing")],
                "auth-secret",
                "Secret ns/missing is not in the configuration",
            ),
            (
                vec![("auth-type", "basic"), ("auth-secret", "noauth")],
                "auth-secret",
                "Secret ns/noauth has no key \"auth\"",
            ),
            (
                vec![("auth-type", "basic"), ("auth-secret", "other/elsewhere")],
                "auth-secret",
                "\"other/elsewhere\": a Secret of another namespace",
            ),
            (
                vec![("auth-type", "basic"), ("auth-secret", "a/b/c")],
                "auth-secret",
                "\"a/b/c\" is not a Secret name",
            ),
            (
                vec![
                    ("auth-type", "basic"),
                    ("auth-secret", "basic-auth"),
                    ("auth-secret-type", "auth-files"),
                ],
                "auth-secret-type",
                "\"auth-files\" is not a secret type",
            ),
            (
                vec![
                    ("auth-type", "basic"),
                    ("auth-secret", "basic-auth"),
                    ("auth-realm", "it's me"),
                ],
                "auth-realm",
                "\"it's me\": ingress-nginx allows only",
            ),
            (
                vec![("auth-type", "digest"), ("auth-secret", "basic-auth")],
                "auth-type",
                "\"digest\": digest authentication is not enforced",
            ),
            (
                vec![("auth-type", "Basic"), ("auth-secret", "basic-auth")],
                "auth-type",
                "\"Basic\" is not an authentication type",
            ),
            (
                vec![("auth-type", "ba sic"), ("auth-secret", "basic-auth")],
                "auth-type",
                "\"ba sic\" is not an authentication type",
            ),
        ] {
            let (o, msgs) = parse(&annotations);
            assert!(o.basic_auth.is_none(), "{annotations:?}");
            assert_eq!(o.unenforced, [format!("{PREFIX}{field}")], "{annotations:?}");
            assert_eq!(msgs.len(), 1, "{msgs:?}");
            let start = format!("ns/ing: metadata.annotations.{PREFIX}{field}: {why}");
            assert!(
                msgs[0].starts_with(&start) && msgs[0].ends_with(DENIED),
                "{msgs:?}"
            );
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn without_auth_type_or_with_realm_off_nothing_is_enforced() {
        let (o, msgs) = parse(&[("auth-secret", "basic-auth"), ("auth-realm", "x")]);
        assert!(o.basic_auth.is_none() && o.unenforced.is_empty());
        assert_eq!(msgs.len(), 2);
        assert!(msgs[0].contains("has no effect without auth-type"), "{msgs:?}");
        let (o, msgs) = parse(&[
            ("auth-type", "basic"),
            ("auth-secret", "basic-auth"),
            ("auth-realm", "off"),
        ]);
        assert!(o.basic_auth.is_none() && o.unenforced.is_empty());
        assert!(msgs[0].contains("switches nginx's auth_basic off"), "{msgs:?}");
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn referenced_secrets() {
        let ing = |ns: Option<&str>, value: &str| {
            let mut m =
                json!({"name": "i", "annotations": {"nginx.ingress.kubernetes.io/auth-secret": value}});
            if let Some(ns) = ns {
                m["namespace"] = json!(ns);
            }
            json!({"metadata": m})
        };
        assert_eq!(
            referenced_secret(&ing(Some("shop"), "basic-auth")).as_deref(),
            Some("shop/basic-auth")
        );
        assert_eq!(
            referenced_secret(&ing(Some("shop"), " shop/x ")).as_deref(),
            Some("shop/x")
        );
        assert_eq!(referenced_secret(&ing(None, "x")).as_deref(), Some("default/x"));
        assert_eq!(referenced_secret(&ing(Some("shop"), "other/x")), None);
        assert_eq!(referenced_secret(&json!({"metadata": {"name": "i"}})), None);
    }
}
