//! `ssoagentctl service …` on Windows: at logon, the `Run` key of the user's own registry hive
//! (`HKCU\Software\Microsoft\Windows\CurrentVersion\Run`, value `ssoagentd`) runs
//! `ssoagentctl start`, which starts the daemon detached (no console of its own) with its log
//! in the state dir. No administrator rights, no service account: the daemon runs as the user
//! who logs on, like the systemd user service. `reg.exe` does the registry work, so
//! `--dry-run` shows exactly the commands that would run.

use super::service::Plan;

/// The user's own autostart key.
pub const RUN_KEY: &str = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run";
/// The value under it.
pub const RUN_VALUE: &str = "ssoagentd";

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

/// What runs at logon: `"<ssoagentctl>" start` (quoted: paths under `Program Files`).
pub fn logon_command(ctl: &str) -> String {
    format!("\"{ctl}\" start")
}

/// A command as Windows receives it: arguments with spaces or quotes quoted, inner quotes
/// escaped with a backslash (how Rust's `Command` passes them, and how `reg.exe` reads them).
pub fn command_line(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            if w.is_empty() || w.contains([' ', '\t', '"']) {
                format!("\"{}\"", w.replace('"', "\\\""))
            } else {
                w.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn install(ctl: &str) -> Plan {
    Plan {
        files: vec![],
        commands: vec![words(&[
            "reg",
            "add",
            RUN_KEY,
            "/v",
            RUN_VALUE,
            "/t",
            "REG_SZ",
            "/d",
            &logon_command(ctl),
            "/f",
        ])],
    }
}

pub fn uninstall() -> Plan {
    Plan {
        files: vec![],
        commands: vec![words(&["reg", "delete", RUN_KEY, "/v", RUN_VALUE, "/f"])],
    }
}

pub fn status() -> Plan {
    Plan {
        files: vec![],
        commands: vec![words(&["reg", "query", RUN_KEY, "/v", RUN_VALUE])],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_value_quotes_a_path_with_spaces() {
        let plan = install(r"C:\Program Files\ssoagent\ssoagentctl.exe");
        assert_eq!(
            command_line(&plan.commands[0]),
            r#"reg add HKCU\Software\Microsoft\Windows\CurrentVersion\Run /v ssoagentd /t REG_SZ /d "\"C:\Program Files\ssoagent\ssoagentctl.exe\" start" /f"#
        );
        assert!(plan.files.is_empty());
    }

    #[test]
    fn plain_words_stay_unquoted() {
        let words = ["reg", "query", "", "a b"].map(String::from);
        assert_eq!(command_line(&words), r#"reg query "" "a b""#);
    }
}
