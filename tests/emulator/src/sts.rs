//! STS subset (query protocol): AssumeRole and GetCallerIdentity.
//!
//! Requests are SigV4-signed; the caller is identified by the access key id
//! in the `Authorization` header (signatures are not verified), and the
//! `x-amz-security-token` header must carry that key's session token.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::Op;
use crate::faults;
use crate::mfa;
use crate::server::AppState;
use crate::state::{Identity, State as World, role_id};
use crate::util::{parse_form, request_id, rfc3339, xml_escape};

const XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Roles whose name ends with this require `ExternalId` = [`EXTERNAL_ID`].
pub const EXTERNAL_ID_ROLE_SUFFIX: &str = "WithExternalId";
pub const EXTERNAL_ID: &str = "secret-ext";

pub(crate) fn xml(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(&request_id()) {
        h.insert("x-amzn-RequestId", v);
    }
    resp
}

/// `<ErrorResponse>` in the STS (awsQuery) shape.
pub(crate) fn error(status: StatusCode, sender: bool, code: &str, message: &str) -> Response {
    let kind = if sender { "Sender" } else { "Receiver" };
    xml(
        status,
        format!(
            "<ErrorResponse xmlns=\"{XMLNS}\">\n  <Error>\n    <Type>{kind}</Type>\n    \
             <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  \
             <RequestId>{}</RequestId>\n</ErrorResponse>\n",
            xml_escape(code),
            xml_escape(message),
            request_id()
        ),
    )
}

fn validation(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, true, "ValidationError", message)
}

/// `POST /` with a form body: dispatches on `Action`.
pub(crate) async fn handle(
    State(shared): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Unsigned calls with an IdP's token: Cognito identity (JSON 1.1) and web identity.
    if let Some(r) = crate::web_identity::route(&shared, &headers, &body) {
        return r;
    }
    let form = match std::str::from_utf8(&body)
        .map_err(|e| e.to_string())
        .and_then(|s| parse_form(Some(s)))
    {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, true, "MalformedInput", &e),
    };
    let op = match form.get("Action").map(String::as_str) {
        Some("AssumeRole") => Op::AssumeRole,
        Some("GetCallerIdentity") => Op::GetCallerIdentity,
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                true,
                "InvalidAction",
                &format!("Could not find operation {other} for version 2011-06-15"),
            );
        }
        None => {
            return error(
                StatusCode::BAD_REQUEST,
                true,
                "MissingAction",
                "Missing Action",
            );
        }
    };
    if let Some(f) = shared.gate(op).await {
        return faults::sts(f);
    }
    let now = SystemTime::now();
    let mut st = shared.lock();
    let caller = match caller(&st, &headers, now) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    match op {
        Op::AssumeRole => assume_role(&mut st, &caller, &form, now).unwrap_or_else(|e| e),
        _ => get_caller_identity(&caller),
    }
}

/// The access key id of a SigV4 `Authorization` header.
fn access_key_id(headers: &HeaderMap) -> Option<&str> {
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let cred = auth.split("Credential=").nth(1)?;
    let akid = cred.split('/').next()?;
    (!akid.is_empty()).then_some(akid)
}

fn caller(st: &World, headers: &HeaderMap, now: SystemTime) -> Result<Identity, Response> {
    let Some(akid) = access_key_id(headers) else {
        return Err(error(
            StatusCode::FORBIDDEN,
            true,
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        ));
    };
    let invalid = || {
        error(
            StatusCode::FORBIDDEN,
            true,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
        )
    };
    let key = st.keys.get(akid).ok_or_else(invalid)?;
    let token = headers
        .get("x-amz-security-token")
        .and_then(|v| v.to_str().ok());
    if token != Some(key.session_token.as_str()) {
        return Err(invalid());
    }
    if key.identity.expires_at <= now {
        return Err(error(
            StatusCode::FORBIDDEN,
            true,
            "ExpiredToken",
            "The security token included in the request is expired",
        ));
    }
    Ok(key.identity.clone())
}

pub(crate) struct RoleArn {
    pub partition: String,
    pub account: String,
    pub name: String,
}

/// `arn:aws:iam::123456789012:role/[path/]Name`
pub(crate) fn parse_role_arn(arn: &str) -> Option<RoleArn> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts.as_slice() else {
        return None;
    };
    if *prefix != "arn"
        || !partition.starts_with("aws")
        || *service != "iam"
        || !region.is_empty()
        || account.len() != 12
        || !account.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let path = resource.strip_prefix("role/")?;
    let name = path.rsplit('/').next()?;
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
    {
        return None;
    }
    Some(RoleArn {
        partition: partition.to_string(),
        account: account.to_string(),
        name: name.to_string(),
    })
}

