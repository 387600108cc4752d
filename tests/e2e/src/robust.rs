//! Helpers for the robustness tests (`tests/robustness.rs`): a daemon's memory and open files
//! from `/proc`, raw bytes on its socket, HTTP/2 frames to build truncated and hostile input,
//! and small conveniences for faults and timing.

use std::{
    fs,
    io::{Read, Write},
    os::unix::net::UnixStream,
    path::Path,
    process::{Child, Stdio},
    time::{Duration, Instant},
};

use crate::{Out, World, bin};

/// The daemon's resident memory, in bytes (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_bytes(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

/// How many file descriptors a process has open.
pub fn open_fds(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Whether the process runs (exists and is not a zombie waiting to be reaped).
pub fn running(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // "pid (comm) S ...": the state follows the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|s| s != 'Z' && s != 'X'),
        Err(_) => false,
    }
}

/// Raises this process's soft limit on open files to at least `want` (up to the hard limit);
/// children started afterwards (the daemon) inherit it. Returns the soft limit now in force.
pub fn raise_open_files_limit(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < want {
            let raised = libc::rlimit {
                rlim_cur: want.min(lim.rlim_max),
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim = raised;
            }
        }
    }
    lim.rlim_cur
}

/// Deterministic pseudo-random bytes (xorshift64*), so a failing input can be reproduced.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

/// The HTTP/2 client connection preface.
pub const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// One HTTP/2 frame: 24-bit length, type, flags, 31-bit stream id, payload.
pub fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A frame header that announces `len` bytes of payload, with none of them sent.
pub fn h2_frame_header_only(kind: u8, flags: u8, stream: u32, len: u32) -> Vec<u8> {
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f
}

pub const H2_DATA: u8 = 0x0;
pub const H2_HEADERS: u8 = 0x1;
pub const H2_SETTINGS: u8 = 0x4;
pub const H2_WINDOW_UPDATE: u8 = 0x8;
pub const H2_END_HEADERS: u8 = 0x4;
pub const H2_END_STREAM: u8 = 0x1;

/// A HEADERS block (HPACK, literal without indexing, no Huffman) for a gRPC call to `path`.
pub fn grpc_request_headers(path: &str) -> Vec<u8> {
    let mut block = vec![
        0x83, // :method POST
        0x86, // :scheme http
    ];
    literal(&mut block, 4, path.as_bytes()); // :path (static index 4)
    literal(&mut block, 1, b"ssoagentd.invalid"); // :authority (static index 1)
    literal(&mut block, 31, b"application/grpc"); // content-type (static index 31)
    // te: trailers (a new name).
    block.push(0x00);
    string(&mut block, b"te");
    string(&mut block, b"trailers");
    block
}

fn literal(block: &mut Vec<u8>, name_index: u8, value: &[u8]) {
    // Literal header field without indexing, indexed name (4-bit prefix).
    if name_index < 15 {
        block.push(name_index);
    } else {
        block.push(0x0f);
        block.push(name_index - 15);
    }
    string(block, value);
}

fn string(block: &mut Vec<u8>, s: &[u8]) {
    // 7-bit prefix length, no Huffman.
    let mut n = s.len();
    if n < 127 {
        block.push(n as u8);
    } else {
        block.push(127);
        n -= 127;
        while n >= 128 {
            block.push((n % 128 + 128) as u8);
            n /= 128;
        }
        block.push(n as u8);
    }
    block.extend_from_slice(s);
}

/// Connects to the daemon's socket, writes `bytes`, then reads (bounded by `read_for`) whatever
/// the daemon answers before it closes. Returns the stream still open, and what was read.
pub fn send_raw(socket: &Path, bytes: &[u8], read_for: Duration) -> (UnixStream, Vec<u8>) {
    let mut s =
        UnixStream::connect(socket).unwrap_or_else(|e| panic!("connect {}: {e}", socket.display()));
    // A daemon that closes early makes the write fail with EPIPE: that is an answer too.
    let _ = s.write_all(bytes);
    let _ = s.flush();
    let mut got = Vec::new();
    if !read_for.is_zero() {
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let deadline = Instant::now() + read_for;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
        }
    }
    (s, got)
}

/// Runs `f` and returns its result with how long it took.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration) {
    let t = Instant::now();
    let v = f();
    (v, t.elapsed())
}

/// Asserts a failure printed exactly one non-empty line on stderr and nothing on stdout.
#[track_caller]
pub fn assert_one_line_failure(out: &Out, code: i32) {
    out.assert_failure(code, &[]);
    let lines: Vec<&str> = out.stderr.trim().lines().collect();
    assert_eq!(lines.len(), 1, "one clear line on stderr:\n{out:?}");
    assert!(
        lines[0].len() < 2000,
        "the line should be a message, not a dump ({} bytes):\n{}...",
        lines[0].len(),
        &lines[0][..200.min(lines[0].len())]
    );
}

/// Writes the agent config (`store = "file"` plus `extra`) before the daemon starts.
pub fn write_agent_config(w: &World, extra: &str) {
    w.write_agent_config(&format!("store = \"file\"\n{extra}"));
}

/// Starts `ssoagent-cred --profile P` without waiting for it.
pub fn spawn_cred(w: &World, profile: &str) -> Child {
    w.command(bin("ssoagent-cred"))
        .args(["--profile", profile])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ssoagent-cred")
}

/// Waits for a child started by [`spawn_cred`] (bounded by `timeout`, killing it after).
pub fn wait_out(mut child: Child, timeout: Duration) -> Out {
    let deadline = Instant::now() + timeout;
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ssoagent-cred did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let o = child.wait_with_output().expect("output");
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into(),
        stderr: String::from_utf8_lossy(&o.stderr).into(),
    }
}
