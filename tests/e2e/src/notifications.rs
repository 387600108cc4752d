//! A private D-Bus session bus with a recording notification service on it
//! (`notify-recorder`), for the daemon's desktop notifications: real D-Bus calls, asserted
//! from the file the recorder writes. Stopped when dropped.

use std::{
    fs,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::bin;

pub struct NotificationBus {
    /// `DBUS_SESSION_BUS_ADDRESS` of the bus.
    pub address: String,
    notes: PathBuf,
    bus: Child,
    recorder: Option<Child>,
}

const CONFIG: &str = r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=@BUS@</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#;

impl NotificationBus {
    /// A bus under `dir` with no service on it yet.
    pub fn start(dir: &std::path::Path) -> NotificationBus {
        assert!(
            std::path::Path::new("/usr/bin/dbus-daemon").exists(),
            "dbus-daemon is missing: apt-get install dbus-daemon"
        );
        fs::create_dir_all(dir).unwrap();
        let sock = dir.join("bus");
        let conf = dir.join("bus.conf");
        fs::write(&conf, CONFIG.replace("@BUS@", &sock.display().to_string())).unwrap();
        let bus = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", conf.display()))
            .arg("--nofork")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start dbus-daemon");
        wait_for(&sock, "the private bus");
        NotificationBus {
            address: format!("unix:path={}", sock.display()),
            notes: dir.join("notes.jsonl"),
            bus,
            recorder: None,
        }
    }

    /// Puts the recording notification service on the bus.
    pub fn with_recorder(mut self) -> NotificationBus {
        let ready = self.notes.with_extension("ready");
        let child = Command::new(bin("notify-recorder"))
            .arg(&self.notes)
            .arg(&ready)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .stdin(Stdio::null())
            .spawn()
            .expect("start notify-recorder");
        self.recorder = Some(child);
        wait_for(&ready, "the notification service");
        self
    }

    /// Every notification received so far.
    pub fn notes(&self) -> Vec<serde_json::Value> {
        fs::read_to_string(&self.notes)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("recorder lines are JSON"))
            .collect()
    }
}

fn wait_for(p: &std::path::Path, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !p.exists() {
        assert!(Instant::now() < deadline, "{what} did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for NotificationBus {
    fn drop(&mut self) {
        if let Some(r) = &mut self.recorder {
            let _ = r.kill();
            let _ = r.wait();
        }
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}
