//! bcrypt as crypt(3) computes it for nginx's `auth_basic`: OpenBSD's `$2b$` and crypt_blowfish's
//! (glibc, musl) `$2a$`, `$2x$` and `$2y$`, `$2<v>$<cost>$<22 salt chars><31 hash chars>`. `$2b$` and
//! `$2y$` are the same function; `$2x$` reproduces the sign-extension bug of crypt_blowfish before 1.1 for
//! passwords with 8-bit bytes, and `$2a$` adds crypt_blowfish's countermeasure for the rare passwords
//! whose buggy and correct keys would otherwise collide. For passwords of ASCII bytes all four agree.
//!
//! Deliberately slow: 2^cost rounds of the key schedule, each two full re-keyings of Blowfish. The caller
//! bounds the cost (see `decide::htpasswd`).

use super::blowfish::Blowfish;

/// bcrypt's own base64 alphabet (not RFC 4648's order).
const ALPHABET: &[u8; 64] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// "OrpheanBeholderScryDoubt", the block bcrypt encrypts 64 times.
const MAGIC: [u32; 6] = [
    0x4f72_7068,
    0x6561_6e42,
    0x6568_6f6c,
    0x6465_7253,
    0x6372_7944,
    0x6f75_6274,
];

/// The parameters of a stored bcrypt hash.
#[derive(Clone, PartialEq, Eq)]
pub struct Setting {
    /// The letter after `$2`: `a`, `b`, `x` or `y`.
    pub variant: u8,
    /// log2 of the key-schedule rounds, 4 to 31.
    pub cost: u32,
    /// The first 22 characters after the cost: the salt as written.
    salt_text: [u8; 22],
    salt: [u32; 4],
}

impl std::fmt::Debug for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "$2{}${:02}$", char::from(self.variant), self.cost)
    }
}

