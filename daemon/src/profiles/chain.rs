//! What a profile resolves into, in the manner of the AWS SDK for Rust's profile chain
//! (aws-config `profile/credentials/repr.rs`): a root **source** that yields the first
//! credentials, then zero or more role **hops** assumed with STS, in order.

/// How an SSO session is named in `~/.aws/config`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionKind {
    /// An `[sso-session NAME]` section (key: NAME).
    SsoSession,
    /// A legacy profile's inline `sso_start_url` (key: the URL). The AWS CLI keys its cache by
    /// the URL and never refreshes such tokens.
    Legacy,
    /// An OIDC identity provider (`[providers.NAME]` in the agent config; key: NAME). Its
    /// `start_url` is the issuer and its region is empty.
    Oidc,
}

/// An SSO session: `[sso-session NAME]` (key NAME) or a legacy profile's start URL (key: the URL).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSpec {
    pub key: String,
    pub start_url: String,
    pub region: String,
    pub scopes: Vec<String>,
    pub kind: SessionKind,
}

impl SessionSpec {
    pub fn is_legacy(&self) -> bool {
        self.kind == SessionKind::Legacy
    }

    pub fn is_oidc(&self) -> bool {
        self.kind == SessionKind::Oidc
    }
}

/// A profile whose credentials come from the SSO portal (GetRoleCredentials).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SsoRole {
    /// The profile's name.
    pub name: String,
    pub session: SessionSpec,
    pub account_id: String,
    pub role_name: String,
    /// The profile's service region (`region`), kept apart from the SSO region.
    pub region: Option<String>,
    /// A setup mistake worth telling the user about (the profile still works here).
    pub warning: Option<String>,
}

/// A profile whose credentials come from an OIDC provider's id_token: STS
/// AssumeRoleWithWebIdentity, or a Cognito identity pool (`ssoagent_provider`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcRole {
    /// The profile's name.
    pub name: String,
    /// The provider as a session (filled in from the agent config when the profile resolves).
    pub session: SessionSpec,
    /// `ssoagent_role_arn`: required for AssumeRoleWithWebIdentity; with an identity pool the
    /// `CustomRoleArn` (optional).
    pub role_arn: Option<String>,
    pub duration_seconds: Option<i32>,
    /// The profile's `region` (the STS region).
    pub region: Option<String>,
}

/// Where a chain's first credentials come from: an SSO role, or an OIDC provider's token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Sso(SsoRole),
    Oidc(OidcRole),
}

/// One `role_arn` + `source_profile` step: a role assumed with the previous credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleHop {
    /// The profile that defines this hop.
    pub profile: String,
    pub role_arn: String,
    pub role_session_name: String,
    pub external_id: Option<String>,
    pub duration_seconds: Option<i32>,
    /// The STS region: the profile's `region`, else us-east-1 (the SDKs' default).
    pub region: Option<String>,
    /// The MFA device (`mfa_serial`): the role is assumed only with a code a human typed.
    pub mfa_serial: Option<String>,
}

/// A resolved profile: its source, then its hops (the last one is the profile itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chain {
    pub source: Source,
    pub hops: Vec<RoleHop>,
}

impl Chain {
    /// The profile this chain serves.
    pub fn name(&self) -> &str {
        match self.hops.last() {
            Some(h) => &h.profile,
            None => self.source_name(),
        }
    }

    fn source_name(&self) -> &str {
        match &self.source {
            Source::Sso(s) => &s.name,
            Source::Oidc(o) => &o.name,
        }
    }

    /// The SSO session at the root of the chain: locked there means locked here.
    pub fn session(&self) -> &SessionSpec {
        match &self.source {
            Source::Sso(s) => &s.session,
            Source::Oidc(o) => &o.session,
        }
    }

    /// The profile's own `region`.
    pub fn region(&self) -> Option<&str> {
        match (self.hops.last(), &self.source) {
            (Some(h), _) => h.region.as_deref(),
            (None, Source::Sso(s)) => s.region.as_deref(),
            (None, Source::Oidc(o)) => o.region.as_deref(),
        }
    }

    /// The chain of the profile one hop back (the last hop's `source_profile`), if any.
    pub fn parent(&self) -> Option<Chain> {
        let (_, rest) = self.hops.split_last()?;
        Some(Chain {
            source: self.source.clone(),
            hops: rest.to_vec(),
        })
    }

    /// The chain up to and including hop `i` (the profile that defines that hop).
    pub fn prefix(&self, i: usize) -> Chain {
        Chain {
            source: self.source.clone(),
            hops: self.hops[..=i].to_vec(),
        }
    }

    /// The last hop's `source_profile`, for chained profiles.
    pub fn source_profile(&self) -> Option<String> {
        self.parent().map(|p| p.name().to_string())
    }

    /// Everything that decides which credentials this profile gets; a cache entry made for
    /// another definition (the config changed) is not served.
    pub fn fingerprint(&self) -> String {
        let mut out = match &self.source {
            Source::Sso(p) => format!("sso|{}|{}|{}", p.session.key, p.account_id, p.role_name),
            Source::Oidc(o) => format!(
                "oidc|{}|{}|{:?}|{:?}",
                o.session.key, o.session.start_url, o.role_arn, o.duration_seconds
            ),
        };
        for h in &self.hops {
            out = format!(
                "sts|{}|{}|{:?}|{:?}|{:?}|{out}",
                h.role_arn, h.role_session_name, h.external_id, h.duration_seconds, h.mfa_serial
            );
        }
        out
    }
}
