//! Who a caller is, as the kernel says: the peer's pid (from `SO_PEERCRED`) resolved into its
//! executable, arguments and working directory, and up to [`MAX_ANCESTORS`] ancestors, so the
//! audit log and the policy can name the tool behind a request (the shim's parent chain shows
//! which aws CLI, terraform, python or coding agent asked).
//!
//! Linux reads `/proc` once per connection and second (a few small files per process, no
//! subprocess; see [`ConnCaller`]). macOS uses `proc_pidpath` and `KERN_PROCARGS2` (written
//! and compiled, not exercised here). A process that exited before it was resolved is
//! recorded with what was known (its pid).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock},
    time::{Duration, Instant},
};

use serde::Serialize;
use serde_json::value::RawValue;

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
        self.exe
            .rsplit(std::path::is_separator)
            .next()
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
    /// Shared with every caller resolved with the same parent within [`REUSE`].
    pub ancestors: Arc<[Proc]>,
    /// The audit log's JSON of this caller, made once and shared by the records of every
    /// request it makes (see `audit::record`).
    pub rendered: Memo<(Box<RawValue>, Option<Box<RawValue>>)>,
    /// Which process of the chain each rule's `callers` select, worked out once for the
    /// rule set at that address (see `policy::rules`): a connection's requests do not
    /// match the same globs against the same chain again.
    pub selected: Memo<(usize, Box<[Option<usize>]>)>,
}

impl Resolved {
    /// The caller, then each ancestor: what a rule's `callers` globs are matched against.
    pub fn chain(&self) -> impl Iterator<Item = &Proc> {
        std::iter::once(&self.process).chain(self.ancestors.iter())
    }
}

/// Something worked out from a resolved caller on first use and kept with it. Not part of
/// what a caller is: two [`Resolved`] compare equal whether or not it is made.
#[derive(Clone, Debug, Default)]
pub struct Memo<T>(pub OnceLock<T>);

impl<T> PartialEq for Memo<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl<T> Eq for Memo<T> {}

/// Resolves a caller (never fails: what cannot be read stays empty).
pub fn resolve(caller: &Caller) -> Resolved {
    let Some(pid) = caller.pid.filter(|p| *p > 0) else {
        return Resolved {
            uid: caller.uid,
            ..Default::default()
        };
    };
    let handle = sys::Handle::open(pid);
    let process = read_with(pid, handle.as_ref());
    let cwd = handle.and_then(|h| h.cwd()).unwrap_or_default();
    let ancestors = ancestors_of(process.ppid);
    Resolved {
        uid: caller.uid,
        process,
        cwd,
        ancestors,
        rendered: Memo::default(),
        selected: Memo::default(),
    }
}

/// How long a resolved caller is reused: for further requests on one connection (its peer
/// never changes; a `chdir` or an `exec` shows after this), and for a parent chain reused by
/// children of the same parent (a load of 64 connections, a herd of shims).
const REUSE: Duration = Duration::from_secs(1);

/// The caller of one connection, resolved on its first request and reused for [`REUSE`]:
/// a client that keeps its connection (an SDK, a load generator) costs `/proc` reads once
/// per second rather than once per request. A connection's peer is the process that
/// connected, so a recycled pid cannot be mistaken for it.
#[derive(Debug, Default)]
pub struct ConnCaller(Mutex<Option<(Instant, Arc<Resolved>)>>);

impl ConnCaller {
    /// Resolves the connection's caller now (at accept, before its first request is read),
    /// holding the slot meanwhile: a request that asks first waits for this resolution
    /// instead of making its own, and one that got the slot first leaves nothing to do here.
    pub fn prime(&self, caller: &Caller) {
        // `get` resolves under the slot's lock and keeps what it finds fresh.
        drop(self.get(caller));
    }

    pub fn get(&self, caller: &Caller) -> Arc<Resolved> {
        let mut slot = self.0.lock().unwrap();
        if let Some((at, who)) = slot.as_ref()
            && at.elapsed() < REUSE
        {
            return who.clone();
        }
        let who = Arc::new(resolve(caller));
        *slot = Some((Instant::now(), who.clone()));
        who
    }
}

/// A small map whose entries last `ttl`; expired ones are swept once it holds `room`.
struct Recent<K, V> {
    ttl: Duration,
    room: usize,
    map: Mutex<Option<HashMap<K, (Instant, V)>>>,
}

impl<K: std::hash::Hash + Eq, V: Clone> Recent<K, V> {
    const fn new(ttl: Duration, room: usize) -> Self {
        Self {
            ttl,
            room,
            map: Mutex::new(None),
        }
    }

    fn get(&self, k: &K) -> Option<V> {
        let map = self.map.lock().unwrap();
        let (at, v) = map.as_ref()?.get(k)?;
        (at.elapsed() < self.ttl).then(|| v.clone())
    }

    /// Sweeps the expired entries once the map holds `room`, and starts afresh at twice
    /// that (a burst of distinct keys within `ttl`): never more than `2 * room` entries.
    fn insert(&self, k: K, v: V) {
        let mut map = self.map.lock().unwrap();
        let map = map.get_or_insert_default();
        if map.len() >= self.room {
            map.retain(|_, (at, _)| at.elapsed() < self.ttl);
        }
        if map.len() >= 2 * self.room {
            map.clear();
        }
        map.insert(k, (Instant::now(), v));
    }
}

/// Callers resolved when their event was published ([`remember`]), for the audit writer to
/// find ([`recall`]): by the time it writes, an `ssoagentctl lock` may have exited. Kept
/// 10 s, by pid.
static REMEMBERED: Recent<i32, Arc<Resolved>> = Recent::new(Duration::from_secs(10), 64);

