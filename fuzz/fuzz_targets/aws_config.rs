//! `~/.aws/config` as the daemon resolves it: any bytes give profiles or `Error::Config`, never
//! a panic (a broken file must be a one-line exit 2 for the client, not a dead daemon).
//!
//! `AwsConfig` reads its file only through `AWS_CONFIG_FILE`/`HOME`, so the environment is set
//! once in `init`, before libFuzzer runs any input, and the input is written to that file.

#![no_main]

use std::{path::PathBuf, sync::OnceLock};

use libfuzzer_sys::fuzz_target;
use ssoagentd::{error::Error, profiles::AwsConfig};

static FILE: OnceLock<PathBuf> = OnceLock::new();
static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();

/// Names that generated files are likely to use (the dictionary in README.md has more).
const NAMES: &[&str] = &["default", "dev", "prod", "a", "b", "work"];

fn check<T>(r: Result<T, Error>) {
    match r {
        Ok(_) | Err(Error::Config(_)) => {}
        Err(e) => panic!("expected a profile or Error::Config, got {e:?}"),
    }
}

fuzz_target!(
    init: {
        let dir = tempfile::Builder::new()
            .prefix("ssoagent-fuzz-")
            .tempdir()
            .expect("temp dir")
            .keep();
        let file = dir.join("config");
        // SAFETY: init runs once, before any input and before this process starts threads of
        // its own; nothing else reads the environment concurrently.
        unsafe {
            std::env::set_var("AWS_CONFIG_FILE", &file);
            std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials"));
            std::env::set_var("HOME", &dir);
            std::env::remove_var("AWS_PROFILE");
        }
        FILE.set(file).unwrap();
        RT.set(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        )
        .unwrap();
    },
    |data: &[u8]| {
        let file = FILE.get().unwrap();
        std::fs::write(file, data).unwrap();
        // A fresh AwsConfig each time: its cache is keyed by the file's mtime and size.
        let config = AwsConfig::from_env();
        RT.get().unwrap().block_on(async {
            for name in NAMES {
                check(config.profile(name).await);
                check(config.session(name).await);
            }
            check(config.sessions().await);
            if let Ok(all) = config.profiles().await {
                for p in all {
                    // Whatever `profiles` lists resolves on its own too.
                    config
                        .profile(p.name())
                        .await
                        .expect("a listed profile resolves");
                }
            }
        });
    }
);
