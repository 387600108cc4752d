//! Human presence in tests: commands run either with no controlling terminal (as a robot, a
//! CI job or a service runs) or under a pseudo-terminal that a "human" answers.

use std::{
    ffi::CStr,
    fs::File,
    io::{Read, Write},
    os::{fd::FromRawFd, unix::process::CommandExt},
    process::{Command, Stdio},
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant},
};

use crate::{Out, exit_code, read_all};

/// Makes `cmd` start a new session (`setsid`): it has no controlling terminal, whatever the
/// test runner has, so `/dev/tty` cannot be opened.
pub fn without_terminal(cmd: &mut Command) -> &mut Command {
    // SAFETY: setsid is async-signal-safe; the child is not a process group leader after fork.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}

/// What a command run at a terminal left: its exit code and pipes, and what the terminal
/// showed (the prompts it wrote to `/dev/tty`, and the echoed answer).
pub struct AtTerminal {
    pub out: Out,
    pub screen: String,
}

/// Runs `cmd` with a fresh pseudo-terminal as its controlling terminal and stdin (stdout and
/// stderr piped). When the terminal shows `prompt`, types `answer` into it. Bounded by
/// `timeout`.
pub fn run_at_terminal(
    cmd: &mut Command,
    prompt: &str,
    answer: &str,
    timeout: Duration,
) -> AtTerminal {
    let (master, slave) = open_pty();
    let slave_for_child = slave.try_clone().expect("dup the terminal");
    cmd.stdin(Stdio::from(slave_for_child))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setsid and ioctl are async-signal-safe; fd 0 is the terminal's slave side.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    // Only the child holds the slave now: reading the master ends when it exits.
    drop(slave);
    let screen = Arc::new(Mutex::new(Vec::<u8>::new()));
    let mut reader = master.try_clone().expect("dup the master");
    let shown = screen.clone();
    thread::spawn(move || {
        let mut buf = [0u8; 1024];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            shown.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let out_t = thread::spawn(move || read_all(out));
    let err_t = thread::spawn(move || read_all(err));
    let mut master = master;
    let mut answered = false;
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if !answered && String::from_utf8_lossy(&screen.lock().unwrap()).contains(prompt) {
            master
                .write_all(answer.as_bytes())
                .expect("type the answer");
            answered = true;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} did not finish within {timeout:?}; the terminal showed:\n{}",
                String::from_utf8_lossy(&screen.lock().unwrap())
            );
        }
        thread::sleep(Duration::from_millis(5));
    };
    // Let the reader drain what the child wrote last.
    thread::sleep(Duration::from_millis(50));
    let screen = String::from_utf8_lossy(&screen.lock().unwrap()).into_owned();
    AtTerminal {
        out: Out {
            code: exit_code(status),
            stdout: out_t.join().unwrap(),
            stderr: err_t.join().unwrap(),
        },
        screen,
    }
}

/// A new pseudo-terminal: (master, slave), neither our controlling terminal.
pub fn open_pty() -> (File, File) {
    // SAFETY: plain libc calls on descriptors we own; ptsname_r writes into our buffer.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(m >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
        assert!(
            libc::grantpt(m) == 0 && libc::unlockpt(m) == 0,
            "grantpt/unlockpt"
        );
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(
            libc::ptsname_r(m, name.as_mut_ptr(), name.len()),
            0,
            "ptsname_r"
        );
        let s = libc::open(
            name.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        );
        assert!(
            s >= 0,
            "open {:?}: {}",
            CStr::from_ptr(name.as_ptr()),
            std::io::Error::last_os_error()
        );
        (File::from_raw_fd(m), File::from_raw_fd(s))
    }
}

/// Gives up the test process's own controlling terminal, if it has one (a developer running
/// the tests from a shell), so a request it sends comes from a process with none.
pub fn drop_own_terminal() {
    // SAFETY: open/ioctl/close on a descriptor we own. TIOCNOTTY in a process that is not a
    // session leader only detaches that process.
    unsafe {
        let fd = libc::open(c"/dev/tty".as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
        if fd >= 0 {
            libc::ioctl(fd, libc::TIOCNOTTY);
            libc::close(fd);
        }
    }
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let tty_nr = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .nth(4)
        .unwrap()
        .to_string();
    assert_eq!(
        tty_nr, "0",
        "the test process still has a controlling terminal"
    );
}
