//! The one thing `ssoagent-cred` prints: credential_process JSON, as AWS SDKs read it
//! (`Version` 1, then the keys, the session token and an RFC 3339 UTC expiry), one line.

use crate::proto;

#[derive(serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct ProcessCredentials<'a> {
    version: u8,
    access_key_id: &'a str,
    secret_access_key: &'a str,
    session_token: &'a str,
    expiration: &'a str,
}

/// The JSON document and a newline.
pub fn credential_process_json(c: &proto::Credentials) -> Vec<u8> {
    let out = ProcessCredentials {
        version: 1,
        access_key_id: &c.access_key_id,
        secret_access_key: &c.secret_access_key,
        session_token: &c.session_token,
        expiration: &c.expiration,
    };
    let mut buf = serde_json::to_vec(&out).expect("strings always serialize");
    buf.push(b'\n');
    buf
}
