//! `exec --ecs --profile P -- CMD ARGS...`: runs a program against the daemon's
//! container-credentials endpoint instead of fixed keys, so its SDK refreshes on its own. The
//! grant is held by this process's stream to the daemon: it ends when the program exits, or
//! when this process dies (the daemon sees the connection close). SIGTERM is passed on to the
//! program; terminal signals (Ctrl-C, hangup, quit) reach it from the terminal directly (it is
//! in our process group), so they are not sent twice (a second Ctrl-C means "force" to some).

use std::process::Stdio;

#[cfg(unix)]
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
    let status = wait_passing_signals(&mut child).await;
    // The grant ends here, with the stream.
    drop(stream);
    let status = status?;
    #[cfg(unix)]
    let code = {
        use std::os::unix::process::ExitStatusExt;
        status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
    };
    #[cfg(not(unix))]
    let code = status.code().unwrap_or(1);
    if code == 0 {
        return Ok(());
    }
    Err(Failure::new(code, String::new()))
}

/// Waits for the program; passes SIGTERM on and outlives SIGINT, SIGHUP and SIGQUIT, which
/// the terminal sent the program too.
#[cfg(unix)]
async fn wait_passing_signals(
    child: &mut tokio::process::Child,
) -> Result<std::process::ExitStatus, Failure> {
    let pid = child.id().map(|p| p as libc::pid_t);
    let on = |k: SignalKind| {
        signal(k).map_err(|e| Failure::new(1, format!("cannot handle signals: {e}")))
    };
    let mut term = on(SignalKind::terminate())?;
    let mut int = on(SignalKind::interrupt())?;
    let mut hup = on(SignalKind::hangup())?;
    let mut quit = on(SignalKind::quit())?;
    loop {
        tokio::select! {
            st = child.wait() => {
                return st.map_err(|e| Failure::new(1, format!("waiting for the program: {e}")));
            }
            _ = term.recv() => {
                if let Some(pid) = pid {
                    // SAFETY: kill on our own child's pid, not reaped before wait() returns.
                    unsafe { libc::kill(pid, libc::SIGTERM) };
                }
            }
            _ = int.recv() => {}
            _ = hup.recv() => {}
            _ = quit.recv() => {}
        }
    }
}

/// Windows: Ctrl-C reaches the program through the shared console; this process outlives it
/// (the runtime's default handler is not installed) and waits.
#[cfg(not(unix))]
async fn wait_passing_signals(
    child: &mut tokio::process::Child,
) -> Result<std::process::ExitStatus, Failure> {
    child
        .wait()
        .await
        .map_err(|e| Failure::new(1, format!("waiting for the program: {e}")))
}
