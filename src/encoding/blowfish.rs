//! The Blowfish block cipher's state and its expensive key schedule (Provos and Mazières' EksBlowfish),
//! which is all bcrypt needs: there is no decryption and no plain key setup here.

mod pi;

/// The cipher state: the 18 subkeys and the four S-boxes (stored one after the other).
pub(crate) struct Blowfish {
    p: [u32; 18],
    s: Box<[u32; 1024]>,
}

impl Blowfish {
    /// The initial state (the digits of π).
    pub(crate) fn new() -> Self {
        Blowfish {
            p: pi::P,
            s: Box::new(pi::S),
        }
    }

    fn f(&self, x: u32) -> u32 {
        let [a, b, c, d] = x.to_be_bytes();
        let s = &self.s;
        (s[usize::from(a)].wrapping_add(s[256 + usize::from(b)]) ^ s[512 + usize::from(c)])
            .wrapping_add(s[768 + usize::from(d)])
    }

    /// Encrypts one 64-bit block given as its two halves.
    pub(crate) fn encrypt(&self, mut l: u32, mut r: u32) -> (u32, u32) {
        l ^= self.p[0];
        for pair in self.p[1..17].chunks_exact(2) {
            r ^= self.f(l) ^ pair[0];
            l ^= self.f(r) ^ pair[1];
        }
        (r ^ self.p[17], l)
    }

    /// XORs `key` (18 words) into the subkeys.
    pub(crate) fn xor_key(&mut self, key: &[u32; 18]) {
        for (p, k) in self.p.iter_mut().zip(key) {
            *p ^= k;
        }
    }

    /// Refills the subkeys and the S-boxes with the chained encryption of `salt`: block `i` is encrypted
    /// after XORing in salt words `2i mod 4` and `2i + 1 mod 4` (all zero for bcrypt's key rounds).
    pub(crate) fn expand(&mut self, salt: &[u32; 4]) {
        let (mut l, mut r) = (0u32, 0u32);
        let mut half = 0;
        // The subkeys first, then the S-boxes: 521 blocks in one chain.
        for i in (0..18 + 1024).step_by(2) {
            l ^= salt[half];
            r ^= salt[half + 1];
            half ^= 2;
            (l, r) = self.encrypt(l, r);
            let pair = if i < 18 {
                &mut self.p[i..i + 2]
            } else {
                &mut self.s[i - 18..i - 16]
            };
            pair[0] = l;
            pair[1] = r;
        }
    }

    /// XORs the salt into the subkeys, repeated (words 0, 1, 2, 3, 0, 1, ...).
    pub(crate) fn xor_salt(&mut self, salt: &[u32; 4]) {
        for (i, p) in self.p.iter_mut().enumerate() {
            *p ^= salt[i % 4];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    /// Schneier's published test vectors for a key of 8 bytes: the plain key setup (XOR the key into the
    /// subkeys, then encrypt zero blocks through the state) is `xor_key` + `expand` with a zero salt.
    #[wasm_bindgen_test(unsupported = test)]
    fn schneier_vectors() {
        let cases: [(u64, u64, u64); 3] = [
            (0x0000000000000000, 0x0000000000000000, 0x4EF997456198DD78),
            (0xFFFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFF, 0x51866FD5B85ECB8A),
            (0x0123456789ABCDEF, 0x1111111111111111, 0x61F9C3802281B096),
        ];
        for (key, plain, cipher) in cases {
            let (hi, lo) = ((key >> 32) as u32, key as u32);
            let mut words = [0u32; 18];
            for (i, w) in words.iter_mut().enumerate() {
                *w = if i % 2 == 0 { hi } else { lo };
            }
            let mut bf = Blowfish::new();
            bf.xor_key(&words);
            bf.expand(&[0; 4]);
            let (l, r) = bf.encrypt((plain >> 32) as u32, plain as u32);
            assert_eq!((u64::from(l) << 32) | u64::from(r), cipher, "key {key:016x}");
        }
    }
}
