//! SSO portal and STS driven by the real aws-sdk-sso / aws-sdk-sts clients.

mod common;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_sso::error::ProvideErrorMetadata as _;
use common::*;
use ssoagent_emulator::{Config, Emulator, Fault, Op};

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn role_credentials_unauthorized_and_forbidden() {
    let emu = Emulator::start(Config::default()).unwrap();
    let login = device_login(&oidc_client(&emu).await).await;
    let sso = sso_client(&emu).await;
    let get_creds = |token: &str, account: &str, role: &str| {
        sso.get_role_credentials()
            .access_token(token)
            .account_id(account)
            .role_name(role)
            .send()
    };

    let out = get_creds(&login.access_token, "111111111111", "ReadOnly")
        .await
        .unwrap();
    let rc = out.role_credentials().unwrap();
    assert!(rc.access_key_id().unwrap().starts_with("ASIA"));
    assert!(rc.secret_access_key().is_some_and(|s| !s.is_empty()));
    assert!(rc.session_token().is_some_and(|s| !s.is_empty()));
    let exp_ms = rc.expiration();
    let expected_ms = (now_secs() + 3600) * 1000;
    assert!(
        (exp_ms - expected_ms).abs() < 10_000,
        "expiration {exp_ms} should be epoch ms ≈ {expected_ms}"
    );

    // Role not assigned: unmodelled 403 ForbiddenException.
    for (acct, role) in [("222222222222", "Admin"), ("999999999999", "ReadOnly")] {
        let err = get_creds(&login.access_token, acct, role)
            .await
            .unwrap_err();
        assert_eq!(err.raw_response().unwrap().status().as_u16(), 403);
        let err = err.into_service_error();
        assert_eq!(err.code(), Some("ForbiddenException"));
        assert_eq!(err.message(), Some("No access"));
    }

    // Unknown token: 401 UnauthorizedException.
    let err = get_creds("not-a-token", "111111111111", "ReadOnly")
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_unauthorized_exception(), "{err:?}");
    assert_eq!(err.message(), Some("Session token not found or invalid"));

    // Expired tokens: 401 as well.
    assert_eq!(emu.active_access_tokens(), 1);
    emu.expire_access_tokens();
    assert_eq!(emu.active_access_tokens(), 0);
    let err = get_creds(&login.access_token, "111111111111", "ReadOnly")
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 401);
    assert!(err.into_service_error().is_unauthorized_exception());
    assert_eq!(emu.calls(Op::GetRoleCredentials), 5);

    // The role credential lifetime follows the knob.
    emu.update(|c| c.role_credential_ttl = Duration::from_secs(900));
    let login = device_login(&oidc_client(&emu).await).await;
    let out = get_creds(&login.access_token, "333333333333", "Developer")
        .await
        .unwrap();
    let exp_ms = out.role_credentials().unwrap().expiration();
    assert!((exp_ms - (now_secs() + 900) * 1000).abs() < 10_000);
}

#[tokio::test]
async fn list_accounts_and_roles_paginate() {
    let emu = Emulator::start(Config::default()).unwrap();
    let login = device_login(&oidc_client(&emu).await).await;
    let sso = sso_client(&emu).await;

    let accounts: Vec<_> = sso
        .list_accounts()
        .access_token(&login.access_token)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    let got: Vec<_> = accounts
        .iter()
        .map(|a| {
            (
                a.account_id().unwrap(),
                a.account_name().unwrap(),
                a.email_address().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("111111111111", "dev", "dev@example.com"),
            ("222222222222", "prod", "prod@example.com"),
            ("333333333333", "sandbox", "sandbox@example.com"),
        ]
    );
    assert_eq!(emu.calls(Op::ListAccounts), 2, "page size 2 → two pages");

    // max_result caps the page further.
    let first = sso
        .list_accounts()
        .access_token(&login.access_token)
        .max_results(1)
        .send()
        .await
        .unwrap();
    assert_eq!(first.account_list().len(), 1);
    assert!(first.next_token().is_some());

    let roles: Vec<_> = sso
        .list_account_roles()
        .access_token(&login.access_token)
        .account_id("111111111111")
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    let names: Vec<_> = roles
        .iter()
        .map(|r| (r.account_id().unwrap(), r.role_name().unwrap()))
        .collect();
    assert_eq!(
        names,
        vec![("111111111111", "ReadOnly"), ("111111111111", "Admin")]
    );
    // Two roles fit one page: no nextToken on the last page.
    assert_eq!(emu.calls(Op::ListAccountRoles), 1);

    emu.update(|c| c.page_size = 1);
    let roles: Vec<_> = sso
        .list_account_roles()
        .access_token(&login.access_token)
        .account_id("111111111111")
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(roles.len(), 2);
    assert_eq!(emu.calls(Op::ListAccountRoles), 3);

    let err = sso
        .list_accounts()
        .access_token("bogus")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_unauthorized_exception(), "{err:?}");
}

