//! OIDC identity providers as sessions: `[providers.NAME]` in the agent config, pointed at by
//! profiles with `ssoagent_provider = NAME` (and `ssoagent_role_arn`). Providers and
//! `[sso-session]`s share one namespace: a name used by both is a config error naming both.

use std::collections::BTreeMap;

use aws_config::profile::{Profile, ProfileSet};
use ssoagent_client::config::ProviderConfig;

use super::chain::{Chain, OidcRole, SessionKind, SessionSpec, Source};
use crate::error::{Error, Result};

/// The providers of the agent config, and where that config lives (for messages).
#[derive(Clone, Debug, Default)]
pub struct Providers {
    pub map: BTreeMap<String, ProviderConfig>,
    pub file: String,
}

impl Providers {
    pub fn new(map: BTreeMap<String, ProviderConfig>, file: String) -> Self {
        Self { map, file }
    }

    /// A provider as a session.
    pub fn spec(&self, name: &str) -> Option<SessionSpec> {
        let p = self.map.get(name)?;
        Some(spec_of(name, p))
    }

    /// Every provider as a session.
    pub fn specs(&self) -> Vec<SessionSpec> {
        self.map.iter().map(|(n, p)| spec_of(n, p)).collect()
    }

    /// A name used by both an `[sso-session]` and a provider.
    pub fn check_clash(&self, set: &ProfileSet, aws_file: &str) -> Result<()> {
        match set.sso_sessions().find(|n| self.map.contains_key(*n)) {
            Some(n) => Err(Error::config(format!(
                "'{n}' names both [sso-session {n}] in {aws_file} and [providers.{n}] in {}; \
                 sessions and providers share one namespace, rename one",
                self.file
            ))),
            None => Ok(()),
        }
    }

    /// Fills in the provider of a chain rooted in an OIDC profile.
    pub fn fill(&self, mut chain: Chain) -> Result<Chain> {
        if let Source::Oidc(o) = &mut chain.source {
            let name = o.session.key.clone();
            o.session = self.spec(&name).ok_or_else(|| {
                let known: Vec<&str> = self.map.keys().map(String::as_str).collect();
                Error::config(format!(
                    "profile '{}' uses ssoagent_provider = {name}, but {} has no [providers.{name}] (known: {})",
                    o.name,
                    self.file,
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                ))
            })?;
        }
        Ok(chain)
    }
}

fn spec_of(name: &str, p: &ProviderConfig) -> SessionSpec {
    SessionSpec {
        key: name.to_string(),
        start_url: p.issuer.trim_end_matches('/').to_string(),
        region: String::new(),
        scopes: p.scopes.clone(),
        kind: SessionKind::Oidc,
    }
}

/// A profile with `ssoagent_provider`: its provider is filled in later by [`Providers::fill`].
pub(super) fn oidc_root(p: &Profile, file: &str) -> Result<OidcRole> {
    let name = p.name();
    let provider = p.get("ssoagent_provider").unwrap_or_default().trim();
    if provider.is_empty() {
        return Err(Error::config(format!(
            "profile '{name}' in {file} has an empty ssoagent_provider"
        )));
    }
    for sso in [
        "ssoagent_session",
        "sso_session",
        "sso_account_id",
        "sso_start_url",
    ] {
        if p.get(sso).is_some() {
            return Err(Error::config(format!(
                "profile '{name}' in {file} has both ssoagent_provider and {sso}; a profile has one source"
            )));
        }
    }
    let duration_seconds = match p.get("duration_seconds") {
        Some(d) => Some(d.trim().parse::<i32>().map_err(|_| {
            Error::config(format!(
                "profile '{name}' has duration_seconds = {d}, not a number of seconds"
            ))
        })?),
        None => None,
    };
    Ok(OidcRole {
        name: name.to_string(),
        session: SessionSpec {
            key: provider.to_string(),
            start_url: String::new(),
            region: String::new(),
            scopes: Vec::new(),
            kind: SessionKind::Oidc,
        },
        role_arn: p
            .get("ssoagent_role_arn")
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string),
        duration_seconds,
        region: p.get("region").map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::test_set as set;

    fn providers(names: &[&str]) -> Providers {
        let map = names
            .iter()
            .map(|n| {
                let p = ProviderConfig {
                    issuer: "https://idp.example.com/oauth2/".into(),
                    client_id: "c".into(),
                    scopes: vec!["openid".into()],
                    redirect_uri: None,
                    role_session_name_claim: None,
                    identity_pool_id: None,
                    region: None,
                };
                (n.to_string(), p)
            })
            .collect();
        Providers::new(map, "/agent.toml".into())
    }

    const CONFIG: &str = "\
[sso-session work]
sso_start_url = https://d-1.awsapps.com/start
sso_region = eu-west-1

[profile bedrock]
ssoagent_provider = corp
ssoagent_role_arn = arn:aws:iam::1:role/B
duration_seconds = 3600

[profile deploy]
role_arn = arn:aws:iam::2:role/D
source_profile = bedrock

[profile both]
ssoagent_provider = corp
ssoagent_session = work
";

    #[tokio::test]
    async fn an_oidc_profile_resolves_to_its_provider_with_hops_on_top() {
        let set = set(CONFIG).await;
        let p = providers(&["corp"]);
        let chain = |n| {
            p.fill(super::super::resolve::resolve(
                &set,
                n,
                "/cfg",
                &mut Vec::new(),
            )?)
        };
        let b = chain("bedrock").unwrap();
        let Source::Oidc(o) = &b.source else {
            panic!("an OIDC root")
        };
        assert_eq!(o.role_arn.as_deref(), Some("arn:aws:iam::1:role/B"));
        assert_eq!(o.duration_seconds, Some(3600));
        assert_eq!(b.session().kind, SessionKind::Oidc);
        assert_eq!(b.session().start_url, "https://idp.example.com/oauth2");
        let d = chain("deploy").unwrap();
        assert_eq!(d.session().key, "corp");
        assert_eq!(d.hops.len(), 1);
        assert_ne!(d.fingerprint(), b.fingerprint());
        let e = chain("both").unwrap_err().to_string();
        assert!(
            e.contains("both ssoagent_provider and ssoagent_session"),
            "{e}"
        );
        let none = providers(&[]);
        let e = none
            .fill(super::super::resolve::resolve(&set, "bedrock", "/cfg", &mut Vec::new()).unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no [providers.corp]") && e.contains("/agent.toml"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_name_used_by_a_session_and_a_provider_is_an_error_naming_both() {
        let set = set(CONFIG).await;
        assert!(providers(&["corp"]).check_clash(&set, "/cfg").is_ok());
        let e = providers(&["work"])
            .check_clash(&set, "/cfg")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("[sso-session work] in /cfg")
                && e.contains("[providers.work] in /agent.toml"),
            "{e}"
        );
    }
}
