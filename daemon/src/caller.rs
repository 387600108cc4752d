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

impl Caller {
    /// Whether the calling process has a controlling terminal (Linux: `tty_nr`, field 7 of
    /// `/proc/PID/stat`, is not 0). A confirmation "typed at a terminal" from a process
    /// without one is not believed. Nor from an `ssh` client: it only forwards the socket
    /// (`ssoagentctl forward`), and the terminal it has is the local human's, not that of
    /// whoever asks on the remote host. Elsewhere, and for the daemon's own test seams, `true`.
    pub fn has_controlling_terminal(&self) -> bool {
        #[cfg(target_os = "linux")]
        {
            let Some(pid) = self.pid.filter(|p| *p > 0) else {
                return false;
            };
            if is_ssh_client(pid) {
                return false;
            }
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| tty_nr(&s))
                .is_some_and(|t| t != 0)
        }
        #[cfg(not(target_os = "linux"))]
        {
            true
        }
    }
}

/// The process is an OpenSSH client (`/proc/PID/exe` named `ssh`): a forwarded socket's far end.
#[cfg(target_os = "linux")]
fn is_ssh_client(pid: i32) -> bool {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .is_ok_and(|exe| exe.file_name().is_some_and(|n| n == "ssh"))
}

/// Field 7 of a `/proc/PID/stat` line. The command name (field 2) is in parentheses and may
/// hold spaces and parentheses itself, so the fields are counted from the last `)`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn tty_nr(stat: &str) -> Option<i64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // state ppid pgrp session tty_nr ...
    rest.split_whitespace().nth(4)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tty_nr_is_field_seven_even_with_a_hostile_command_name() {
        let line = "4242 (evil) 0 0 0 0 1) S 1 4242 4242 34816 4242 4194560 0 0";
        assert_eq!(tty_nr(line), Some(34816));
        assert_eq!(tty_nr("1 (init) S 0 1 1 0 -1 4194560"), Some(0));
        assert_eq!(tty_nr("garbage"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_process_that_does_not_exist_has_no_terminal() {
        let c = Caller {
            uid: 0,
            pid: Some(i32::MAX),
        };
        assert!(!c.has_controlling_terminal());
        assert!(!Caller { uid: 0, pid: None }.has_controlling_terminal());
    }
}
