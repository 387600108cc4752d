//! `exec --ecs --profile P -- CMD ARGS...`: runs a program against the daemon's
//! container-credentials endpoint instead of fixed keys, so its SDK refreshes on its own. The
//! grant is held by this process's stream to the daemon: it ends when the program exits, when
//! this process is signalled (the signal is passed on to the program) or when it dies.

use std::process::Stdio;

use tokio::signal::unix::{SignalKind, signal};

use super::ecs::{AUTH_TOKEN, FULL_URI, SHADOWING, request};
use crate::failure::Failure;

/// Runs the program with the endpoint's variables; its exit code is ours (128 + N when a
/// signal N ended it).
pub async fn run(
    profile: &str,
    program: &str,
    args: &[String],
    autostart: bool,
) -> Result<(), Failure> {
    let (grant, stream) = request(profile, None, true, autostart).await?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit());
    for var in SHADOWING {
        cmd.env_remove(var);
    }
    cmd.env(FULL_URI, &grant.url).env(AUTH_TOKEN, &grant.token);
    if !grant.region.is_empty() {
        cmd.env("AWS_REGION", &grant.region)
            .env("AWS_DEFAULT_REGION", &grant.region);
    }
    cmd.env("SSOAGENT_PROFILE", profile);
    let mut child = cmd.spawn().map_err(|e| {
        let code = if e.kind() == std::io::ErrorKind::NotFound {
            127
        } else {
            126
        };
        Failure::new(code, format!("cannot run {program}: {e}"))
    })?;
    let pid = child.id().map(|p| p as libc::pid_t);
    let kinds = [
        SignalKind::interrupt(),
        SignalKind::terminate(),
        SignalKind::hangup(),
    ];
    let mut sigs = Vec::new();
    for k in kinds {
        sigs.push((
            k,
            signal(k).map_err(|e| Failure::new(1, format!("cannot handle signals: {e}")))?,
        ));
    }
    let status = loop {
        let [(k0, s0), (k1, s1), (k2, s2)] = &mut sigs[..] else {
            unreachable!("three signals")
        };
        let got = tokio::select! {
            st = child.wait() => break st,
            _ = s0.recv() => *k0,
            _ = s1.recv() => *k1,
            _ = s2.recv() => *k2,
        };
        if let Some(pid) = pid {
            // SAFETY: kill on our own child's pid, which is not reaped before wait() returns.
            unsafe { libc::kill(pid, got.as_raw_value()) };
        }
    };
    // The grant ends here, with the stream.
    drop(stream);
    let status = status.map_err(|e| Failure::new(1, format!("waiting for {program}: {e}")))?;
    use std::os::unix::process::ExitStatusExt;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    if code == 0 {
        return Ok(());
    }
    Err(Failure::new(code, String::new()))
}
