//! The agent's own settings (`SSOAGENT_CONFIG`, TOML) and where its files live. Shared by the
//! daemon and `ssoagentctl`; the shim does not need it (feature `config`).

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;

/// Where tokens rest.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// The OS keyring when one answers, else the file store.
    #[default]
    Auto,
    Keyring,
    File,
}

/// How the daemon treats the AWS CLI's `~/.aws/sso/cache`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AwsCliCache {
    Off,
    #[default]
    Import,
    Mirror,
}

/// Which login a human gets when no stored token can be reused.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LoginFlow {
    /// Authorization code with PKCE and a loopback redirect (as AWS CLI >= 2.22).
    #[default]
    Pkce,
    /// Device authorization: a URL and a code to confirm.
    Device,
}

/// The longest unlock window (`--for`): IAM Identity Center sessions last at most 90 days, so
/// anything longer is a mistake (or an overflow), refused as bad usage.
pub const MAX_UNLOCK_WINDOW: Duration = Duration::from_secs(90 * 24 * 3600);

/// What proves that a human is there before an unlock reuses a token without a login
/// (DESIGN.md, "Human presence"). A login approved in a browser is proof by itself.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    /// A `[y/N]` confirmation typed at the caller's controlling terminal.
    #[default]
    Tty,
    /// Never reuse: every unlock is a fresh browser approval.
    Login,
    /// No confirmation (every local process of the user is trusted).
    None,
}

impl Presence {
    /// The word the config and status use.
    pub fn label(self) -> &'static str {
        match self {
            Self::Tty => "tty",
            Self::Login => "login",
            Self::None => "none",
        }
    }
}

/// `config.toml`. Unknown keys are an error, so a typo does not silently change nothing.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    pub store: StoreKind,
    pub aws_cli_cache: AwsCliCache,
    /// The client name registered with IAM Identity Center; the browser shows it.
    pub client_name: String,
    pub login_flow: LoginFlow,
    /// Credentials with less than this left are never handed out; they are refreshed first.
    #[serde(with = "humantime_serde")]
    pub refresh_window: Duration,
    /// `ssoagentctl` starts the daemon when none answers.
    pub autostart: bool,
    /// What an unlock without a login needs from a human.
    pub presence: Presence,
    // --- OIDC identity providers (issue 12) ---
    /// `[providers.NAME]`: OpenID Connect IdPs federated into AWS; sessions like
    /// `[sso-session]`s, in one namespace with them.
    pub providers: std::collections::BTreeMap<String, ProviderConfig>,
    // --- audit and policy (issue 11) ---
    /// Write the audit log (`audit.jsonl`); `false` keeps no file (watch still streams).
    pub audit: bool,
    /// The audit log is rotated when it reaches this size (e.g. "10MiB", "64KiB", "4096").
    #[serde(deserialize_with = "crate::policy_config::size")]
    pub audit_max_size: u64,
    /// How long a request under a `confirm` rule waits for `ssoagentctl approve`.
    #[serde(with = "humantime_serde")]
    pub confirm_timeout: Duration,
    /// Desktop notifications over the session bus.
    pub notify: crate::policy_config::Notify,
    /// Policy rules, first match wins (`[[rule]]`).
    pub rule: Vec<crate::policy_config::RuleConfig>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self {
            store: StoreKind::default(),
            aws_cli_cache: AwsCliCache::default(),
            client_name: "ssoagent".into(),
            login_flow: LoginFlow::default(),
            refresh_window: Duration::from_secs(15 * 60),
            autostart: true,
            presence: Presence::default(),
            providers: Default::default(),
            audit: true,
            audit_max_size: crate::policy_config::DEFAULT_AUDIT_MAX_SIZE,
            confirm_timeout: crate::policy_config::DEFAULT_CONFIRM_TIMEOUT,
            notify: crate::policy_config::Notify::default(),
            rule: Vec::new(),
        }
    }
}

/// One `[providers.NAME]`: an OpenID Connect identity provider (Okta, Entra ID, Auth0, a
/// Cognito user pool...) whose id_token is exchanged for AWS credentials with STS
/// AssumeRoleWithWebIdentity or through a Cognito identity pool.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Discovery is `{issuer}/.well-known/openid-configuration`; https unless a loopback host.
    pub issuer: String,
    /// A public client (no secret; PKCE S256).
    pub client_id: String,
    #[serde(default = "default_provider_scopes")]
    pub scopes: Vec<String>,
    /// The redirect URI registered at the IdP; default `http://127.0.0.1:<free port>/callback`.
    #[serde(default)]
    pub redirect_uri: Option<String>,
    /// The id_token claim that names the role session; default `email`, else `sub`.
    #[serde(default)]
    pub role_session_name_claim: Option<String>,
    /// A Cognito identity pool instead of AssumeRoleWithWebIdentity.
    #[serde(default)]
    pub identity_pool_id: Option<String>,
    /// The Cognito region (default: the pool id's prefix).
    #[serde(default)]
    pub region: Option<String>,
}

fn default_provider_scopes() -> Vec<String> {
    ["openid", "email", "offline_access"]
        .map(String::from)
        .to_vec()
}

/// A config file that exists but cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct ConfigError {
    pub path: PathBuf,
    pub message: String,
}

impl AgentConfig {
    /// Reads the config file; a missing file means all defaults.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => {
                return Err(ConfigError {
                    path: path.into(),
                    message: e.to_string(),
                });
            }
        };
        let cfg: Self = toml::from_str(&text).map_err(|e| ConfigError {
            path: path.into(),
            message: e.to_string().trim_end().to_string(),
        })?;
        cfg.check_policy().map_err(|message| ConfigError {
            path: path.into(),
            message,
        })?;
        Ok(cfg)
    }
}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "ssoagent")
}

fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `$SSOAGENT_CONFIG`, else `<config dir>/ssoagent/config.toml`.
pub fn config_path() -> PathBuf {
    env_path("SSOAGENT_CONFIG").unwrap_or_else(|| {
        project_dirs()
            .map(|d| d.config_dir().join("config.toml"))
            .unwrap_or_else(|| PathBuf::from("ssoagent.toml"))
    })
}

/// `$SSOAGENT_STATE_DIR`, else the platform's state (or local data) dir for ssoagent, which
/// lies under the user's home. Never a shared fallback such as `/tmp/ssoagent-state` (another
/// user could create it first): without a home directory this is an error that says what to set.
pub fn state_dir() -> Result<PathBuf, ConfigError> {
    if let Some(p) = env_path("SSOAGENT_STATE_DIR") {
        return Ok(p);
    }
    project_dirs()
        .map(|d| {
            d.state_dir()
                .unwrap_or_else(|| d.data_local_dir())
                .to_path_buf()
        })
        .ok_or_else(|| ConfigError {
            path: PathBuf::from("$HOME"),
            message: "no home directory, so no private place for ssoagent's state; \
                      set HOME or SSOAGENT_STATE_DIR"
                .into(),
        })
}

/// The log of a daemon that `ssoagentctl` started in the background.
pub fn daemon_log_path() -> Result<PathBuf, ConfigError> {
    Ok(state_dir()?.join("ssoagentd.log"))
}
