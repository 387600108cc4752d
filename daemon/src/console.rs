//! Console sign-in: the federation endpoint turns a profile's role credentials into a sign-in
//! token (`getSigninToken`), and the login URL carries it to the console. The token is a
//! secret: it is never logged, and only the URL (over the private socket) leaves the daemon.
//!
//! Sign-in hosts are per partition (`aws`: signin.aws.amazon.com, `aws-us-gov`:
//! signin.amazonaws-us-gov.com, `aws-cn`: signin.amazonaws.cn), or `AWS_ENDPOINT_URL_SIGNIN`
//! (checked at start like every endpoint override: https, or http only to loopback).

use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use serde_json::json;
use tracing::info;

use crate::{
    agent::Agent,
    caller::Caller,
    error::{Error, Result},
    secret::Secret,
};

/// How long the federation call may take.
const TIMEOUT: Duration = Duration::from_secs(15);
/// The largest answer read from the federation endpoint.
const MAX_ANSWER: usize = 64 * 1024;

/// What `ssoagentctl console` asks for.
#[derive(Clone, Debug, Default)]
pub struct ConsoleRequest {
    pub profile: String,
    pub service: String,
    pub destination: String,
    pub region: String,
}

/// The sign-in URL (holding the token) and the destination it leads to.
pub struct ConsoleLogin {
    pub url: Secret,
    pub destination: String,
}

/// `(sign-in base URL, console host)` of a region's partition.
pub fn partition_hosts(region: &str) -> (&'static str, &'static str) {
    if region.starts_with("cn-") {
        ("https://signin.amazonaws.cn", "console.amazonaws.cn")
    } else if region.starts_with("us-gov-") {
        (
            "https://signin.amazonaws-us-gov.com",
            "console.amazonaws-us-gov.com",
        )
    } else {
        ("https://signin.aws.amazon.com", "console.aws.amazon.com")
    }
}

/// Where the console opens: a given https URL, a service's home, or the console home.
pub fn destination(req: &ConsoleRequest, region: &str) -> Result<String> {
    let (_, console) = partition_hosts(region);
    if !req.destination.is_empty() {
        let d = &req.destination;
        let ok = d.len() <= 2048
            && d.starts_with("https://")
            && !d.chars().any(|c| c.is_control() || c.is_whitespace());
        return match ok {
            true => Ok(d.clone()),
            false => Err(Error::config(format!(
                "--destination must be an https:// URL without spaces: {d}"
            ))),
        };
    }
    let region_q = form_urlencoded::byte_serialize(region.as_bytes()).collect::<String>();
    if req.service.is_empty() {
        return Ok(format!("https://{console}/console/home?region={region_q}"));
    }
    let s = &req.service;
    if s.len() > 64 || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(Error::config(format!(
            "--service must be a console service name such as s3 or ec2: {s}"
        )));
    }
    Ok(format!(
        "https://{console}/{}/home?region={region_q}",
        s.to_ascii_lowercase()
    ))
}

/// Federates the profile's credentials into a console login URL.
pub async fn login(agent: &Agent, caller: Caller, req: &ConsoleRequest) -> Result<ConsoleLogin> {
    // The request is checked before any credentials are fetched.
    let chain = agent.config.profile(&req.profile).await?;
    let region = match req.region.as_str() {
        "" => chain.region().unwrap_or("us-east-1").to_string(),
        r if r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') => r.to_string(),
        r => return Err(Error::config(format!("not a region: {r}"))),
    };
    let destination = destination(req, &region)?;
    let (_, creds) = agent.credentials(caller, &req.profile).await?;
    let base = agent
        .signin_endpoint()
        .unwrap_or_else(|| partition_hosts(&region).0.to_string());
    let base = base.trim_end_matches('/').to_string();
    let session = Secret::new(
        json!({
            "sessionId": creds.access_key_id,
            "sessionKey": creds.secret_access_key.expose(),
            "sessionToken": creds.session_token.expose(),
        })
        .to_string(),
    );
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("Action", "getSigninToken")
        .append_pair("Session", session.expose())
        .finish();
    let token = signin_token(&format!("{base}/federation?{query}")).await?;
    let login = form_urlencoded::Serializer::new(String::new())
        .append_pair("Action", "login")
        .append_pair("Issuer", "ssoagent")
        .append_pair("Destination", &destination)
        .append_pair("SigninToken", token.expose())
        .finish();
    info!(profile = %req.profile, %caller, %destination, "console sign-in URL made");
    Ok(ConsoleLogin {
        url: Secret::new(format!("{base}/federation?{login}")),
        destination,
    })
}

/// GET the federation endpoint; its `SigninToken`.
async fn signin_token(url: &str) -> Result<Secret> {
    let failed = |why: String| Error::AwsFailed(format!("console sign-in failed: {why}"));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| failed(format!("no TLS root certificates: {e}")))?
        .https_or_http()
        .enable_http1()
        .build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, Empty<Bytes>>(https);
    let req = hyper::Request::get(url)
        .header(
            "user-agent",
            concat!("ssoagent/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::new())
        .map_err(|e| failed(format!("bad sign-in URL: {e}")))?;
    let call = async {
        let resp = client.request(req).await.map_err(|e| {
            // The error may name the URL, which holds the credentials: never pass it on.
            failed(format!(
                "cannot reach the sign-in endpoint ({})",
                error_kind(&e)
            ))
        })?;
        let status = resp.status();
        let body = Limited::new(resp.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|_| failed("the answer was cut off or too large".into()))?
            .to_bytes();
        Ok::<_, Error>((status, body))
    };
    let (status, body) = tokio::time::timeout(TIMEOUT, call)
        .await
        .map_err(|_| failed("no answer within 15 s".into()))??;
    if !status.is_success() {
        return Err(Error::AwsRefused(format!(
            "console sign-in refused: the federation endpoint answered HTTP {}",
            status.as_u16()
        )));
    }
    let v: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|_| failed("the federation endpoint's answer is not JSON".into()))?;
    match v.get("SigninToken").and_then(|t| t.as_str()) {
        Some(t) if !t.is_empty() => Ok(Secret::new(t)),
        _ => Err(failed("the answer has no SigninToken".into())),
    }
}

fn error_kind(e: &hyper_util::client::legacy::Error) -> &'static str {
    if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_have_their_own_hosts() {
        assert_eq!(
            partition_hosts("eu-west-1").0,
            "https://signin.aws.amazon.com"
        );
        assert_eq!(
            partition_hosts("cn-north-1").0,
            "https://signin.amazonaws.cn"
        );
        assert_eq!(
            partition_hosts("us-gov-west-1").0,
            "https://signin.amazonaws-us-gov.com"
        );
    }

    #[test]
    fn destinations() {
        let mut r = ConsoleRequest::default();
        assert_eq!(
            destination(&r, "eu-west-1").unwrap(),
            "https://console.aws.amazon.com/console/home?region=eu-west-1"
        );
        r.service = "S3".into();
        assert_eq!(
            destination(&r, "cn-north-1").unwrap(),
            "https://console.amazonaws.cn/s3/home?region=cn-north-1"
        );
        r.service = "s3/../x".into();
        assert!(destination(&r, "eu-west-1").is_err());
        r.destination = "javascript:alert(1)".into();
        assert!(destination(&r, "eu-west-1").is_err());
        r.destination = "https://console.aws.amazon.com/iam".into();
        assert_eq!(destination(&r, "eu-west-1").unwrap(), r.destination);
    }
}
