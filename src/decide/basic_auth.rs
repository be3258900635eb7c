//! `auth-type: basic`: nginx's `auth_basic` in the access phase, after the source ranges. A request
//! without valid `Authorization: Basic` credentials of a user in the Secret's user file gets 401 with
//! `WWW-Authenticate: Basic realm="<auth-realm>"`; a request let in reaches the upstream without its
//! `Authorization` header (ingress-nginx sets `proxy_set_header Authorization ""`).

use super::htpasswd::UserFile;
use super::policy::Outcome;
use super::{Reason, RequestContext};
use crate::encoding::base64;
use std::sync::Arc;

/// The longest `Authorization` value read: nginx refuses a header line past its 8 KiB buffer, and it
/// bounds the work of hashing the password.
const MAX_AUTHORIZATION_BYTES: usize = 8192;

/// The basic authentication of one location.
#[derive(Debug, Clone)]
pub struct BasicAuth {
    /// `auth-realm` (empty by default, as in ingress-nginx).
    pub realm: String,
    /// The user file of the Ingress's `auth-secret`, shared by its routes (and their cache).
    pub users: Arc<UserFile>,
}

impl BasicAuth {
    /// The access phase's second step. `headers` are the request headers toward the upstream (the
    /// credentials are removed there), `response_headers` those every response of the location carries.
    pub(crate) fn check(
        &self,
        ctx: &mut dyn RequestContext,
        headers: &mut Vec<(&'static str, String)>,
        response_headers: &[(&'static str, String)],
    ) -> Outcome {
        let credentials = ctx.header("authorization").and_then(|v| credentials(&v));
        let verdict =
            credentials.map(|(user, password)| self.users.verify(&user, &password, || ctx.random()));
        if verdict.is_some_and(|v| v.hashed) {
            ctx.password_hashed();
        }
        let granted = verdict.is_some_and(|v| v.granted);
        if granted {
            // An empty value keeps the header from the upstream.
            headers.push(("authorization", String::new()));
            return Outcome::Continue;
        }
        let mut reply = vec![("www-authenticate", format!("Basic realm=\"{}\"", self.realm))];
        reply.extend_from_slice(response_headers);
        Outcome::Respond {
            status: 401,
            headers: reply,
            reason: Reason::Unauthorized,
        }
    }
}

/// The user and password of an `Authorization: Basic` value, as nginx reads it: the scheme in any case,
/// spaces, then base64 (padding optional) of `user:password` with a non-empty user.
fn credentials(value: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    if value.len() > MAX_AUTHORIZATION_BYTES {
        return None;
    }
    let scheme = value.get(..6)?;
    if !scheme.eq_ignore_ascii_case(b"basic ") {
        return None;
    }
    let encoded = &value[6..];
    let encoded = &encoded[encoded.iter().position(|&b| b != b' ')?..];
    let decoded = base64::decode_lenient(encoded)?;
    let colon = decoded.iter().position(|&b| b == b':')?;
    (colon > 0).then(|| (decoded[..colon].to_vec(), decoded[colon + 1..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::context::TestContext;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn credentials_as_nginx_reads_them() {
        let pair = |u: &str, p: &str| Some((u.as_bytes().to_vec(), p.as_bytes().to_vec()));
        assert_eq!(credentials(b"Basic Zm9vOmJhcg=="), pair("foo", "bar"));
        assert_eq!(credentials(b"bAsIc    Zm9vOmJhcg"), pair("foo", "bar"));
        // Everything from the first `=` on is ignored.
        assert_eq!(credentials(b"Basic Zm9vOmJhcg==!"), pair("foo", "bar"));
        // user "foo", password "b:r" (only the first colon splits).
        assert_eq!(credentials(b"Basic Zm9vOmI6cg=="), pair("foo", "b:r"));
        // ":bar" (empty user), "foo" (no colon), other schemes, bad base64, nothing after the scheme.
        for bad in [
            &b"Basic OmJhcg=="[..],
            b"Basic Zm9v",
            b"Bearer Zm9vOmJhcg==",
            b"Basic Zm9v!mJhcg==",
            b"Basic    ",
            b"Basic",
            b"BasicZm9vOmJhcg==",
        ] {
            assert_eq!(credentials(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        let long = format!(
            "Basic {}",
            base64::encode(format!("u:{}", "p".repeat(8192)).as_bytes())
        );
        assert_eq!(credentials(long.as_bytes()), None);
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn challenge_or_credentials_removed() {
        let (users, _) = UserFile::parse(b"foo:{PLAIN}bar\n");
        let auth = BasicAuth {
            realm: "test auth".into(),
            users: Arc::new(users),
        };
        let cors = [("access-control-allow-origin", "*".to_string())];
        let mut headers = Vec::new();
        let mut ok = TestContext::new().header("authorization", b"Basic Zm9vOmJhcg==");
        assert!(matches!(
            auth.check(&mut ok, &mut headers, &cors),
            Outcome::Continue
        ));
        assert_eq!(headers, vec![("authorization", String::new())]);
        for mut ctx in [
            TestContext::new(),
            TestContext::new().header("authorization", b"Basic Zm9vOmJheg=="),
        ] {
            let mut headers = Vec::new();
            match auth.check(&mut ctx, &mut headers, &cors) {
                Outcome::Respond {
                    status: 401,
                    headers: reply,
                    reason: Reason::Unauthorized,
                } => assert_eq!(
                    reply,
                    vec![
                        ("www-authenticate", "Basic realm=\"test auth\"".to_string()),
                        ("access-control-allow-origin", "*".to_string()),
                    ]
                ),
                other => panic!("{other:?}"),
            }
            assert!(headers.is_empty());
        }
    }
}
