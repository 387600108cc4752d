//! Who is at the other end of a loopback TCP connection, on Linux: the client's socket is the
//! line of `/proc/net/tcp` (or `tcp6`) whose local address is our peer and whose remote
//! address is our end; its `uid` column is the client's uid and its `inode` names the socket
//! (which `/proc/PID/fd/*` of the owning process links to). The PKCE redirect listener checks
//! the uid; the container-credentials endpoint also finds the process (`ecs::peer`).

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

/// `(uid, inode)` of the socket in a `/proc/net/tcp{,6}` table whose local address is
/// `local` and remote address `remote`.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn socket_entry(table: &str, local: SocketAddr, remote: SocketAddr) -> Option<(u32, u64)> {
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (l, r, uid, inode) = (f.get(1)?, f.get(2)?, f.get(7)?, f.get(9)?);
        if proc_addr(l)? != local || proc_addr(r)? != remote {
            return None;
        }
        Some((uid.parse().ok()?, inode.parse().ok()?))
    })
}

/// `0100007F:1F90` (IPv4) or 32 hex digits `:PORT` (IPv6), as the kernel prints them: each
/// 32-bit word of the address in host byte order, the port in hex. IPv4-mapped IPv6
/// addresses compare as IPv4.
fn proc_addr(s: &str) -> Option<SocketAddr> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        Some(
            u32::from_str_radix(addr.get(i * 8..i * 8 + 8)?, 16)
                .ok()?
                .to_ne_bytes(),
        )
    };
    let ip = match addr.len() {
        8 => std::net::IpAddr::from(word(0)?),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            let v6 = std::net::Ipv6Addr::from(b);
            v6.to_ipv4_mapped()
                .map(std::net::IpAddr::from)
                .unwrap_or(v6.into())
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
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

    #[test]
    fn ipv4_mapped_addresses_in_tcp6_compare_as_ipv4() {
        if cfg!(target_endian = "little") {
            let v6 = proc_addr("0000000000000000FFFF00000100007F:1F90").unwrap();
            assert_eq!(v6, "127.0.0.1:8080".parse::<SocketAddr>().unwrap());
        }
    }
}
