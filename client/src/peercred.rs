//! Who is at the other end of a connected unix socket, in the kernel's words (the process
//! that called `listen()` or `connect()`), not the peer's: `SO_PEERCRED` on Linux,
//! `getpeereid` (and `LOCAL_PEERPID` on macOS) elsewhere.

use std::{io, os::fd::RawFd};

use crate::transport::PeerInfo;

#[cfg(target_os = "linux")]
pub(crate) fn of(fd: RawFd) -> io::Result<PeerInfo> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writing and `len` is `cred`'s size.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(PeerInfo {
        uid: cred.uid,
        pid: Some(cred.pid),
    })
}

#[cfg(all(unix, not(target_os = "linux")))]
pub(crate) fn of(fd: RawFd) -> io::Result<PeerInfo> {
    let (mut uid, mut gid) = (0, 0);
    // SAFETY: both out-pointers are valid.
    if unsafe { libc::getpeereid(fd, &mut uid, &mut gid) } != 0 {
        return Err(io::Error::last_os_error());
    }
    #[cfg(target_os = "macos")]
    let pid = {
        let mut pid: libc::pid_t = 0;
        let mut len = std::mem::size_of::<libc::pid_t>() as libc::socklen_t;
        // SAFETY: `pid` and `len` are valid for writing and `len` is `pid`'s size.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_LOCAL,
                libc::LOCAL_PEERPID,
                (&mut pid as *mut libc::pid_t).cast(),
                &mut len,
            )
        };
        (rc == 0).then_some(pid)
    };
    #[cfg(not(target_os = "macos"))]
    let pid = None;
    Ok(PeerInfo { uid, pid })
}
