//! `unlock --profile P` for a profile whose chain has a role hop with `mfa_serial`: once its
//! session issues, the code a human types at the terminal (`/dev/tty`, never stdin) or gives
//! with `--mfa-code` assumes that hop; the daemon caches the credentials for their life. A valid
//! code is proof of presence by itself: no `[y/N]` is asked for it.

use ssoagent_client::{AgentClient, exit, proto};

use crate::{display::escape_controls, failure::Failure, times::when, tty};

/// The profile's MFA hop and its state; `None` when its chain has none.
pub async fn probe(
    client: &mut AgentClient,
    profile: &str,
) -> Result<Option<proto::MfaInfo>, Failure> {
    let info = client
        .mfa_status(proto::MfaStatusRequest {
            profile: profile.to_string(),
        })
        .await?
        .into_inner();
    Ok((!info.mfa_serial.is_empty()).then_some(info))
}

/// Assumes the MFA hop with `code`, or one asked at the terminal, unless it still has
/// MFA-backed credentials and no code was given.
pub async fn unlock(
    client: &mut AgentClient,
    profile: &str,
    info: &proto::MfaInfo,
    code: Option<String>,
) -> Result<(), Failure> {
    let hop = escape_controls(&info.profile);
    let serial = escape_controls(&info.mfa_serial);
    if code.is_none() && info.credentials_expire_at > 0 {
        println!(
            "profile '{hop}' has MFA-backed credentials until {} (no code needed; lock drops them)",
            when(info.credentials_expire_at)
        );
        return Ok(());
    }
    let code = match code {
        Some(c) => c,
        None => ask_code(&hop, &serial).await?,
    };
    let done = client
        .unlock_mfa(proto::UnlockMfaRequest {
            profile: profile.to_string(),
            code,
        })
        .await?
        .into_inner();
    println!(
        "profile '{hop}' unlocked with MFA device {serial} until {}",
        when(done.credentials_expire_at)
    );
    Ok(())
}

/// The code, typed at the controlling terminal. No terminal is exit 3: robots cannot type one.
async fn ask_code(hop: &str, serial: &str) -> Result<String, Failure> {
    let prompt = format!("MFA code for {serial} (profile '{hop}'): ");
    let hint = format!("profile '{hop}' needs a code from its MFA device; nothing changed");
    let ask = tokio::task::spawn_blocking(move || {
        tty::ask(
            &prompt,
            "a human must type the MFA code at a terminal",
            &hint,
        )
    });
    tokio::select! {
        a = ask => a.map_err(|e| Failure::new(exit::FAILED, e.to_string()))?,
        _ = tokio::signal::ctrl_c() => Err(Failure::new(130, "cancelled; nothing changed")),
    }
}
