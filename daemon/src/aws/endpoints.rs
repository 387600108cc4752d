//! Which endpoints the daemon's AWS clients talk to. Only the service-specific overrides count
//! (`AWS_ENDPOINT_URL_SSO`, `_SSO_OIDC`, `_STS`, `_COGNITO_IDENTITY`, `_SIGNIN`): the generic
//! `AWS_ENDPOINT_URL` and a profile's `endpoint_url` / `services` are ignored, since a shell
//! pointed at LocalStack must not redirect every session's tokens. Plain `http://` is refused
//! except to a loopback host, so a bearer token never crosses a network in cleartext.

use std::net::IpAddr;

/// The service-specific variables, and the one the daemon ignores on purpose.
pub const SSO: &str = "AWS_ENDPOINT_URL_SSO";
pub const SSO_OIDC: &str = "AWS_ENDPOINT_URL_SSO_OIDC";
pub const STS: &str = "AWS_ENDPOINT_URL_STS";
pub const COGNITO_IDENTITY: &str = "AWS_ENDPOINT_URL_COGNITO_IDENTITY";
pub const SIGNIN: &str = "AWS_ENDPOINT_URL_SIGNIN";
pub const GENERIC: &str = "AWS_ENDPOINT_URL";

/// The overrides in force; `None` means the SDK's own endpoint for the region.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Endpoints {
    pub sso: Option<String>,
    pub sso_oidc: Option<String>,
    pub sts: Option<String>,
    pub cognito_identity: Option<String>,
    pub signin: Option<String>,
    /// The generic `AWS_ENDPOINT_URL` was set (and is ignored): worth a line in the log.
    pub ignored_generic: Option<String>,
}

/// An endpoint override the daemon will not use.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "{var}={url} refused: plain http:// is allowed only to a loopback host (127.0.0.0/8, ::1, localhost); use https://"
)]
pub struct InsecureEndpoint {
    pub var: &'static str,
    pub url: String,
}

impl Endpoints {
    /// From the process environment.
    pub fn from_env() -> Result<Self, InsecureEndpoint> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// From any lookup (tests); empty values count as unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, InsecureEndpoint> {
        let one = |var: &'static str| -> Result<Option<String>, InsecureEndpoint> {
            match get(var)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
            {
                None => Ok(None),
                Some(url) if acceptable(&url) => Ok(Some(url)),
                Some(url) => Err(InsecureEndpoint { var, url }),
            }
        };
        Ok(Self {
            sso: one(SSO)?,
            sso_oidc: one(SSO_OIDC)?,
            sts: one(STS)?,
            cognito_identity: one(COGNITO_IDENTITY)?,
            signin: one(SIGNIN)?,
            ignored_generic: get(GENERIC).filter(|v| !v.trim().is_empty()),
        })
    }
}

/// `https://…`, or `http://` to a loopback host. Anything else (another scheme, no scheme,
/// http to a network address or name) is refused.
pub fn acceptable(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("https://") {
        return !host_of(rest).is_empty();
    }
    let Some(rest) = lower.strip_prefix("http://") else {
        return false;
    };
    is_loopback_host(host_of(rest))
}

/// The host of `rest` (what follows `scheme://`): without userinfo, port, path or brackets.
fn host_of(rest: &str) -> &str {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit('@').next().unwrap_or("");
    if let Some(v6) = host_port.strip_prefix('[') {
        return v6.split(']').next().unwrap_or("");
    }
    host_port.split(':').next().unwrap_or("")
}

/// `localhost`, 127.0.0.0/8 or ::1.
pub fn is_loopback_host(host: &str) -> bool {
    if host == "localhost" {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The type `SdkConfig::set_service_config(None)` needs: nothing is ever loaded from it.
#[derive(Debug)]
pub struct NoServiceConfig;

impl aws_types::service_config::LoadServiceConfig for NoServiceConfig {
    fn load_config(&self, _key: aws_types::service_config::ServiceConfigKey<'_>) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn https_anywhere_and_http_only_to_loopback() {
        for ok in [
            "https://portal.sso.eu-west-1.amazonaws.com",
            "https://10.0.0.1:8443/x",
            "http://127.0.0.1:4566",
            "http://127.8.9.10",
            "http://localhost:80/",
            "HTTP://LOCALHOST",
            "http://[::1]:9000",
        ] {
            assert!(acceptable(ok), "{ok}");
        }
        for bad in [
            "http://192.0.2.1",
            "http://192.0.2.1:80/",
            "http://localhost.example.com",
            "http://127.0.0.1.nip.io",
            "http://user@192.0.2.1",
            "http://127.0.0.1@192.0.2.1",
            "http://[::2]",
            "ftp://127.0.0.1",
            "127.0.0.1:4566",
            "file:///etc/passwd",
            "https://",
        ] {
            assert!(!acceptable(bad), "{bad}");
        }
    }

    #[test]
    fn only_service_specific_variables_count() {
        let env: HashMap<&str, &str> = [
            (GENERIC, "http://127.0.0.1:9"),
            (SSO, "http://127.0.0.1:1234"),
            (STS, ""),
        ]
        .into();
        let e = Endpoints::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
        assert_eq!(e.sso.as_deref(), Some("http://127.0.0.1:1234"));
        assert_eq!(e.sso_oidc, None);
        assert_eq!(e.sts, None, "empty is unset");
        assert_eq!(e.ignored_generic.as_deref(), Some("http://127.0.0.1:9"));
    }

    #[test]
    fn plain_http_to_the_network_is_refused_with_the_variable_named() {
        let e = Endpoints::from_lookup(|k| (k == SSO).then(|| "http://192.0.2.1".to_string()))
            .unwrap_err();
        assert_eq!(e.var, SSO);
        let msg = e.to_string();
        assert!(
            msg.contains("AWS_ENDPOINT_URL_SSO=http://192.0.2.1"),
            "{msg}"
        );
        assert!(msg.contains("loopback"), "{msg}");
    }
}
