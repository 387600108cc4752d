//! Small helpers every ssoagent binary needs once: the user's uid, the private-directory
//! check, the atomic 0600 write, the AWS CLI's sha1 file naming and the `AWS_PROFILE` fallback.

use std::path::Path;

/// The real uid of this process.
#[cfg(unix)]
pub fn uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

/// Windows has no uids: 0 stands for "this user", whose SID the pipe checks compare instead.
#[cfg(windows)]
pub fn uid() -> u32 {
    0
}

/// The profile given, else `$AWS_PROFILE` (empty counts as none), as the AWS tools do.
pub fn profile_or_env(profile: Option<String>) -> Option<String> {
    profile
        .or_else(|| std::env::var("AWS_PROFILE").ok())
        .filter(|p| !p.is_empty())
}

/// Why a directory is not private to us.
#[derive(Debug)]
pub enum PrivateDirError {
    Io {
        dir: std::path::PathBuf,
        what: &'static str,
        source: std::io::Error,
    },
    NotADirectory(std::path::PathBuf),
    Owner {
        dir: std::path::PathBuf,
        owner: u32,
        me: u32,
    },
    Open {
        dir: std::path::PathBuf,
        mode: u32,
    },
}

impl std::fmt::Display for PrivateDirError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io { dir, what, source } => {
                write!(f, "cannot {what} {}: {source}", dir.display())
            }
            Self::NotADirectory(d) => write!(
                f,
                "{} must be a directory, not a symlink or file; refusing to use it",
                d.display()
            ),
            Self::Owner { dir, owner, me } => write!(
                f,
                "{} belongs to uid {owner}, not to you (uid {me}); refusing to use it",
                dir.display()
            ),
            Self::Open { dir, mode } => write!(
                f,
                "{} is open to other users (mode {mode:o}); fix with: chmod 700 {}",
                dir.display(),
                dir.display()
            ),
        }
    }
}

impl std::error::Error for PrivateDirError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Checks that `dir` is a real directory (not a symlink), ours, and closed to everyone else.
#[cfg(unix)]
pub fn check_private_dir(dir: &Path) -> Result<(), PrivateDirError> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(dir).map_err(|source| PrivateDirError::Io {
        dir: dir.to_path_buf(),
        what: "inspect",
        source,
    })?;
    if m.file_type().is_symlink() || !m.is_dir() {
        return Err(PrivateDirError::NotADirectory(dir.to_path_buf()));
    }
    if m.uid() != uid() {
        return Err(PrivateDirError::Owner {
            dir: dir.to_path_buf(),
            owner: m.uid(),
            me: uid(),
        });
    }
    if m.mode() & 0o077 != 0 {
        return Err(PrivateDirError::Open {
            dir: dir.to_path_buf(),
            mode: m.mode() & 0o777,
        });
    }
    Ok(())
}

/// Creates `dir` (and its parents) 0700 when missing, then [`check_private_dir`].
#[cfg(unix)]
pub fn ensure_private_dir(dir: &Path) -> Result<(), PrivateDirError> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| PrivateDirError::Io {
                dir: dir.to_path_buf(),
                what: "create",
                source,
            })?,
        Err(source) => {
            return Err(PrivateDirError::Io {
                dir: dir.to_path_buf(),
                what: "inspect",
                source,
            });
        }
        Ok(_) => {}
    }
    check_private_dir(dir)
}

/// Windows: a real directory (not a symlink or junction). Its ACL is set owner-only when we
/// create it ([`ensure_private_dir`]); an existing directory's ACL is not inspected.
#[cfg(windows)]
pub fn check_private_dir(dir: &Path) -> Result<(), PrivateDirError> {
    let m = std::fs::symlink_metadata(dir).map_err(|source| PrivateDirError::Io {
        dir: dir.to_path_buf(),
        what: "inspect",
        source,
    })?;
    if m.file_type().is_symlink() || !m.is_dir() {
        return Err(PrivateDirError::NotADirectory(dir.to_path_buf()));
    }
    Ok(())
}

/// Windows: creates `dir` (and its parents) when missing, the last one with an owner-only
/// ACL, then [`check_private_dir`].
#[cfg(windows)]
pub fn ensure_private_dir(dir: &Path) -> Result<(), PrivateDirError> {
    if std::fs::symlink_metadata(dir).is_err() {
        let io = |what, source| PrivateDirError::Io {
            dir: dir.to_path_buf(),
            what,
            source,
        };
        std::fs::create_dir_all(dir).map_err(|e| io("create", e))?;
        crate::winsec::restrict_to_owner(dir, true).map_err(|e| io("restrict", e))?;
    }
    check_private_dir(dir)
}

/// `<sha1 of key>.json`: how the AWS CLI names its SSO cache files, and how the file store
/// names its own (so session names never show in file names).
#[cfg(feature = "config")]
pub fn sha1_file_name(key: &str) -> String {
    use sha1::{Digest, Sha1};
    format!("{}.json", hex::encode(Sha1::digest(key.as_bytes())))
}

/// Writes atomically and privately: the parent directory is created 0700 if missing, then
/// [`write_atomic`] with mode 0600.
#[cfg(all(unix, feature = "config"))]
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent_dir(path))?;
    write_atomic(path, bytes, 0o600)
}

/// Replaces `path` atomically (its directory must exist): the bytes go to a temp file in the
/// same directory, created 0600 with O_EXCL under an unpredictable name, set to `mode`,
/// fsynced and renamed over `path`, then the directory is fsynced. A crash leaves the old
/// file or the new one, never a part, and nothing planted at a guessable name is followed.
#[cfg(all(unix, feature = "config"))]
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::PermissionsExt};
    let dir = parent_dir(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".ssoagent-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    if mode != 0o600 {
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Windows: the same temp-file-and-rename, the file's ACL set owner-only (this user, full
/// access, nothing inherited) before it is renamed into place when `mode` is private
/// (`mode & 0o077 == 0`); other modes keep the inherited ACL.
#[cfg(all(windows, feature = "config"))]
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    let mut tmp = tempfile::Builder::new()
        .prefix(".ssoagent-")
        .suffix(".tmp")
        .tempfile_in(parent_dir(path))?;
    tmp.write_all(bytes)?;
    if mode & 0o077 == 0 {
        crate::winsec::restrict_to_owner(tmp.path(), false)?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Windows: [`write_atomic`] owner-only, the parent directory created (owner-only) if missing.
#[cfg(all(windows, feature = "config"))]
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    ensure_private_dir(parent_dir(path)).map_err(std::io::Error::other)?;
    write_atomic(path, bytes, 0o600)
}

#[cfg(feature = "config")]
fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

#[cfg(all(test, unix, feature = "config"))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn sha1_names_match_the_aws_cli() {
        assert_eq!(
            sha1_file_name("dev"),
            "34c6fceca75e456f25e7e99531e2425c6c1de443.json"
        );
    }

    #[test]
    fn private_write_is_0600_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("f.json");
        write_private(&path, b"one").unwrap();
        write_private(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
        check_private_dir(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn open_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let e = check_private_dir(dir.path()).unwrap_err().to_string();
        assert!(e.contains("open to other users"), "{e}");
    }
}
