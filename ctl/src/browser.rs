//! Opening the login URL: `$BROWSER` when set (the URL as its one argument, or replacing a
//! `%s`), else the platform opener. Only URLs that [`check_url`] accepts are opened: the URL
//! comes from the daemon, which has it from the identity provider, and an opener hands
//! `file:` or custom schemes to whatever handler is registered for them.

use std::process::{Command, Stdio};

use crate::display::has_controls;

/// Accepts `https://HOST…` and `http://` to a loopback host (`127.0.0.1`, `[::1]`,
/// `localhost`); refuses anything else with the reason. An accepted URL starts with its
/// scheme, so no opener can read it as a flag.
pub fn check_url(url: &str) -> Result<(), String> {
    if has_controls(url) || url.chars().any(char::is_whitespace) {
        return Err("it contains control characters or spaces".into());
    }
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| "it is not an https:// URL".to_string())?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return Err(format!("its scheme is {scheme:?}"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains(['@', '\\']) {
        return Err("its host part holds a user name or a backslash".into());
    }
    let host = host_of(authority).ok_or_else(|| "it has no valid host".to_string())?;
    if scheme == "http" && !is_loopback(host) {
        return Err("it is http:// to a host that is not loopback".into());
    }
    Ok(())
}

/// The host of an authority `host[:port]` or `[v6][:port]`: non-empty, and for a port, digits.
fn host_of(authority: &str) -> Option<&str> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let host_ok = !host.is_empty()
        && !host.starts_with('-')
        && host
            .chars()
            .all(|c| c.is_alphanumeric() || ".-_:%".contains(c));
    (port_ok && host_ok).then_some(host)
}

fn is_loopback(host: &str) -> bool {
    matches!(
        host.to_ascii_lowercase().as_str(),
        "127.0.0.1" | "::1" | "localhost"
    )
}

/// Opens `url` in a browser, if [`check_url`] accepts it.
pub fn open(url: &str) -> Result<(), String> {
    check_url(url).map_err(|why| format!("refused to open the URL: {why}"))?;
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

#[cfg(test)]
mod tests {
    use super::check_url;

    #[test]
    fn https_and_loopback_http_are_accepted() {
        for url in [
            "https://device.sso.us-east-1.amazonaws.com/?user_code=ABCD-EFGH",
            "https://oidc.eu-west-1.amazonaws.com/authorize?response_type=code&client_id=x&redirect_uri=http%3A%2F%2F127.0.0.1%3A4711%2Foauth%2Fcallback",
            "HTTPS://Example.COM:443/start#/",
            "http://127.0.0.1:38457/device?user_code=ABCD-EFGH",
            "http://localhost:8080/authorize",
            "http://[::1]:9000/authorize?x=1",
            "http://127.0.0.1",
        ] {
            assert_eq!(check_url(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn other_schemes_and_remote_http_are_refused() {
        for url in [
            "file:///etc/passwd",
            "file://localhost/etc/passwd",
            "javascript:alert(1)",
            "ms-settings://x",
            "x-github-client://openRepo/x",
            "http://evil.example.com/authorize",
            "http://127.0.0.1.evil.example.com/",
            "http://localhost.evil.example.com:80/",
            "http://127.0.0.2/",
            "http://[::2]/",
            "ftp://127.0.0.1/",
        ] {
            assert!(check_url(url).is_err(), "{url} was accepted");
        }
    }

    #[test]
    fn urls_that_could_be_flags_or_tricks_are_refused() {
        for url in [
            "--new-window=https://example.com",
            "-https://example.com",
            "--remote-debugging-port=9222",
            "https://-evil.example.com/",
            "https://user@example.com/",
            "http://127.0.0.1@evil.example.com/",
            "http://evil.example.com\\@127.0.0.1/",
            "https://example.com/\x1b]0;pwned\x07",
            "https://example.com/ a",
            "https://example.com/\nmore",
            "https://",
            "https:///path",
            "https://example.com:/",
            "https://example.com:80a/",
            "",
        ] {
            assert!(check_url(url).is_err(), "{url:?} was accepted");
        }
    }
}
