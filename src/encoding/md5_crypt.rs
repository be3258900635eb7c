//! Poul-Henning Kamp's MD5-based crypt: `$1$<salt>$<hash>` (crypt(3)) and Apache's `$apr1$<salt>$<hash>`
//! (`htpasswd -m`, the default of `htpasswd`, which nginx computes itself). The same function with a
//! different magic string: 1000 rounds of MD5 over the password and a salt of at most 8 characters.

use super::md5;

/// crypt's base64 alphabet, least significant 6 bits first.
const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `$1$` or `$apr1$`: the magic strings this function answers to.
pub const MAGICS: [&str; 2] = ["$apr1$", "$1$"];

/// The full crypt string of `password` for the stored `hash` (whose magic and salt are reused), or None
/// when `hash` starts with neither magic. As in C, the password ends at its first NUL byte.
pub fn hash(password: &[u8], hash: &[u8]) -> Option<String> {
    let magic = MAGICS.iter().find(|m| hash.starts_with(m.as_bytes()))?;
    let after = &hash[magic.len()..];
    // The salt: at most 8 characters, up to the first `$`.
    let salt_len = after.iter().take(8).take_while(|&&c| c != b'$').count();
    let salt = &after[..salt_len];
    let end = password.iter().position(|&b| b == 0).unwrap_or(password.len());
    let key = &password[..end];

    let alternate = md5::digest(&[key, salt, key].concat());
    let mut first = Vec::with_capacity(2 * key.len() + 32);
    first.extend_from_slice(key);
    first.extend_from_slice(magic.as_bytes());
    first.extend_from_slice(salt);
    let mut left = key.len();
    while left > 0 {
        let n = left.min(16);
        first.extend_from_slice(&alternate[..n]);
        left -= n;
    }
    let mut bits = key.len();
    while bits > 0 {
        first.push(if bits & 1 == 1 {
            0
        } else {
            key.first().copied().unwrap_or(0)
        });
        bits >>= 1;
    }
    let mut digest = md5::digest(&first);

    let mut round = Vec::with_capacity(2 * key.len() + 32);
    for i in 0..1000 {
        round.clear();
        if i & 1 == 1 {
            round.extend_from_slice(key);
        } else {
            round.extend_from_slice(&digest);
        }
        if i % 3 != 0 {
            round.extend_from_slice(salt);
        }
        if i % 7 != 0 {
            round.extend_from_slice(key);
        }
        if i & 1 == 1 {
            round.extend_from_slice(&digest);
        } else {
            round.extend_from_slice(key);
        }
        digest = md5::digest(&round);
    }

    let mut out = String::with_capacity(magic.len() + salt.len() + 23);
    out.push_str(magic);
    out.extend(salt.iter().map(|&c| char::from(c)));
    out.push('$');
    let d = |i: usize| u32::from(digest[i]);
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        to64(&mut out, (d(a) << 16) | (d(b) << 8) | d(c), 4);
    }
    to64(&mut out, d(11), 2);
    Some(out)
}

fn to64(out: &mut String, mut v: u32, n: usize) {
    for _ in 0..n {
        out.push(char::from(ITOA64[(v & 0x3f) as usize]));
        v >>= 6;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn check(password: &[u8], stored: &str) {
        assert_eq!(hash(password, stored.as_bytes()).as_deref(), Some(stored));
    }

    /// Made on Debian 12 with `openssl passwd -1|-apr1 -salt <salt> <password>` and `htpasswd -nbm`.
    #[wasm_bindgen_test(unsupported = test)]
    fn known_answers() {
        check(b"bar", "$1$saltsalt$56ibbfTGLAsNdA0n6U1Nn/");
        check(b"bar", "$apr1$saltsalt$HZb7DO9JU4769Nu3n58bv.");
        check(b"bar", "$apr1$0enmOvDO$JYG1GU6ZFsJKeaQjgxoPh1");
        check(b"", "$apr1$x$tMwYqBfQwi3FYAr0aJc8M/");
        check(LONG, "$apr1$ab$edPMdD5N4u8Q.AFP18fTX/");
    }

    /// Longer than two MD5 blocks of password (the alternate digest is repeated).
    const LONG: &[u8] = b"a password longer than thirty-two bytes, and then some more";

    #[wasm_bindgen_test(unsupported = test)]
    fn salt_rules_and_other_schemes() {
        // The salt stops after 8 characters or at `$`; what the stored hash has beyond is compared later.
        assert_eq!(
            hash(b"bar", b"$apr1$saltsaltEXTRA$x").as_deref(),
            Some("$apr1$saltsalt$HZb7DO9JU4769Nu3n58bv.")
        );
        assert_eq!(hash(b"bar", b"$2y$05$x"), None);
        assert_eq!(hash(b"bar\0baz", b"$1$saltsalt$"), hash(b"bar", b"$1$saltsalt$"));
    }
}
