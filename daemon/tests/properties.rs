//! Property tests of the daemon's parsers of files a user (or another tool) writes:
//!
//! * the `~/.aws/config` resolver: any INI-ish text gives a profile or a one-line
//!   `Error::Config`, never a panic;
//! * the AWS CLI token cache (`~/.aws/sso/cache/<sha1>.json`): any bytes read back as a token or
//!   a `Corrupt` error, never a panic; what we write reads back exactly.
//!
//! `AwsConfig` only reads its file through the environment (`AWS_CONFIG_FILE`, `HOME`), which a
//! test must not change while other tests' threads run. So the config property runs in a child
//! process: [`config_resolver_never_panics`] starts this test binary again for the one ignored
//! test [`config_resolver_child`], with the environment set at spawn time (no `set_var`).

use std::{
    fs,
    io::Write,
    os::unix::fs::OpenOptionsExt,
    path::Path,
    process::Command,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use proptest::prelude::*;
use ssoagentd::{
    error::Error,
    profiles::AwsConfig,
    secret::Secret,
    store::{
        RegisteredFlow, Registration, StoreError, StoredSession, Token,
        cli_cache::{self, CliCache},
    },
};

// ----- the ~/.aws/config resolver -----

/// Set (to the config file's path) only in the child process the parent test starts.
const CHILD_MARKER: &str = "SSOAGENTD_PROPERTIES_CONFIG_CHILD";

/// Names that sections and references share, so generated files have profiles pointing at
/// sessions and at each other (chains, cycles, dangling references).
const NAMES: &[&str] = &[
    "dev",
    "prod",
    "a",
    "b",
    "work",
    "default",
    "x y",
    "dev.ops/1",
    "",
    "профиль",
];

const KEYS: &[&str] = &[
    "sso_session",
    "sso_start_url",
    "sso_region",
    "sso_account_id",
    "sso_role_name",
    "sso_registration_scopes",
    "ssoagent_session",
    "ssoagent_account_id",
    "ssoagent_role_name",
    "role_arn",
    "source_profile",
    "role_session_name",
    "external_id",
    "duration_seconds",
    "credential_process",
    "region",
    "mfa_serial",
    "credential_source",
    "web_identity_token_file",
    "s3",
];

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(NAMES).prop_map(str::to_string),
        1 => "\\PC{0,12}",
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => name(),
        1 => Just("https://work.awsapps.com/start".to_string()),
        1 => Just("us-east-1".to_string()),
        1 => Just("111111111111".to_string()),
        1 => Just("ReadOnly".to_string()),
        1 => Just("arn:aws:iam::222222222222:role/Deploy".to_string()),
        1 => "-?[0-9]{1,12}",
        1 => Just("ssoagent-cred --profile dev".to_string()),
        1 => Just("sso:account:access, ,".to_string()),
        2 => "\\PC{0,24}",
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        5 => proptest::sample::select(KEYS).prop_map(str::to_string),
        1 => "[a-zA-Z_.-]{1,12}",
    ]
}

fn header() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => name().prop_map(|n| format!("[profile {n}]")),
        4 => name().prop_map(|n| format!("[sso-session {n}]")),
        1 => name().prop_map(|n| format!("[{n}]")),
        1 => name().prop_map(|n| format!("[ profile  {n} ]")),
        1 => name().prop_map(|n| format!("[profile {n}")),
        1 => name().prop_map(|n| format!("[profile {n}] # trailing comment")),
    ]
}

/// A property, sometimes continued on following lines (an indented line appends to the value
/// with a newline; after an empty value, indented lines are sub-properties).
fn property() -> impl Strategy<Value = String> {
    let continuation = prop_oneof![
        value().prop_map(|v| format!("  {v}")),
        (key(), value()).prop_map(|(k, v)| format!("  {k} = {v}")),
        value().prop_map(|v| format!("\t{v}")),
    ];
    (
        prop_oneof![
            8 => (key(), value()).prop_map(|(k, v)| format!("{k} = {v}")),
            1 => (key(), value()).prop_map(|(k, v)| format!("{k}={v}")),
            1 => key().prop_map(|k| format!("{k} =")),
        ],
        proptest::collection::vec(continuation, 0..3),
        0..4u8,
    )
        .prop_map(|(first, more, keep)| {
            // Continuations in a quarter of the properties.
            if keep == 0 {
                std::iter::once(first)
                    .chain(more)
                    .collect::<Vec<_>>()
                    .join("\n")
            } else {
                first
            }
        })
}

