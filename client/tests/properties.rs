//! Property tests of the one thing `ssoagent-cred` prints: whatever strings the daemon sends
//! (unicode, quotes, backslashes, control characters, line separators), the output is one line
//! of JSON that an AWS SDK reads back as exactly those strings, with `Version` 1.

use proptest::prelude::*;
use ssoagent_client::{credential_process_json, proto};

/// Strings heavy in what JSON writers get wrong, next to arbitrary unicode.
fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\x00-\\x1f\\x7f\"\\\\/\u{2028}\u{2029}\u{feff}\u{fffd}a\u{10ffff}]{0,32}",
        Just(String::new()),
    ]
}

fn credentials() -> impl Strategy<Value = proto::Credentials> {
    (nasty(), nasty(), nasty(), nasty(), nasty()).prop_map(|(akid, secret, token, exp, region)| {
        proto::Credentials {
            access_key_id: akid,
            secret_access_key: secret,
            session_token: token,
            expiration: exp,
            region,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn credential_json_is_one_line_with_the_exact_strings(c in credentials()) {
        let out = credential_process_json(&c);
        let text = std::str::from_utf8(&out).expect("UTF-8");
        prop_assert!(text.ends_with('\n'), "ends with a newline: {:?}", text);
        let body = &text[..text.len() - 1];
        prop_assert!(
            !body.contains(['\n', '\r']),
            "one line, whatever the strings hold: {:?}",
            text
        );
        prop_assert!(body.starts_with("{\"Version\":1,"), "{:?}", text);

        let v: serde_json::Value = serde_json::from_str(body).expect("valid JSON");
        let obj = v.as_object().expect("an object");
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        prop_assert_eq!(
            keys,
            vec!["AccessKeyId", "Expiration", "SecretAccessKey", "SessionToken", "Version"]
        );
        prop_assert_eq!(&obj["Version"], &serde_json::json!(1));
        prop_assert_eq!(obj["AccessKeyId"].as_str(), Some(c.access_key_id.as_str()));
        prop_assert_eq!(obj["SecretAccessKey"].as_str(), Some(c.secret_access_key.as_str()));
        prop_assert_eq!(obj["SessionToken"].as_str(), Some(c.session_token.as_str()));
        prop_assert_eq!(obj["Expiration"].as_str(), Some(c.expiration.as_str()));

        // Exactly one document: nothing trails it but the newline.
        let mut stream = serde_json::Deserializer::from_slice(&out).into_iter::<serde_json::Value>();
        prop_assert!(stream.next().is_some_and(|r| r.is_ok()));
        prop_assert!(stream.next().is_none());
    }
}

/// Large values (a long session token) come out whole.
#[test]
fn large_values_come_out_whole() {
    let c = proto::Credentials {
        access_key_id: "ASIA".repeat(10),
        secret_access_key: "s".repeat(100),
        session_token: "t\u{1}\"\\".repeat(64 * 1024),
        expiration: "2030-01-01T00:00:00Z".into(),
        region: String::new(),
    };
    let out = credential_process_json(&c);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["SessionToken"].as_str(), Some(c.session_token.as_str()));
}
