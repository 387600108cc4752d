//! Linux: `/proc/PID`, opened once per process and read relative to that directory, each
//! file with one `read` into a buffer on the stack (no `statx`, no growing reads): about ten
//! system calls for a caller. A directory opened for one process never shows another: once
//! the process is gone its files fail (`ESRCH`) even if its pid is reused.

use std::{
    ffi::CStr,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

/// `/proc/PID/stat` is one line of 52 fields and a name of at most 16 bytes: well under this.
const STAT_BUF: usize = 2048;
/// `/proc/PID/cmdline` is read this far; the argv kept is capped lower (`MAX_ARGV_BYTES`).
const CMDLINE_BUF: usize = 4096;
/// The longest path a link can hold.
const LINK_BUF: usize = libc::PATH_MAX as usize;

pub struct Handle(OwnedFd);

/// A pidfd: names one process for as long as it is held, whatever later gets its pid.
pub struct Pidfd(OwnedFd);

/// A pidfd for `pid`, `None` when it is gone (or the kernel predates pidfds, 5.3).
pub fn pidfd(pid: i32) -> Option<Pidfd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: fd is a fresh descriptor nobody else owns.
    Some(Pidfd(unsafe { OwnedFd::from_raw_fd(fd) }))
}

impl Pidfd {
    /// Whether the process still runs (or is a zombie not yet reaped: its pid is not free).
    /// Signal 0 only checks; `EPERM` means it exists under another user.
    pub fn alive(&self) -> bool {
        // SAFETY: signal 0 with no siginfo sends nothing.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.0.as_raw_fd(),
                0,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
}

impl Handle {
    pub fn open(pid: i32) -> Option<Handle> {
        let path = format!("/proc/{pid}\0");
        // SAFETY: a NUL-terminated path; the fd returned is ours to own.
        let fd = unsafe {
            libc::open(
                path.as_ptr().cast(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        // SAFETY: fd is a fresh descriptor nobody else owns.
        (fd >= 0).then(|| Handle(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Fields 4 (ppid) and 22 (start time) of `stat`.
    pub fn stat(&self) -> Option<(i32, u64)> {
        let mut buf = [0u8; STAT_BUF];
        let n = self.read(c"stat", &mut buf)?;
        super::parse_stat(std::str::from_utf8(&buf[..n]).ok()?)
    }

    pub fn exe(&self) -> Option<String> {
        self.link(c"exe")
    }

    pub fn argv(&self) -> Option<Vec<String>> {
        let mut buf = [0u8; CMDLINE_BUF];
        let n = self.read(c"cmdline", &mut buf)?;
        Some(
            buf[..n]
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect(),
        )
    }

    pub fn cwd(&self) -> Option<String> {
        self.link(c"cwd")
    }

    /// One `read` of a file in the directory (procfs gives these files whole in one read).
    fn read(&self, name: &CStr, buf: &mut [u8]) -> Option<usize> {
        // SAFETY: a NUL-terminated name relative to our open directory.
        let fd = unsafe {
            libc::openat(
                self.0.as_raw_fd(),
                name.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return None;
        }
        // SAFETY: fd is a fresh descriptor nobody else owns (closed when dropped).
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: reads at most buf.len() bytes into buf.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        usize::try_from(n).ok()
    }

    fn link(&self, name: &CStr) -> Option<String> {
        let mut buf = [0u8; LINK_BUF];
        // SAFETY: writes at most buf.len() bytes into buf, relative to our open directory.
        let n = unsafe {
            libc::readlinkat(
                self.0.as_raw_fd(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        let n = usize::try_from(n).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }
}
