//! Standard base64 with padding (RFC 4648 §4): the encoding of Envoy's header-based session state, whose
//! value is the upstream endpoint's `ip:port`.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes padded standard base64; None for anything else (wrong length, alphabet or padding).
pub fn decode(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let quads = text.len() / 4;
    for (q, quad) in text.chunks_exact(4).enumerate() {
        let padding = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if padding > 2 || (padding > 0 && q + 1 != quads) {
            return None;
        }
        let mut n = 0u32;
        for &c in &quad[..4 - padding] {
            n = (n << 6) | u32::from(value(c)?);
        }
        n <<= 6 * padding as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - padding]);
    }
    Some(out)
}

/// Decodes as nginx's `ngx_decode_base64` does (the `Authorization: Basic` credentials, `{SSHA}` hashes):
/// padding optional, everything from the first `=` on ignored; None for any other byte outside the
/// alphabet or a length that cannot be base64 (one character left over).
pub fn decode_lenient(text: &[u8]) -> Option<Vec<u8>> {
    let end = text.iter().position(|&c| c == b'=').unwrap_or(text.len());
    let text = &text[..end];
    if text.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    for chunk in text.chunks(4) {
        let mut n = 0u32;
        for &c in chunk {
            n = (n << 6) | u32::from(value(c)?);
        }
        n <<= 6 * (4 - chunk.len()) as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..chunk.len() - 1]);
    }
    Some(out)
}

fn value(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test(unsupported = test)]
    fn rfc_4648_vectors_both_ways() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            // Envoy's documented example: the session header for 1.2.3.4:80.
            ("1.2.3.4:80", "MS4yLjMuNDo4MA=="),
        ];
        for (plain, encoded) in cases {
            assert_eq!(encode(plain.as_bytes()), encoded);
            assert_eq!(decode(encoded.as_bytes()).as_deref(), Some(plain.as_bytes()));
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn lenient_decoding_as_nginx() {
        for (text, plain) in [
            ("Zm9vOmJhcg==", "foo:bar"),
            ("Zm9vOmJhcg", "foo:bar"),
            ("Zm9vOmJhcg=garbage", "foo:bar"),
            ("Zm8", "fo"),
            ("", ""),
        ] {
            assert_eq!(
                decode_lenient(text.as_bytes()).as_deref(),
                Some(plain.as_bytes()),
                "{text}"
            );
        }
        for bad in ["Zm9vO", "Zm9v Zg", "Zm9v!"] {
            assert_eq!(decode_lenient(bad.as_bytes()), None, "{bad}");
        }
    }

    #[wasm_bindgen_test(unsupported = test)]
    fn garbage_is_refused() {
        for bad in [
            "Zg",
            "Zg=",
            "Z===",
            "Zg==Zg==",
            "Zm9v!",
            "Zm 9v",
            "\u{ff}\u{fe}==",
        ] {
            assert_eq!(decode(bad.as_bytes()), None, "{bad:?}");
        }
    }
}
