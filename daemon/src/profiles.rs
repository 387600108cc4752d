//! Profiles and SSO sessions from the user's own `~/.aws/config`, parsed by aws-config (the
//! same parser the AWS SDK for Rust uses), re-read whenever the file changes.
//!
//! Two forms are served (DESIGN.md, "Which profiles it serves"):
//! 1. a native SSO profile (`sso_session` or legacy `sso_start_url`/`sso_region`, plus
//!    `sso_account_id`, `sso_role_name`), used through a wrapper profile's `credential_process`;
//! 2. a self-contained profile with `ssoagent_session`, `ssoagent_account_id`,
//!    `ssoagent_role_name`, which SDKs ignore.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
    time::SystemTime,
};

use aws_config::profile::{Profile, ProfileSet};
use aws_types::os_shim_internal::{Env, Fs};

use crate::error::{Error, Result};

/// An SSO session: `[sso-session NAME]` (key NAME) or a legacy profile's start URL (key: the URL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSpec {
    pub key: String,
    pub start_url: String,
    pub region: String,
    pub scopes: Vec<String>,
    /// Legacy inline `sso_start_url`: the AWS CLI keys its cache by the URL and never refreshes.
    pub legacy: bool,
}

/// A profile the daemon can serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleProfile {
    pub name: String,
    pub session: SessionSpec,
    pub account_id: String,
    pub role_name: String,
    /// The profile's service region (`region`), kept apart from the SSO region.
    pub region: Option<String>,
    /// A setup mistake worth telling the user about (the profile still works here).
    pub warning: Option<String>,
}

/// A profile that assumes a role with STS, with credentials from its `source_profile`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainedProfile {
    pub name: String,
    pub role_arn: String,
    pub source: Box<Served>,
    pub role_session_name: String,
    pub external_id: Option<String>,
    pub duration_seconds: Option<i32>,
    /// The STS region: the profile's `region`, else us-east-1 (the SDKs' default).
    pub region: Option<String>,
}

/// A profile the daemon serves: an SSO role, or a role chained from another profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Served {
    Sso(RoleProfile),
    Chained(ChainedProfile),
}

impl Served {
    pub fn name(&self) -> &str {
        match self {
            Self::Sso(p) => &p.name,
            Self::Chained(c) => &c.name,
        }
    }

    /// The SSO session at the root of the chain: locked there means locked here.
    pub fn session(&self) -> &SessionSpec {
        match self {
            Self::Sso(p) => &p.session,
            Self::Chained(c) => c.source.session(),
        }
    }

    pub fn region(&self) -> Option<&str> {
        match self {
            Self::Sso(p) => p.region.as_deref(),
            Self::Chained(c) => c.region.as_deref(),
        }
    }

    /// Everything that decides which credentials this profile gets; a cache entry made for
    /// another definition (the config changed) is not served.
    pub fn fingerprint(&self) -> String {
        match self {
            Self::Sso(p) => format!("sso|{}|{}|{}", p.session.key, p.account_id, p.role_name),
            Self::Chained(c) => format!(
                "sts|{}|{}|{:?}|{:?}|{}",
                c.role_arn,
                c.role_session_name,
                c.external_id,
                c.duration_seconds,
                c.source.fingerprint()
            ),
        }
    }
}

/// The parsed config, cached by the file's modification time and size.
pub struct AwsConfig {
    path: PathBuf,
    cached: Mutex<Option<(FileStamp, Arc<ProfileSet>)>>,
}

type FileStamp = Option<(SystemTime, u64)>;

/// A config file larger than this is refused: parsing one costs ~20x its size in memory.
const MAX_CONFIG_BYTES: u64 = 8 << 20;

