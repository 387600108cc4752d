//! How each protocol renders an injected fault. Delays are handled before
//! this, in [`crate::server::Shared::gate`].

use axum::http::StatusCode;
use axum::response::Response;

use crate::Fault;
use crate::oidc::{self, OidcError};
use crate::server::drop_connection;
use crate::util::html_response;
use crate::{portal, sts};

/// SSO-OIDC: 500 `InternalServerException` / 429 `ThrottlingException`.
pub(crate) fn oidc(fault: Fault) -> Response {
    match fault {
        Fault::ServerError => oidc::error(
            OidcError::InternalServer,
            "An internal error occurred (injected)",
        ),
        Fault::Throttle => oidc::error(OidcError::Throttling, "Rate exceeded (injected)"),
        Fault::DropConnection => drop_connection(),
        Fault::Delay(_) => unreachable_delay(),
    }
}

/// SSO portal: 500 `InternalServerException` / 429 `TooManyRequestsException`.
pub(crate) fn portal(fault: Fault) -> Response {
    match fault {
        Fault::ServerError => portal::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerException",
            "An internal error occurred (injected)",
        ),
        Fault::Throttle => portal::error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequestsException",
            "Rate exceeded (injected)",
        ),
        Fault::DropConnection => drop_connection(),
        Fault::Delay(_) => unreachable_delay(),
    }
}

/// STS: 500 `InternalFailure` / 400 `Throttling`.
pub(crate) fn sts(fault: Fault) -> Response {
    match fault {
        Fault::ServerError => sts::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            false,
            "InternalFailure",
            "An internal error occurred (injected)",
        ),
        Fault::Throttle => sts::error(
            StatusCode::BAD_REQUEST,
            true,
            "Throttling",
            "Rate exceeded (injected)",
        ),
        Fault::DropConnection => drop_connection(),
        Fault::Delay(_) => unreachable_delay(),
    }
}

/// The browser `/authorize` page: 500 / 429 HTML.
pub(crate) fn html(fault: Fault) -> Response {
    match fault {
        Fault::ServerError => html_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal error",
            "<p>An internal error occurred (injected).</p>",
        ),
        Fault::Throttle => html_response(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            "<p>Rate exceeded (injected).</p>",
        ),
        Fault::DropConnection => drop_connection(),
        Fault::Delay(_) => unreachable_delay(),
    }
}

/// `Shared::gate` sleeps delays and never hands them out; answer normally
/// shaped 500 if that ever changes rather than panic in a test tool.
fn unreachable_delay() -> Response {
    html_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Emulator bug",
        "<p>delay fault reached a protocol renderer</p>",
    )
}
