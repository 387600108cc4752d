//! `status`, `accounts` and `stop`: reading the daemon's state and showing it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;
use ssoagent_client::{exit, proto};

use crate::{daemon, daemon::Failure};

/// A Unix time as "2026-11-26 10:00:00 UTC (in 55m)".
pub fn when(secs: i64) -> String {
    if secs <= 0 {
        return "-".into();
    }
    let t = UNIX_EPOCH + Duration::from_secs(secs as u64);
    let stamp = humantime::format_rfc3339_seconds(t)
        .to_string()
        .replace('T', " ")
        .replace('Z', " UTC");
    let now = SystemTime::now();
    let rel = match t.duration_since(now) {
        Ok(d) => format!("in {}", short(d)),
        Err(e) => format!("{} ago", short(e.duration())),
    };
    format!("{stamp} ({rel})")
}

fn short(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
    }
}

pub async fn status(as_json: bool) -> Result<(), Failure> {
    let mut client = daemon::connect().await?;
    let s = client.status(proto::StatusRequest {}).await?.into_inner();
    if s.protocol != ssoagent_proto::PROTOCOL_VERSION {
        eprintln!(
            "warning: ssoagentd speaks protocol {}, this ssoagentctl speaks {}; restart it: ssoagentctl restart",
            s.protocol,
            ssoagent_proto::PROTOCOL_VERSION
        );
    }
    if as_json {
        let v = json!({
            "version": s.version,
            "protocol": s.protocol,
            "pid": s.pid,
            "store": s.store,
            "log_file": s.log_file,
            "config_file": s.config_file,
            "config_error": s.config_error,
            "problems": s.problems.iter().map(|p| json!({"profile": p.profile, "message": p.message})).collect::<Vec<_>>(),
            "clock_skew_seconds": s.clock_skew_known.then_some(s.clock_skew_seconds),
            "sessions": s.sessions.iter().map(|x| json!({
                "name": x.name,
                "start_url": x.start_url,
                "region": x.region,
                "state": x.state().label(),
                "token_expires_at": nonzero(x.token_expires_at),
                "unlocked_until": nonzero(x.unlocked_until),
                "refreshable": x.refreshable,
                "profiles": x.profiles.iter().map(|p| json!({
                    "name": p.name,
                    "account_id": p.account_id,
                    "role_name": p.role_name,
                    "credentials_expire_at": nonzero(p.credentials_expire_at),
                    "role_arn": p.role_arn,
                    "source_profile": p.source_profile,
                    "verified_at": nonzero(p.verified_at),
                    "verified_arn": p.verified_arn,
                    "warning": p.warning,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
        return Ok(());
    }
    println!(
        "ssoagentd {} (protocol {}, pid {}), tokens in the {} store",
        s.version, s.protocol, s.pid, s.store
    );
    println!("config: {}", s.config_file);
    if !s.log_file.is_empty() {
        println!("log: {}", s.log_file);
    }
    if !s.config_error.is_empty() {
        println!("\nconfig error: {}", s.config_error);
    }
    for p in &s.problems {
        println!("problem: profile {}: {}", p.profile, p.message);
    }
    if s.sessions.is_empty() && s.config_error.is_empty() {
        println!(
            "\nno SSO sessions configured; add an [sso-session NAME] section to {}",
            s.config_file
        );
    }
    for x in &s.sessions {
        println!("\nsession {}: {}", x.name, x.state().label());
        println!("  start URL: {} ({})", x.start_url, x.region);
        if x.unlocked_until > 0 {
            println!("  unlocked until: {}", when(x.unlocked_until));
        } else if x.state() == proto::SessionState::Unlocked {
            println!("  unlocked until: the SSO session ends");
        }
        if x.token_expires_at > 0 {
            println!(
                "  token expires: {}{}",
                when(x.token_expires_at),
                if x.refreshable { ", refreshable" } else { "" }
            );
        }
        if matches!(
            x.state(),
            proto::SessionState::Locked | proto::SessionState::Expired
        ) {
            println!("  unlock with: ssoagentctl unlock {}", x.name);
        }
        for p in &x.profiles {
            let creds = if p.credentials_expire_at > 0 {
                format!("credentials expire {}", when(p.credentials_expire_at))
            } else {
                "no cached credentials".into()
            };
            println!(
                "  profile {}: {}/{}, {creds}",
                p.name, p.account_id, p.role_name
            );
            if !p.source_profile.is_empty() {
                println!(
                    "    assumes {} from profile {}",
                    p.role_arn, p.source_profile
                );
            }
            if p.verified_at > 0 {
                println!("    verified {} as {}", when(p.verified_at), p.verified_arn);
            }
            if !p.warning.is_empty() {
                println!("    warning: {}", p.warning);
            }
        }
    }
    Ok(())
}

fn nonzero(t: i64) -> serde_json::Value {
    if t > 0 {
        json!(t)
    } else {
        serde_json::Value::Null
    }
}

pub async fn accounts(
    session: Option<String>,
    as_json: bool,
    autostart: bool,
) -> Result<(), Failure> {
    let mut client = daemon::connect_or_start(autostart).await?;
    let r = client
        .list_accounts(proto::ListAccountsRequest {
            session: session.unwrap_or_default(),
        })
        .await?
        .into_inner();
    if as_json {
        let v = json!({
            "session": r.session,
            "accounts": r.accounts.iter().map(|a| json!({
                "account_id": a.account_id,
                "account_name": a.account_name,
                "email": a.email,
                "roles": a.roles,
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
        return Ok(());
    }
    println!("session {}: {} accounts", r.session, r.accounts.len());
    for a in &r.accounts {
        println!("{}  {}  <{}>", a.account_id, a.account_name, a.email);
        for role in &a.roles {
            println!("    {role}");
        }
    }
    Ok(())
}

/// Sends SIGTERM to the daemon that answers on the socket and waits until it is gone.
pub async fn stop() -> Result<(), Failure> {
    let mut client = daemon::connect().await?;
    let s = client.status(proto::StatusRequest {}).await?.into_inner();
    // SAFETY: kill with a pid the daemon reported for itself.
    let rc = unsafe { libc::kill(s.pid as libc::pid_t, libc::SIGTERM) };
    if rc != 0 {
        return Err(Failure::new(
            exit::FAILED,
            format!(
                "cannot stop ssoagentd (pid {}): {}",
                s.pid,
                std::io::Error::last_os_error()
            ),
        ));
    }
    for _ in 0..250 {
        if daemon::connect().await.is_err() {
            println!("ssoagentd (pid {}) stopped", s.pid);
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Err(Failure::new(
        exit::FAILED,
        format!("ssoagentd (pid {}) did not stop within 5 s", s.pid),
    ))
}
