//! `status [--json]`: the daemon, every session's state and cached credentials.

use serde_json::json;
use ssoagent_client::proto;

use crate::{daemon, display::escape_controls as esc, failure::Failure, times::when};

pub async fn run(as_json: bool) -> Result<(), Failure> {
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
        print_json(&s);
    } else {
        print_text(&s);
    }
    Ok(())
}

fn print_json(s: &proto::StatusResponse) {
    let v = json!({
        "version": s.version,
        "protocol": s.protocol,
        "pid": s.pid,
        "store": s.store,
        "presence": s.presence,
        "log_file": s.log_file,
        "config_file": s.config_file,
        "config_error": s.config_error,
        "problems": s.problems.iter().map(|p| json!({"profile": p.profile, "message": p.message})).collect::<Vec<_>>(),
        "clock_skew_seconds": s.clock_skew_known.then_some(s.clock_skew_seconds),
        "pending": s.pending.iter().map(|p| json!({
            "id": p.id,
            "profile": p.profile,
            "caller": {"pid": p.pid, "exe": p.exe},
            "caller_pid": p.caller_pid,
            "since": p.since,
            "rule": p.rule,
            "rule_text": p.rule_text,
        })).collect::<Vec<_>>(),
        "sessions": s.sessions.iter().map(|x| json!({
            "name": x.name,
            "kind": kind(x),
            "issuer": (x.kind() == proto::SessionKind::Oidc).then_some(&x.start_url),
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
}

/// The daemon's answer as text. Every string in it may come from a config file or the SSO
/// portal, so each is shown with control characters escaped.
fn print_text(s: &proto::StatusResponse) {
    println!(
        "ssoagentd {} (protocol {}, pid {}), tokens in the {} store",
        esc(&s.version),
        s.protocol,
        s.pid,
        esc(&s.store)
    );
    println!("presence: {}", presence(&esc(&s.presence)));
    println!("config: {}", esc(&s.config_file));
    if !s.log_file.is_empty() {
        println!("log: {}", esc(&s.log_file));
    }
    if !s.config_error.is_empty() {
        println!("\nconfig error: {}", esc(&s.config_error));
    }
    for p in &s.problems {
        println!("problem: profile {}: {}", esc(&p.profile), esc(&p.message));
    }
    if s.sessions.is_empty() && s.config_error.is_empty() {
        println!(
            "\nno SSO sessions configured; add an [sso-session NAME] section to {}",
            esc(&s.config_file)
        );
    }
    for x in &s.sessions {
        print_session(x);
    }
    print_pending(&s.pending);
}

/// Requests waiting under a `confirm` rule, with the command that lets each through.
fn print_pending(pending: &[proto::PendingRequest]) {
    if pending.is_empty() {
        return;
    }
    println!(
        "
waiting for approval:"
    );
    for p in pending {
        println!(
            "  {}: profile {} for {} (pid {}) since {} (rule {}); approve with: ssoagentctl approve {}",
            esc(&p.id),
            esc(&p.profile),
            esc(&p.exe),
            p.pid,
            when(p.since),
            p.rule,
            esc(&p.id)
        );
    }
}

fn print_session(x: &proto::SessionStatus) {
    if x.kind() == proto::SessionKind::Oidc {
        println!("\nprovider {} (oidc): {}", esc(&x.name), x.state().label());
        println!("  issuer: {}", esc(&x.start_url));
    } else {
        println!("\nsession {}: {}", esc(&x.name), x.state().label());
        println!("  start URL: {} ({})", esc(&x.start_url), esc(&x.region));
    }
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
        println!("  unlock with: ssoagentctl unlock {}", esc(&x.name));
    }
    for p in &x.profiles {
        print_profile(p);
    }
}

fn print_profile(p: &proto::ProfileStatus) {
    let creds = if p.credentials_expire_at > 0 {
        format!("credentials expire {}", when(p.credentials_expire_at))
    } else {
        "no cached credentials".into()
    };
    println!(
        "  profile {}: {}/{}, {creds}",
        esc(&p.name),
        esc(&p.account_id),
        esc(&p.role_name)
    );
    if !p.source_profile.is_empty() {
        println!(
            "    assumes {} from profile {}",
            esc(&p.role_arn),
            esc(&p.source_profile)
        );
    }
    if p.verified_at > 0 {
        println!(
            "    verified {} as {}",
            when(p.verified_at),
            esc(&p.verified_arn)
        );
    }
    if !p.warning.is_empty() {
        println!("    warning: {}", esc(&p.warning));
    }
}

/// The presence mode, with what it means for an unlock without a login.
fn presence(mode: &str) -> String {
    let meaning = match mode {
        "tty" => "reusing a stored token asks for a confirmation at a terminal",
        "login" => "every unlock is a fresh browser login",
        "none" => "stored tokens are reused without asking",
        _ => "unknown",
    };
    format!("{mode} ({meaning})")
}

/// `sso` for IAM Identity Center sessions (named or legacy), `oidc` for providers.
fn kind(x: &proto::SessionStatus) -> &'static str {
    match x.kind() {
        proto::SessionKind::Oidc => "oidc",
        _ => "sso",
    }
}

fn nonzero(t: i64) -> serde_json::Value {
    if t > 0 {
        json!(t)
    } else {
        serde_json::Value::Null
    }
}
