//! SSO-OIDC flows driven by the real aws-sdk-ssooidc client.

mod common;

use std::time::Duration;

use common::*;
use ssoagent_emulator::{Config, Emulator, Op};

#[tokio::test]
async fn device_flow_pending_then_success() {
    let emu = Emulator::start(Config::default()).unwrap();
    let oidc = oidc_client(&emu).await;

    let reg = oidc
        .register_client()
        .client_name("test")
        .client_type("public")
        .send()
        .await
        .unwrap();
    let (cid, secret) = (reg.client_id().unwrap(), reg.client_secret().unwrap());
    let issued = reg.client_id_issued_at();
    let expires = reg.client_secret_expires_at();
    assert!(
        (expires - issued - 90 * 24 * 3600).abs() <= 1,
        "{issued} {expires}"
    );

    let dev = oidc
        .start_device_authorization()
        .client_id(cid)
        .client_secret(secret)
        .start_url("https://d-1234567890.awsapps.com/start")
        .send()
        .await
        .unwrap();
    let user_code = dev.user_code().unwrap();
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert_eq!(
        dev.verification_uri().unwrap(),
        format!("{}/device", emu.url())
    );
    assert_eq!(
        dev.verification_uri_complete().unwrap(),
        format!("{}/device?user_code={user_code}", emu.url())
    );
    assert_eq!(dev.expires_in(), 600);
    assert_eq!(dev.interval(), 1);

    let create = || {
        oidc.create_token()
            .client_id(cid)
            .client_secret(secret)
            .grant_type(DEVICE_GRANT)
            .device_code(dev.device_code().unwrap())
            .send()
    };
    let err = create().await.unwrap_err().into_service_error();
    assert!(err.is_authorization_pending_exception(), "{err:?}");
    match err {
        aws_sdk_ssooidc::operation::create_token::CreateTokenError::AuthorizationPendingException(
            e,
        ) => assert_eq!(e.error(), Some("authorization_pending")),
        other => panic!("{other:?}"),
    }

    let tok = create().await.unwrap();
    assert!(tok.access_token().is_some_and(|t| t.len() > 20));
    assert_eq!(tok.token_type(), Some("Bearer"));
    assert_eq!(tok.expires_in(), 3600);
    assert!(
        tok.refresh_token().is_some(),
        "no grantTypes → refresh token"
    );
    assert!(tok.id_token().is_none());
    assert_eq!(emu.active_access_tokens(), 1);

    // Device codes are single-use.
    let err = create().await.unwrap_err().into_service_error();
    assert!(err.is_invalid_grant_exception(), "{err:?}");
    assert_eq!(emu.calls(Op::CreateToken), 3);
    assert_eq!(emu.calls(Op::RegisterClient), 1);
    assert_eq!(emu.calls(Op::StartDeviceAuthorization), 1);

    // Client credentials are checked: 401 InvalidClientException.
    let err = oidc
        .create_token()
        .client_id(cid)
        .client_secret("wrong")
        .grant_type(DEVICE_GRANT)
        .device_code(dev.device_code().unwrap())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 401);
    assert!(err.into_service_error().is_invalid_client_exception());
}

#[tokio::test]
async fn device_flow_waits_for_manual_approval_and_expires() {
    let emu = Emulator::start(Config {
        auto_approve: false,
        ..Config::default()
    })
    .unwrap();
    let oidc = oidc_client(&emu).await;
    let reg = oidc
        .register_client()
        .client_name("test")
        .client_type("public")
        .send()
        .await
        .unwrap();
    let (cid, secret) = (reg.client_id().unwrap(), reg.client_secret().unwrap());
    let start = || {
        oidc.start_device_authorization()
            .client_id(cid)
            .client_secret(secret)
            .start_url("https://d-1234567890.awsapps.com/start")
            .send()
    };
    let dev = start().await.unwrap();
    let create = |code: String| {
        oidc.create_token()
            .client_id(cid)
            .client_secret(secret)
            .grant_type(DEVICE_GRANT)
            .device_code(code)
            .send()
    };
    for _ in 0..4 {
        let err = create(dev.device_code().unwrap().into())
            .await
            .unwrap_err()
            .into_service_error();
        assert!(err.is_authorization_pending_exception(), "{err:?}");
    }
    emu.approve_pending();
    create(dev.device_code().unwrap().into()).await.unwrap();

    // An expired device code answers ExpiredTokenException.
    emu.update(|c| c.device_code_ttl = Duration::ZERO);
    let dev = start().await.unwrap();
    assert_eq!(dev.expires_in(), 0);
    let err = create(dev.device_code().unwrap().into())
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_expired_token_exception(), "{err:?}");
}

