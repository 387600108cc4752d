//! Refreshes ahead, in the background, the credentials of profiles in use that are about to
//! enter the refresh window, so requests keep being served from memory and never wait on AWS
//! while valid credentials exist.

use std::time::Duration;

use tracing::{debug, warn};

use super::{Creds, cache::AheadRule};
use crate::profiles::AwsConfig;

/// Credentials are refreshed this long before they enter the refresh window...
const REFRESH_AHEAD: Duration = Duration::from_secs(60);
/// ... if they were served within this time.
const REFRESH_AHEAD_IF_USED_WITHIN: Duration = Duration::from_secs(30 * 60);

impl Creds {
    pub async fn refresh_ahead(&self, config: &AwsConfig) {
        let rule = AheadRule {
            min_life: self.refresh_window,
            lead: REFRESH_AHEAD,
            used_within: REFRESH_AHEAD_IF_USED_WITHIN,
        };
        for name in self.cache.due(&rule) {
            let Ok(chain) = config.profile(&name).await else {
                continue;
            };
            let session = self.sessions.get(&chain.session().key);
            if self.sessions.check_issuable(&session).is_err() {
                continue;
            }
            let stamp = Self::stamp(&chain, &session);
            let reload = self
                .cache
                .try_reload(&name, &stamp, || self.fetch(&chain, &session))
                .await;
            match reload {
                // A request already fetching does the job.
                None => {}
                Some(Ok(_)) => {
                    debug!(profile = %name, "refreshed credentials ahead of the refresh window")
                }
                Some(Err(e)) => {
                    warn!(profile = %name, error = %e, "refresh ahead failed; cached credentials stay in use")
                }
            }
        }
    }
}
