//! The AWS CLI's SSO token cache, `~/.aws/sso/cache/<sha1>.json` (PROTOCOL.md section d):
//! the same file name (sha1 of the session name, or of the start URL for legacy profiles),
//! fields and `…Z` timestamps, written atomically and 0600 from creation.
//!
//! `import` adopts a token that `aws sso login` left there; `mirror` also writes ours, so the
//! AWS CLI, botocore and the AWS SDKs can use native SSO profiles too.

use std::{path::PathBuf, time::SystemTime};

use serde::{Deserialize, Serialize};
use ssoagent_client::fsutil::sha1_file_name;

use super::{RegisteredFlow, Registration, StoreError, StoredSession, Token};
use crate::{secret::Secret, store};

pub struct CliCache {
    dir: PathBuf,
}

/// The file as the AWS CLI v2 and botocore write it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CacheFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    access_token: Secret,
    expires_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    registration_expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<Secret>,
}

/// What a cache file holds, in our terms.
pub struct Cached {
    pub start_url: Option<String>,
    pub token: Token,
    pub registration: Option<Registration>,
}

impl CliCache {
    pub fn new(home: &std::path::Path) -> Self {
        Self {
            dir: home.join(".aws").join("sso").join("cache"),
        }
    }

    pub fn path(&self, session: &str) -> PathBuf {
        self.dir.join(sha1_file_name(session))
    }

    /// The cached token for a session, if a readable, well-formed file is there.
    pub fn read(&self, session: &str) -> Result<Option<Cached>, StoreError> {
        let path = self.path(session);
        let Some(bytes) = store::read_private(&path)? else {
            return Ok(None);
        };
        let corrupt = |message: String| StoreError::Corrupt {
            path: path.clone(),
            message,
        };
        let f: CacheFile = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        let expires_at = parse_time(&f.expires_at)
            .ok_or_else(|| corrupt(format!("bad expiresAt {:?}", f.expires_at)))?;
        let registration = match (f.client_id, f.client_secret, f.registration_expires_at) {
            (Some(id), Some(secret), Some(exp)) => Some(Registration {
                client_id: id,
                client_secret: secret,
                expires_at: parse_time(&exp)
                    .ok_or_else(|| corrupt(format!("bad registrationExpiresAt {exp:?}")))?,
                flow: RegisteredFlow::Imported,
                scopes: Vec::new(),
            }),
            _ => None,
        };
        Ok(Some(Cached {
            start_url: f.start_url,
            token: Token {
                access_token: f.access_token,
                expires_at,
                refresh_token: f.refresh_token,
            },
            registration,
        }))
    }

    /// Writes our token in the AWS CLI's format (atomically, 0600 from creation).
    pub fn write(&self, s: &StoredSession) -> Result<(), StoreError> {
        let Some(token) = &s.token else { return Ok(()) };
        let f = CacheFile {
            start_url: Some(s.start_url.clone()),
            region: Some(s.region.clone()),
            access_token: token.access_token.clone(),
            expires_at: format_time(token.expires_at),
            client_id: s.registration.as_ref().map(|r| r.client_id.clone()),
            client_secret: s.registration.as_ref().map(|r| r.client_secret.clone()),
            registration_expires_at: s.registration.as_ref().map(|r| format_time(r.expires_at)),
            refresh_token: token.refresh_token.clone(),
        };
        let bytes = zeroize::Zeroizing::new(serde_json::to_vec(&f).expect("serializable"));
        store::write_private(&self.path(&s.session), &bytes)
    }

    pub fn delete(&self, session: &str) {
        let _ = std::fs::remove_file(self.path(session));
    }
}

/// `2026-11-22T16:00:00Z` (seconds, UTC), as the AWS CLI writes and the Rust SDK requires.
pub fn format_time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// RFC 3339 as the AWS tools write it: `Z`, `+00:00`, fractions, or the older `UTC` suffix.
pub fn parse_time(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let normalized = if let Some(base) = s.strip_suffix("UTC") {
        format!("{base}Z")
    } else if let Some(base) = s.strip_suffix("+00:00") {
        format!("{base}Z")
    } else {
        s.to_string()
    };
    humantime::parse_rfc3339_weak(&normalized).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_sha1_of_the_session_name() {
        let c = CliCache::new(std::path::Path::new("/h"));
        assert_eq!(
            c.path("dev"),
            PathBuf::from("/h/.aws/sso/cache/34c6fceca75e456f25e7e99531e2425c6c1de443.json")
        );
    }

    #[test]
    fn times_in_every_form_the_aws_tools_write() {
        let want = parse_time("2026-11-22T16:00:00Z").unwrap();
        assert_eq!(format_time(want), "2026-11-22T16:00:00Z");
        for s in [
            "2026-11-22T16:00:00+00:00",
            "2026-11-22T16:00:00UTC",
            "2026-11-22T16:00:00.000Z",
        ] {
            assert_eq!(parse_time(s), Some(want), "{s}");
        }
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn round_trip_in_cli_format() {
        let dir = tempfile::tempdir().unwrap();
        let c = CliCache::new(dir.path());
        let s = StoredSession {
            session: "dev".into(),
            start_url: "https://d-1.awsapps.com/start".into(),
            region: "us-east-1".into(),
            token: Some(Token {
                access_token: "at".into(),
                expires_at: parse_time("2030-01-01T00:00:00Z").unwrap(),
                refresh_token: Some("rt".into()),
            }),
            registration: Some(Registration {
                client_id: "cid".into(),
                client_secret: "cs".into(),
                expires_at: parse_time("2030-02-01T00:00:00Z").unwrap(),
                flow: RegisteredFlow::Pkce,
                scopes: vec![],
            }),
        };
        c.write(&s).unwrap();
        let text = std::fs::read_to_string(c.path("dev")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["expiresAt"], "2030-01-01T00:00:00Z");
        assert_eq!(v["registrationExpiresAt"], "2030-02-01T00:00:00Z");
        assert_eq!(v["accessToken"], "at");
        assert_eq!(v["refreshToken"], "rt");
        assert_eq!(v["clientId"], "cid");
        assert_eq!(v["startUrl"], "https://d-1.awsapps.com/start");
        let back = c.read("dev").unwrap().unwrap();
        assert_eq!(back.token, s.token.unwrap());
        assert_eq!(back.registration.unwrap().client_id, "cid");
    }
}
