//! Helpers that other crates of the workspace have too, kept here once for the whole ctl so
//! that each can be swapped for the client library's shared version in one place.

use std::{
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::Path,
};

use ssoagent_client::exit;

use crate::failure::Failure;

/// This process's uid.
pub fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// The profile given, else `$AWS_PROFILE`.
pub fn profile_or_env(profile: Option<String>) -> Result<String, Failure> {
    profile
        .or_else(|| std::env::var("AWS_PROFILE").ok())
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            Failure::new(
                exit::USAGE,
                "no profile: pass --profile NAME or set AWS_PROFILE",
            )
        })
}

/// Same directory temp file, the original's mode, fsync, rename: never a half-written config.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0o600);
    let tmp = dir.join(format!(
        ".{}.ssoagent-tmp",
        path.file_name().unwrap_or_default().to_string_lossy()
    ));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
    std::fs::rename(&tmp, path)
}
