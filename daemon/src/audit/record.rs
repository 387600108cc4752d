//! One audit record: what the audit log stores (one JSON object per line) and what
//! `ssoagentctl watch --json` prints. Made from an [`Event`] in one place: a new event variant
//! adds one arm to [`Record::of`]. Never a secret: role credentials' secret key and session
//! token, access and refresh tokens are not in any event, so they cannot be in a record.

use std::{borrow::Cow, sync::Arc, time::SystemTime};

use serde::Serialize;
use serde_json::value::RawValue;

use crate::{
    caller::Caller,
    events::{Event, RuleRef, Who},
    process::{self, Resolved},
};

/// A record's `caller` `{pid, uid, exe, argv, cwd}`.
#[derive(Serialize)]
struct CallerRecord<'a> {
    pid: i32,
    uid: u32,
    exe: &'a str,
    argv: &'a [String],
    cwd: &'a str,
}

/// A record's `caller` and `ancestors`: the JSON of a [`Resolved`] is made once, and every
/// record of that caller (all the requests of one connection for a second) copies it.
#[derive(Debug, PartialEq, Eq)]
pub struct WhoFields(Arc<Resolved>);

impl WhoFields {
    fn rendered(&self) -> &(Box<RawValue>, Option<Box<RawValue>>) {
        let r = &*self.0;
        r.rendered.0.get_or_init(|| {
            let caller = CallerRecord {
                pid: r.process.pid,
                uid: r.uid,
                exe: &r.process.exe,
                argv: &r.process.argv,
                cwd: &r.cwd,
            };
            let raw = |v: String| RawValue::from_string(v).expect("serde_json made it");
            let ancestors = (!r.ancestors.is_empty())
                .then(|| raw(serde_json::to_string(&*r.ancestors).expect("JSON")));
            (
                raw(serde_json::to_string(&caller).expect("JSON")),
                ancestors,
            )
        })
    }
}

impl Serialize for WhoFields {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let (caller, ancestors) = self.rendered();
        let mut st = s.serialize_struct("WhoFields", 2)?;
        st.serialize_field("caller", caller)?;
        match ancestors {
            Some(a) => st.serialize_field("ancestors", a)?,
            None => st.skip_field("ancestors")?,
        }
        st.end()
    }
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct RuleRecord<'a> {
    pub index: usize,
    pub text: &'a str,
}

/// Borrows from its event: a record costs no copy of the event's strings.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Record<'a> {
    pub time: String,
    pub event: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<Cow<'a, str>>,
    /// `caller` and `ancestors`.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub who: Option<WhoFields>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleRecord<'a>>,
    /// A pending request's id (`pending`, `approved`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<Cow<'a, str>>,
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

