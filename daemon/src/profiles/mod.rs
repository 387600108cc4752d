//! Profiles and SSO sessions from the user's own `~/.aws/config`, parsed by aws-config (the
//! same parser the AWS SDK for Rust uses), re-read whenever the file changes.
//!
//! Two forms are served (DESIGN.md, "Which profiles it serves"):
//! 1. a native SSO profile (`sso_session` or legacy `sso_start_url`/`sso_region`, plus
//!    `sso_account_id`, `sso_role_name`), used through a wrapper profile's `credential_process`;
//! 2. a self-contained profile with `ssoagent_session`, `ssoagent_account_id`,
//!    `ssoagent_role_name`, which SDKs ignore.

mod chain;
mod providers;
mod resolve;

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::SystemTime,
};

use aws_config::profile::ProfileSet;
use aws_types::os_shim_internal::{Env, Fs};

pub use self::chain::{Chain, OidcRole, RoleHop, SessionKind, SessionSpec, Source, SsoRole};
pub use self::providers::Providers;
use self::resolve::{
    all_sessions, credential_process_profile, legacy_session, resolve, session_from_section,
};
use crate::error::{Error, Result};

/// The parsed config, cached by the file's modification time and size.
pub struct AwsConfig {
    path: PathBuf,
    cached: Mutex<Option<Parsed>>,
    /// The agent config's OIDC providers (sessions beside the `[sso-session]`s).
    providers: Providers,
}

type FileStamp = Option<(SystemTime, u64)>;

/// One parse of the file, and the profiles resolved from it so far: a request for a profile
/// then costs one `stat` of the file and a map lookup.
struct Parsed {
    stamp: FileStamp,
    set: Arc<ProfileSet>,
    chains: HashMap<String, Arc<Chain>>,
}

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
            providers: Providers::default(),
        }
    }

    /// The same, with the agent config's OIDC providers.
    pub fn with_providers(mut self, providers: Providers) -> Self {
        self.providers = providers;
        self
    }

    pub fn providers(&self) -> &Providers {
        &self.providers
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
        if let Some(p) = &*self.cached.lock().unwrap()
            && p.stamp == stamp
        {
            return Ok(p.set.clone());
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
        *self.cached.lock().unwrap() = Some(Parsed {
            stamp,
            set: set.clone(),
            chains: HashMap::new(),
        });
        Ok(set)
    }

    /// Resolves a profile by name into what the daemon needs to serve it (once per parse of
    /// the file; errors are not kept, so a fixed file is seen at once).
    pub async fn profile(&self, name: &str) -> Result<Arc<Chain>> {
        let set = self.load().await?;
        let of_this_parse = |p: &Parsed| Arc::ptr_eq(&p.set, &set);
        if let Some(p) = &*self.cached.lock().unwrap()
            && of_this_parse(p)
            && let Some(chain) = p.chains.get(name)
        {
            return Ok(chain.clone());
        }
        let file = self.path.display().to_string();
        self.providers.check_clash(&set, &file)?;
        let chain = Arc::new(
            self.providers
                .fill(resolve(&set, name, &file, &mut Vec::new())?)?,
        );
        if let Some(p) = &mut *self.cached.lock().unwrap()
            && of_this_parse(p)
        {
            p.chains.insert(name.to_string(), chain.clone());
        }
        Ok(chain)
    }

    /// A session by `[sso-session]` name or legacy start URL.
    pub async fn session(&self, key: &str) -> Result<SessionSpec> {
        let set = self.load().await?;
        let file = self.path.display().to_string();
        self.providers.check_clash(&set, &file)?;
        if let Some(p) = self.providers.spec(key) {
            return Ok(p);
        }
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
        let mut known: Vec<_> = all_sessions(&set).into_iter().map(|s| s.key).collect();
        known.extend(self.providers.map.keys().cloned());
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
        let set = self.load().await?;
        self.providers
            .check_clash(&set, &self.path.display().to_string())?;
        let mut all = all_sessions(&set);
        all.extend(self.providers.specs());
        Ok(all)
    }

    /// Every profile the daemon can serve.
    pub async fn profiles(&self) -> Result<Vec<Chain>> {
        let set = self.load().await?;
        let file = self.path.display().to_string();
        let mut out: Vec<_> = set
            .profiles()
            .filter_map(|n| resolve(&set, n, &file, &mut Vec::new()).ok())
            .filter_map(|c| self.providers.fill(c).ok())
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
            let agent_keys = p.get("ssoagent_session").is_some()
                || p.get("ssoagent_account_id").is_some()
                || p.get("ssoagent_provider").is_some();
            let Some(target) = target.or_else(|| agent_keys.then(|| name.to_string())) else {
                continue;
            };
            if let Err(e) =
                resolve(&set, &target, &file, &mut Vec::new()).and_then(|c| self.providers.fill(c))
            {
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

fn describe_load_error(e: &aws_config::profile::ProfileFileLoadError) -> String {
    use std::error::Error as _;
    let text = match e.source() {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    };
    // aws-config words parse errors over two lines; a client prints one.
    text.split_whitespace().collect::<Vec<_>>().join(" ")
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

/// A profile set parsed from `config` as if it were `~/.aws/config` (the resolver's and the
/// providers' unit tests).
#[cfg(test)]
pub(crate) async fn test_set(config: &str) -> ProfileSet {
    let fs = Fs::from_slice(&[("/cfg", config)]);
    let env = Env::from_slice(&[("AWS_CONFIG_FILE", "/cfg"), ("HOME", "/home/x")]);
    let files = aws_runtime::env_config::file::EnvConfigFiles::default();
    aws_config::profile::load(&fs, &env, &files, None)
        .await
        .unwrap()
}
