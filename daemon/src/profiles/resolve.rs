//! From a profile name to a [`Chain`]: the `role_arn` + `source_profile` hops back to the
//! SSO profile at the root, with cycles, missing profiles and unsupported keys as config errors.

use aws_config::profile::{Profile, ProfileSet};

use super::chain::{Chain, RoleHop, SessionKind, SessionSpec, Source, SsoRole};
use crate::error::{Error, Result};

/// The profile a `credential_process = ssoagent-cred --profile X` line asks for.
pub(super) fn credential_process_profile(cmd: &str) -> Option<&str> {
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

pub(super) fn all_sessions(set: &ProfileSet) -> Vec<SessionSpec> {
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

/// Most hops a chain may have (the AWS CLI has no limit; this guards hostile files).
const MAX_CHAIN: usize = 16;

pub(super) fn resolve(
    set: &ProfileSet,
    name: &str,
    file: &str,
    chain: &mut Vec<String>,
) -> Result<Chain> {
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
    if p.get("ssoagent_provider").is_some() {
        return Ok(Chain {
            source: Source::Oidc(super::providers::oidc_root(p, file)?),
            hops: Vec::new(),
        });
    }
    let root = resolve_sso(p, set, file)?;
    Ok(Chain {
        source: Source::Sso(root),
        hops: Vec::new(),
    })
}

fn chained(set: &ProfileSet, p: &Profile, file: &str, chain: &mut Vec<String>) -> Result<Chain> {
    let name = p.name();
    for unsupported in ["credential_source", "web_identity_token_file"] {
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
    let mut resolved = resolve(set, source, file, chain)?;
    let duration_seconds = match p.get("duration_seconds") {
        Some(d) => Some(d.trim().parse::<i32>().map_err(|_| {
            Error::config(format!(
                "profile '{name}' has duration_seconds = {d}, not a number of seconds"
            ))
        })?),
        None => None,
    };
    resolved.hops.push(RoleHop {
        profile: name.to_string(),
        role_arn: role_arn.to_string(),
        role_session_name: p
            .get("role_session_name")
            .map(str::to_string)
            .unwrap_or_else(|| default_session_name(name)),
        external_id: p.get("external_id").map(str::to_string),
        duration_seconds,
        region: p.get("region").map(str::to_string),
        mfa_serial: p
            .get("mfa_serial")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
    });
    Ok(resolved)
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

fn resolve_sso(p: &Profile, set: &ProfileSet, file: &str) -> Result<SsoRole> {
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
    Ok(SsoRole {
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

pub(super) fn session_from_section<'a>(
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
        kind: SessionKind::SsoSession,
    })
}

pub(super) fn legacy_session(p: &Profile, file: &str) -> Result<SessionSpec> {
    let start_url = required(p, "sso_start_url", file)?;
    let region = required(p, "sso_region", file)?;
    Ok(SessionSpec {
        key: start_url.into(),
        start_url: start_url.into(),
        region: region.into(),
        scopes: Vec::new(),
        kind: SessionKind::Legacy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profiles::test_set as set;

    const CONFIG: &str = "\
[sso-session work]
sso_start_url = https://d-1.awsapps.com/start
sso_region = eu-west-1

[profile dev]
ssoagent_session = work
ssoagent_account_id = 111111111111
ssoagent_role_name = ReadOnly
region = eu-central-1

[profile deploy]
role_arn = arn:aws:iam::222222222222:role/Deploy
source_profile = dev
external_id = ext
duration_seconds = 1800

[profile prod]
role_arn = arn:aws:iam::333333333333:role/Prod
source_profile = deploy
role_session_name = me
region = us-west-2

[profile loop-a]
role_arn = arn:aws:iam::1:role/A
source_profile = loop-b

[profile loop-b]
role_arn = arn:aws:iam::1:role/B
source_profile = loop-a

[profile legacy]
sso_start_url = https://d-2.awsapps.com/start
sso_region = us-east-1
sso_account_id = 444444444444
sso_role_name = Admin

[profile mfa]
role_arn = arn:aws:iam::1:role/M
source_profile = dev
mfa_serial = arn:aws:iam::1:mfa/me
";

    async fn prod_hops_without_mfa(set: &ProfileSet) -> Vec<Option<String>> {
        let prod = chain_of(set, "prod").unwrap();
        prod.hops.into_iter().map(|h| h.mfa_serial).collect()
    }

    fn chain_of(set: &ProfileSet, name: &str) -> Result<Chain> {
        resolve(set, name, "/cfg", &mut Vec::new())
    }

    #[tokio::test]
    async fn a_profile_resolves_into_its_source_and_hops() {
        let set = set(CONFIG).await;
        let dev = chain_of(&set, "dev").unwrap();
        assert!(dev.hops.is_empty());
        assert_eq!(dev.name(), "dev");
        assert_eq!(dev.region(), Some("eu-central-1"));
        assert_eq!(dev.session().key, "work");
        assert_eq!(dev.session().kind, SessionKind::SsoSession);

        let prod = chain_of(&set, "prod").unwrap();
        let Source::Sso(root) = &prod.source else {
            panic!("an SSO root")
        };
        assert_eq!(
            (root.name.as_str(), root.account_id.as_str()),
            ("dev", "111111111111")
        );
        let hops: Vec<_> = prod.hops.iter().map(|h| h.profile.as_str()).collect();
        assert_eq!(hops, ["deploy", "prod"]);
        assert_eq!(prod.hops[0].external_id.as_deref(), Some("ext"));
        assert_eq!(prod.hops[0].duration_seconds, Some(1800));
        assert_eq!(prod.hops[0].role_session_name, "ssoagent-deploy");
        assert_eq!(prod.hops[1].role_session_name, "me");
        assert_eq!(prod.region(), Some("us-west-2"));
        assert_eq!(prod.source_profile().as_deref(), Some("deploy"));
        assert_eq!(prod.parent().unwrap().name(), "deploy");
        assert_eq!(prod.session().key, "work");
        assert_ne!(prod.fingerprint(), prod.parent().unwrap().fingerprint());
    }

    #[tokio::test]
    async fn legacy_cycles_and_unsupported_keys() {
        let set = set(CONFIG).await;
        let legacy = chain_of(&set, "legacy").unwrap();
        assert_eq!(legacy.session().kind, SessionKind::Legacy);
        assert_eq!(legacy.session().key, "https://d-2.awsapps.com/start");
        let e = chain_of(&set, "loop-a").unwrap_err().to_string();
        assert!(
            e.contains("cycle") && e.contains("loop-a -> loop-b -> loop-a"),
            "{e}"
        );
        let mfa = chain_of(&set, "mfa").unwrap();
        assert_eq!(
            mfa.hops[0].mfa_serial.as_deref(),
            Some("arn:aws:iam::1:mfa/me")
        );
        assert_eq!(prod_hops_without_mfa(&set).await, [None, None]);
        let e = chain_of(&set, "nope").unwrap_err().to_string();
        assert!(e.contains("not found"), "{e}");
    }
}
