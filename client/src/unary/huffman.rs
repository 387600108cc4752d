//! HPACK's Huffman code (RFC 7541 §5.2 and Appendix B), decoding only: the daemon's HTTP/2
//! stack Huffman-codes the header values it sends (`grpc-message` among them).
//!
//! The code is canonical: within one length, codes count up in symbol order, and each length's
//! first code follows the last code of the shorter ones. So the bit length of every symbol is
//! all the table needs, and decoding compares the bits read so far with each length's range.

/// Code length in bits of each byte value and, last, of EOS (256): RFC 7541 Appendix B.
const LENGTHS: [u8; 257] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5,
    5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6,
    6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, 20, 22, 20, 20, 22, 22, 22, 23, 22,
    23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, 22,
    21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20,
    22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19,
    21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22,
    22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];

const EOS: u16 = 256;
const LONGEST: usize = 30;

/// The canonical code's ranges: for each length, its first code, how many codes it has, and
/// where its symbols start in `symbols` (all symbols ordered by length, then value).
struct Canonical {
    first: [u32; LONGEST + 1],
    count: [u32; LONGEST + 1],
    start: [u16; LONGEST + 1],
    symbols: [u16; 257],
}

const CODE: Canonical = canonical();

const fn canonical() -> Canonical {
    let mut count = [0u32; LONGEST + 1];
    let mut s = 0;
    while s < 257 {
        count[LENGTHS[s] as usize] += 1;
        s += 1;
    }
    let mut first = [0u32; LONGEST + 1];
    let mut start = [0u16; LONGEST + 1];
    let (mut code, mut at, mut len) = (0u32, 0u16, 1);
    while len <= LONGEST {
        first[len] = code;
        start[len] = at;
        code = (code + count[len]) << 1;
        at += count[len] as u16;
        len += 1;
    }
    let mut next = start;
    let mut symbols = [0u16; 257];
    s = 0;
    while s < 257 {
        let len = LENGTHS[s] as usize;
        symbols[next[len] as usize] = s as u16;
        next[len] += 1;
        s += 1;
    }
    Canonical {
        first,
        count,
        start,
        symbols,
    }
}

/// A Huffman-coded string that breaks RFC 7541 §5.2: a code that is not one, EOS inside, or
/// padding that is longer than 7 bits or not the start of EOS.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid;

/// Appends the decoded bytes of `src` to `out`.
pub fn decode(src: &[u8], out: &mut Vec<u8>) -> Result<(), Invalid> {
    let (mut code, mut len) = (0u32, 0usize);
    for &byte in src {
        for shift in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> shift) & 1);
            len += 1;
            let offset = code.wrapping_sub(CODE.first[len]);
            if offset < CODE.count[len] {
                let symbol = CODE.symbols[usize::from(CODE.start[len]) + offset as usize];
                if symbol == EOS {
                    return Err(Invalid);
                }
                out.push(symbol as u8);
                (code, len) = (0, 0);
            } else if len == LONGEST {
                return Err(Invalid);
            }
        }
    }
    // What is left is padding: at most 7 bits, all ones (the first bits of EOS).
    if len > 7 || code != (1 << len) - 1 {
        return Err(Invalid);
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The code of `symbol`: (bits, length). Test-only: the client never Huffman-codes.
    fn code_of(symbol: usize) -> (u32, usize) {
        let len = LENGTHS[symbol] as usize;
        let rank = (CODE.start[len]..)
            .zip(&CODE.symbols[usize::from(CODE.start[len])..])
            .find(|(_, s)| usize::from(**s) == symbol)
            .map(|(at, _)| u32::from(at - CODE.start[len]))
            .unwrap();
        (CODE.first[len] + rank, len)
    }

    /// RFC 7541 §5.2 encoding, padded with ones.
    pub(crate) fn encode(src: &[u8]) -> Vec<u8> {
        let (mut out, mut acc, mut bits) = (Vec::new(), 0u64, 0usize);
        for &b in src {
            let (code, len) = code_of(usize::from(b));
            acc = (acc << len) | u64::from(code);
            bits += len;
            while bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        if bits > 0 {
            out.push(((acc << (8 - bits)) as u8) | (0xff >> bits));
        }
        out
    }

    #[test]
    fn the_codes_are_the_rfcs() {
        // RFC 7541 Appendix B, a few rows.
        assert_eq!(code_of(b'0' as usize), (0x0, 5));
        assert_eq!(code_of(b'a' as usize), (0x3, 5));
        assert_eq!(code_of(b' ' as usize), (0x14, 6));
        assert_eq!(code_of(b'%' as usize), (0x15, 6));
        assert_eq!(code_of(b'A' as usize), (0x21, 6));
        assert_eq!(code_of(b'z' as usize), (0x7b, 7));
        assert_eq!(code_of(0), (0x1ff8, 13));
        assert_eq!(code_of(255), (0x3ffffee, 26));
        assert_eq!(code_of(EOS as usize), (0x3fffffff, 30));
    }

    #[test]
    fn the_rfcs_examples_decode() {
        // RFC 7541 C.4.1 and C.6.1: "www.example.com" and "302".
        let mut out = Vec::new();
        decode(
            &[
                0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
            ],
            &mut out,
        )
        .unwrap();
        assert_eq!(out, b"www.example.com");
        out.clear();
        decode(&[0x64, 0x02], &mut out).unwrap();
        assert_eq!(out, b"302");
    }

    #[test]
    fn bad_padding_and_eos_are_refused() {
        let mut out = Vec::new();
        // '0' (00000) padded with zeros instead of ones.
        assert_eq!(decode(&[0b0000_0000], &mut out), Err(Invalid));
        // A whole byte of padding after '0' (5 bits) + 3 bits: 00000111 11111111.
        assert_eq!(decode(&[0b0000_0111, 0xff], &mut out), Err(Invalid));
        // EOS itself (30 ones) inside the string.
        assert_eq!(decode(&[0xff, 0xff, 0xff, 0xff], &mut out), Err(Invalid));
        assert_eq!(decode(&[], &mut out), Ok(()));
    }

    proptest! {
        #[test]
        fn every_byte_string_round_trips(s in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut out = Vec::new();
            decode(&encode(&s), &mut out).unwrap();
            prop_assert_eq!(out, s);
        }

        #[test]
        fn garbage_never_panics(s in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode(&s, &mut Vec::new());
        }
    }
}