impl AwsConfig {
    pub fn from_env() -> Self {
        let path = std::env::var_os("AWS_CONFIG_FILE")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .map(|p| expand_home(&p))
            .unwrap_or_else(|| home_dir().join(".aws").join("config"));
        Self {
            path,
            cached: Mutex::new(None),
        }
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn stamp(&self) -> FileStamp {
        let m = std::fs::metadata(&self.path).ok()?;
        Some((m.modified().ok()?, m.len()))
    }

    /// The current profile set; parses again only when the file changed.
    pub async fn load(&self) -> Result<Arc<ProfileSet>> {
        let stamp = self.stamp();
        if let Some((_, len)) = stamp
            && len > MAX_CONFIG_BYTES
        {
            return Err(Error::config(format!(
                "{} is {} MiB; ssoagent reads AWS config files up to {} MiB",
                self.path.display(),
                len >> 20,
                MAX_CONFIG_BYTES >> 20
            )));
        }
        if let Some((s, set)) = &*self.cached.lock().unwrap()
            && *s == stamp
        {
            return Ok(set.clone());
        }
        if stamp.is_none() && self.path.exists() {
            return Err(Error::config(format!(
                "cannot read {}",
                self.path.display()
            )));
        }
        let files = aws_runtime::env_config::file::EnvConfigFiles::default();
        let set = aws_config::profile::load(&Fs::real(), &Env::real(), &files, None)
            .await
            .map_err(|e| Error::config(describe_load_error(&e)))?;
        let set = Arc::new(set);
        *self.cached.lock().unwrap() = Some((stamp, set.clone()));
        Ok(set)
    }

    /// Resolves a profile by name into what the daemon needs to serve it.
    pub async fn profile(&self, name: &str) -> Result<Served> {
        let set = self.load().await?;
        resolve(
            &set,
            name,
            &self.path.display().to_string(),
            &mut Vec::new(),
        )
    }

    /// A session by `[sso-session]` name or legacy start URL.
    pub async fn session(&self, key: &str) -> Result<SessionSpec> {
        let set = self.load().await?;
        let file = self.path.display().to_string();
        if let Some(s) = set.sso_session(key) {
            return session_from_section(key, |k| s.get(k), &file);
        }
        // A legacy start URL: take the region from a profile that uses it.
        for name in set.profiles() {
            let p = set.get_profile(name).expect("listed profile");
            if p.get("sso_session").is_none() && p.get("sso_start_url") == Some(key) {
                return legacy_session(p, &file);
            }
        }
        let known: Vec<_> = all_sessions(&set).into_iter().map(|s| s.key).collect();
        Err(Error::config(format!(
            "no SSO session '{key}' in {file} (known: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )))
    }

    /// Every session the config defines or that a profile uses, in file order.
    pub async fn sessions(&self) -> Result<Vec<SessionSpec>> {
        Ok(all_sessions(&*self.load().await?))
    }

    /// Every profile the daemon can serve.
    pub async fn profiles(&self) -> Result<Vec<Served>> {
        let set = self.load().await?;
        let file = self.path.display().to_string();
        let mut out: Vec<_> = set
            .profiles()
            .filter_map(|n| resolve(&set, n, &file, &mut Vec::new()).ok())
            .collect();
        out.sort_by(|a, b| a.name().cmp(b.name()));
        Ok(out)
    }
}

impl AwsConfig {
    /// Profiles meant to go through the agent that would fail: those with ssoagent_* keys, and
    /// those whose credential_process runs ssoagent-cred for a profile that does not resolve.
    pub async fn problems(&self) -> Result<Vec<(String, String)>> {
        let set = self.load().await?;
        let file = self.path.display().to_string();
        let mut out = Vec::new();
        for name in set.profiles() {
            let p = set.get_profile(name).expect("listed profile");
            let target = p
                .get("credential_process")
                .filter(|c| c.contains("ssoagent-cred"))
                .map(|c| credential_process_profile(c).unwrap_or(name).to_string());
            let agent_keys =
                p.get("ssoagent_session").is_some() || p.get("ssoagent_account_id").is_some();
            let Some(target) = target.or_else(|| agent_keys.then(|| name.to_string())) else {
                continue;
            };
            if let Err(e) = resolve(&set, &target, &file, &mut Vec::new()) {
                let msg = if target == name {
                    e.to_string()
                } else {
                    format!("runs ssoagent-cred for profile '{target}': {e}")
                };
                out.push((name.to_string(), msg));
            }
        }
        out.sort();
        Ok(out)
    }
}

/// The profile a `credential_process = ssoagent-cred --profile X` line asks for.
fn credential_process_profile(cmd: &str) -> Option<&str> {
    let mut words = cmd.split_whitespace();
    while let Some(w) = words.next() {
        if w == "--profile" || w == "-p" {
            return words
                .next()
                .map(|p| p.trim_matches(|c| c == '"' || c == '\''));
        }
        if let Some(p) = w.strip_prefix("--profile=") {
            return Some(p.trim_matches(|c| c == '"' || c == '\''));
        }
    }
    None
}

fn all_sessions(set: &ProfileSet) -> Vec<SessionSpec> {
    let mut out: Vec<SessionSpec> = set
        .sso_sessions()
        .filter_map(|n| {
            let s = set.sso_session(n)?;
            session_from_section(n, |k| s.get(k), "").ok()
        })
        .collect();
    for name in set.profiles() {
        let p = set.get_profile(name).expect("listed profile");
        if p.get("sso_session").is_none()
            && p.get("sso_start_url").is_some()
            && let Ok(s) = legacy_session(p, "")
            && !out.iter().any(|o| o.key == s.key)
        {
            out.push(s);
        }
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

fn describe_load_error(e: &aws_config::profile::ProfileFileLoadError) -> String {
    use std::error::Error as _;
    let text = match e.source() {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    };
    // aws-config words parse errors over two lines; a client prints one.
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Most hops a chain may have (the AWS CLI has no limit; this guards hostile files).
const MAX_CHAIN: usize = 16;

fn resolve(set: &ProfileSet, name: &str, file: &str, chain: &mut Vec<String>) -> Result<Served> {
    let Some(p) = set.get_profile(name) else {
        return Err(Error::config(match chain.last() {
            Some(from) => format!(
                "profile '{from}' has source_profile = {name}, but {file} has no profile '{name}'"
            ),
            None => format!("profile '{name}' not found in {file}"),
        }));
    };
    if p.get("role_arn").is_some() {
        return chained(set, p, file, chain);
    }
    resolve_sso(p, set, file).map(Served::Sso)
}

fn chained(set: &ProfileSet, p: &Profile, file: &str, chain: &mut Vec<String>) -> Result<Served> {
    let name = p.name();
    for unsupported in ["mfa_serial", "credential_source", "web_identity_token_file"] {
        if p.get(unsupported).is_some() {
            return Err(Error::config(format!(
                "profile '{name}' uses {unsupported}, which ssoagent does not support yet"
            )));
        }
    }
    let role_arn = required(p, "role_arn", file)?;
    let source = required(p, "source_profile", file)?;
    chain.push(name.to_string());
    if chain.iter().any(|n| n == source) {
        chain.push(source.to_string());
        return Err(Error::config(format!(
            "profiles in {file} form a cycle through source_profile: {}",
            chain.join(" -> ")
        )));
    }
    if chain.len() > MAX_CHAIN {
        return Err(Error::config(format!(
            "profile '{}' starts a chain of more than {MAX_CHAIN} source_profile hops in {file}",
            chain[0]
        )));
    }
    let source = resolve(set, source, file, chain)?;
    let duration_seconds = match p.get("duration_seconds") {
        Some(d) => Some(d.trim().parse::<i32>().map_err(|_| {
            Error::config(format!(
                "profile '{name}' has duration_seconds = {d}, not a number of seconds"
            ))
        })?),
        None => None,
    };
    Ok(Served::Chained(ChainedProfile {
        name: name.to_string(),
        role_arn: role_arn.to_string(),
        source: Box::new(source),
        role_session_name: p
            .get("role_session_name")
            .map(str::to_string)
            .unwrap_or_else(|| default_session_name(name)),
        external_id: p.get("external_id").map(str::to_string),
        duration_seconds,
        region: p.get("region").map(str::to_string),
    }))
}

/// `ssoagent-<profile>`, cut to STS's 64 characters of `[\w+=,.@-]`.
fn default_session_name(profile: &str) -> String {
    format!("ssoagent-{profile}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@-_".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect()
}

fn resolve_sso(p: &Profile, set: &ProfileSet, file: &str) -> Result<RoleProfile> {
    let name = p.name();
    let agent_keys = p.get("ssoagent_session").is_some()
        || p.get("ssoagent_account_id").is_some()
        || p.get("ssoagent_role_name").is_some();
    let native_keys = p.get("sso_account_id").is_some() || p.get("sso_role_name").is_some();
    // The keys of the form in use: ssoagent_* (SDKs ignore them) or the native sso_* ones.
    let (session_key, account_key, role_key) = if agent_keys {
        (
            "ssoagent_session",
            "ssoagent_account_id",
            "ssoagent_role_name",
        )
    } else if native_keys {
        ("sso_session", "sso_account_id", "sso_role_name")
    } else {
        return Err(Error::config(format!(
            "profile '{name}' in {file} is not an SSO profile: it needs sso_session (or sso_start_url and \
             sso_region), sso_account_id and sso_role_name, or ssoagent_session, ssoagent_account_id \
             and ssoagent_role_name"
        )));
    };
    let account_id = required(p, account_key, file)?;
    let role_name = required(p, role_key, file)?;
    let session = match p.get(session_key) {
        Some(session_name) => {
            let Some(s) = set.sso_session(session_name) else {
                return Err(Error::config(format!(
                    "profile '{name}' uses {session_key} = {session_name}, but {file} has no [sso-session {session_name}]"
                )));
            };
            session_from_section(session_name, |k| s.get(k), file)?
        }
        // Only the native form has a legacy variant (inline sso_start_url / sso_region).
        None if native_keys && !agent_keys => legacy_session(p, file)?,
        None => {
            return Err(Error::config(format!(
                "profile '{name}' in {file} is missing {session_key}"
            )));
        }
    };
    let warning = (native_keys
        && p.get("credential_process")
            .is_some_and(|c| c.contains("ssoagent-cred")))
    .then(|| {
        format!(
            "profile '{name}' has both native SSO keys (sso_account_id, sso_role_name) and an \
             ssoagent credential_process: AWS SDKs use the SSO keys and bypass the agent. \
             Move the credential_process to a wrapper profile, or use ssoagent_session, \
             ssoagent_account_id and ssoagent_role_name instead"
        )
    });
    Ok(RoleProfile {
        name: name.into(),
        session,
        account_id: account_id.into(),
        role_name: role_name.into(),
        region: p.get("region").map(str::to_string),
        warning,
    })
}

fn required<'a>(p: &'a Profile, key: &str, file: &str) -> Result<&'a str> {
    p.get(key)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Error::config(format!("profile '{}' in {file} is missing {key}", p.name())))
}

fn session_from_section<'a>(
    name: &str,
    get: impl Fn(&str) -> Option<&'a str>,
    file: &str,
) -> Result<SessionSpec> {
    let missing =
        |key: &str| Error::config(format!("[sso-session {name}] in {file} is missing {key}"));
    let start_url = get("sso_start_url")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| missing("sso_start_url"))?;
    let region = get("sso_region")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| missing("sso_region"))?;
    let scopes = get("sso_registration_scopes")
        .map(|s| {
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| vec!["sso:account:access".to_string()]);
    Ok(SessionSpec {
        key: name.into(),
        start_url: start_url.into(),
        region: region.into(),
        scopes,
        legacy: false,
    })
}

fn legacy_session(p: &Profile, file: &str) -> Result<SessionSpec> {
    let start_url = required(p, "sso_start_url", file)?;
    let region = required(p, "sso_region", file)?;
    Ok(SessionSpec {
        key: start_url.into(),
        start_url: start_url.into(),
        region: region.into(),
        scopes: Vec::new(),
        legacy: true,
    })
}

pub fn home_dir() -> PathBuf {
    directories::BaseDirs::new()
        .map(|d| d.home_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from("."))
}

fn expand_home(p: &std::path::Path) -> PathBuf {
    match p.strip_prefix("~") {
        Ok(rest) => home_dir().join(rest),
        Err(_) => p.to_path_buf(),
    }
}
