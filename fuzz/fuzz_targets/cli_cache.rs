//! The AWS CLI's SSO token cache file (`~/.aws/sso/cache/<sha1>.json`), which other tools
//! write: any bytes read as a token or a `Corrupt` error, never a panic; what was read can be
//! written back in the AWS CLI's format and read again to the same token.

#![no_main]

use std::{io::Write, os::unix::fs::OpenOptionsExt, path::PathBuf, sync::OnceLock};

use libfuzzer_sys::fuzz_target;
use ssoagentd::store::{StoreError, StoredSession, cli_cache::CliCache};

static HOME: OnceLock<PathBuf> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let home = HOME.get_or_init(|| {
        tempfile::Builder::new()
            .prefix("ssoagent-fuzz-")
            .tempdir()
            .expect("temp dir")
            .keep()
    });
    let cache = CliCache::new(home);
    let path = cache.path("work");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .unwrap();
    f.write_all(data).unwrap();
    drop(f);
    match cache.read("work") {
        Ok(Some(c)) => {
            let stored = StoredSession {
                session: "work".into(),
                start_url: c.start_url.clone().unwrap_or_default(),
                region: "us-east-1".into(),
                token: Some(c.token.clone()),
                registration: c.registration.clone(),
            };
            cache.write(&stored).expect("what was read can be written");
            let back = cache.read("work").expect("re-read").expect("present");
            assert_eq!(back.token.access_token, c.token.access_token);
            assert_eq!(back.token.refresh_token, c.token.refresh_token);
        }
        Ok(None) => panic!("the file is there"),
        Err(StoreError::Corrupt { .. }) => {}
        Err(e) => panic!("unexpected error: {e}"),
    }
});
