//! The audit file: `audit.jsonl` in the state dir, created 0600 (never through a symlink),
//! appended, rotated at `audit_max_size` into `audit.jsonl.1` … `.5`. Written by one task
//! from the event bus, so a slow disk never holds a credential request up; a failing disk
//! (full, read-only) is logged once and the daemon keeps serving.

use std::{
    fs::{File, OpenOptions},
    io::Write,
    path::{Path, PathBuf},
};

use tracing::{error, info};

/// Rotated files kept beside the live one.
pub const KEEP: usize = 5;

pub struct AuditFile {
    path: PathBuf,
    max_size: u64,
    file: Option<File>,
    size: u64,
    /// A write failed and was logged; the next success says so too.
    failing: bool,
}

impl AuditFile {
    pub fn new(path: PathBuf, max_size: u64) -> Self {
        Self {
            path,
            max_size,
            file: None,
            size: 0,
            failing: false,
        }
    }

    /// Appends a batch of whole lines (written together where they fit under the limit).
    pub fn append(&mut self, lines: &[u8]) {
        match self.try_append(lines) {
            Ok(()) if self.failing => {
                self.failing = false;
                info!(path = %self.path.display(), "audit log writable again");
            }
            Ok(()) => {}
            Err(e) => {
                if !self.failing {
                    error!(path = %self.path.display(), error = %e, "cannot write the audit log; records are lost until it works again (still serving)");
                }
                self.failing = true;
                self.file = None;
            }
        }
    }

    /// Writes as many whole lines at once as fit under the size limit, rotating between
    /// (a single line longer than the limit gets a file of its own).
    fn try_append(&mut self, lines: &[u8]) -> std::io::Result<()> {
        if self.file.is_none() {
            let f = open(&self.path)?;
            self.size = f.metadata()?.len();
            self.file = Some(f);
        }
        let mut rest = lines;
        while !rest.is_empty() {
            let room = self.max_size.saturating_sub(self.size) as usize;
            // Usually the whole batch fits; else the lines up to the last newline that does
            // (found from the limit backwards, not by walking every line of the batch).
            let mut take = if rest.len() <= room {
                rest.len()
            } else {
                rest[..room]
                    .iter()
                    .rposition(|b| *b == b'\n')
                    .map_or(0, |i| i + 1)
            };
            if take == 0 {
                if self.size > 0 {
                    self.rotate()?;
                    continue;
                }
                take = rest
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(rest.len(), |i| i + 1);
            }
            let f = self.file.as_mut().expect("opened above");
            f.write_all(&rest[..take])?;
            self.size += take as u64;
            rest = &rest[take..];
        }
        Ok(())
    }

    /// `audit.jsonl.4` → `.5`, …, `audit.jsonl` → `.1`; the oldest falls off.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        for i in (1..KEEP).rev() {
            let from = numbered(&self.path, i);
            if from.exists() {
                std::fs::rename(&from, numbered(&self.path, i + 1))?;
            }
        }
        std::fs::rename(&self.path, numbered(&self.path, 1))?;
        self.size = 0;
        self.file = Some(open(&self.path)?);
        Ok(())
    }
}

pub fn numbered(path: &Path, i: usize) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{i}"));
    PathBuf::from(s)
}

#[cfg(unix)]
fn open(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() || meta.uid() != ssoagent_client::fsutil::uid() {
        return Err(std::io::Error::other("not a regular file of ours"));
    }
    if meta.mode() & 0o077 != 0 {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(f)
}

#[cfg(not(unix))]
fn open(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_at_the_size_keeping_five() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let mut a = AuditFile::new(path.clone(), 100);
        for i in 0..40 {
            a.append(format!("{{\"n\":{i:040}}}\n").as_bytes());
        }
        // A batch of many lines is split across files too.
        a.append("{\"batch\":1}\n".repeat(30).as_bytes());
        assert!(std::fs::metadata(&path).unwrap().len() <= 100);
        for i in 1..=KEEP {
            assert!(numbered(&path, i).exists(), "{i}");
        }
        assert!(!numbered(&path, KEEP + 1).exists());
        // Every file holds whole lines only, within the size.
        let files = std::iter::once(path.clone()).chain((1..=KEEP).map(|i| numbered(&path, i)));
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            assert!(text.len() <= 100 && text.ends_with('\n'), "{f:?}: {text:?}");
            for line in text.lines() {
                assert!(
                    line.starts_with('{') && line.ends_with('}'),
                    "{f:?}: {line:?}"
                );
            }
        }
        // A line longer than the limit gets a file of its own.
        let long = format!("{{\"long\":\"{}\"}}\n", "x".repeat(200));
        a.append(format!("{{\"a\":1}}\n{long}{{\"b\":2}}\n").as_bytes());
        assert_eq!(std::fs::read_to_string(numbered(&path, 1)).unwrap(), long);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"b\":2}\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_is_refused_and_serving_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &path).unwrap();
        let mut a = AuditFile::new(path, 1 << 20);
        a.append(b"{}\n");
        a.append(b"{}\n");
        assert!(a.failing);
        assert!(!dir.path().join("elsewhere").exists());
    }
}
