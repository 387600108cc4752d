//! A desktop notification service for tests: owns `org.freedesktop.Notifications` on the
//! session bus it is given (`DBUS_SESSION_BUS_ADDRESS`) and appends every `Notify` call it
//! receives to a file as one JSON line (`{"app","summary","body"}`). Touches `READY` once
//! it owns the name.
//!
//! Usage: notify-recorder OUT.jsonl READY

use std::{collections::HashMap, fs, io::Write};

use zbus::zvariant::OwnedValue;

struct Recorder {
    out: fs::File,
    n: u32,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Recorder {
    #[allow(clippy::too_many_arguments)]
    fn notify(
        &mut self,
        app_name: String,
        _replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        _actions: Vec<String>,
        _hints: HashMap<String, OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        let line = serde_json::json!({"app": app_name, "summary": summary, "body": body});
        let _ = writeln!(self.out, "{line}");
        let _ = self.out.flush();
        self.n += 1;
        self.n
    }

    fn get_capabilities(&self) -> Vec<String> {
        vec!["body".into()]
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "notify-recorder".into(),
            "ssoagent".into(),
            "0".into(),
            "1.2".into(),
        )
    }

    fn close_notification(&self, _id: u32) {}
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(out), Some(ready)) = (args.next(), args.next()) else {
        eprintln!("usage: notify-recorder OUT.jsonl READY");
        std::process::exit(2);
    };
    let out = fs::OpenOptions::new().create(true).append(true).open(out)?;
    let _conn = zbus::blocking::connection::Builder::session()?
        .serve_at("/org/freedesktop/Notifications", Recorder { out, n: 0 })?
        .name("org.freedesktop.Notifications")?
        .build()?;
    fs::write(ready, "")?;
    loop {
        std::thread::park();
    }
}