#[tokio::test]
async fn approve_after_polls_counts_polls() {
    let emu = Emulator::start(Config {
        approve_after_polls: 3,
        ..Config::default()
    })
    .unwrap();
    let oidc = oidc_client(&emu).await;
    device_login(&oidc).await;
    assert_eq!(emu.calls(Op::CreateToken), 4);
    emu.reset_calls();
    emu.update(|c| c.approve_after_polls = 0);
    device_login(&oidc).await;
    assert_eq!(emu.calls(Op::CreateToken), 1);
}

#[tokio::test]
async fn register_client_validates() {
    let emu = Emulator::start(Config::default()).unwrap();
    let oidc = oidc_client(&emu).await;
    let err = oidc
        .register_client()
        .client_name("test")
        .client_type("confidential")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_client_metadata_exception(), "{err:?}");
    // A PKCE client without redirect URIs is refused.
    let err = oidc
        .register_client()
        .client_name("test")
        .client_type("public")
        .grant_types("authorization_code")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_redirect_uri_exception(), "{err:?}");
}

/// Registers a PKCE client the way AWS CLI v2 does.
async fn register_pkce(oidc: &aws_sdk_ssooidc::Client, grants: &[&str]) -> (String, String) {
    let mut req = oidc
        .register_client()
        .client_name("botocore-client-test")
        .client_type("public")
        .redirect_uris("http://127.0.0.1/oauth/callback")
        .issuer_url("https://d-1234567890.awsapps.com/start")
        .scopes("sso:account:access");
    for g in grants {
        req = req.grant_types(*g);
    }
    let reg = req.send().await.unwrap();
    (
        reg.client_id().unwrap().to_string(),
        reg.client_secret().unwrap().to_string(),
    )
}

fn authorize_path(client_id: &str, redirect_uri: &str, state: &str, challenge: &str) -> String {
    format!(
        "/authorize?response_type=code&client_id={}&redirect_uri={}&state={}\
         &code_challenge_method=S256&scopes={}&code_challenge={challenge}",
        enc(client_id),
        enc(redirect_uri),
        enc(state),
        enc("sso:account:access")
    )
}

