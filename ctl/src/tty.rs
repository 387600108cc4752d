//! Asking the human at the controlling terminal (`/dev/tty`), never stdin: a robot can feed
//! stdin, but a process with no controlling terminal has no `/dev/tty` to answer on.

use std::{
    fs::OpenOptions,
    io::{BufRead, BufReader, Write},
};

use ssoagent_client::exit;

use crate::failure::Failure;

/// What the refusal says when no terminal can be asked.
pub const NO_TERMINAL: &str = "a human must confirm this at a terminal";

/// Shows `question` followed by ` [y/N] ` on the terminal and reads one answer from it: `Ok(true)`
/// for y/yes, `Ok(false)` for anything else (Enter included). Without a controlling terminal:
/// a failure with exit code 3 saying [`NO_TERMINAL`], then `hint`.
pub fn confirm(question: &str, hint: &str) -> Result<bool, Failure> {
    let answer = ask_line(&format!("{question} [y/N] "), NO_TERMINAL, hint)?;
    Ok(is_yes(&answer))
}

/// Shows `prompt` on the terminal and reads one line from it, trimmed. Without a controlling
/// terminal: a failure with exit code 3 saying `refusal`, then `hint`.
pub fn ask(prompt: &str, refusal: &str, hint: &str) -> Result<String, Failure> {
    Ok(ask_line(prompt, refusal, hint)?.trim().to_string())
}

fn ask_line(prompt: &str, refusal: &str, hint: &str) -> Result<String, Failure> {
    let refuse = |why: String| Failure::new(exit::LOCKED, format!("{refusal} ({why}); {hint}"));
    let (tty, mut out) = open_terminal().map_err(refuse)?;
    write!(out, "{prompt}")
        .and_then(|()| out.flush())
        .map_err(|e| refuse(format!("cannot write to the terminal: {e}")))?;
    let mut answer = String::new();
    BufReader::new(tty)
        .read_line(&mut answer)
        .map_err(|e| refuse(format!("cannot read the terminal: {e}")))?;
    Ok(answer)
}

/// `/dev/tty`, read and written.
#[cfg(unix)]
fn open_terminal() -> Result<(std::fs::File, std::fs::File), String> {
    let tty = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ENXIO) {
                "this process has no controlling terminal".to_string()
            } else {
                format!("cannot open /dev/tty: {e}")
            }
        })?;
    let out = tty.try_clone().map_err(|e| e.to_string())?;
    Ok((tty, out))
}

/// Windows: the console's input and output (`CONIN$`, `CONOUT$`), never the redirected
/// standard handles. A process without a console (detached, a service) has neither.
#[cfg(windows)]
fn open_terminal() -> Result<(std::fs::File, std::fs::File), String> {
    let no_console = |e: std::io::Error| format!("this process has no console ({e})");
    let input = OpenOptions::new()
        .read(true)
        .write(true)
        .open("CONIN$")
        .map_err(no_console)?;
    let output = OpenOptions::new()
        .write(true)
        .open("CONOUT$")
        .map_err(no_console)?;
    Ok((input, output))
}

fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

#[cfg(test)]
mod tests {
    use super::is_yes;

    #[test]
    fn only_yes_is_yes() {
        for a in ["y\n", "Y\n", "yes\n", " YES \r\n"] {
            assert!(is_yes(a), "{a:?}");
        }
        for a in ["", "\n", "n\n", "no\n", "yess\n", "y es\n", "sure\n"] {
            assert!(!is_yes(a), "{a:?}");
        }
    }
}
