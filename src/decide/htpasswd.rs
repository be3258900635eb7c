//! The user file of nginx's `auth_basic` (`htpasswd`): `user:hash[:comment]` lines, read as nginx reads
//! them (lines starting with `#` or CR are skipped, the first line of a user counts, the hash ends at `:`,
//! CR or LF), and the hash schemes nginx's `ngx_crypt` verifies in ingress-nginx's image: `$apr1$`,
//! `{PLAIN}`, `{SSHA}` and `{SHA}` by nginx itself, `$1$` and bcrypt (`$2a$`, `$2b$`, `$2x$`, `$2y$`) by
//! musl's `crypt(3)`. The other `crypt(3)` schemes (DES, `$5$`, `$6$`) are not implemented: their users
//! are warned about when the configuration loads and never let in.
//!
//! Verifying costs one hash of the password at most, whatever the number of users. bcrypt is slow on
//! purpose and runs on an Envoy worker thread, so costs above [`MAX_BCRYPT_COST`] are refused, and the
//! outcome of each credential pair is remembered (per VM) so a client that keeps sending the same
//! credentials pays the hash once.

use crate::encoding::{base64, bcrypt, md5_crypt, sha1};
use std::collections::HashMap;
use std::sync::Mutex;

/// The highest bcrypt cost accepted. In Envoy's V8 one verification at cost 10 holds a worker for about
/// 0.13 s (twice native code), and each step up doubles it: 12 would be over half a second per request
/// with a new password. 10 is Go's default (ingress-nginx's own tests use it); `htpasswd -B` uses 5.
pub const MAX_BCRYPT_COST: u32 = 10;

/// How many credential pairs the cache remembers before it starts over.
const CACHE_ENTRIES: usize = 1024;

/// One user's stored hash, by scheme.
enum Stored {
    Bcrypt(bcrypt::Setting, Vec<u8>),
    /// `$1$` / `$apr1$`, `{PLAIN}`, `{SHA}`, `{SSHA}`: recomputed whole and compared, as nginx does.
    Recomputed(Vec<u8>),
    /// A scheme this filter cannot verify (the line was warned about): never matches.
    Unusable,
}

/// A line nginx would read but this filter cannot use, for a warning (never quotes the line: it holds a
/// password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusable {
    /// 1-based.
    pub line: usize,
    pub why: String,
}

/// The users of one user file, and what this VM remembers of credentials it has checked.
pub struct UserFile {
    users: HashMap<Vec<u8>, Stored>,
    checked: Mutex<Checked>,
}

/// The verified-credentials cache: the outcome for each pair, keyed by a salted SHA-1 of the pair (the
/// pairs themselves are never kept).
#[derive(Default)]
struct Checked {
    salt: Option<[u8; 8]>,
    outcomes: HashMap<[u8; 20], bool>,
}

/// Never prints a hash.
impl std::fmt::Debug for UserFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UserFile({} users)", self.users.len())
    }
}

/// What verifying a pair cost and decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub granted: bool,
    /// Whether the password was hashed (false: unknown user, or the outcome was remembered).
    pub hashed: bool,
}