pub(crate) fn valid_session_name(s: &str) -> bool {
    (2..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

fn assume_role(
    st: &mut World,
    caller: &Identity,
    form: &HashMap<String, String>,
    now: SystemTime,
) -> Result<Response, Response> {
    let role_arn_str = form.get("RoleArn").map(String::as_str).unwrap_or_default();
    let role_arn = parse_role_arn(role_arn_str).ok_or_else(|| {
        validation(&format!(
            "1 validation error detected: Value '{role_arn_str}' at 'roleArn' failed to \
             satisfy constraint: Member must be a valid IAM role ARN"
        ))
    })?;
    let session_name = form
        .get("RoleSessionName")
        .map(String::as_str)
        .unwrap_or_default();
    if !valid_session_name(session_name) {
        return Err(validation(&format!(
            "1 validation error detected: Value '{session_name}' at 'roleSessionName' failed to \
             satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]{{2,64}}"
        )));
    }
    let duration = match form.get("DurationSeconds") {
        None => st.config.role_credential_ttl,
        Some(d) => match d.parse::<u64>() {
            Ok(d) if (900..=43200).contains(&d) => Duration::from_secs(d),
            _ => {
                return Err(validation(&format!(
                    "1 validation error detected: Value '{d}' at 'durationSeconds' failed to \
                     satisfy constraint: Member must have value between 900 and 43200"
                )));
            }
        },
    };
    check_conditions(st, caller, form, &role_arn.name, role_arn_str, now)?;
    let role_id = role_id(&format!("{}/{}", role_arn.account, role_arn.name));
    let assumed_role_id = format!("{role_id}:{session_name}");
    let arn = format!(
        "arn:{}:sts::{}:assumed-role/{}/{session_name}",
        role_arn.partition, role_arn.account, role_arn.name
    );
    let keys = st.issue_keys(Identity {
        account: role_arn.account.clone(),
        arn: arn.clone(),
        user_id: assumed_role_id.clone(),
        expires_at: now + duration,
    });
    Ok(xml(
        StatusCode::OK,
        format!(
            "<AssumeRoleResponse xmlns=\"{XMLNS}\">\n  <AssumeRoleResult>\n    <Credentials>\n      \
             <AccessKeyId>{}</AccessKeyId>\n      <SecretAccessKey>{}</SecretAccessKey>\n      \
             <SessionToken>{}</SessionToken>\n      <Expiration>{}</Expiration>\n    </Credentials>\n    \
             <AssumedRoleUser>\n      <AssumedRoleId>{}</AssumedRoleId>\n      <Arn>{}</Arn>\n    \
             </AssumedRoleUser>\n  </AssumeRoleResult>\n  <ResponseMetadata>\n    \
             <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</AssumeRoleResponse>\n",
            xml_escape(&keys.access_key_id),
            xml_escape(&keys.secret_access_key),
            xml_escape(&keys.session_token),
            rfc3339(keys.expires_at),
            xml_escape(&assumed_role_id),
            xml_escape(&arn),
            request_id()
        ),
    ))
}

/// What the role's trust policy demands: an `ExternalId` for roles named `…WithExternalId`,
/// MFA for [`Config::mfa_roles`](crate::Config).
fn check_conditions(
    st: &mut World,
    caller: &Identity,
    form: &HashMap<String, String>,
    role_name: &str,
    role_arn: &str,
    now: SystemTime,
) -> Result<(), Response> {
    if role_name.ends_with(EXTERNAL_ID_ROLE_SUFFIX)
        && form.get("ExternalId").map(String::as_str) != Some(EXTERNAL_ID)
    {
        return Err(error(
            StatusCode::FORBIDDEN,
            true,
            "AccessDenied",
            &format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                caller.arn
            ),
        ));
    }
    if st.config.mfa_roles.iter().any(|r| r == role_name) {
        check_mfa(st, caller, form, role_arn, now)?;
    }
    Ok(())
}

/// An MFA-protected role: AccessDenied unless a valid, unspent code of the device came along.
fn check_mfa(
    st: &mut World,
    caller: &Identity,
    form: &HashMap<String, String>,
    role_arn: &str,
    now: SystemTime,
) -> Result<(), Response> {
    let serial = form.get("SerialNumber").map(String::as_str);
    let code = form.get("TokenCode").map(String::as_str);
    let config = st.config.clone();
    mfa::check(&config, &mut st.mfa_used, serial, code, now).map_err(|(missing, message)| {
        let message = if missing {
            format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                caller.arn
            )
        } else {
            message.to_string()
        };
        error(StatusCode::FORBIDDEN, true, "AccessDenied", &message)
    })
}

fn get_caller_identity(caller: &Identity) -> Response {
    xml(
        StatusCode::OK,
        format!(
            "<GetCallerIdentityResponse xmlns=\"{XMLNS}\">\n  <GetCallerIdentityResult>\n    \
             <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{}</Account>\n  \
             </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  \
             </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
            xml_escape(&caller.arn),
            xml_escape(&caller.user_id),
            xml_escape(&caller.account),
            request_id()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns() {
        let a = parse_role_arn("arn:aws:iam::333333333333:role/Deploy").unwrap();
        assert_eq!(
            (a.account.as_str(), a.name.as_str()),
            ("333333333333", "Deploy")
        );
        let a = parse_role_arn("arn:aws:iam::333333333333:role/path/to/Deploy").unwrap();
        assert_eq!(a.name, "Deploy");
        assert!(parse_role_arn("arn:aws:iam::33333333333:role/Deploy").is_none());
        assert!(parse_role_arn("arn:aws:iam::333333333333:user/Deploy").is_none());
        assert!(parse_role_arn("arn:aws:s3::333333333333:role/Deploy").is_none());
        assert!(parse_role_arn("Deploy").is_none());
    }

    #[test]
    fn sigv4_access_key() {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=ASIAXYZ/20260101/us-east-1/sts/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=abc",
            ),
        );
        assert_eq!(access_key_id(&h), Some("ASIAXYZ"));
        assert_eq!(access_key_id(&HeaderMap::new()), None);
    }

    #[test]
    fn session_names() {
        assert!(valid_session_name("ssoagent-1234@x.y"));
        assert!(!valid_session_name("a"));
        assert!(!valid_session_name("has space"));
    }
}
