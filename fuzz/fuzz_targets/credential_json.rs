//! The one thing `ssoagent-cred` prints: for any strings, one line of JSON that parses back to
//! `Version` 1 and exactly those strings.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ssoagent_client::{credential_process_json, proto};

fuzz_target!(|fields: (String, String, String, String, String)| {
    let (access_key_id, secret_access_key, session_token, expiration, region) = fields;
    let c = proto::Credentials {
        access_key_id,
        secret_access_key,
        session_token,
        expiration,
        region,
    };
    let out = credential_process_json(&c);
    assert_eq!(out.last(), Some(&b'\n'));
    let body = &out[..out.len() - 1];
    assert!(!body.contains(&b'\n') && !body.contains(&b'\r'), "one line");
    let v: serde_json::Value = serde_json::from_slice(body).expect("valid JSON");
    assert_eq!(v["Version"], serde_json::json!(1));
    assert_eq!(v["AccessKeyId"].as_str(), Some(c.access_key_id.as_str()));
    assert_eq!(
        v["SecretAccessKey"].as_str(),
        Some(c.secret_access_key.as_str())
    );
    assert_eq!(v["SessionToken"].as_str(), Some(c.session_token.as_str()));
    assert_eq!(v["Expiration"].as_str(), Some(c.expiration.as_str()));
    assert_eq!(v.as_object().map(|o| o.len()), Some(5));
});
