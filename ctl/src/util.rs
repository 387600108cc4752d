//! The client library's shared helpers, as the ctl uses them.

use std::path::Path;

use ssoagent_client::{exit, fsutil};

use crate::failure::Failure;

pub use fsutil::uid;

/// The profile given, else `$AWS_PROFILE`.
pub fn profile_or_env(profile: Option<String>) -> Result<String, Failure> {
    fsutil::profile_or_env(profile).ok_or_else(|| {
        Failure::new(
            exit::USAGE,
            "no profile: pass --profile NAME or set AWS_PROFILE",
        )
    })
}

/// Replaces a file of the user's (e.g. ~/.aws/config) atomically, keeping its mode (0600 when
/// new): never a half-written config.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0o600)
    };
    // Windows: an existing file keeps its inherited ACL; a new one is owner-only.
    #[cfg(windows)]
    let mode = if path.exists() { 0o644 } else { 0o600 };
    fsutil::write_atomic(path, text.as_bytes(), mode)
}
