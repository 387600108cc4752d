//! The HTTP listener: accept loop, routing, and the per-request fault gate.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;
use tower::ServiceExt as _;

use crate::state::State;
use crate::{Config, Fault, Op, control, federation, idp, idp_control, oidc, portal, sts};

/// State shared by the request handlers and the [`crate::Emulator`] handle.
pub(crate) struct Shared {
    state: Mutex<State>,
    pub base_url: String,
    /// The OIDC identity provider (issue 12).
    pub idp: crate::idp::Idp,
}

impl Shared {
    pub fn new(config: Config, base_url: String) -> Shared {
        Shared {
            state: Mutex::new(State::new(config)),
            base_url,
            idp: Default::default(),
        }
    }

    /// Locks the state. A handler that panicked while holding the lock
    /// leaves it usable: the emulator is a test tool and should keep going.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a call of `op` and applies the next injected fault: a delay is
    /// slept here; any other fault is returned for the protocol to render.
    pub async fn gate(&self, op: Op) -> Option<Fault> {
        let fault = self.lock().begin(op);
        match fault {
            Some(Fault::Delay(d)) => {
                tokio::time::sleep(d).await;
                None
            }
            other => other,
        }
    }
}

pub(crate) type AppState = Arc<Shared>;

/// Marker put in a response's extensions: the connection is closed instead
/// of answering.
#[derive(Clone, Copy)]
struct DropConnection;

#[derive(Debug)]
struct DroppedConnection;

impl std::fmt::Display for DroppedConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by injected fault")
    }
}

impl std::error::Error for DroppedConnection {}

/// A response that makes the server close the connection without writing
/// anything.
pub(crate) fn drop_connection() -> Response {
    let mut resp = ().into_response();
    resp.extensions_mut().insert(DropConnection);
    resp
}

fn router(shared: AppState) -> Router {
    Router::new()
        // SSO-OIDC
        .route("/client/register", post(oidc::register_client))
        .route(
            "/device_authorization",
            post(oidc::start_device_authorization),
        )
        .route("/token", post(oidc::create_token))
        .route("/authorize", get(oidc::authorize))
        .route("/device", get(oidc::device_page))
        // SSO portal
        .route("/federation/credentials", get(portal::get_role_credentials))
        .route("/assignment/accounts", get(portal::list_accounts))
        .route("/assignment/roles", get(portal::list_account_roles))
        .route("/logout", post(portal::logout))
        // Console federation (getSigninToken, login)
        .route("/federation", get(federation::handle))
        // STS (query protocol)
        .route("/", post(sts::handle))
        // OIDC identity provider (STS web identity and Cognito route from sts::handle)
        .route("/idp/.well-known/openid-configuration", get(idp::discovery))
        .route("/idp/keys", get(idp::jwks))
        .route("/idp/authorize", get(idp::authorize))
        .route("/idp/token", post(idp::token))
        .route("/idp/device_authorization", post(idp::device_authorization))
        .nest("/_emulator/idp", idp_control::router())
        // Control API
        .nest("/_emulator", control::router())
        .fallback(not_found)
        .with_state(shared)
}

async fn not_found() -> Response {
    crate::util::json_response(
        axum::http::StatusCode::NOT_FOUND,
        &serde_json::json!({"message": "no such route in the emulator"}),
    )
}

/// Serves connections until `shutdown` fires. Connection tasks are dropped
/// with the runtime.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    shared: AppState,
    mut shutdown: oneshot::Receiver<()>,
) {
    let app = router(shared);
    loop {
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => {
                    // E.g. out of file descriptors: back off a little.
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let app = app.clone();
                async move {
                    let resp = match app.oneshot(req).await {
                        Ok(resp) => resp,
                        Err(never) => match never {},
                    };
                    if resp.extensions().get::<DropConnection>().is_some() {
                        // hyper closes the connection without writing a
                        // response when the service fails.
                        Err(DroppedConnection)
                    } else {
                        Ok::<_, DroppedConnection>(resp)
                    }
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