/// A line that is not part of a well-formed section.
fn stray_line() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just("# a comment".to_string()),
        1 => Just("; another = comment".to_string()),
        1 => Just(String::new()),
        1 => value().prop_map(|v| format!("  {v}")),
        1 => "\\PC{0,40}",
        1 => any::<String>(),
    ]
}

/// A section shaped like one the daemon serves (native, self-contained, legacy, chained, or an
/// `[sso-session]`), with generated values, some continued on the next line.
fn shaped_block() -> impl Strategy<Value = String> {
    const SHAPES: &[(&str, &[&str])] = &[
        (
            "profile",
            &["sso_session", "sso_account_id", "sso_role_name", "region"],
        ),
        (
            "profile",
            &[
                "ssoagent_session",
                "ssoagent_account_id",
                "ssoagent_role_name",
                "credential_process",
            ],
        ),
        (
            "profile",
            &[
                "sso_start_url",
                "sso_region",
                "sso_account_id",
                "sso_role_name",
            ],
        ),
        (
            "profile",
            &[
                "role_arn",
                "source_profile",
                "duration_seconds",
                "role_session_name",
                "region",
            ],
        ),
        (
            "sso-session",
            &["sso_start_url", "sso_region", "sso_registration_scopes"],
        ),
    ];
    let continued =
        (value(), proptest::option::weighted(0.2, value())).prop_map(|(v, more)| match more {
            Some(m) => format!("{v}\n  {m}"),
            None => v,
        });
    (
        proptest::sample::select(SHAPES),
        name(),
        proptest::collection::vec(continued, 5),
        proptest::collection::vec(any::<bool>(), 5),
    )
        .prop_map(|((kind, keys), n, values, keep)| {
            let mut s = format!("[{kind} {n}]");
            for ((k, v), keep) in keys.iter().zip(values).zip(keep) {
                // Drop about one key in five.
                if keep || k.len() % 5 != 0 {
                    s += &format!("\n{k} = {v}");
                }
            }
            s
        })
}

fn block() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => shaped_block(),
        6 => (header(), proptest::collection::vec(property(), 0..7)).prop_map(|(h, props)| {
            std::iter::once(h).chain(props).collect::<Vec<_>>().join("\n")
        }),
        1 => stray_line(),
    ]
}

fn ini_text() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(block(), 0..10),
        prop_oneof![Just("\n"), Just("\r\n")],
    )
        .prop_map(|(blocks, eol)| {
            let mut s = blocks.join("\n").replace('\n', eol);
            s.push_str(eol);
            s
        })
}

/// Either a profile or a config error worded on one line.
fn check_config_outcome<T>(what: &str, r: Result<T, Error>) -> Result<(), TestCaseError> {
    match r {
        Ok(_) => Ok(()),
        Err(Error::Config(m)) => {
            prop_assert!(!m.trim().is_empty(), "{what}: an empty config error");
            prop_assert!(
                !m.contains('\n'),
                "{what}: a config error must be one line for the client to print: {m:?}"
            );
            Ok(())
        }
        Err(e) => Err(TestCaseError::fail(format!(
            "{what}: expected a profile or Error::Config, got {e:?}"
        ))),
    }
}

