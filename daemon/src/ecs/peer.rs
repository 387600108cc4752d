//! Who is at the other end of a loopback TCP connection to the endpoint. On Linux the
//! client's socket is the line of `/proc/net/tcp` (or `tcp6`) whose local address is our peer
//! and whose remote address is our end: its `uid` column is the client's uid and its `inode`
//! names the socket, which `/proc/PID/fd/*` of the owning process links to
//! (`socket:[INODE]`). The grant's creator and its descendants are searched first (an
//! `exec --ecs` child), then every process. Elsewhere nothing is known and the grant's creator stands in.

use std::net::SocketAddr;

/// The client side of a connection in `/proc/net/tcp{,6}`: its uid and socket inode
/// (blocking: one table read). `None` when it cannot be found (or not on Linux).
#[cfg(target_os = "linux")]
pub fn entry(peer: SocketAddr, local: SocketAddr) -> Option<(u32, u64)> {
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().find_map(|f| {
        std::fs::read_to_string(f)
            .ok()
            .and_then(|table| socket_entry(&table, peer, local))
    })
}

#[cfg(not(target_os = "linux"))]
pub fn entry(_peer: SocketAddr, _local: SocketAddr) -> Option<(u32, u64)> {
    None
}

/// The process that holds socket `inode` (blocking: reads `/proc/*/fd`).
#[cfg(target_os = "linux")]
pub fn pid_of(inode: u64, creator: Option<i32>) -> Option<i32> {
    (inode != 0).then(|| owner_of(inode, creator)).flatten()
}

#[cfg(not(target_os = "linux"))]
pub fn pid_of(_inode: u64, _creator: Option<i32>) -> Option<i32> {
    None
}

/// `(uid, inode)` of the socket in a `/proc/net/tcp{,6}` table whose local address is
/// `local` and remote address `remote`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn socket_entry(table: &str, local: SocketAddr, remote: SocketAddr) -> Option<(u32, u64)> {
    use crate::login::pkce::proc_addr;
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (l, r, uid, inode) = (f.get(1)?, f.get(2)?, f.get(7)?, f.get(9)?);
        if proc_addr(l)? != local || proc_addr(r)? != remote {
            return None;
        }
        Some((uid.parse().ok()?, inode.parse().ok()?))
    })
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

    #[test]
    fn the_client_side_line_gives_uid_and_inode() {
        // 127.0.0.1:40000 -> 127.0.0.1:8080 (client, uid 1000, inode 4242) and the server's
        // accepted side (uid 0).
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
   0: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0 20 4 30 10 -1\n\
   1: 0100007F:1F90 0100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 4243 1 0 20 4 30 10 -1\n";
        let client: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let server: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert_eq!(socket_entry(table, client, server), Some((1000, 4242)));
        assert_eq!(socket_entry(table, server, client), Some((0, 4243)));
        let other: SocketAddr = "127.0.0.1:40001".parse().unwrap();
        assert_eq!(socket_entry(table, other, server), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_connection_of_this_process_is_found() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, peer) = listener.accept().unwrap();
        let (uid, inode) = entry(peer, server.local_addr().unwrap()).expect("found");
        assert_eq!(uid, ssoagent_client::fsutil::uid());
        assert_eq!(pid_of(inode, None), Some(std::process::id() as i32));
        drop(client);
    }
}
