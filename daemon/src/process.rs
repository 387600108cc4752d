//! Who a caller is, as the kernel says: the peer's pid (from `SO_PEERCRED`) resolved into its
//! executable, arguments and working directory, and up to [`MAX_ANCESTORS`] ancestors, so the
//! audit log and the policy can name the tool behind a request (the shim's parent chain shows
//! which aws CLI, terraform, python or coding agent asked).
//!
//! Linux reads `/proc` once per request (a few small files per process, no subprocess). macOS
//! uses `proc_pidpath` and `KERN_PROCARGS2` (written and compiled, not exercised here). A
//! process that exited before it was resolved is recorded with what was known (its pid).

use std::{
    collections::HashMap,
    path::Path,
    sync::Mutex,
    time::{Duration, Instant},
};

use serde::Serialize;

use crate::caller::Caller;

/// How many ancestors are recorded above the caller.
pub const MAX_ANCESTORS: usize = 8;
/// The command line of a process is cut here (at a character boundary).
pub const MAX_ARGV_BYTES: usize = 512;

/// One process as far as it could be read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Proc {
    pub pid: i32,
    /// The resolved executable (`/proc/PID/exe`); empty when unknown.
    pub exe: String,
    /// Its arguments, cut at [`MAX_ARGV_BYTES`] in all.
    pub argv: Vec<String>,
    /// When it started (clock ticks since boot on Linux): with the pid, names one process.
    #[serde(skip)]
    pub start: u64,
    #[serde(skip)]
    pub ppid: i32,
}

impl Proc {
    /// The executable's file name (`node` for `/usr/bin/node`).
    pub fn basename(&self) -> &str {
        Path::new(&self.exe)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(&self.exe)
    }
}

/// A caller and its ancestors, nearest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolved {
    pub uid: u32,
    pub process: Proc,
    /// The caller's working directory; empty when unknown.
    pub cwd: String,
    pub ancestors: Vec<Proc>,
}

impl Resolved {
    /// The caller, then each ancestor: what a rule's `callers` globs are matched against.
    pub fn chain(&self) -> impl Iterator<Item = &Proc> {
        std::iter::once(&self.process).chain(self.ancestors.iter())
    }
}

/// Resolves a caller (never fails: what cannot be read stays empty).
pub fn resolve(caller: &Caller) -> Resolved {
    let Some(pid) = caller.pid.filter(|p| *p > 0) else {
        return Resolved {
            uid: caller.uid,
            ..Default::default()
        };
    };
    let process = read(pid);
    let cwd = sys::cwd(pid).unwrap_or_default();
    let ancestors = ancestors_of(process.ppid);
    Resolved {
        uid: caller.uid,
        process,
        cwd,
        ancestors,
    }
}

/// How long a parent chain is reused for further requests from children of the same parent
/// (a load of 64 connections, a herd of shims): the caller itself is always read afresh.
const ANCESTORS_TTL: Duration = Duration::from_secs(1);

type ChainCache = HashMap<(i32, u64), (Instant, Vec<Proc>)>;

static ANCESTORS: Mutex<Option<ChainCache>> = Mutex::new(None);

/// The chain above a caller, nearest first, from the cache when its parent (pid and start
/// time: a recycled pid is another process) was walked within [`ANCESTORS_TTL`].
fn ancestors_of(ppid: i32) -> Vec<Proc> {
    if ppid <= 0 {
        return Vec::new();
    }
    let key = sys::stat(ppid).map(|(_, start)| (ppid, start));
    if let Some(k) = key
        && let Some((at, chain)) = ANCESTORS.lock().unwrap().get_or_insert_default().get(&k)
        && at.elapsed() < ANCESTORS_TTL
    {
        return chain.clone();
    }
    let mut chain = Vec::new();
    let mut next = ppid;
    while next > 0 && chain.len() < MAX_ANCESTORS {
        let p = read(next);
        next = p.ppid;
        chain.push(p);
    }
    if let Some(k) = key {
        let mut cache = ANCESTORS.lock().unwrap();
        let cache = cache.get_or_insert_default();
        if cache.len() >= 256 {
            cache.retain(|_, (at, _)| at.elapsed() < ANCESTORS_TTL);
        }
        cache.insert(k, (Instant::now(), chain.clone()));
    }
    chain
}

/// One process; a vanished one keeps only its pid.
pub fn read(pid: i32) -> Proc {
    let (ppid, start) = sys::stat(pid).unwrap_or((0, 0));
    Proc {
        pid,
        exe: sys::exe(pid).unwrap_or_default(),
        argv: sys::argv(pid).map(cap_argv).unwrap_or_default(),
        start,
        ppid,
    }
}

