//! HPACK (RFC 7541) for one unary call: a decoder for the daemon's header blocks (static and
//! dynamic table, Huffman-coded strings) and the few literal forms the request is written in.

use std::collections::VecDeque;

use super::huffman;

/// The dynamic table's limit: HTTP/2's default SETTINGS_HEADER_TABLE_SIZE, which the client
/// never changes, so the daemon's encoder may use up to this much.
const TABLE_LIMIT: usize = 4096;
/// Largest header list taken from one block (RFC 7541 §4.1 sizes), far above a gRPC answer's.
const LIST_LIMIT: usize = 64 * 1024;

/// RFC 7541 Appendix A.
const STATIC: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// A header block that breaks RFC 7541, or one beyond this decoder's limits.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid(pub &'static str);

/// One connection's decoding state: the dynamic table, newest entry first.
#[derive(Default)]
pub struct Decoder {
    table: VecDeque<(Vec<u8>, Vec<u8>)>,
    size: usize,
    limit: Option<usize>,
}

impl Decoder {
    /// Decodes one complete header block, calling `field` with each name and value in order.
    pub fn decode(
        &mut self,
        mut block: &[u8],
        mut field: impl FnMut(&[u8], &[u8]),
    ) -> Result<(), Invalid> {
        let mut list = 0;
        let mut first = true;
        while let Some(&b) = block.first() {
            if b & 0xe0 == 0x20 {
                // Dynamic table size update: only at the start of a block (§4.2).
                if !first {
                    return Err(Invalid("a table size update after a header field"));
                }
                let size = integer(&mut block, 5)?;
                if size > TABLE_LIMIT {
                    return Err(Invalid("a table size over the limit"));
                }
                self.limit = Some(size);
                self.evict(0);
                continue;
            }
            first = false;
            let (name, value) = if b & 0x80 != 0 {
                let index = integer(&mut block, 7)?;
                let (n, v) = self.entry(index)?;
                (n.to_vec(), v.to_vec())
            } else {
                let (prefix, indexed) = if b & 0xc0 == 0x40 {
                    (6, true)
                } else {
                    (4, false)
                };
                let index = integer(&mut block, prefix)?;
                let name = match index {
                    0 => string(&mut block)?,
                    i => self.entry(i)?.0.to_vec(),
                };
                let value = string(&mut block)?;
                if indexed {
                    self.insert(name.clone(), value.clone());
                }
                (name, value)
            };
            list += name.len() + value.len() + 32;
            if list > LIST_LIMIT {
                return Err(Invalid("a header list over the limit"));
            }
            field(&name, &value);
        }
        Ok(())
    }

    fn entry(&self, index: usize) -> Result<(&[u8], &[u8]), Invalid> {
        match index {
            0 => Err(Invalid("header index 0")),
            1..=61 => {
                let (n, v) = STATIC[index - 1];
                Ok((n.as_bytes(), v.as_bytes()))
            }
            _ => self
                .table
                .get(index - 62)
                .map(|(n, v)| (n.as_slice(), v.as_slice()))
                .ok_or(Invalid("a header index past the table")),
        }
    }

    fn insert(&mut self, name: Vec<u8>, value: Vec<u8>) {
        let size = name.len() + value.len() + 32;
        self.evict(size);
        if size <= self.limit() {
            self.size += size;
            self.table.push_front((name, value));
        }
    }

    /// Drops the oldest entries until `room` more bytes fit (all of them when they cannot).
    fn evict(&mut self, room: usize) {
        while self.size + room > self.limit() {
            match self.table.pop_back() {
                Some((n, v)) => self.size -= n.len() + v.len() + 32,
                None => break,
            }
        }
    }

    fn limit(&self) -> usize {
        self.limit.unwrap_or(TABLE_LIMIT)
    }
}

