//! macOS: `proc_pidpath`, `proc_pidinfo` and `KERN_PROCARGS2`. Written and compiled behind
//! `cfg`; not exercised (these machines are Linux).
use std::ffi::CStr;

pub struct Handle(i32);

pub use super::no_pidfd::{Pidfd, pidfd};

impl Handle {
    pub fn open(pid: i32) -> Option<Handle> {
        Some(Handle(pid))
    }
    pub fn stat(&self) -> Option<(i32, u64)> {
        stat(self.0)
    }
    pub fn exe(&self) -> Option<String> {
        exe(self.0)
    }
    pub fn argv(&self) -> Option<Vec<String>> {
        argv(self.0)
    }
    pub fn cwd(&self) -> Option<String> {
        cwd(self.0)
    }
}

fn stat(pid: i32) -> Option<(i32, u64)> {
    // SAFETY: proc_pidinfo writes at most `size` bytes into `info`.
    let mut info: libc::proc_bsdinfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::proc_bsdinfo>() as i32;
    let n =
        unsafe { libc::proc_pidinfo(pid, libc::PROC_PIDTBSDINFO, 0, (&raw mut info).cast(), size) };
    (n == size).then(|| {
        let start = info.pbi_start_tvsec * 1_000_000 + info.pbi_start_tvusec;
        (info.pbi_ppid as i32, start)
    })
}

fn exe(pid: i32) -> Option<String> {
    let mut buf = vec![0u8; libc::PROC_PIDPATHINFO_MAXSIZE as usize];
    // SAFETY: the buffer is as large as proc_pidpath may write.
    let n = unsafe { libc::proc_pidpath(pid, buf.as_mut_ptr().cast(), buf.len() as u32) };
    (n > 0).then(|| String::from_utf8_lossy(&buf[..n as usize]).into_owned())
}

fn argv(pid: i32) -> Option<Vec<String>> {
    let mut mib = [libc::CTL_KERN, libc::KERN_PROCARGS2, pid];
    let mut size: libc::size_t = 0;
    // SAFETY: sysctl with a null buffer reports the size needed.
    let r = unsafe {
        libc::sysctl(
            mib.as_mut_ptr(),
            3,
            std::ptr::null_mut(),
            &mut size,
            std::ptr::null_mut(),
            0,
        )
    };
    if r != 0 || size < 4 {
        return None;
    }
    let mut buf = vec![0u8; size];
    // SAFETY: the buffer holds `size` bytes.
    let r = unsafe {
        libc::sysctl(
            mib.as_mut_ptr(),
            3,
            buf.as_mut_ptr().cast(),
            &mut size,
            std::ptr::null_mut(),
            0,
        )
    };
    if r != 0 {
        return None;
    }
    let argc = i32::from_ne_bytes(buf[..4].try_into().ok()?) as usize;
    let mut rest = &buf[4..size];
    // The exec path, then NUL padding, then argc NUL-terminated arguments.
    let skip = rest.iter().position(|b| *b == 0)?;
    rest = &rest[skip..];
    let start = rest.iter().position(|b| *b != 0)?;
    rest = &rest[start..];
    let mut out = Vec::new();
    for a in rest.split(|b| *b == 0).take(argc) {
        out.push(
            CStr::from_bytes_until_nul(&[a, &[0]].concat())
                .ok()?
                .to_string_lossy()
                .into_owned(),
        );
    }
    Some(out)
}

fn cwd(pid: i32) -> Option<String> {
    // SAFETY: proc_pidinfo writes at most `size` bytes into `info`.
    let mut info: libc::proc_vnodepathinfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::proc_vnodepathinfo>() as i32;
    let n = unsafe {
        libc::proc_pidinfo(
            pid,
            libc::PROC_PIDVNODEPATHINFO,
            0,
            (&raw mut info).cast(),
            size,
        )
    };
    if n != size {
        return None;
    }
    let path = info.pvi_cdir.vip_path;
    // SAFETY: vip_path is a NUL-terminated C string of MAXPATHLEN bytes.
    let c = unsafe { CStr::from_ptr(path.as_ptr().cast()) };
    Some(c.to_string_lossy().into_owned())
}