/// Resolves a caller now, while it waits for its answer, for the record of its event.
/// Every publish of such an event remembers afresh, so an entry is never another process's.
pub fn remember(caller: &Caller) {
    if let Some(pid) = caller.pid {
        REMEMBERED.insert(pid, Arc::new(resolve(caller)));
    }
}

/// The caller [`remember`]ed for an event, if it was.
pub fn recall(caller: &Caller) -> Option<Arc<Resolved>> {
    REMEMBERED
        .get(&caller.pid?)
        .filter(|who| who.uid == caller.uid)
}

/// A parent walked, with what tells that its pid still names it.
struct Parent {
    /// Linux: held open, it answers with one system call whether that very process still
    /// runs. `None` elsewhere (or on kernels before 5.3): its start time is read again.
    pidfd: Option<sys::Pidfd>,
    pid: i32,
    start: u64,
    chain: Arc<[Proc]>,
}

impl Parent {
    /// Still the process walked: a pid is free for reuse only once its process is gone.
    fn holds(&self) -> bool {
        match &self.pidfd {
            Some(fd) => fd.alive(),
            None => start_time(self.pid) == Some(self.start),
        }
    }
}

/// Parent chains by the parent's pid. At most 64 entries (and as many pidfds held).
static ANCESTORS: Recent<i32, Arc<Parent>> = Recent::new(REUSE, 32);

/// The chain above a caller, nearest first, from the cache when its parent was walked
/// within [`REUSE`] and still runs. A herd of shims from one parent reads only its own
/// `/proc` entries and asks one question about the parent.
fn ancestors_of(ppid: i32) -> Arc<[Proc]> {
    if ppid <= 0 {
        return Arc::default();
    }
    if let Some(hit) = ANCESTORS.get(&ppid)
        && hit.holds()
    {
        return hit.chain.clone();
    }
    // Taken before the parent is read, so it names the process read (if that one is gone
    // by then, the pidfd says so and the entry is never used).
    let pidfd = sys::pidfd(ppid);
    let parent = sys::Handle::open(ppid);
    let stat = parent.as_ref().and_then(sys::Handle::stat);
    let mut chain = vec![proc_of(ppid, parent.as_ref(), stat)];
    let mut next = chain[0].ppid;
    while next > 0 && chain.len() < MAX_ANCESTORS {
        let p = read(next);
        next = p.ppid;
        chain.push(p);
    }
    let chain: Arc<[Proc]> = chain.into();
    if let Some((_, start)) = stat {
        let entry = Parent {
            pidfd,
            pid: ppid,
            start,
            chain: chain.clone(),
        };
        ANCESTORS.insert(ppid, Arc::new(entry));
    }
    chain
}

/// One process; a vanished one keeps only its pid.
pub fn read(pid: i32) -> Proc {
    read_with(pid, sys::Handle::open(pid).as_ref())
}

fn read_with(pid: i32, h: Option<&sys::Handle>) -> Proc {
    proc_of(pid, h, h.and_then(sys::Handle::stat))
}

fn proc_of(pid: i32, h: Option<&sys::Handle>, stat: Option<(i32, u64)>) -> Proc {
    let (ppid, start) = stat.unwrap_or((0, 0));
    Proc {
        pid,
        exe: h.and_then(sys::Handle::exe).unwrap_or_default(),
        argv: h
            .and_then(sys::Handle::argv)
            .map(cap_argv)
            .unwrap_or_default(),
        start,
        ppid,
    }
}

/// When a process started, if it still runs (`None` once it is gone).
pub fn start_time(pid: i32) -> Option<u64> {
    sys::Handle::open(pid)?.stat().map(|(_, start)| start)
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

/// Where there are no pidfds (macOS, elsewhere): a cached parent is checked by its start time.
#[cfg(not(target_os = "linux"))]
mod no_pidfd {
    pub struct Pidfd;

    pub fn pidfd(_: i32) -> Option<Pidfd> {
        None
    }

    impl Pidfd {
        pub fn alive(&self) -> bool {
            false
        }
    }
}

#[cfg(target_os = "linux")]
#[path = "linux.rs"]
mod sys;

#[cfg(target_os = "macos")]
#[path = "macos.rs"]
mod sys;

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
mod sys {
    /// Elsewhere nothing is known about a caller beyond its pid.
    pub struct Handle;
    pub use super::no_pidfd::{Pidfd, pidfd};
    impl Handle {
        pub fn open(_: i32) -> Option<Handle> {
            None
        }
        pub fn stat(&self) -> Option<(i32, u64)> {
            None
        }
        pub fn exe(&self) -> Option<String> {
            None
        }
        pub fn argv(&self) -> Option<Vec<String>> {
            None
        }
        pub fn cwd(&self) -> Option<String> {
            None
        }
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
        let again = resolve(&Caller {
            uid: 0,
            pid: Some(me),
        });
        assert!(
            Arc::ptr_eq(&r.ancestors, &again.ancestors),
            "the parent's chain comes from the cache while the parent runs"
        );
        let gone = read(i32::MAX);
        assert_eq!((gone.pid, gone.exe.as_str()), (i32::MAX, ""));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_cached_parent_holds_while_it_runs_and_not_once_it_is_gone() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let start = start_time(pid).unwrap();
        let parent = |pidfd| Parent {
            pidfd,
            pid,
            start,
            chain: Arc::default(),
        };
        let by_pidfd = parent(sys::pidfd(pid));
        assert!(by_pidfd.pidfd.is_some(), "this kernel has pidfds");
        let by_start = parent(None);
        assert!(by_pidfd.holds() && by_start.holds());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            !by_pidfd.holds(),
            "a reaped process's pidfd says it is gone"
        );
        assert!(!by_start.holds());
    }
}