/// Files worth checking every run: (text, profile to ask for).
fn known_hostile_configs() -> Vec<(String, String)> {
    let session = "[sso-session work]\nsso_start_url = https://work.awsapps.com/start\nsso_region = us-east-1\n";
    let mut long_chain = session.to_string();
    long_chain +=
        "[profile p0]\nssoagent_session = work\nssoagent_account_id = 1\nssoagent_role_name = R\n";
    for i in 1..40 {
        long_chain += &format!(
            "[profile p{i}]\nrole_arn = arn:aws:iam::1:role/R\nsource_profile = p{}\n",
            i - 1
        );
    }
    let cases = [
        // A value continued on the next line holds a newline.
        (
            format!(
                "{session}[profile dev]\nsso_session = work\n  more\nsso_account_id = 1\nsso_role_name = R\n"
            ),
            "dev",
        ),
        (
            format!(
                "{session}[profile c]\nrole_arn = arn:aws:iam::1:role/R\nsource_profile = dev\nduration_seconds = 3600\n  oops\n[profile dev]\nsso_session = work\nsso_account_id = 1\nsso_role_name = R\n"
            ),
            "c",
        ),
        (
            format!(
                "{session}[profile dev]\nssoagent_session = work\nssoagent_account_id = 1\n  2\nssoagent_role_name = R\n"
            ),
            "dev",
        ),
        // Cycles, a self-reference and a chain longer than the daemon follows.
        (
            format!(
                "{session}[profile a]\nrole_arn = arn:aws:iam::1:role/R\nsource_profile = b\n[profile b]\nrole_arn = arn:aws:iam::1:role/R\nsource_profile = a\n"
            ),
            "a",
        ),
        (
            format!("{session}[profile a]\nrole_arn = arn:aws:iam::1:role/R\nsource_profile = a\n"),
            "a",
        ),
        (long_chain, "p39".to_string().leak()),
        // Duplicate sections, odd names, a missing session, no sections at all.
        (
            format!(
                "{session}{session}[profile dev]\nsso_session = work\n[profile dev]\nsso_account_id = 1\nsso_role_name = R\n"
            ),
            "dev",
        ),
        (
            format!(
                "{session}[profile d\u{e9}v \"'$(x)]\nsso_session = work\nsso_account_id = 1\nsso_role_name = R\n"
            ),
            "d\u{e9}v \"'$(x)",
        ),
        (
            "[profile dev]\nsso_session = nowhere\nsso_account_id = 1\nsso_role_name = R\n"
                .to_string(),
            "dev",
        ),
        ("sso_region = us-east-1\n= value\n".to_string(), "default"),
    ];
    cases.into_iter().map(|(t, p)| (t, p.to_string())).collect()
}

#[test]
fn config_resolver_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "config_resolver_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_MARKER, &config)
        .env("AWS_CONFIG_FILE", &config)
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.path().join("credentials"),
        )
        .env("HOME", dir.path())
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_DEFAULT_PROFILE")
        .output()
        .expect("run the child test");
    let text = format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the child property test failed:\n{text}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "the child did not run the property:\n{text}"
    );
}

/// Run by [`config_resolver_never_panics`] in a child process whose environment points
/// `AWS_CONFIG_FILE` and `HOME` at a temp dir; does nothing when run any other way (it must
/// never write to a real `~/.aws/config`).
#[test]
#[ignore = "run in a child process by config_resolver_never_panics"]
fn config_resolver_child() {
    let Some(path) = std::env::var_os(CHILD_MARKER) else {
        eprintln!("not started by config_resolver_never_panics; nothing to do");
        return;
    };
    assert_eq!(
        std::env::var_os("AWS_CONFIG_FILE").as_ref(),
        Some(&path),
        "the child's environment must point AWS_CONFIG_FILE at the temp file"
    );
    let path = std::path::PathBuf::from(path);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Hand-picked hostile files first, so they are always covered.
    for (i, (text, profile)) in known_hostile_configs().iter().enumerate() {
        fs::write(&path, text).unwrap();
        let config = AwsConfig::from_env();
        rt.block_on(async {
            check_config_outcome("profile", config.profile(profile).await)?;
            check_config_outcome("profiles", config.profiles().await)?;
            check_config_outcome("sessions", config.sessions().await)?;
            Ok::<(), TestCaseError>(())
        })
        .unwrap_or_else(|e| panic!("hostile config #{i} ({profile:?}):\n{text}\n{e}"));
    }
    proptest!(ProptestConfig::with_cases(512), |(text in ini_text(), profile in name(), session in name())| {
        fs::write(&path, &text).unwrap();
        // A fresh AwsConfig per case: its cache is keyed by mtime and size.
        let config = AwsConfig::from_env();
        prop_assert_eq!(config.path(), path.as_path());
        rt.block_on(async {
            check_config_outcome("profile", config.profile(&profile).await)?;
            // Every name the generator uses, so references between sections are followed.
            for n in NAMES {
                check_config_outcome("profile", config.profile(n).await)?;
            }
            check_config_outcome("session", config.session(&session).await)?;
            check_config_outcome("sessions", config.sessions().await)?;
            check_config_outcome("profiles", config.profiles().await)?;
            Ok::<(), TestCaseError>(())
        })?;
    });
    // Not INI text at all: arbitrary bytes, invalid UTF-8 included.
    proptest!(ProptestConfig::with_cases(256), |(bytes in proptest::collection::vec(any::<u8>(), 0..512), profile in name())| {
        fs::write(&path, &bytes).unwrap();
        let config = AwsConfig::from_env();
        rt.block_on(async {
            check_config_outcome("profile", config.profile(&profile).await)?;
            check_config_outcome("profiles", config.profiles().await)?;
            Ok::<(), TestCaseError>(())
        })?;
    });
}

