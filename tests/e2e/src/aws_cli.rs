//! The AWS CLI's side of `~/.aws/sso/cache` (PROTOCOL.md section d), played by the real
//! botocore: a login the way `aws sso login` does it, the cache file it leaves, and a boto3
//! client on a native `sso_session` profile.

use std::{fs, os::unix::fs::PermissionsExt, path::PathBuf};

use crate::{COMMAND_TIMEOUT, Out, SESSION, START_URL, World, run_with_timeout};

/// `sha1("work")`: the AWS CLI's cache key of the World's `[sso-session work]`
/// (`printf work | sha1sum`).
pub const SESSION_CACHE_KEY: &str = "e274eeff768c6396088ec6eb091f4bf4d47ab1e0";

/// The fields the AWS CLI v2 login and botocore's refresh write, and nothing else.
pub const CACHE_FIELDS: [&str; 8] = [
    "accessToken",
    "clientId",
    "clientSecret",
    "expiresAt",
    "refreshToken",
    "region",
    "registrationExpiresAt",
    "startUrl",
];

/// `~/.aws/sso/cache/<sha1(work)>.json` of a World.
pub fn cache_path(w: &World) -> PathBuf {
    w.path(&format!(".aws/sso/cache/{SESSION_CACHE_KEY}.json"))
}

/// The cache file of the World's session, parsed; `None` when there is none.
#[track_caller]
pub fn read_cache(w: &World) -> Option<serde_json::Value> {
    let text = fs::read_to_string(cache_path(w)).ok()?;
    Some(
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("the AWS CLI cache file is not JSON ({e}):\n{text}")),
    )
}

/// Writes the cache file as the AWS CLI would (0600, directory created).
pub fn write_cache_raw(w: &World, bytes: &[u8]) {
    let p = cache_path(w);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, bytes).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
}

/// Runs a Python script (written into the World's dir) with the World's environment.
pub fn run_python(w: &World, python: &str, name: &str, script: &str, args: &[&str]) -> Out {
    let path = w.path(name);
    fs::write(&path, script).unwrap();
    let mut cmd = w.command(python);
    cmd.arg(&path).args(args);
    run_with_timeout(&mut cmd, COMMAND_TIMEOUT)
}

/// A device-code login with botocore against the emulator (RegisterClient,
/// StartDeviceAuthorization, CreateToken polled until approved), saved the way the AWS CLI v2
/// saves it: `~/.aws/sso/cache/<sha1(session)>.json`, 0600, `…Z` timestamps.
const AWS_SSO_LOGIN: &str = r#"
import datetime, hashlib, json, os, sys, time
import boto3

session_name, start_url, region = sys.argv[1:4]
oidc = boto3.client("sso-oidc", region_name=region)
reg = oidc.register_client(clientName="botocore-client-aws-cli", clientType="public",
                           scopes=["sso:account:access"])
dev = oidc.start_device_authorization(clientId=reg["clientId"],
                                      clientSecret=reg["clientSecret"], startUrl=start_url)
deadline = time.time() + 30
while True:
    try:
        tok = oidc.create_token(grantType="urn:ietf:params:oauth:grant-type:device_code",
                                deviceCode=dev["deviceCode"], clientId=reg["clientId"],
                                clientSecret=reg["clientSecret"])
        break
    except oidc.exceptions.AuthorizationPendingException:
        if time.time() > deadline:
            raise
        time.sleep(0.1)

def z(epoch):
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")

entry = {
    "startUrl": start_url,
    "region": region,
    "accessToken": tok["accessToken"],
    "expiresAt": z(time.time() + tok["expiresIn"]),
    "clientId": reg["clientId"],
    "clientSecret": reg["clientSecret"],
    "registrationExpiresAt": z(reg["clientSecretExpiresAt"]),
}
if "refreshToken" in tok:
    entry["refreshToken"] = tok["refreshToken"]
cache = os.path.expanduser(os.path.join("~", ".aws", "sso", "cache"))
os.makedirs(cache, exist_ok=True)
path = os.path.join(cache, hashlib.sha1(session_name.encode("utf-8")).hexdigest() + ".json")
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    json.dump(entry, f)
print(path)
"#;

/// Logs in like `aws sso login --sso-session work` (device code, against the emulator) and
/// leaves the token in the AWS CLI cache; returns the cache file's path.
#[track_caller]
pub fn aws_sso_login(w: &World, python: &str) -> PathBuf {
    let out = run_python(
        w,
        python,
        "aws_sso_login.py",
        AWS_SSO_LOGIN,
        &[SESSION, START_URL, "us-east-1"],
    );
    out.assert_ok();
    let path = PathBuf::from(out.stdout.trim());
    assert_eq!(
        path,
        cache_path(w),
        "botocore's cache key is sha1 of the session name"
    );
    path
}

/// Role credentials through a *native* SSO profile (botocore's own SSO provider, reading and
/// possibly refreshing `~/.aws/sso/cache`), as JSON `{"access_key": …, "secret_key": …}`.
const NATIVE_SSO_CREDS: &str = r#"
import json, logging, sys
import boto3
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
logging.getLogger("botocore").setLevel(logging.INFO)
creds = boto3.Session(profile_name=sys.argv[1]).get_credentials()
frozen = creds.get_frozen_credentials()
print(json.dumps({"method": creds.method, "access_key": frozen.access_key,
                  "secret_key": frozen.secret_key}))
"#;

/// Runs boto3 on a native SSO profile of the World's `~/.aws/config` and returns what it got
/// (asserting the script succeeded).
#[track_caller]
pub fn boto3_native_creds(w: &World, python: &str, profile: &str) -> (serde_json::Value, Out) {
    let out = run_python(w, python, "native_sso.py", NATIVE_SSO_CREDS, &[profile]);
    out.assert_ok();
    let v = serde_json::from_str(out.stdout.trim())
        .unwrap_or_else(|e| panic!("boto3 script output is not JSON ({e}):\n{out:?}"));
    (v, out)
}

/// Whether a cache timestamp has the AWS CLI's exact form `YYYY-MM-DDTHH:MM:SSZ`.
pub fn is_cli_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}