/// An integer with an N-bit prefix (RFC 7541 §5.1), consumed from the front of `src`.
fn integer(src: &mut &[u8], prefix: u32) -> Result<usize, Invalid> {
    const SHORT: Invalid = Invalid("a header block cut short");
    let (&first, mut rest) = src.split_first().ok_or(SHORT)?;
    let max = (1usize << prefix) - 1;
    let mut value = usize::from(first) & max;
    if value == max {
        let mut shift = 0;
        loop {
            let (&b, tail) = rest.split_first().ok_or(SHORT)?;
            rest = tail;
            if shift > 21 {
                return Err(Invalid("an integer over 2^28"));
            }
            value += usize::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    *src = rest;
    Ok(value)
}

/// A string literal (RFC 7541 §5.2), consumed from the front of `src`.
fn string(src: &mut &[u8]) -> Result<Vec<u8>, Invalid> {
    let huffman = src.first().is_some_and(|b| b & 0x80 != 0);
    let len = integer(src, 7)?;
    if len > src.len() {
        return Err(Invalid("a header block cut short"));
    }
    let (raw, rest) = src.split_at(len);
    *src = rest;
    if !huffman {
        return Ok(raw.to_vec());
    }
    let mut out = Vec::with_capacity(len + len / 2);
    huffman::decode(raw, &mut out).map_err(|_| Invalid("a bad Huffman string"))?;
    Ok(out)
}

/// Appends `value` with an N-bit prefix whose other bits are `flags` (RFC 7541 §5.1).
pub fn put_integer(out: &mut Vec<u8>, prefix: u32, flags: u8, mut value: usize) {
    let max = (1usize << prefix) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    value -= max;
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends a static-table field by index (§6.1).
pub fn put_indexed(out: &mut Vec<u8>, index: usize) {
    put_integer(out, 7, 0x80, index);
}

/// Appends a literal field not added to the table (§6.2.2), named by a static-table index or,
/// with index 0, by `name`; strings are written plain, not Huffman-coded.
pub fn put_literal(out: &mut Vec<u8>, index: usize, name: &str, value: &str) {
    put_integer(out, 4, 0, index);
    if index == 0 {
        put_string(out, name);
    }
    put_string(out, value);
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    put_integer(out, 7, 0, s.len());
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn fields(d: &mut Decoder, block: &[u8]) -> Vec<(String, String)> {
        let mut out = Vec::new();
        d.decode(block, |n, v| {
            out.push((
                String::from_utf8(n.to_vec()).unwrap(),
                String::from_utf8(v.to_vec()).unwrap(),
            ))
        })
        .unwrap();
        out
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_rfcs_requests_with_huffman_decode_in_sequence() {
        // RFC 7541 C.4: three requests on one connection, sharing the dynamic table.
        let mut d = Decoder::default();
        assert_eq!(
            fields(&mut d, &hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff")),
            pairs(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
            ])
        );
        assert_eq!(d.size, 57);
        assert_eq!(
            fields(&mut d, &hex("8286 84be 5886 a8eb 1064 9cbf")),
            pairs(&[
                (":method", "GET"),
                (":scheme", "http"),
                (":path", "/"),
                (":authority", "www.example.com"),
                ("cache-control", "no-cache"),
            ])
        );
        assert_eq!(d.size, 110);
        assert_eq!(
            fields(
                &mut d,
                &hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf")
            ),
            pairs(&[
                (":method", "GET"),
                (":scheme", "https"),
                (":path", "/index.html"),
                (":authority", "www.example.com"),
                ("custom-key", "custom-value"),
            ])
        );
        assert_eq!(d.size, 164);
    }

    #[test]
    fn a_size_update_evicts_and_is_only_allowed_first() {
        let mut d = Decoder::default();
        fields(&mut d, &hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"));
        assert_eq!(d.table.len(), 1);
        // Size update to 0, then ":method GET".
        assert_eq!(fields(&mut d, &hex("20 82")), pairs(&[(":method", "GET")]));
        assert_eq!((d.table.len(), d.size), (0, 0));
        assert!(d.decode(&hex("82 20"), |_, _| {}).is_err());
        // Over the limit this side advertised (4096): 3f e2 1f = 31 + 98 + 31 * 128 = 4097.
        assert!(d.decode(&hex("3f e2 1f"), |_, _| {}).is_err());
    }

    #[test]
    fn bad_indexes_and_short_blocks_are_errors() {
        let mut d = Decoder::default();
        for bad in ["80", "be", "41", "4188", "0f", "ff ff ff ff ff 0f"] {
            assert!(d.decode(&hex(bad), |_, _| {}).is_err(), "{bad}");
        }
    }

    #[test]
    fn what_the_client_writes_decodes() {
        let mut out = Vec::new();
        put_indexed(&mut out, 3);
        put_literal(&mut out, 4, "", "/ssoagent.v1.Agent/GetCredentials");
        put_literal(&mut out, 31, "", "application/grpc");
        put_literal(&mut out, 0, "te", "trailers");
        assert_eq!(
            fields(&mut Decoder::default(), &out),
            pairs(&[
                (":method", "POST"),
                (":path", "/ssoagent.v1.Agent/GetCredentials"),
                ("content-type", "application/grpc"),
                ("te", "trailers"),
            ])
        );
    }

    proptest! {
        #[test]
        fn integers_round_trip(v in 0usize..(1 << 28), prefix in 1u32..=8) {
            let mut out = Vec::new();
            put_integer(&mut out, prefix, 0, v);
            let mut src = out.as_slice();
            prop_assert_eq!(integer(&mut src, prefix).unwrap(), v);
            prop_assert!(src.is_empty());
        }

        #[test]
        fn huffman_literals_decode(name in "[a-z-]{1,20}", value in ".{0,100}") {
            let mut block = vec![0x40];
            for s in [name.as_bytes(), value.as_bytes()] {
                let coded = crate::unary::huffman::tests::encode(s);
                put_integer(&mut block, 7, 0x80, coded.len());
                block.extend_from_slice(&coded);
            }
            let mut d = Decoder::default();
            let mut got = Vec::new();
            d.decode(&block, |n, v| got.push((n.to_vec(), v.to_vec()))).unwrap();
            prop_assert_eq!(got, vec![(name.into_bytes(), value.into_bytes())]);
        }

        #[test]
        fn garbage_never_panics(block in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = Decoder::default().decode(&block, |_, _| {});
        }
    }
}