impl Setting {
    /// Reads `$2<v>$<cost>$<salt>...` (what follows the salt is not looked at); None when crypt(3)
    /// would refuse it as a bcrypt setting.
    pub fn parse(hash: &[u8]) -> Option<Setting> {
        let [b'$', b'2', variant, b'$', c1, c2, b'$', rest @ ..] = hash else {
            return None;
        };
        if !matches!(variant, b'a' | b'b' | b'x' | b'y') || !c1.is_ascii_digit() || !c2.is_ascii_digit() {
            return None;
        }
        let cost = u32::from(c1 - b'0') * 10 + u32::from(c2 - b'0');
        if !(4..=31).contains(&cost) {
            return None;
        }
        let salt_text: [u8; 22] = rest.get(..22)?.try_into().ok()?;
        let bytes = decode_salt(&salt_text)?;
        let mut salt = [0u32; 4];
        for (word, chunk) in salt.iter_mut().zip(bytes.chunks_exact(4)) {
            *word = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        Some(Setting {
            variant: *variant,
            cost,
            salt_text,
            salt,
        })
    }

    /// The full crypt(3) string of `password` under this setting (60 characters). As in C, the password
    /// ends at its first NUL byte; only its first 72 bytes count.
    pub fn hash(&self, password: &[u8]) -> String {
        let (key, initial_fix) = key_words(password, self.variant);
        let mut bf = Blowfish::new();
        bf.xor_key(&key);
        bf.xor_first(initial_fix);
        bf.expand(&self.salt);
        for _ in 0..(1u64 << self.cost) {
            bf.xor_key(&key);
            bf.expand(&[0; 4]);
            bf.xor_salt(&self.salt);
            bf.expand(&[0; 4]);
        }
        let mut words = MAGIC;
        for pair in words.chunks_exact_mut(2) {
            let (mut l, mut r) = (pair[0], pair[1]);
            for _ in 0..64 {
                (l, r) = bf.encrypt(l, r);
            }
            pair[0] = l;
            pair[1] = r;
        }
        let mut digest = [0u8; 24];
        for (chunk, word) in digest.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        let mut out = format!("$2{}${:02}$", char::from(self.variant), self.cost);
        // The salt as crypt(3) writes it back: its last character keeps only the 2 bits it carries.
        out.extend(self.salt_text[..21].iter().map(|&c| char::from(c)));
        let last = value(self.salt_text[21]).unwrap_or(0) & 0x30;
        out.push(char::from(ALPHABET[usize::from(last)]));
        encode(&digest[..23], &mut out);
        out
    }
}

impl Blowfish {
    /// crypt_blowfish's `$2a$` countermeasure: flips bit 16 of the first subkey.
    fn xor_first(&mut self, bits: u32) {
        if bits != 0 {
            let mut key = [0u32; 18];
            key[0] = bits;
            self.xor_key(&key);
        }
    }
}

/// The 18 key words (the password and its NUL, repeated, big-endian) and crypt_blowfish's `$2a$`
/// correction for the first subkey (0 unless needed).
fn key_words(password: &[u8], variant: u8) -> ([u32; 18], u32) {
    let end = password.iter().position(|&b| b == 0).unwrap_or(password.len());
    let password = &password[..end];
    let sign_bug = variant == b'x';
    let mut key = [0u32; 18];
    let (mut sign, mut diff) = (0u32, 0u32);
    let mut at = 0;
    for word in &mut key {
        let (mut correct, mut buggy) = (0u32, 0u32);
        for j in 0..4 {
            let byte = password.get(at).copied().unwrap_or(0);
            correct = (correct << 8) | u32::from(byte);
            // crypt_blowfish before 1.1 ORed the byte in sign-extended.
            buggy = (buggy << 8) | (i32::from(byte as i8) as u32);
            if j > 0 {
                sign |= buggy & 0x80;
            }
            at = if at >= password.len() { 0 } else { at + 1 };
        }
        diff |= correct ^ buggy;
        *word = if sign_bug { buggy } else { correct };
    }
    if variant != b'a' {
        return (key, 0);
    }
    // Only when the buggy and the correct keys are equal although a sign extension happened.
    diff |= diff >> 16;
    diff &= 0xffff;
    diff = diff.wrapping_add(0xffff);
    let fix = (sign << 9) & !diff & 0x10000;
    (key, fix)
}

fn value(c: u8) -> Option<u8> {
    ALPHABET
        .iter()
        .position(|&a| a == c)
        .and_then(|i| u8::try_from(i).ok())
}

/// 22 characters -> the 16 salt bytes (the last character's low 4 bits are ignored).
fn decode_salt(text: &[u8; 22]) -> Option<[u8; 16]> {
    let mut bits = 0u32;
    let mut held = 0;
    let mut out = [0u8; 16];
    let mut n = 0;
    for &c in text {
        bits = (bits << 6) | u32::from(value(c)?);
        held += 6;
        if held >= 8 {
            held -= 8;
            if let Some(slot) = out.get_mut(n) {
                *slot = (bits >> held) as u8;
            }
            n += 1;
        }
    }
    Some(out)
}

/// bcrypt's base64 of `data`, without padding.
fn encode(data: &[u8], out: &mut String) {
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn check(password: &[u8], hash: &str) {
        let setting = Setting::parse(hash.as_bytes()).unwrap_or_else(|| panic!("{hash}"));
        assert_eq!(
            setting.hash(password),
            hash,
            "{:?}",
            String::from_utf8_lossy(password)
        );
    }

    /// crypt_blowfish's own test vectors, checked against libxcrypt's `crypt(3)` on Debian 12 (through
    /// Python's ctypes), plus `htpasswd -nbB -C 5 foo bar` from Debian 12's apache2-utils.
    #[wasm_bindgen_test(unsupported = test)]
    fn known_answers() {
        check(
            b"U*U",
            "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
        );
        check(
            b"U*U*",
            "$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK",
        );
        check(
            b"U*U*U",
            "$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a",
        );
        check(
            b"",
            "$2a$05$CCCCCCCCCCCCCCCCCCCCC.7uG0VCzI2bS7j6ymqJi9CdcdxiRTWNy",
        );
        check(
            b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789chars after 72 are ignored",
            "$2a$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui",
        );
        check(HTPASSWD_PASSWORD, HTPASSWD_BCRYPT);
    }

    /// Passwords with 8-bit bytes: `$2x$` keeps the old sign-extension bug, `$2a$` its countermeasure.
    #[wasm_bindgen_test(unsupported = test)]
    fn eight_bit_passwords_per_variant() {
        let salt = "/OK.fbVrR/bpIqNJ5ianF.";
        for (password, variant, hash) in [
            (&b"\xa3"[..], "2x", "CE5elHaaO4EbggVDjb8P19RukzXSM3e"),
            (b"\xa3", "2y", "Sa7shbm4.OzKpvFnX1pQLmQW96oUlCq"),
            (b"\xa3", "2a", "Sa7shbm4.OzKpvFnX1pQLmQW96oUlCq"),
            (b"\xff\xa3345", "2a", "nRht2l/HRhr6zmCp9vYUvvsqynflf9e"),
            (b"\xff\xa3345", "2y", "nRht2l/HRhr6zmCp9vYUvvsqynflf9e"),
            (
                b"\xff\xa334\xff\xff\xff\xa3345",
                "2a",
                "ZC1JEJ8Z4gPfpe1JOr/oyPXTWl9EFd.",
            ),
            (
                b"\xff\xa334\xff\xff\xff\xa3345",
                "2y",
                "o./n25XVfn6oAPaUvHe.Csk4zRfsYPi",
            ),
            (
                b"\xff\xa334\xff\xff\xff\xa3345",
                "2x",
                "o./n25XVfn6oAPaUvHe.Csk4zRfsYPi",
            ),
            (b"\xff\xff\xa3", "2a", "nqd1wy.pTMdcvrRWxyiGL2eMz.2a85."),
            (b"\xff\xff\xa3", "2b", "CE5elHaaO4EbggVDjb8P19RukzXSM3e"),
        ] {
            check(password, &format!("${variant}$05${salt}{hash}"));
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn the_salt_is_written_back_as_crypt_reads_it() {
        // The last salt character carries 2 bits: crypt(3) writes `v` back as `u`.
        let setting = Setting::parse(b"$2b$04$abcdefghijklmnopqrstuv").unwrap();
        assert_eq!(
            setting.hash(b"bar"),
            "$2b$04$abcdefghijklmnopqrstuuEnktNu4dNa/sMz6nY.lAbxawdTTajT2"
        );
        // A NUL ends the password, as in C.
        assert_eq!(setting.hash(b"bar\0baz"), setting.hash(b"bar"));
    }

    const HTPASSWD_PASSWORD: &[u8] = b"bar";
    /// `htpasswd -nbB -C 5 foo bar` on Debian 12.
    const HTPASSWD_BCRYPT: &str = "$2y$05$NUqUsqIYl6gNznB15YgNA.A7GxzNhja7uelaIByAgy4VYiY9ptIlm";

    #[wasm_bindgen_test(unsupported = test)]
    fn settings_crypt_refuses() {
        for bad in [
            "$2c$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
            "$2a$03$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
            "$2a$32$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
            "$2a$5$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
            "$2a$05$CCCCCCCCCCCCCCCCCCCC",
            "$2a$05$CCCCCCCCCCCCCCCCCCCC!.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
        ] {
            assert!(Setting::parse(bad.as_bytes()).is_none(), "{bad}");
        }
        let s = Setting::parse(HTPASSWD_BCRYPT.as_bytes()).unwrap();
        assert_eq!((s.variant, s.cost), (b'y', 5));
        assert_eq!(format!("{s:?}"), "$2y$05$");
    }
}