impl UserFile {
    /// Reads a user file; the lines whose hash cannot be verified come back for warnings.
    pub fn parse(text: &[u8]) -> (UserFile, Vec<Unusable>) {
        let mut users = HashMap::new();
        let mut unusable = Vec::new();
        for (index, line) in text.split(|&b| b == b'\n').enumerate() {
            if line.is_empty() || line[0] == b'#' || line[0] == b'\r' {
                continue;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let user = &line[..colon];
            if users.contains_key(user) {
                continue;
            }
            let rest = &line[colon + 1..];
            let hash = &rest[..rest
                .iter()
                .position(|&b| b == b':' || b == b'\r')
                .unwrap_or(rest.len())];
            let stored = match classify(hash) {
                Ok(stored) => stored,
                Err(why) => {
                    unusable.push(Unusable { line: index + 1, why });
                    Stored::Unusable
                }
            };
            users.insert(user.to_vec(), stored);
        }
        let file = UserFile {
            users,
            checked: Mutex::new(Checked::default()),
        };
        (file, unusable)
    }

    /// Whether `password` is `user`'s. `random` seeds the cache's salt the first time it is needed.
    pub fn verify(&self, user: &[u8], password: &[u8], random: impl FnOnce() -> u64) -> Verdict {
        let Some(stored) = self.users.get(user) else {
            return Verdict {
                granted: false,
                hashed: false,
            };
        };
        if matches!(stored, Stored::Unusable) {
            return Verdict {
                granted: false,
                hashed: false,
            };
        }
        let mut checked = self.checked.lock().ok();
        let key = checked.as_deref_mut().map(|c| {
            let salt = *c.salt.get_or_insert_with(|| random().to_le_bytes());
            sha1::digest(&[&salt, user, b":", password])
        });
        if let (Some(c), Some(key)) = (checked.as_deref(), key) {
            if let Some(&granted) = c.outcomes.get(&key) {
                return Verdict {
                    granted,
                    hashed: false,
                };
            }
        }
        let granted = matches_stored(stored, password);
        if let (Some(c), Some(key)) = (checked.as_deref_mut(), key) {
            if c.outcomes.len() >= CACHE_ENTRIES {
                c.outcomes.clear();
            }
            c.outcomes.insert(key, granted);
        }
        Verdict {
            granted,
            hashed: true,
        }
    }
}

/// Which scheme a stored hash uses, in `ngx_crypt`'s order, then musl's `crypt(3)`'s.
fn classify(hash: &[u8]) -> Result<Stored, String> {
    let recomputed = Ok(Stored::Recomputed(hash.to_vec()));
    if [b"$apr1$".as_slice(), b"{PLAIN}", b"{SSHA}", b"{SHA}", b"$1$"]
        .iter()
        .any(|magic| hash.starts_with(magic))
    {
        return recomputed;
    }
    if hash.starts_with(b"$2") && hash.get(3) == Some(&b'$') {
        let setting = bcrypt::Setting::parse(hash).ok_or("not a valid bcrypt hash")?;
        if setting.cost > MAX_BCRYPT_COST {
            return Err(format!(
                "bcrypt cost {} is above {MAX_BCRYPT_COST}, the most this filter computes on an Envoy worker \
                 (rehash the password with a lower cost, e.g. htpasswd -B -C 10)",
                setting.cost
            ));
        }
        return Ok(Stored::Bcrypt(setting, hash.to_vec()));
    }
    let scheme = match hash {
        [] => "an empty hash".to_string(),
        [b'$', b'5', b'$', ..] => "SHA-256-crypt ($5$)".to_string(),
        [b'$', b'6', b'$', ..] => "SHA-512-crypt ($6$)".to_string(),
        [b'$', ..] => "an unknown $-scheme".to_string(),
        _ => "DES crypt (or no known scheme)".to_string(),
    };
    Err(format!(
        "{scheme} is not supported (use bcrypt, $apr1$, $1$, {{SHA}} or {{SSHA}}): this user is never let in"
    ))
}

/// The password checked against the stored hash: recomputed with the stored parameters, then compared
/// in full, in time independent of where they differ.
fn matches_stored(stored: &Stored, password: &[u8]) -> bool {
    // As in C, the password ends at its first NUL byte.
    let password = &password[..password.iter().position(|&b| b == 0).unwrap_or(password.len())];
    let computed = match stored {
        Stored::Bcrypt(setting, _) => setting.hash(password).into_bytes(),
        Stored::Recomputed(hash) => recompute(hash, password),
        Stored::Unusable => return false,
    };
    let expected = match stored {
        Stored::Bcrypt(_, hash) | Stored::Recomputed(hash) => hash,
        Stored::Unusable => return false,
    };
    constant_time_eq(&computed, expected)
}

fn recompute(hash: &[u8], password: &[u8]) -> Vec<u8> {
    if let Some(computed) = md5_crypt::hash(password, hash) {
        return computed.into_bytes();
    }
    if hash.starts_with(b"{PLAIN}") {
        return [b"{PLAIN}".as_slice(), password].concat();
    }
    if let Some(encoded) = hash.strip_prefix(b"{SSHA}") {
        // nginx: an undecodable or short value leaves an empty salt.
        let decoded = base64::decode_lenient(encoded).filter(|d| d.len() >= 20);
        let salt = decoded.as_deref().map_or(&[][..], |d| &d[20..]);
        let digest = sha1::digest(&[password, salt]);
        return format!("{{SSHA}}{}", base64::encode(&[&digest[..], salt].concat())).into_bytes();
    }
    let digest = sha1::digest(&[password]);
    format!("{{SHA}}{}", base64::encode(&digest)).into_bytes()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    /// One user per scheme, all with password `bar`: `htpasswd -nbB -C 5`, `-nbm`, `-nbs` on Debian 12,
    /// `openssl passwd -1`, `{SSHA}` as OpenLDAP writes it (base64 of SHA-1(password, salt) and the salt
    /// `salt`), and `{PLAIN}`.
    const FILE: &str = "\
# a comment line
bcrypt:$2y$05$NUqUsqIYl6gNznB15YgNA.A7GxzNhja7uelaIByAgy4VYiY9ptIlm
apr1:$apr1$0enmOvDO$JYG1GU6ZFsJKeaQjgxoPh1:a comment
sha:{SHA}Ys23Ag/5IOWqZCw9QGaVDdHwH00=\r
md5:$1$saltsalt$56ibbfTGLAsNdA0n6U1Nn/
ssha:{SSHA}aTajYe2SJsRWrbKsIV9ZttXLp9RzYWx0
plain:{PLAIN}bar
bcrypt:{PLAIN}second-line-of-a-user-never-counts
 spaced:{PLAIN}bar
des:rl0uE0nOaL8zU
sha512:$6$salt$IxDD3jeSOb5eB1CX5LBsqZFVkJdido3OUILO5Ifz5iwMuTS4XMS130MTSuDDl3aCI6WouIL9AjRbLCelDCy.g.
big:$2y$13$NUqUsqIYl6gNznB15YgNA.A7GxzNhja7uelaIByAgy4VYiY9ptIlm
nocolon
empty:
";

    fn file() -> UserFile {
        UserFile::parse(FILE.as_bytes()).0
    }

    fn granted(f: &UserFile, user: &str, password: &str) -> bool {
        f.verify(user.as_bytes(), password.as_bytes(), || 7).granted
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn every_scheme_nginx_verifies() {
        let f = file();
        for user in ["bcrypt", "apr1", "sha", "md5", "ssha", "plain", " spaced"] {
            assert!(granted(&f, user, "bar"), "{user}");
            assert!(!granted(&f, user, "baz"), "{user}");
        }
        assert!(
            !granted(&f, "spaced", "bar"),
            "user names are compared byte for byte"
        );
        // As in nginx (C strings), a NUL ends the password.
        assert!(granted(&f, "plain", "bar\0ignored"));
        assert!(!granted(&f, "nobody", "bar"));
        assert!(!granted(&f, "nocolon", ""));
        // An empty hash never matches (ingress-nginx's e2e: `foo:` answers 401).
        assert!(!granted(&f, "empty", ""));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn unusable_lines_are_reported_by_number_without_their_content() {
        let (_, unusable) = UserFile::parse(FILE.as_bytes());
        let lines: Vec<usize> = unusable.iter().map(|u| u.line).collect();
        assert_eq!(lines, vec![10, 11, 12, 14], "{unusable:?}");
        assert!(unusable[0].why.starts_with("DES crypt"));
        assert!(unusable[1].why.starts_with("SHA-512-crypt ($6$)"));
        assert!(unusable[2].why.starts_with("bcrypt cost 13 is above 10"));
        assert!(unusable[3].why.starts_with("an empty hash"));
        for u in &unusable {
            assert!(!u.why.contains("rl0uE0") && !u.why.contains("IxDD3"), "{u:?}");
        }
        assert_eq!(format!("{:?}", file()), "UserFile(11 users)");
    }

    /// A wrong password costs one hash, the same as a right one; asking again costs none; an unknown user
    /// or an unusable line costs none either.
    #[wasm_bindgen_test(unsupported = test)]
    fn at_most_one_hash_per_request_and_remembered_outcomes() {
        let f = file();
        let verify = |user: &str, password: &str| f.verify(user.as_bytes(), password.as_bytes(), || 7);
        let hashed = |granted| Verdict {
            granted,
            hashed: true,
        };
        let remembered = |granted| Verdict {
            granted,
            hashed: false,
        };
        assert_eq!(verify("bcrypt", "wrong"), hashed(false));
        assert_eq!(verify("bcrypt", "bar"), hashed(true));
        assert_eq!(verify("bcrypt", "bar"), remembered(true));
        assert_eq!(verify("bcrypt", "wrong"), remembered(false));
        assert_eq!(verify("bcrypt", "wrong2"), hashed(false));
        assert_eq!(verify("nobody", "bar"), remembered(false));
        assert_eq!(verify("des", "bar"), remembered(false));
        // Pairs are told apart by user and password, not by their concatenation.
        assert_eq!(verify("apr1", "bar"), hashed(true));
        assert_eq!(verify("apr1", "ba"), hashed(false));
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn the_cache_starts_over_when_full() {
        let (f, _) = UserFile::parse(b"u:{PLAIN}p\n");
        for i in 0..CACHE_ENTRIES {
            f.verify(b"u", format!("{i}").as_bytes(), || 1);
        }
        assert!(!f.verify(b"u", b"0", || 1).hashed);
        f.verify(b"u", b"one more", || 1);
        assert!(f.verify(b"u", b"0", || 1).hashed);
    }
}
