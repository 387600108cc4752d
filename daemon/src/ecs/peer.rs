//! Which process is at the other end of a loopback TCP connection to the endpoint. On Linux
//! [`crate::tcp_peer`] gives the client socket's uid and inode, and `/proc/PID/fd/*` of the
//! owning process links to it (`socket:[INODE]`). The grant's creator and its descendants are searched first (an
//! `exec --ecs` child), then every process. Elsewhere nothing is known and the grant's creator stands in.

/// The process that holds socket `inode` (blocking: reads `/proc/*/fd`).
#[cfg(target_os = "linux")]
pub fn pid_of(inode: u64, creator: Option<i32>) -> Option<i32> {
    (inode != 0).then(|| owner_of(inode, creator)).flatten()
}

#[cfg(not(target_os = "linux"))]
pub fn pid_of(_inode: u64, _creator: Option<i32>) -> Option<i32> {
    None
}

/// The process holding socket `inode`: the creator's descendants first, then all.
#[cfg(target_os = "linux")]
fn owner_of(inode: u64, creator: Option<i32>) -> Option<i32> {
    let link = format!("socket:[{inode}]");
    let holds = |pid: i32| -> bool {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            return false;
        };
        fds.flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t.as_os_str() == link.as_str()))
    };
    // The creator itself (`ecs grant` from a program that then asks) and its descendants.
    let first: Vec<i32> = creator
        .map(|c| std::iter::once(c).chain(descendants(c)).collect())
        .unwrap_or_default();
    if let Some(pid) = first.iter().copied().find(|p| holds(*p)) {
        return Some(pid);
    }
    let all = std::fs::read_dir("/proc").ok()?;
    all.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| !first.contains(p))
        .find(|p| holds(*p))
}

/// A process's descendants, breadth first (from `/proc/PID/task/TID/children`), at most 256.
#[cfg(target_os = "linux")]
fn descendants(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut queue = std::collections::VecDeque::from([pid]);
    while let Some(p) = queue.pop_front() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let children = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
            for c in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                if out.len() < 256 && !out.contains(&c) {
                    out.push(c);
                    queue.push_back(c);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn a_connection_of_this_process_is_found() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, peer) = listener.accept().unwrap();
        let (uid, inode) =
            crate::tcp_peer::entry(peer, server.local_addr().unwrap()).expect("found");
        assert_eq!(uid, ssoagent_client::fsutil::uid());
        assert_eq!(pid_of(inode, None), Some(std::process::id() as i32));
        drop(client);
    }
}