impl<'a> Record<'a> {
    /// The record of an event at `now`. The caller of an event without one resolved
    /// (ssoagentctl's lock, unlock...) was remembered when it was published (see
    /// `Events::publish`), else it is resolved here, if it still runs.
    pub fn of(e: &'a Event, now: SystemTime) -> Record<'a> {
        let mut r = Record {
            time: rfc3339(now),
            ..Default::default()
        };
        match e {
            Event::Issued {
                caller,
                profile,
                session,
                who,
                access_key_id,
                expiration,
                rule,
            } => {
                r.event = "issued";
                r.set_who(caller, who);
                r.session = Some(session.into());
                r.profile = Some(profile.into());
                r.access_key_id = Some(access_key_id.into());
                r.expiration = Some(rfc3339(*expiration));
                r.rule = rule.as_ref().map(rule_record);
            }
            Event::LockedHit {
                caller,
                profile,
                session,
                who,
            } => {
                r.event = "locked_hit";
                r.set_who(caller, who);
                r.session = Some(session.into());
                r.profile = Some(profile.into());
            }
            Event::Unlocked { caller, session } => r.session_event("unlocked", caller, session),
            Event::Locked { caller, session } => r.session_event("locked", caller, session),
            Event::LoggedOut { caller, session } => r.session_event("logged_out", caller, session),
            Event::Login { caller, session } => r.session_event("login", caller, session),
            Event::RefreshFailed { session, error } => {
                r.event = "refresh_failed";
                r.session = Some(session.into());
                r.message = Some(error.into());
            }
            Event::Denied { .. } | Event::Pending { .. } | Event::Approved { .. } => {
                r.policy_event(e);
            }
            Event::Mfa { .. } | Event::EcsGranted { .. } | Event::EcsRevoked { .. } => {
                r.bridge_event(e);
            }
            Event::Ending {
                session,
                until,
                minutes,
            } => {
                r.event = "ending";
                r.session = Some(session.into());
                r.expiration = Some(rfc3339(*until));
                r.message = Some(Cow::Owned(format!(
                    "session '{session}' ends within {minutes} minutes, at {}",
                    rfc3339(*until)
                )));
            }
        }
        r
    }

    /// The policy's events: `denied`, `pending`, `approved`.
    fn policy_event(&mut self, e: &'a Event) {
        match e {
            Event::Denied {
                caller,
                profile,
                who,
                rule,
                message,
            } => {
                self.event = "denied";
                self.set_who(caller, who);
                self.profile = Some(profile.into());
                self.rule = Some(rule_record(rule));
                self.message = Some(message.into());
            }
            Event::Pending {
                caller,
                id,
                profile,
                who,
                rule,
                message,
            } => {
                self.event = "pending";
                self.set_who(caller, who);
                self.id = Some(id.into());
                self.profile = Some(profile.into());
                self.rule = Some(rule_record(rule));
                self.message = Some(message.into());
            }
            Event::Approved {
                caller,
                id,
                profile,
                rule,
                message,
            } => {
                self.event = "approved";
                self.set_who(caller, &None);
                self.id = Some(id.into());
                self.profile = Some(profile.into());
                self.rule = Some(rule_record(rule));
                self.message = Some(message.into());
            }
            _ => unreachable!("only policy events come here"),
        }
    }

    /// MFA codes typed for role hops (`mfa`), container-credentials grants made and ended
    /// (`ecs_granted`, `ecs_revoked`, the grant's id in `id`).
    fn bridge_event(&mut self, e: &'a Event) {
        match e {
            Event::Mfa {
                caller,
                profile,
                session,
                mfa_serial,
                error,
            } => {
                self.event = "mfa";
                self.set_who(caller, &None);
                self.session = Some(session.into());
                self.profile = Some(profile.into());
                self.message = Some(Cow::Owned(match error {
                    None => format!("MFA code for {mfa_serial} accepted"),
                    Some(why) => format!("MFA code for {mfa_serial} refused: {why}"),
                }));
            }
            Event::EcsGranted {
                caller,
                profile,
                grant,
            } => {
                self.event = "ecs_granted";
                self.set_who(caller, &None);
                self.profile = Some(profile.into());
                self.id = Some(grant.into());
            }
            Event::EcsRevoked { caller, grant } => {
                self.event = "ecs_revoked";
                self.set_who(caller, &None);
                self.id = Some(grant.into());
            }
            _ => unreachable!("only bridge events come here"),
        }
    }

    fn session_event(&mut self, event: &'static str, caller: &Caller, session: &'a str) {
        self.event = event;
        self.set_who(caller, &None);
        self.session = Some(session.into());
    }

    fn set_who(&mut self, caller: &Caller, who: &Who) {
        let resolved = match who {
            Some(w) => w.clone(),
            None => process::recall(caller).unwrap_or_else(|| Arc::new(process::resolve(caller))),
        };
        self.who = Some(WhoFields(resolved));
    }

    /// Appends the record as one JSON line, newline included.
    pub fn write_line(&self, out: &mut Vec<u8>) {
        serde_json::to_writer(&mut *out, self).expect("a record is JSON");
        out.push(b'\n');
    }
}

fn rule_record(r: &RuleRef) -> RuleRecord<'_> {
    RuleRecord {
        index: r.index,
        text: &r.text,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::process::Proc;

    #[test]
    fn an_issued_record_has_the_fields_the_log_promises() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_793_491_200);
        let who = Resolved {
            uid: 1000,
            process: Proc {
                pid: 42,
                exe: "/usr/bin/ssoagent-cred".into(),
                argv: vec!["ssoagent-cred".into(), "--profile".into(), "prod".into()],
                ..Default::default()
            },
            cwd: "/home/me".into(),
            ancestors: vec![Proc {
                pid: 41,
                exe: "/usr/bin/node".into(),
                argv: vec!["node".into()],
                ..Default::default()
            }]
            .into(),
            ..Default::default()
        };
        let e = Event::Issued {
            caller: Caller {
                uid: 1000,
                pid: Some(42),
            },
            profile: "prod".into(),
            session: "work".into(),
            who: Some(Arc::new(who)),
            access_key_id: "ASIAEXAMPLE".into(),
            expiration: t + Duration::from_secs(900),
            rule: Some(RuleRef {
                index: 2,
                text: "profiles=[\"prod\"] action=allow".into(),
            }),
        };
        let mut line = Vec::new();
        Record::of(&e, t).write_line(&mut line);
        assert_eq!(line.pop(), Some(b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["time"], "2026-11-01T00:00:00Z");
        assert_eq!(v["event"], "issued");
        assert_eq!(v["caller"]["exe"], "/usr/bin/ssoagent-cred");
        assert_eq!(v["caller"]["cwd"], "/home/me");
        assert_eq!(
            v["ancestors"][0],
            serde_json::json!({"pid": 41, "exe": "/usr/bin/node", "argv": ["node"]})
        );
        assert_eq!(v["access_key_id"], "ASIAEXAMPLE");
        assert_eq!(v["expiration"], "2026-11-01T00:15:00Z");
        assert_eq!(v["rule"]["index"], 2);
        assert!(v.get("message").is_none());
    }
}
