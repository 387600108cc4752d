//! STS AssumeRoleWithWebIdentity (query protocol, unsigned) with a token of the emulated IdP,
//! verified against its JWKS, issuer and expiry. Routed from `sts.rs` before its SigV4 caller
//! check; Cognito identity's JSON 1.1 calls on the same path go to [`crate::cognito`].
//!
//! Roles whose name starts with [`UNTRUSTING_ROLE_PREFIX`] trust no web identity
//! (AccessDenied), as a role whose trust policy names another `aud` would.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use crate::idp::check_token;
use crate::server::AppState;
use crate::state::{Identity, role_id};
use crate::sts::{error, parse_role_arn, valid_session_name, xml};
use crate::util::{parse_form, request_id, rfc3339, xml_escape};

pub const UNTRUSTING_ROLE_PREFIX: &str = "NoTrust";
const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// The answer for a request that is not SigV4 STS, if it is one of ours.
pub(crate) fn route(shared: &AppState, headers: &HeaderMap, body: &Bytes) -> Option<Response> {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Some(op) = target.strip_prefix("AWSCognitoIdentityService.") {
        return Some(crate::cognito::handle(shared, op, body));
    }
    let form = parse_form(std::str::from_utf8(body).ok()).ok()?;
    (form.get("Action").map(String::as_str) == Some("AssumeRoleWithWebIdentity"))
        .then(|| assume(shared, &form).unwrap_or_else(|e| e))
}

fn validation(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, true, "ValidationError", message)
}

fn assume(shared: &AppState, form: &HashMap<String, String>) -> Result<Response, Response> {
    shared.idp.count("AssumeRoleWithWebIdentity");
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let arn_str = get("RoleArn");
    let arn = parse_role_arn(arn_str)
        .ok_or_else(|| validation(&format!("Value '{arn_str}' at 'roleArn' is not a role ARN")))?;
    let session_name = get("RoleSessionName");
    if !valid_session_name(session_name) {
        return Err(validation(&format!(
            "Value '{session_name}' at 'roleSessionName' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: [\\w+=,.@-]{{2,64}}"
        )));
    }
    if shared.idp.lock().config.sts_says_expired {
        return Err(error(
            StatusCode::BAD_REQUEST,
            true,
            "ExpiredTokenException",
            "Token expired",
        ));
    }
    let claims = check_token(shared, get("WebIdentityToken"))
        .map_err(|(code, m)| error(StatusCode::BAD_REQUEST, true, code, &m))?;
    if arn.name.starts_with(UNTRUSTING_ROLE_PREFIX) {
        return Err(error(
            StatusCode::FORBIDDEN,
            true,
            "AccessDenied",
            "Not authorized to perform sts:AssumeRoleWithWebIdentity",
        ));
    }
    let duration = match form.get("DurationSeconds") {
        None => shared.lock().config.role_credential_ttl,
        Some(d) => match d.parse::<u64>() {
            Ok(d) if (900..=43200).contains(&d) => Duration::from_secs(d),
            _ => return Err(validation("DurationSeconds must be between 900 and 43200")),
        },
    };
    let role_id = role_id(&format!("{}/{}", arn.account, arn.name));
    let assumed_id = format!("{role_id}:{session_name}");
    let user_arn = format!(
        "arn:{}:sts::{}:assumed-role/{}/{session_name}",
        arn.partition, arn.account, arn.name
    );
    let keys = shared.lock().issue_keys(Identity {
        account: arn.account.clone(),
        arn: user_arn.clone(),
        user_id: assumed_id.clone(),
        expires_at: SystemTime::now() + duration,
    });
    let s = |k: &str| xml_escape(claims[k].as_str().unwrap_or_default());
    Ok(xml(
        StatusCode::OK,
        format!(
            "<AssumeRoleWithWebIdentityResponse xmlns=\"{XMLNS}\">\n  <AssumeRoleWithWebIdentityResult>\n    \
             <SubjectFromWebIdentityToken>{}</SubjectFromWebIdentityToken>\n    <Audience>{}</Audience>\n    \
             <AssumedRoleUser>\n      <Arn>{}</Arn>\n      <AssumedRoleId>{}</AssumedRoleId>\n    </AssumedRoleUser>\n    \
             <Credentials>\n      <AccessKeyId>{}</AccessKeyId>\n      <SecretAccessKey>{}</SecretAccessKey>\n      \
             <SessionToken>{}</SessionToken>\n      <Expiration>{}</Expiration>\n    </Credentials>\n    \
             <Provider>{}</Provider>\n  </AssumeRoleWithWebIdentityResult>\n  <ResponseMetadata>\n    \
             <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</AssumeRoleWithWebIdentityResponse>\n",
            s("sub"),
            s("aud"),
            xml_escape(&user_arn),
            xml_escape(&assumed_id),
            xml_escape(&keys.access_key_id),
            xml_escape(&keys.secret_access_key),
            xml_escape(&keys.session_token),
            rfc3339(keys.expires_at),
            s("iss"),
            request_id()
        ),
    ))
}
