//! The id_token is verified before anything is stored (issue 12): each way a token can be
//! wrong fails the unlock with one line naming the cause, exit 5, nothing stored, the session
//! still locked. Also AWS's refusals as users read them, a pinned redirect port in use, and a
//! provider whose name clashes with an [sso-session].

use ssoagent_e2e::{oidc::*, *};
use ssoagent_emulator::IdpConfig;

fn refused_unlock(knob: impl FnOnce(&mut IdpConfig), cause: &str) {
    let w = world();
    w.emu.idp_config(knob);
    let out = unlock(&w, PROVIDER);
    out.assert_failure(5, &["provider 'corp'", "failed verification", cause]);
    // The browser prompt comes first; the error is one line, the last.
    let last = out.stderr.trim().lines().last().unwrap_or("");
    assert!(
        last.contains("failed verification") && last.contains(cause),
        "one line naming the cause: {out:?}"
    );
    assert_eq!(w.emu.idp_calls("Token:authorization_code"), 1, "{out:?}");
    assert!(
        w.token_files().is_empty(),
        "nothing stored: {:?}",
        w.token_files()
    );
    assert_eq!(w.session_state(PROVIDER), "locked");
    w.cred(&["--profile", PROFILE])
        .assert_failure(3, &["ssoagentctl unlock corp"]);
    assert_eq!(w.emu.idp_calls("AssumeRoleWithWebIdentity"), 0);
}

#[test]
fn a_key_not_in_the_jwks_is_refused() {
    refused_unlock(|c| c.unknown_key = true, "bad signature");
    // ...after one refetch of the keys (they could have rotated).
}

#[test]
fn a_bad_signature_is_refused() {
    refused_unlock(|c| c.bad_signature = true, "bad signature");
}

#[test]
fn a_wrong_issuer_is_refused() {
    refused_unlock(|c| c.wrong_issuer = true, "wrong issuer");
}

#[test]
fn a_wrong_audience_is_refused() {
    refused_unlock(|c| c.wrong_audience = true, "wrong audience");
}

#[test]
fn a_wrong_nonce_is_refused() {
    refused_unlock(|c| c.wrong_nonce = true, "wrong nonce");
}

#[test]
fn an_expired_id_token_is_refused() {
    refused_unlock(|c| c.expired = true, "expired");
}

#[test]
fn an_unknown_kid_refetches_the_keys_once() {
    let w = world();
    w.emu.idp_config(|c| c.unknown_key = true);
    unlock(&w, PROVIDER).assert_code(5);
    assert_eq!(w.emu.idp_calls("Jwks"), 2, "fetched, then refetched once");
}

#[test]
fn es256_tokens_are_accepted() {
    let w = world();
    w.emu.idp_config(|c| c.es256 = true);
    unlock(&w, PROVIDER).assert_ok();
    w.creds(PROFILE);
}

#[test]
fn a_role_that_does_not_trust_the_provider_is_refused_naming_it() {
    let mut w = world_with("");
    w.append_aws_config(
        "\n[profile untrusted]\nssoagent_provider = corp\n\
         ssoagent_role_arn = arn:aws:iam::111111111111:role/NoTrustRole\n",
    );
    w.start_daemon();
    unlock(&w, PROVIDER).assert_ok();
    w.cred(&["--profile", "untrusted"]).assert_failure(
        5,
        &["arn:aws:iam::111111111111:role/NoTrustRole", "AccessDenied"],
    );
}

#[test]
fn an_id_token_aws_calls_expired_after_a_failed_refresh_needs_a_human() {
    let w = world();
    unlock(&w, PROVIDER).assert_ok();
    w.emu.idp_revoke_refresh_tokens();
    w.emu.idp_config(|c| c.sts_says_expired = true);
    w.cred(&["--profile", PROFILE]).assert_failure(
        3,
        &[
            "session 'corp' has expired",
            "a human must run: ssoagentctl unlock corp",
        ],
    );
    assert_eq!(
        w.emu.idp_calls("Token:refresh_token"),
        1,
        "one refresh was tried first, and the IdP refused it"
    );
    assert_eq!(w.session_state(PROVIDER), "expired");
}

#[test]
fn a_pinned_redirect_port_in_use_is_a_clear_error() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let mut w = world_with(&format!(
        "redirect_uri = \"http://localhost:{port}/callback\"\n"
    ));
    w.start_daemon();
    let out = unlock(&w, PROVIDER);
    out.assert_failure(5, &["port in use", &format!("localhost:{port}")]);
    assert_eq!(w.emu.idp_calls("Authorize"), 0, "no browser opened");
    drop(holder);
    // Free again: the pinned port serves the redirect.
    unlock(&w, PROVIDER).assert_ok();
    w.creds(PROFILE);
}

#[test]
fn a_provider_named_like_an_sso_session_is_a_config_error_naming_both() {
    let mut w = world_with("");
    let cfg = agent_config(&w, "").replace("[providers.corp]", &format!("[providers.{SESSION}]"));
    w.write_agent_config(&cfg);
    w.start_daemon();
    let out = w.ctl(&["unlock", SESSION]);
    out.assert_failure(2, &["[sso-session work]", "[providers.work]"]);
}