#[tokio::test]
async fn pkce_flow() {
    let emu = Emulator::start(Config::default()).unwrap();
    let oidc = oidc_client(&emu).await;
    let (cid, secret) = register_pkce(&oidc, &["authorization_code", "refresh_token"]).await;
    let (verifier, challenge) = pkce_pair();
    let redirect_uri = "http://127.0.0.1:54321/oauth/callback";
    let state = "6c1e3a52-5d0e-4d5b-9d57-1c1b0f0c7a11";

    let resp = get(
        emu.port(),
        &authorize_path(&cid, redirect_uri, state, &challenge),
    );
    assert_eq!(resp.status, 302, "{resp:?}");
    let location = resp.header("location").unwrap();
    assert!(
        location.starts_with(&format!("{redirect_uri}?code=")),
        "{location}"
    );
    assert_eq!(query_param(location, "state").as_deref(), Some(state));
    let code = query_param(location, "code").unwrap();
    assert_eq!(emu.calls(Op::Authorize), 1);

    let create = |verifier: &str, redirect: &str| {
        oidc.create_token()
            .client_id(&cid)
            .client_secret(&secret)
            .grant_type("authorization_code")
            .code(&code)
            .redirect_uri(redirect)
            .code_verifier(verifier)
            .send()
    };
    // Wrong verifier, wrong redirect URI: invalid_grant.
    let err = create(&format!("{verifier}x"), redirect_uri)
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_grant_exception(), "{err:?}");
    let err = create(&verifier, "http://127.0.0.1:1/oauth/callback")
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_grant_exception(), "{err:?}");
    // Another client cannot redeem the code.
    let (cid2, secret2) = register_pkce(&oidc, &["authorization_code"]).await;
    let err = oidc
        .create_token()
        .client_id(&cid2)
        .client_secret(&secret2)
        .grant_type("authorization_code")
        .code(&code)
        .redirect_uri(redirect_uri)
        .code_verifier(&verifier)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_grant_exception(), "{err:?}");

    let tok = create(&verifier, redirect_uri).await.unwrap();
    assert!(tok.access_token().is_some());
    assert!(tok.refresh_token().is_some());
    assert_eq!(tok.token_type(), Some("Bearer"));

    // Codes are single-use.
    let err = create(&verifier, redirect_uri)
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_grant_exception(), "{err:?}");

    // A client registered without refresh_token gets no refresh token.
    let resp = get(
        emu.port(),
        &authorize_path(&cid2, redirect_uri, "s2", &challenge),
    );
    assert_eq!(resp.status, 302);
    let code2 = query_param(resp.header("location").unwrap(), "code").unwrap();
    let tok = oidc
        .create_token()
        .client_id(&cid2)
        .client_secret(&secret2)
        .grant_type("authorization_code")
        .code(code2)
        .redirect_uri(redirect_uri)
        .code_verifier(&verifier)
        .send()
        .await
        .unwrap();
    assert!(tok.access_token().is_some());
    assert!(tok.refresh_token().is_none());
}

