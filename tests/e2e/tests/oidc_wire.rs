//! The emulator's web-identity wire shapes checked with a real SDK (issue 12): boto3's
//! `sts.assume_role_with_web_identity` and `cognito-identity` clients against it, its error
//! shape, and botocore's own web-identity provider reading a token file.

use ssoagent_e2e::{oidc::*, *};

const SCRIPT: &str = r#"
import json, os, boto3, botocore.exceptions
url, token, key = os.environ["EMU"], os.environ["TOKEN"], os.environ["LOGIN_KEY"]
out = {}
sts = boto3.client("sts", region_name="us-east-1", endpoint_url=url)
r = sts.assume_role_with_web_identity(RoleArn=os.environ["ROLE"], RoleSessionName="boto3-check",
                                      WebIdentityToken=token, DurationSeconds=900)
out["arn"] = r["AssumedRoleUser"]["Arn"]
out["sub"] = r["SubjectFromWebIdentityToken"]
out["aud"] = r["Audience"]
out["akid"] = r["Credentials"]["AccessKeyId"]
try:
    sts.assume_role_with_web_identity(RoleArn=os.environ["ROLE"], RoleSessionName="boto3-check",
                                      WebIdentityToken=token[:-8] + "AAAAAAAA")
except botocore.exceptions.ClientError as e:
    out["bad_token"] = e.response["Error"]["Code"]
ci = boto3.client("cognito-identity", region_name="us-east-1", endpoint_url=url)
iid = ci.get_id(IdentityPoolId=os.environ["POOL"], Logins={key: token})["IdentityId"]
c = ci.get_credentials_for_identity(IdentityId=iid, Logins={key: token})["Credentials"]
out["identity"] = iid
out["cognito_akid"] = c["AccessKeyId"]
out["cognito_exp_is_date"] = hasattr(c["Expiration"], "year")
try:
    ci.get_id(IdentityPoolId=os.environ["POOL"], Logins={"other.example.com": token})
except botocore.exceptions.ClientError as e:
    out["wrong_key"] = e.response["Error"]["Code"]
# botocore's own provider: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN, STS from AWS_ENDPOINT_URL_STS.
s = boto3.Session()
out["provider"] = s.get_credentials().method
out["provider_arn"] = s.client("sts", region_name="us-east-1").get_caller_identity()["Arn"]
print(json.dumps(out))
"#;

#[test]
fn boto3_speaks_web_identity_and_cognito_with_the_emulator() {
    let python = python_with_boto3("boto3_speaks_web_identity_and_cognito_with_the_emulator");
    let mut w = world_with("");
    let token = w.emu.idp_mint(CLIENT_ID);
    let token_file = w.path("web-identity-token");
    std::fs::write(&token_file, &token).unwrap();
    let login_key = w.emu.issuer().replacen("http://", "", 1);
    w.set_env("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.clone());
    w.set_env("AWS_ROLE_ARN", ROLE_ARN);
    w.set_env("AWS_ROLE_SESSION_NAME", "botocore-provider");
    w.set_env("AWS_CONFIG_FILE", w.path("no-such-config"));
    let script = w.path("wire.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let mut cmd = w.command(&python);
    cmd.arg(&script)
        .env("EMU", w.emu.url())
        .env("TOKEN", &token)
        .env("LOGIN_KEY", &login_key)
        .env("ROLE", ROLE_ARN)
        .env("POOL", POOL_ID);
    let out = run_with_timeout(&mut cmd, COMMAND_TIMEOUT);
    out.assert_ok();
    let v: serde_json::Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {out:?}"));
    assert_eq!(
        v["arn"], "arn:aws:sts::111111111111:assumed-role/BedrockUser/boto3-check",
        "{v:#}"
    );
    assert_eq!(v["sub"], ssoagent_emulator::idp::SUBJECT);
    assert_eq!(v["aud"], CLIENT_ID);
    assert!(v["akid"].as_str().unwrap().starts_with("ASIA"));
    assert_eq!(v["bad_token"], "InvalidIdentityToken");
    assert!(v["identity"].as_str().unwrap().starts_with("us-east-1:"));
    assert!(v["cognito_akid"].as_str().unwrap().starts_with("ASIA"));
    assert_eq!(v["cognito_exp_is_date"], true);
    assert_eq!(v["wrong_key"], "NotAuthorizedException");
    assert_eq!(v["provider"], "assume-role-with-web-identity");
    assert_eq!(
        v["provider_arn"],
        "arn:aws:sts::111111111111:assumed-role/BedrockUser/botocore-provider"
    );
    assert_eq!(w.emu.idp_calls("AssumeRoleWithWebIdentity"), 3);
    assert_eq!(w.emu.idp_calls("GetId"), 2);
    assert_eq!(w.emu.idp_calls("GetCredentialsForIdentity"), 1);
}
