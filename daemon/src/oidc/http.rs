//! The daemon's HTTP client for identity providers (discovery, JWKS, the token and device
//! endpoints): hyper with rustls on aws-lc, the stack the AWS SDK already brings. Answers are
//! capped in size and time; `http://` is used only for loopback hosts (checked by callers).

use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};

/// The largest answer read from an identity provider.
const MAX_BODY: usize = 1 << 20;
/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(15);

type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// An answer: status and body.
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

pub struct Http {
    client: Client<Connector, Full<Bytes>>,
}

impl Http {
    pub fn new() -> Self {
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("aws-lc supports the default TLS versions");
        use hyper_rustls::ConfigBuilderExt;
        let tls = match builder.clone().with_native_roots() {
            Ok(b) => b.with_no_client_auth(),
            Err(e) => {
                tracing::warn!(error = %e, "no system root certificates; https identity providers will fail");
                builder
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            }
        };
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        Self {
            client: Client::builder(TokioExecutor::new()).build(https),
        }
    }

    pub async fn get(&self, url: &str) -> Result<Answer, String> {
        let req = hyper::Request::get(url)
            .header("accept", "application/json")
            .header(
                "user-agent",
                concat!("ssoagent/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::new()))
            .map_err(|e| format!("bad URL {url}: {e}"))?;
        self.send(url, req).await
    }

    /// POSTs an `application/x-www-form-urlencoded` body.
    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> Result<Answer, String> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let req = hyper::Request::post(url)
            .header("accept", "application/json")
            .header("content-type", "application/x-www-form-urlencoded")
            .header(
                "user-agent",
                concat!("ssoagent/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("bad URL {url}: {e}"))?;
        self.send(url, req).await
    }

    async fn send(&self, url: &str, req: hyper::Request<Full<Bytes>>) -> Result<Answer, String> {
        let go = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| format!("cannot reach {}: {e}", without_query(url)))?;
            let status = resp.status().as_u16();
            let body = Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| format!("reading the answer of {}: {e}", without_query(url)))?
                .to_bytes();
            Ok(Answer { status, body })
        };
        tokio::time::timeout(TIMEOUT, go)
            .await
            .map_err(|_| format!("{} did not answer within {TIMEOUT:?}", without_query(url)))?
    }
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

/// A URL fit for a message (a query could carry a code).
fn without_query(url: &str) -> &str {
    url.split('?').next().unwrap_or(url)
}
