//! The device-code flow: StartDeviceAuthorization, one poll, the prompt, then polls at the
//! server's interval (+5 s on SlowDown) until approval, denial or expiry.

use std::time::Duration;

use ssoagent_client::config::LoginFlow;

use super::{Login, Prompt};
use crate::{
    aws::AwsError,
    error::{Error, Result},
    store::Token,
};

fn expired() -> Error {
    Error::Cancelled(
        "the device code expired before the login was approved; run unlock again".into(),
    )
}

pub async fn run(l: &Login<'_>, prompt: impl FnOnce(Prompt)) -> Result<Token> {
    let auth = l
        .aws
        .start_device_authorization(&l.spec.region, l.reg, &l.spec.start_url)
        .await
        .map_err(|e| e.into_error("login"))?;
    let deadline = l.clock.now() + auth.expires_in;
    let mut interval = auth.interval;
    let mut prompt = Some(prompt);
    loop {
        match l
            .aws
            .poll_device_token(&l.spec.region, l.reg, &auth.device_code)
            .await
        {
            Ok(token) => return Ok(token),
            Err(AwsError::AuthorizationPending) => {}
            Err(AwsError::SlowDown) => interval += Duration::from_secs(5),
            Err(AwsError::ExpiredToken) => return Err(expired()),
            Err(e) => return Err(e.into_error("login")),
        }
        // The prompt comes after the first poll, as the AWS CLI does.
        if let Some(show) = prompt.take() {
            show(Prompt {
                flow: LoginFlow::Device,
                url: auth.verification_uri_complete.clone(),
                user_code: auth.user_code.clone(),
                verification_uri: auth.verification_uri.clone(),
                expires_at: deadline,
            });
        }
        if l.clock.now() + interval > deadline {
            return Err(expired());
        }
        tokio::time::sleep(interval).await;
    }
}
