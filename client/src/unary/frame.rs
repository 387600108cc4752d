//! HTTP/2 frames (RFC 9113 §4 and §6): the few a unary call writes, and reading any frame.

/// Frame types.
pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PUSH_PROMISE: u8 = 0x5;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

/// Flags.
pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
pub const PADDED: u8 = 0x8;
pub const PRIORITY: u8 = 0x20;

/// SETTINGS_ENABLE_PUSH and SETTINGS_INITIAL_WINDOW_SIZE (§6.5.2).
pub const ENABLE_PUSH: u16 = 0x2;
pub const INITIAL_WINDOW_SIZE: u16 = 0x4;

/// SETTINGS_MAX_FRAME_SIZE's default, which the client never raises: no frame it is sent
/// may be larger, and none it sends is.
pub const MAX_FRAME: usize = 16_384;

/// The client connection preface (§3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// REFUSED_STREAM (§7): the server did not start on the stream.
pub const REFUSED_STREAM: u32 = 0x7;

/// Appends a frame's 9-byte header.
pub fn put_header(out: &mut Vec<u8>, len: usize, kind: u8, flags: u8, stream: u32) {
    debug_assert!(len <= MAX_FRAME);
    out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    out.extend_from_slice(&[kind, flags]);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
}

/// Appends a whole frame.
pub fn put(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    put_header(out, payload.len(), kind, flags, stream);
    out.extend_from_slice(payload);
}

/// One frame read off the connection.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: &'a [u8],
}

/// A frame the client cannot take: larger than it allows, or malformed.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalid(pub &'static str);

/// The first whole frame in `buf` and its length in bytes, or `None` while it is incomplete.
pub fn parse(buf: &[u8]) -> Result<Option<(Frame<'_>, usize)>, Invalid> {
    let Some(head) = buf.get(..9) else {
        return Ok(None);
    };
    let len = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
    if len > MAX_FRAME {
        return Err(Invalid("a frame larger than SETTINGS_MAX_FRAME_SIZE"));
    }
    let Some(payload) = buf.get(9..9 + len) else {
        return Ok(None);
    };
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    let frame = Frame {
        kind: head[3],
        flags: head[4],
        stream,
        payload,
    };
    Ok(Some((frame, 9 + len)))
}

impl<'a> Frame<'a> {
    /// The payload of a DATA or HEADERS frame without its padding (and, for HEADERS, without
    /// its priority fields).
    pub fn content(&self) -> Result<&'a [u8], Invalid> {
        let mut p = self.payload;
        let mut pad = 0;
        if self.flags & PADDED != 0 {
            let (&n, rest) = p
                .split_first()
                .ok_or(Invalid("a padded frame without padding"))?;
            pad = usize::from(n);
            p = rest;
        }
        if self.kind == HEADERS && self.flags & PRIORITY != 0 {
            p = p
                .get(5..)
                .ok_or(Invalid("a HEADERS frame too short for its priority"))?;
        }
        p.get(
            ..p.len()
                .checked_sub(pad)
                .ok_or(Invalid("padding longer than the frame"))?,
        )
        .ok_or(Invalid("padding longer than the frame"))
    }

    /// The error code of a RST_STREAM or GOAWAY frame (and GOAWAY's last stream id).
    pub fn error_code(&self) -> Option<(u32, u32)> {
        let word = |at: usize| {
            self.payload
                .get(at..at + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        match self.kind {
            RST_STREAM => Some((word(0)?, 0)),
            GOAWAY => Some((word(4)?, word(0)? & 0x7fff_ffff)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_round_trips_and_waits_for_its_end() {
        let mut out = Vec::new();
        put(&mut out, HEADERS, END_HEADERS, 1, b"abc");
        assert_eq!(out[..9], [0, 0, 3, 1, 4, 0, 0, 0, 1]);
        assert_eq!(parse(&out[..8]), Ok(None));
        assert_eq!(parse(&out[..11]), Ok(None));
        let (f, n) = parse(&out).unwrap().unwrap();
        assert_eq!(
            (f.kind, f.flags, f.stream, f.payload, n),
            (HEADERS, END_HEADERS, 1, &b"abc"[..], 12)
        );
    }

    #[test]
    fn an_oversized_frame_is_refused_before_it_is_read() {
        assert!(parse(&[0, 0x40, 1, 0, 0, 0, 0, 0, 1]).is_err());
    }

    #[test]
    fn padding_and_priority_are_stripped() {
        let f = Frame {
            kind: HEADERS,
            flags: PADDED | PRIORITY,
            stream: 1,
            payload: &[2, 9, 9, 9, 9, 9, b'x', 0, 0],
        };
        assert_eq!(f.content(), Ok(&b"x"[..]));
        let f = Frame {
            kind: DATA,
            flags: PADDED,
            stream: 1,
            payload: &[5, b'x'],
        };
        assert!(f.content().is_err());
        let f = Frame {
            kind: DATA,
            flags: PADDED,
            stream: 1,
            payload: &[],
        };
        assert!(f.content().is_err());
    }

    #[test]
    fn goaway_and_reset_carry_their_codes() {
        let f = Frame {
            kind: GOAWAY,
            flags: 0,
            stream: 0,
            payload: &[0, 0, 0, 0, 0, 0, 0, 2],
        };
        assert_eq!(f.error_code(), Some((2, 0)));
        let f = Frame {
            kind: RST_STREAM,
            flags: 0,
            stream: 1,
            payload: &[0, 0, 0, 7],
        };
        assert_eq!(f.error_code(), Some((REFUSED_STREAM, 0)));
        let f = Frame {
            kind: RST_STREAM,
            flags: 0,
            stream: 1,
            payload: &[0],
        };
        assert_eq!(f.error_code(), None);
    }
}
