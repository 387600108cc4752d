//! The two logins a human can approve: authorization code with PKCE and a loopback redirect
//! (the default, as AWS CLI >= 2.22; [`pkce`]), and the device-code flow ([`device`]). The
//! daemon runs them; the prompt (URL, user code) goes to `ssoagentctl`, which opens the browser.

pub mod device;
pub mod pkce;

use std::time::SystemTime;

use ssoagent_client::config::LoginFlow;

use crate::{aws::Aws, clock::Clock, profiles::SessionSpec, store::Registration};

/// What the human must do, sent to the client that asked for the unlock.
#[derive(Clone, Debug)]
pub struct Prompt {
    pub flow: LoginFlow,
    pub url: String,
    pub user_code: String,
    pub verification_uri: String,
    pub expires_at: SystemTime,
}

/// What every login needs.
pub struct Login<'a> {
    pub aws: &'a Aws,
    pub spec: &'a SessionSpec,
    pub reg: &'a Registration,
    pub clock: &'a dyn Clock,
}
