//! Cognito identity (`cognito-identity`, JSON 1.1): GetId and GetCredentialsForIdentity with
//! `Logins = {"<issuer host and path>": id_token}` from the emulated IdP. Any pool id of the
//! form `region:uuid` exists; its authenticated role is [`POOL_ROLE`], and `CustomRoleArn`
//! picks another (roles starting with `NoTrust` are refused).

use std::time::SystemTime;

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::idp::{check_token, issuer};
use crate::server::AppState;
use crate::state::{Identity, role_id};
use crate::sts::parse_role_arn;
use crate::util::json_response;
use crate::web_identity::UNTRUSTING_ROLE_PREFIX;

/// The pool's authenticated role.
pub const POOL_ROLE: &str = "arn:aws:iam::111111111111:role/CognitoAuthenticated";

fn answer(status: StatusCode, body: &Value) -> Response {
    let mut r = json_response(status, body);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    r
}

fn err(code: &str, message: &str) -> Response {
    answer(
        StatusCode::BAD_REQUEST,
        &json!({"__type": code, "message": message}),
    )
}

pub(crate) fn handle(shared: &AppState, op: &str, body: &Bytes) -> Response {
    shared.idp.count(op);
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return err("InvalidParameterException", "the body is not JSON");
    };
    if shared.idp.lock().config.sts_says_expired {
        return err(
            "NotAuthorizedException",
            "Invalid login token. Token expired",
        );
    }
    match op {
        "GetId" => get_id(shared, &req),
        "GetCredentialsForIdentity" => credentials(shared, &req),
        _ => err("UnknownOperationException", op),
    }
}

/// The one `Logins` entry, checked: keyed by our issuer without its scheme, a valid token.
fn login(shared: &AppState, req: &Value) -> Result<Value, Response> {
    let want = issuer(&shared.base_url).replacen("http://", "", 1);
    let Some(token) = req["Logins"][&want].as_str() else {
        return Err(err(
            "NotAuthorizedException",
            &format!("Invalid login token. Logins must hold a token for {want}"),
        ));
    };
    check_token(shared, token).map_err(|(code, m)| match code {
        "ExpiredTokenException" => err(
            "NotAuthorizedException",
            "Invalid login token. Token expired",
        ),
        _ => err(
            "NotAuthorizedException",
            &format!("Invalid login token. {m}"),
        ),
    })
}

fn identity_of(pool: &str, sub: &str) -> String {
    let h = hex::encode(Sha256::digest(format!("{pool}|{sub}")));
    let region = pool.split(':').next().unwrap_or("us-east-1");
    format!(
        "{region}:{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn get_id(shared: &AppState, req: &Value) -> Response {
    let pool = req["IdentityPoolId"].as_str().unwrap_or_default();
    if pool
        .split_once(':')
        .is_none_or(|(r, id)| r.is_empty() || id.is_empty())
    {
        return err(
            "ResourceNotFoundException",
            &format!("IdentityPool '{pool}' not found."),
        );
    }
    match login(shared, req) {
        Ok(claims) => answer(
            StatusCode::OK,
            &json!({"IdentityId": identity_of(pool, claims["sub"].as_str().unwrap_or(""))}),
        ),
        Err(r) => r,
    }
}

fn credentials(shared: &AppState, req: &Value) -> Response {
    let claims = match login(shared, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let identity = req["IdentityId"].as_str().unwrap_or_default().to_string();
    let role = req["CustomRoleArn"].as_str().unwrap_or(POOL_ROLE);
    let Some(arn) = parse_role_arn(role) else {
        return err(
            "InvalidParameterException",
            &format!("{role} is not a role ARN"),
        );
    };
    if arn.name.starts_with(UNTRUSTING_ROLE_PREFIX) {
        return err(
            "NotAuthorizedException",
            &format!("Not authorized to assume {role}"),
        );
    }
    let session = format!(
        "CognitoIdentityCredentials-{}",
        &claims["sub"].as_str().unwrap_or("x")
    );
    let mut st = shared.lock();
    let ttl = st.config.role_credential_ttl;
    let keys = st.issue_keys(Identity {
        account: arn.account.clone(),
        arn: format!(
            "arn:aws:sts::{}:assumed-role/{}/{session}",
            arn.account, arn.name
        ),
        user_id: format!(
            "{}:{session}",
            role_id(&format!("{}/{}", arn.account, arn.name))
        ),
        expires_at: SystemTime::now() + ttl,
    });
    let exp = keys
        .expires_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    answer(
        StatusCode::OK,
        &json!({"IdentityId": identity, "Credentials": {
            "AccessKeyId": keys.access_key_id, "SecretKey": keys.secret_access_key,
            "SessionToken": keys.session_token, "Expiration": exp,
        }}),
    )
}
