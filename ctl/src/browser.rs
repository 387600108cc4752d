//! Opening the login URL: `$BROWSER` when set (the URL as its one argument, or replacing a
//! `%s`), else the platform opener.

use std::process::{Command, Stdio};

pub fn open(url: &str) -> Result<(), String> {
    let mut cmd = match std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty())
    {
        Some(browser) => {
            // $BROWSER may hold a command with arguments ("firefox --new-window") or a list
            // separated by ':' (the convention); the first entry is used.
            let first = browser.split(':').next().unwrap_or(&browser).to_string();
            let mut words = first
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>();
            let substituted = words.iter().any(|w| w.contains("%s"));
            for w in &mut words {
                *w = w.replace("%s", url);
            }
            let mut c = Command::new(&words[0]);
            c.args(&words[1..]);
            if !substituted {
                c.arg(url);
            }
            c
        }
        None => {
            let opener = if cfg!(target_os = "macos") {
                "open"
            } else if cfg!(windows) {
                "explorer"
            } else {
                "xdg-open"
            };
            let mut c = Command::new(opener);
            c.arg(url);
            c
        }
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().map_err(|e| e.to_string())?;
    // Do not wait for a browser that stays open; reap it in the background.
    std::thread::spawn(move || child.wait());
    Ok(())
}