#[tokio::test]
async fn authorize_rejects_bad_requests() {
    let emu = Emulator::start(Config::default()).unwrap();
    let oidc = oidc_client(&emu).await;
    let (cid, _) = register_pkce(&oidc, &["authorization_code", "refresh_token"]).await;
    let (_, challenge) = pkce_pair();
    let ok_uri = "http://127.0.0.1:54321/oauth/callback";

    // Unknown client or unregistered redirect: shown as 400, never redirected.
    let resp = get(emu.port(), &authorize_path("nope", ok_uri, "s", &challenge));
    assert_eq!(resp.status, 400);
    for bad in [
        "http://127.0.0.1:54321/elsewhere",
        "http://evil.example:54321/oauth/callback",
    ] {
        let resp = get(emu.port(), &authorize_path(&cid, bad, "s", &challenge));
        assert_eq!(resp.status, 400, "{bad}");
        assert!(resp.header("location").is_none());
    }
    // Other errors redirect with error=.
    let path = authorize_path(&cid, ok_uri, "s", &challenge).replace("S256", "plain");
    let resp = get(emu.port(), &path);
    assert_eq!(resp.status, 302);
    let loc = resp.header("location").unwrap();
    assert_eq!(
        query_param(loc, "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(query_param(loc, "state").as_deref(), Some("s"));
    assert!(query_param(loc, "code").is_none());

    // A device-flow client cannot use /authorize.
    let reg = oidc
        .register_client()
        .client_name("dev")
        .client_type("public")
        .redirect_uris("http://127.0.0.1/oauth/callback")
        .send()
        .await
        .unwrap();
    let resp = get(
        emu.port(),
        &authorize_path(reg.client_id().unwrap(), ok_uri, "s", &challenge),
    );
    assert_eq!(resp.status, 302);
    assert_eq!(
        query_param(resp.header("location").unwrap(), "error").as_deref(),
        Some("unauthorized_client")
    );
}

#[tokio::test]
async fn authorize_waits_for_approval() {
    let emu = Emulator::start(Config {
        auto_approve: false,
        ..Config::default()
    })
    .unwrap();
    let oidc = oidc_client(&emu).await;
    let (cid, secret) = register_pkce(&oidc, &["authorization_code", "refresh_token"]).await;
    let (verifier, challenge) = pkce_pair();
    let redirect_uri = "http://127.0.0.1:40000/oauth/callback";
    let path = authorize_path(&cid, redirect_uri, "st", &challenge);

    let resp = get(emu.port(), &path);
    assert_eq!(resp.status, 200);
    assert!(resp.body.contains("pending"), "{}", resp.body);
    assert_eq!(get(emu.port(), &path).status, 200);
    emu.approve_pending();
    let resp = get(emu.port(), &path);
    assert_eq!(resp.status, 302);
    let code = query_param(resp.header("location").unwrap(), "code").unwrap();
    oidc.create_token()
        .client_id(&cid)
        .client_secret(&secret)
        .grant_type("authorization_code")
        .code(code)
        .redirect_uri(redirect_uri)
        .code_verifier(verifier)
        .send()
        .await
        .unwrap();
    // The approval was used up: a new request waits again.
    assert_eq!(get(emu.port(), &path).status, 200);
}

#[tokio::test]
async fn refresh_tokens_rotate() {
    let emu = Emulator::start(Config::default()).unwrap();
    let oidc = oidc_client(&emu).await;
    let login = device_login(&oidc).await;
    let r1 = login.refresh_token.clone().unwrap();
    let refresh = |rt: String| {
        oidc.create_token()
            .client_id(&login.client_id)
            .client_secret(&login.client_secret)
            .grant_type("refresh_token")
            .refresh_token(rt)
            .send()
    };
    let t2 = refresh(r1.clone()).await.unwrap();
    let r2 = t2.refresh_token().unwrap().to_string();
    assert_ne!(r1, r2);
    assert_ne!(t2.access_token().unwrap(), login.access_token);
    assert_eq!(t2.expires_in(), 3600);

    // The used refresh token is dead.
    let err = refresh(r1).await.unwrap_err().into_service_error();
    assert!(err.is_invalid_grant_exception(), "{err:?}");
    // The new one works, once.
    let t3 = refresh(r2.clone()).await.unwrap();
    let err = refresh(r2).await.unwrap_err().into_service_error();
    assert!(err.is_invalid_grant_exception(), "{err:?}");

    // New lifetimes apply to new tokens.
    emu.update(|c| c.access_token_ttl = Duration::from_secs(600));
    let t4 = refresh(t3.refresh_token().unwrap().into()).await.unwrap();
    assert_eq!(t4.expires_in(), 600);

    // Revocation.
    emu.revoke_refresh_tokens();
    let err = refresh(t4.refresh_token().unwrap().into())
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_grant_exception(), "{err:?}");

    // issue_refresh_tokens = false: no refresh token at all.
    emu.update(|c| c.issue_refresh_tokens = false);
    let login = device_login(&oidc).await;
    assert!(login.refresh_token.is_none());
}

#[tokio::test]
async fn oidc_faults() {
    let emu = Emulator::start(Config {
        approve_after_polls: 0,
        ..Config::default()
    })
    .unwrap();
    let oidc = oidc_client(&emu).await;
    // A 500 is retried by the SDK.
    emu.inject(Op::RegisterClient, ssoagent_emulator::Fault::ServerError, 1);
    device_login(&oidc).await;
    assert_eq!(emu.calls(Op::RegisterClient), 2);
    // So is throttling.
    emu.inject(Op::CreateToken, ssoagent_emulator::Fault::Throttle, 2);
    emu.reset_calls();
    device_login(&oidc).await;
    assert_eq!(emu.calls(Op::CreateToken), 3);
    // Persistent errors surface after the SDK's attempts (3 here).
    emu.inject(Op::RegisterClient, ssoagent_emulator::Fault::ServerError, 5);
    emu.reset_calls();
    let err = oidc
        .register_client()
        .client_name("x")
        .client_type("public")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 500);
    assert!(err.into_service_error().is_internal_server_exception());
    assert_eq!(emu.calls(Op::RegisterClient), 3);
    emu.clear_faults();
}
