//! Who is asking: the peer credentials the transport read from the connection, passed into
//! every core call so later policy and audit can name the process.

/// The process at the other end of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    /// Unknown on transports that cannot tell (e.g. the named pipe today).
    pub pid: Option<i32>,
}

impl Caller {
    /// The daemon itself (housekeeping, refresh ahead): no other process involved.
    pub fn daemon() -> Self {
        Self {
            uid: ssoagent_client::fsutil::uid(),
            pid: Some(std::process::id() as i32),
        }
    }
}

impl std::fmt::Display for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "uid {} pid {pid}", self.uid),
            None => write!(f, "uid {}", self.uid),
        }
    }
}
