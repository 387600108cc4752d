//! A real AWS SDK (boto3) reads credentials through `credential_process = ssoagent-cred`.

use std::process::Command;

use ssoagent_e2e::*;

const SCRIPT: &str = r#"
import json, boto3
creds = boto3.Session(profile_name="dev-agent").get_credentials().get_frozen_credentials()
print(json.dumps({"access_key": creds.access_key, "secret_key": creds.secret_key, "token": creds.token}))
"#;

/// The real interpreter behind `python3` (a pyenv shim needs the runner's HOME; the World's
/// children get a temp HOME), if boto3 imports there.
fn python_with_boto3() -> Result<String, String> {
    let out = Command::new("python3")
        .args(["-c", "import sys, boto3; print(sys.executable)"])
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "boto3 is not importable: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn boto3_uses_the_agent_through_credential_process() {
    let python = match python_with_boto3() {
        Ok(p) => p,
        Err(why) if std::env::var_os("CI").is_some() => panic!("CI needs boto3: {why}"),
        Err(why) => {
            eprintln!("SKIPPED: {why} (pip install boto3 to run this test)");
            return;
        }
    };
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