#[tokio::test]
async fn logout_invalidates_the_session() {
    let emu = Emulator::start(Config::default()).unwrap();
    let oidc = oidc_client(&emu).await;
    let sso = sso_client(&emu).await;
    let login = device_login(&oidc).await;
    let other = device_login(&oidc).await;
    assert_eq!(emu.active_access_tokens(), 2);

    sso.logout()
        .access_token(&login.access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(emu.calls(Op::Logout), 1);
    assert_eq!(emu.active_access_tokens(), 1);

    let err = sso
        .get_role_credentials()
        .access_token(&login.access_token)
        .account_id("111111111111")
        .role_name("ReadOnly")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_unauthorized_exception(), "{err:?}");
    // The refresh token issued with it is dead too.
    let err = oidc
        .create_token()
        .client_id(&login.client_id)
        .client_secret(&login.client_secret)
        .grant_type("refresh_token")
        .refresh_token(login.refresh_token.unwrap())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_grant_exception(), "{err:?}");
    // Logging out twice: the token is no longer valid.
    let err = sso
        .logout()
        .access_token(&login.access_token)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_unauthorized_exception(), "{err:?}");

    // Another login is unaffected.
    sso.get_role_credentials()
        .access_token(&other.access_token)
        .account_id("111111111111")
        .role_name("Admin")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn portal_faults() {
    let emu = Emulator::start(Config::default()).unwrap();
    let login = device_login(&oidc_client(&emu).await).await;
    let sso = sso_client(&emu).await;
    let get_creds = || {
        sso.get_role_credentials()
            .access_token(&login.access_token)
            .account_id("111111111111")
            .role_name("ReadOnly")
            .send()
    };

    emu.inject(Op::GetRoleCredentials, Fault::ServerError, 1);
    get_creds().await.unwrap();
    assert_eq!(emu.calls(Op::GetRoleCredentials), 2);

    emu.reset_calls();
    emu.inject(Op::GetRoleCredentials, Fault::Throttle, 1);
    get_creds().await.unwrap();
    assert_eq!(emu.calls(Op::GetRoleCredentials), 2);

    emu.reset_calls();
    emu.inject(Op::GetRoleCredentials, Fault::Throttle, 3);
    let err = get_creds().await.unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 429);
    assert!(err.into_service_error().is_too_many_requests_exception());
    assert_eq!(emu.calls(Op::GetRoleCredentials), 3);

    // A dropped connection is a dispatch (I/O) error that the SDK retries.
    emu.reset_calls();
    emu.inject(Op::GetRoleCredentials, Fault::DropConnection, 1);
    get_creds().await.unwrap();
    assert_eq!(emu.calls(Op::GetRoleCredentials), 2);

    emu.reset_calls();
    emu.inject(Op::GetRoleCredentials, Fault::DropConnection, 3);
    let err = get_creds().await.unwrap_err();
    assert!(
        matches!(err, aws_sdk_sso::error::SdkError::DispatchFailure(_)),
        "{err:?}"
    );
    assert_eq!(emu.calls(Op::GetRoleCredentials), 3);

    let started = Instant::now();
    emu.inject(
        Op::ListAccounts,
        Fault::Delay(Duration::from_millis(300)),
        1,
    );
    sso.list_accounts()
        .access_token(&login.access_token)
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn sts_assume_role_and_caller_identity() {
    let emu = Emulator::start(Config::default()).unwrap();
    let login = device_login(&oidc_client(&emu).await).await;
    let sso = sso_client(&emu).await;
    let out = sso
        .get_role_credentials()
        .access_token(&login.access_token)
        .account_id("111111111111")
        .role_name("ReadOnly")
        .send()
        .await
        .unwrap();
    let rc = out.role_credentials().unwrap();
    let sts = sts_client(
        &emu,
        rc.access_key_id().unwrap(),
        rc.secret_access_key().unwrap(),
        rc.session_token(),
    )
    .await;

    let me = sts.get_caller_identity().send().await.unwrap();
    assert_eq!(me.account(), Some("111111111111"));
    assert_eq!(
        me.arn(),
        Some(
            "arn:aws:sts::111111111111:assumed-role/AWSReservedSSO_ReadOnly_0123456789abcdef/user@example.com"
        )
    );
    let uid = me.user_id().unwrap();
    assert!(
        uid.starts_with("AROA") && uid.ends_with(":user@example.com"),
        "{uid}"
    );
    assert_eq!(emu.calls(Op::GetCallerIdentity), 1);

    let assumed = sts
        .assume_role()
        .role_arn("arn:aws:iam::333333333333:role/Deploy")
        .role_session_name("ssoagent-test")
        .duration_seconds(900)
        .send()
        .await
        .unwrap();
    let user = assumed.assumed_role_user().unwrap();
    assert_eq!(
        user.arn(),
        "arn:aws:sts::333333333333:assumed-role/Deploy/ssoagent-test"
    );
    assert!(user.assumed_role_id().starts_with("AROA"));
    assert!(user.assumed_role_id().ends_with(":ssoagent-test"));
    let creds = assumed.credentials().unwrap();
    assert!(creds.access_key_id().starts_with("ASIA"));
    let exp = creds.expiration().secs();
    assert!((exp - (now_secs() + 900)).abs() < 10, "{exp}");

    // The assumed credentials are themselves known to STS.
    let sts2 = sts_client(
        &emu,
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token()),
    )
    .await;
    let me2 = sts2.get_caller_identity().send().await.unwrap();
    assert_eq!(me2.account(), Some("333333333333"));
    assert_eq!(me2.arn(), Some(user.arn()));
    assert_eq!(me2.user_id(), Some(user.assumed_role_id()));

    // Default duration: the role credential ttl.
    let assumed = sts
        .assume_role()
        .role_arn("arn:aws:iam::333333333333:role/Deploy")
        .role_session_name("s2")
        .send()
        .await
        .unwrap();
    let exp = assumed.credentials().unwrap().expiration().secs();
    assert!((exp - (now_secs() + 3600)).abs() < 10, "{exp}");

    // External id roles.
    let ext_arn = "arn:aws:iam::222222222222:role/DeployWithExternalId";
    let err = sts
        .assume_role()
        .role_arn(ext_arn)
        .role_session_name("s3")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 403);
    assert_eq!(err.into_service_error().code(), Some("AccessDenied"));
    sts.assume_role()
        .role_arn(ext_arn)
        .role_session_name("s3")
        .external_id("secret-ext")
        .send()
        .await
        .unwrap();

    // Validation.
    let err = sts
        .assume_role()
        .role_arn("arn:aws:iam::333333333333:role/Deploy")
        .role_session_name("s4")
        .duration_seconds(100)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 400);
    assert_eq!(err.into_service_error().code(), Some("ValidationError"));
    let err = sts
        .assume_role()
        .role_arn("not-an-arn")
        .role_session_name("s4")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationError"));

    // Unknown keys, and known keys without their session token.
    let stranger = sts_client(&emu, "ASIAUNKNOWN0000000", "secret", Some("token")).await;
    let err = stranger
        .get_caller_identity()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("InvalidClientTokenId"));
    let tokenless = sts_client(
        &emu,
        rc.access_key_id().unwrap(),
        rc.secret_access_key().unwrap(),
        None,
    )
    .await;
    let err = tokenless
        .get_caller_identity()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("InvalidClientTokenId"));

    // Expired keys.
    emu.update(|c| c.role_credential_ttl = Duration::ZERO);
    let out = sso
        .get_role_credentials()
        .access_token(&login.access_token)
        .account_id("111111111111")
        .role_name("Admin")
        .send()
        .await
        .unwrap();
    let rc = out.role_credentials().unwrap();
    let expired = sts_client(
        &emu,
        rc.access_key_id().unwrap(),
        rc.secret_access_key().unwrap(),
        rc.session_token(),
    )
    .await;
    let err = expired
        .get_caller_identity()
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ExpiredToken"));

    // Faults: a 500 is retried.
    emu.reset_calls();
    emu.inject(Op::AssumeRole, Fault::ServerError, 1);
    sts.assume_role()
        .role_arn("arn:aws:iam::333333333333:role/Deploy")
        .role_session_name("s5")
        .send()
        .await
        .unwrap();
    assert_eq!(emu.calls(Op::AssumeRole), 2);
    emu.inject(Op::GetCallerIdentity, Fault::Throttle, 1);
    sts.get_caller_identity().send().await.unwrap();
    assert_eq!(emu.calls(Op::GetCallerIdentity), 2);
}