/// When a process started, if it still runs (`None` once it is gone).
pub fn start_time(pid: i32) -> Option<u64> {
    sys::stat(pid).map(|(_, start)| start)
}

/// Keeps whole arguments while they fit in [`MAX_ARGV_BYTES`]; the one that does not fit is
/// cut at a character boundary.
fn cap_argv(args: Vec<String>) -> Vec<String> {
    let mut left = MAX_ARGV_BYTES;
    let mut out = Vec::new();
    for a in args {
        if a.len() <= left {
            left -= a.len();
            out.push(a);
            continue;
        }
        let mut end = left;
        while !a.is_char_boundary(end) {
            end -= 1;
        }
        out.push(a[..end].to_string());
        break;
    }
    out
}

/// Fields 4 (ppid) and 22 (starttime) of a `/proc/PID/stat` line, counted from the last `)`
/// (the command name may hold spaces and parentheses).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_stat(stat: &str) -> Option<(i32, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): ppid is index 1, starttime index 19.
    Some((f.get(1)?.parse().ok()?, f.get(19)?.parse().ok()?))
}

#[cfg(target_os = "linux")]
mod sys {
    pub fn stat(pid: i32) -> Option<(i32, u64)> {
        super::parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
    }

    pub fn exe(pid: i32) -> Option<String> {
        let p = std::fs::read_link(format!("/proc/{pid}/exe")).ok()?;
        Some(p.to_string_lossy().into_owned())
    }

    pub fn argv(pid: i32) -> Option<Vec<String>> {
        let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        Some(
            raw.split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect(),
        )
    }

    pub fn cwd(pid: i32) -> Option<String> {
        let p = std::fs::read_link(format!("/proc/{pid}/cwd")).ok()?;
        Some(p.to_string_lossy().into_owned())
    }
}

/// macOS: `proc_pidpath`, `proc_pidinfo` and `KERN_PROCARGS2`. Written and compiled behind
/// `cfg`; not exercised (these machines are Linux).
#[cfg(target_os = "macos")]
mod sys {
    use std::ffi::CStr;

    pub fn stat(pid: i32) -> Option<(i32, u64)> {
        // SAFETY: proc_pidinfo writes at most `size` bytes into `info`.
        let mut info: libc::proc_bsdinfo = unsafe { std::mem::zeroed() };
        let size = std::mem::size_of::<libc::proc_bsdinfo>() as i32;
        let n = unsafe {
            libc::proc_pidinfo(pid, libc::PROC_PIDTBSDINFO, 0, (&raw mut info).cast(), size)
        };
        (n == size).then(|| {
            let start = info.pbi_start_tvsec * 1_000_000 + info.pbi_start_tvusec;
            (info.pbi_ppid as i32, start)
        })
    }

    pub fn exe(pid: i32) -> Option<String> {
        let mut buf = vec![0u8; libc::PROC_PIDPATHINFO_MAXSIZE as usize];
        // SAFETY: the buffer is as large as proc_pidpath may write.
        let n = unsafe { libc::proc_pidpath(pid, buf.as_mut_ptr().cast(), buf.len() as u32) };
        (n > 0).then(|| String::from_utf8_lossy(&buf[..n as usize]).into_owned())
    }

    pub fn argv(pid: i32) -> Option<Vec<String>> {
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

    pub fn cwd(pid: i32) -> Option<String> {
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
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
mod sys {
    pub fn stat(_: i32) -> Option<(i32, u64)> {
        None
    }
    pub fn exe(_: i32) -> Option<String> {
        None
    }
    pub fn argv(_: i32) -> Option<Vec<String>> {
        None
    }
    pub fn cwd(_: i32) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let line = "42 (a) b) S 7 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 123456 0 0";
        assert_eq!(parse_stat(line), Some((7, 123456)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn argv_is_capped_at_a_character_boundary() {
        let long = "é".repeat(400);
        let out = cap_argv(vec!["prog".into(), long]);
        assert_eq!(out[0], "prog");
        assert!(out.iter().map(String::len).sum::<usize>() <= MAX_ARGV_BYTES);
        assert!(out[1].chars().all(|c| c == 'é'));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_resolves_with_its_parent() {
        let me = std::process::id() as i32;
        let r = resolve(&Caller {
            uid: 0,
            pid: Some(me),
        });
        assert_eq!(r.process.pid, me);
        assert_eq!(
            r.process.exe,
            std::env::current_exe().unwrap().display().to_string()
        );
        assert!(!r.cwd.is_empty());
        assert!(!r.ancestors.is_empty());
        assert!(start_time(me).is_some());
        let gone = read(i32::MAX);
        assert_eq!((gone.pid, gone.exe.as_str()), (i32::MAX, ""));
    }
}