// ----- the AWS CLI token cache -----

/// Writes `bytes` where `CliCache::read(session)` looks, private as the reader requires.
fn put_cache_file(cache: &CliCache, session: &str, bytes: &[u8]) {
    let path = cache.path(session);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .unwrap();
    f.write_all(bytes).unwrap();
}

/// A read of a file that exists: a token, or `Corrupt` (never a panic, never another error).
fn check_read(cache: &CliCache, session: &str) -> Result<Option<String>, TestCaseError> {
    match cache.read(session) {
        Ok(Some(c)) => Ok(Some(c.token.access_token.expose().to_string())),
        Ok(None) => Err(TestCaseError::fail("the file is there; read gave None")),
        Err(StoreError::Corrupt { message, .. }) => {
            prop_assert!(!message.is_empty());
            Ok(None)
        }
        Err(e) => Err(TestCaseError::fail(format!("unexpected error: {e}"))),
    }
}

fn json_scalar() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        time_string().prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    json_scalar().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            proptest::collection::btree_map("[a-zA-Z]{0,6}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Strings shaped like the timestamps the AWS tools write, valid or nearly so.
fn time_string() -> impl Strategy<Value = String> {
    (
        0u32..=10000,
        0u32..=13,
        0u32..=32,
        0u32..=25,
        0u32..=61,
        0u32..=61,
        prop_oneof![
            Just("Z"),
            Just("+00:00"),
            Just("UTC"),
            Just(".123Z"),
            Just("+01:00"),
            Just("")
        ],
    )
        .prop_map(|(y, mo, d, h, mi, s, suffix)| {
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{suffix}")
        })
}

const FIELDS: &[&str] = &[
    "startUrl",
    "region",
    "accessToken",
    "expiresAt",
    "clientId",
    "clientSecret",
    "registrationExpiresAt",
    "refreshToken",
];

/// A JSON object with (some of) the cache file's fields, of any JSON type.
fn cache_json() -> impl Strategy<Value = serde_json::Value> {
    proptest::collection::vec(
        (
            prop_oneof![
                6 => proptest::sample::select(FIELDS).prop_map(str::to_string),
                1 => "[a-zA-Z]{1,8}",
            ],
            prop_oneof![3 => json_scalar(), 1 => json_value()],
        ),
        0..10,
    )
    .prop_map(|kv| serde_json::Value::Object(kv.into_iter().collect()))
}

/// Whole seconds the AWS CLI format can hold: 1970 to the end of 9999.
fn cli_time() -> impl Strategy<Value = SystemTime> {
    (0u64..253_402_300_800).prop_map(|s| UNIX_EPOCH + Duration::from_secs(s))
}

fn stored_session() -> impl Strategy<Value = StoredSession> {
    let token = (
        any::<String>(),
        cli_time(),
        proptest::option::of(any::<String>()),
    )
        .prop_map(|(at, exp, rt)| Token {
            access_token: Secret::new(at),
            expires_at: exp,
            refresh_token: rt.map(Secret::new),
        });
    let registration =
        (any::<String>(), any::<String>(), cli_time()).prop_map(|(id, s, exp)| Registration {
            client_id: id,
            client_secret: Secret::new(s),
            expires_at: exp,
            flow: RegisteredFlow::Device,
            scopes: vec!["sso:account:access".into()],
        });
    (
        any::<String>(),
        any::<String>(),
        any::<String>(),
        token,
        proptest::option::of(registration),
    )
        .prop_map(
            |(session, start_url, region, token, registration)| StoredSession {
                session,
                start_url,
                region,
                token: Some(token),
                registration,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn cli_cache_read_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let home = tempfile::tempdir().unwrap();
        let cache = CliCache::new(home.path());
        put_cache_file(&cache, "work", &bytes);
        check_read(&cache, "work")?;
    }

    #[test]
    fn cli_cache_read_never_panics_on_json(v in cache_json()) {
        let home = tempfile::tempdir().unwrap();
        let cache = CliCache::new(home.path());
        put_cache_file(&cache, "work", v.to_string().as_bytes());
        let read = check_read(&cache, "work")?;
        if let Some(token) = read {
            // Read only when the token is there, a string, with a time the AWS tools write.
            prop_assert_eq!(Some(token.as_str()), v["accessToken"].as_str());
            let exp = v["expiresAt"].as_str();
            prop_assert!(exp.and_then(cli_cache::parse_time).is_some(), "expiresAt {:?}", exp);
        }
    }

    #[test]
    fn cli_cache_round_trips(s in stored_session()) {
        let home = tempfile::tempdir().unwrap();
        let cache = CliCache::new(home.path());
        cache.write(&s).unwrap();
        let back = cache.read(&s.session).unwrap().expect("just written");
        prop_assert_eq!(back.start_url.as_deref(), Some(s.start_url.as_str()));
        prop_assert_eq!(&back.token, s.token.as_ref().unwrap());
        match (&back.registration, &s.registration) {
            (None, None) => {}
            (Some(b), Some(r)) => {
                prop_assert_eq!(&b.client_id, &r.client_id);
                prop_assert_eq!(&b.client_secret, &r.client_secret);
                prop_assert_eq!(b.expires_at, r.expires_at);
            }
            (b, r) => prop_assert!(false, "registration {:?} read back as {:?}", r, b),
        }
        // The file is the AWS CLI's: camelCase fields and `...Z` times to the second.
        let text = fs::read_to_string(cache.path(&s.session)).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(v["expiresAt"].as_str().unwrap(), cli_cache::format_time(s.token.unwrap().expires_at));
        prop_assert!(v["expiresAt"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn cli_time_format_and_parse_agree(t in cli_time()) {
        let s = cli_cache::format_time(t);
        prop_assert_eq!(cli_cache::parse_time(&s), Some(t));
        let offset = s.replace('Z', "+00:00");
        prop_assert_eq!(cli_cache::parse_time(&offset), Some(t));
    }

    #[test]
    fn cli_time_parse_never_panics(s in prop_oneof![any::<String>(), time_string()]) {
        if let Some(t) = cli_cache::parse_time(&s) {
            // Whatever parses can be written back.
            let _ = cli_cache::format_time(t);
        }
    }
}

/// Deep nesting is refused by the JSON parser's recursion limit, not by a stack overflow.
#[test]
fn cli_cache_deeply_nested_json_is_corrupt() {
    let home = tempfile::tempdir().unwrap();
    let cache = CliCache::new(home.path());
    let deep = format!("{{\"accessToken\":{}", "[".repeat(200_000));
    put_cache_file(&cache, "work", deep.as_bytes());
    assert!(matches!(
        cache.read("work"),
        Err(StoreError::Corrupt { .. })
    ));
}

/// A file that is not there is no token, not an error.
#[test]
fn cli_cache_missing_file_is_none() {
    let home = tempfile::tempdir().unwrap();
    let cache = CliCache::new(home.path());
    assert!(cache.read("work").unwrap().is_none());
    assert!(!Path::new(&cache.path("work")).exists());
}
