//! `{issuer}/.well-known/openid-configuration` and the provider's JWKS, cached for the
//! daemon's life; a key id the cached JWKS lacks refetches both once (keys rotate).

use std::{collections::HashMap, sync::Arc};

use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;

use super::Oidc;
use crate::{
    aws::endpoints::acceptable,
    error::{Error, Result},
};

/// What the daemon uses of a discovery document.
#[derive(Clone, Debug, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub device_authorization_endpoint: Option<String>,
}

/// A provider's discovery document and its keys.
pub type Discovered = (Arc<Discovery>, Arc<JwkSet>);

/// Discovery documents and key sets by issuer.
#[derive(Default)]
pub struct Cache {
    docs: std::sync::Mutex<HashMap<String, Discovered>>,
}

/// The issuer as configured, checked: https, or http to a loopback host.
pub fn check_issuer(name: &str, issuer: &str) -> Result<String> {
    let issuer = issuer.trim_end_matches('/');
    if !acceptable(issuer) {
        return Err(Error::config(format!(
            "[providers.{name}] issuer = {issuer}: must be https:// (plain http:// only to a loopback host)"
        )));
    }
    Ok(issuer.to_string())
}

impl Oidc {
    /// The provider's discovery document and keys: cached, or fetched (`fresh`: refetched).
    pub async fn discover(&self, name: &str, issuer: &str, fresh: bool) -> Result<Discovered> {
        let issuer = check_issuer(name, issuer)?;
        if !fresh && let Some(hit) = self.cache.docs.lock().unwrap().get(&issuer) {
            return Ok(hit.clone());
        }
        let url = format!("{issuer}/.well-known/openid-configuration");
        let doc: Discovery = self.get_json(name, &url).await?;
        if doc.issuer.trim_end_matches('/') != issuer {
            return Err(Error::AwsRefused(format!(
                "provider '{name}': the discovery document names issuer {} instead of {issuer}",
                doc.issuer
            )));
        }
        for (what, u) in [
            ("authorization_endpoint", Some(&doc.authorization_endpoint)),
            ("token_endpoint", Some(&doc.token_endpoint)),
            ("jwks_uri", Some(&doc.jwks_uri)),
            (
                "device_authorization_endpoint",
                doc.device_authorization_endpoint.as_ref(),
            ),
        ] {
            if let Some(u) = u
                && !acceptable(u)
            {
                return Err(Error::AwsRefused(format!(
                    "provider '{name}': {what} {u} is not https (plain http:// only to a loopback host)"
                )));
            }
        }
        let keys: JwkSet = self.get_json(name, &doc.jwks_uri).await?;
        let entry = (Arc::new(doc), Arc::new(keys));
        self.cache
            .docs
            .lock()
            .unwrap()
            .insert(issuer, entry.clone());
        Ok(entry)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, name: &str, url: &str) -> Result<T> {
        let a = self
            .http()
            .get(url)
            .await
            .map_err(|e| Error::AwsFailed(format!("provider '{name}': {e}")))?;
        if a.status != 200 {
            return Err(Error::AwsFailed(format!(
                "provider '{name}': {url} answered HTTP {}",
                a.status
            )));
        }
        serde_json::from_slice(&a.body).map_err(|e| {
            Error::AwsFailed(format!(
                "provider '{name}': {url} is not what OIDC expects: {e}"
            ))
        })
    }
}
