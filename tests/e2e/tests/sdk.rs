//! A real AWS SDK (boto3) reads credentials through `credential_process = ssoagent-cred`.

use ssoagent_e2e::*;

const SCRIPT: &str = r#"
import json, boto3
creds = boto3.Session(profile_name="dev-agent").get_credentials().get_frozen_credentials()
print(json.dumps({"access_key": creds.access_key, "secret_key": creds.secret_key, "token": creds.token}))
"#;

#[test]
fn boto3_uses_the_agent_through_credential_process() {
    let python = python_with_boto3("boto3_uses_the_agent_through_credential_process");
    let mut w = World::new();
    w.append_aws_config(&format!(
        "[profile dev-agent]\ncredential_process = {} --profile dev\n",
        bin("ssoagent-cred").display()
    ));
    w.start_daemon();
    w.unlock();

    let script = w.path("get_creds.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let mut cmd = w.command(&python);
    cmd.arg(&script);
    let out = run_with_timeout(&mut cmd, COMMAND_TIMEOUT);
    out.assert_ok();
    let got: serde_json::Value = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("script output is not JSON ({e}):\n{out:?}"));

    let c = w.creds("dev");
    assert_eq!(got["access_key"], c.access_key_id.as_str(), "{out:?}");
    assert_eq!(got["secret_key"], c.secret_access_key.as_str());
    assert_eq!(got["token"], c.session_token.as_str());
    assert_eq!(
        w.emu.calls(Op::GetRoleCredentials),
        1,
        "boto3 and the shim got the same cached credentials"
    );
}
