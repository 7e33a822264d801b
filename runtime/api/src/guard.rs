//! Who may call the API, checked before any route runs:
//!
//! - **Host**: a browser page on a rebound DNS name (`evil.example` now resolving to
//!   127.0.0.1) reaches the API with its own name in `Host`. Only IP literals, `localhost` and
//!   the names in [`Guard::allowed_hosts`] (the listen and advertised hosts, and worker.toml's
//!   `[api] allowed_hosts`) are answered; `*` there answers any name.
//! - **Origin**: a page of another origin may send "simple" requests (a form POST, a body-less
//!   `POST /restart`) without a CORS preflight. A request whose `Origin` is not this API's own,
//!   or that a browser marks `Sec-Fetch-Site: cross-site`/`same-site` while changing
//!   something, is refused. The API sends no CORS headers, so no other origin reads an answer.
//! - **Token**: with `[api] token` set, every route needs it: `Authorization: Bearer <token>`,
//!   or the `connectd_session` cookie that `GET /ui?token=<token>` sets for the status page
//!   (`HttpOnly`, `SameSite=Strict`). The cookie holds a random session key made at start,
//!   not the token: browsers send a host's cookies to every port of it, so another web server
//!   on the machine sees the cookie, and it must not learn the token (the key is good only
//!   until this process stops). Compared in constant time.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{Api, ApiError};

/// The cookie that carries the status page's session key.
pub const SESSION_COOKIE: &str = "connectd_session";

/// What the API checks of every request.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    /// A bearer token every request needs, if set (never empty).
    pub token: Option<String>,
    /// Host names answered besides IP literals and `localhost` (lowercase, no port); `*`
    /// answers any.
    pub allowed_hosts: Vec<String>,
    /// The status page's session key (random, made by [`Guard::new`]); empty: no session.
    session: String,
}

impl Guard {
    /// A guard with a fresh session key.
    pub fn new(token: Option<String>, allowed_hosts: Vec<String>) -> Guard {
        let key: [u8; 32] = rand::random();
        Guard {
            token,
            allowed_hosts,
            session: key.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    fn host_allowed(&self, authority: &str) -> bool {
        let host = host_of(authority).to_ascii_lowercase();
        host == "localhost"
            || host.parse::<std::net::IpAddr>().is_ok()
            || self
                .allowed_hosts
                .iter()
                .any(|h| h == "*" || h.eq_ignore_ascii_case(&host))
    }

    /// Whether the request carries the token (when one is set).
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let session = self.session.as_bytes();
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(name, _)| *name == SESSION_COOKIE)
            .map(|(_, value)| value);
        bearer.is_some_and(|given| same_bytes(given.as_bytes(), token.as_bytes()))
            || cookie
                .is_some_and(|given| !session.is_empty() && same_bytes(given.as_bytes(), session))
    }
}

/// `a == b` in time that depends only on their lengths.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// The host of a `host[:port]` authority (`[::1]:8083` → `::1`).
pub fn host_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default();
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => authority,
    }
}

fn refuse(status: StatusCode, message: String) -> Response {
    ApiError(status, message).into_response()
}

/// The checks above, as a middleware. `GET /ui?token=<token>` with the right token sets the
/// cookie and sends the browser to `/ui` (so the token leaves the address bar).
pub(crate) async fn check(State(api): State<Api>, request: Request, next: Next) -> Response {
    let guard = &api.guard;
    let headers = request.headers();
    // One readable Host (or the request target's authority); none, two or an unreadable one
    // is refused, as no browser sends such a request and no check could be made of it.
    let hosts: Vec<_> = headers.get_all(header::HOST).iter().collect();
    let authority = match hosts.as_slice() {
        [] => request.uri().authority().map(|a| a.to_string()),
        [one] => one.to_str().ok().map(str::to_string),
        _ => None,
    };
    let Some(authority) = authority else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "a request needs one Host header, in ASCII".into(),
        );
    };
    if !guard.host_allowed(&authority) {
        return refuse(
            StatusCode::FORBIDDEN,
            format!(
                "this worker does not answer to the host name {:?}; add it to [api] allowed_hosts in worker.toml",
                host_of(&authority)
            ),
        );
    }
    let changes = !matches!(*request.method(), Method::GET | Method::HEAD);
    let foreign_origin = headers
        .get(header::ORIGIN)
        .map(|origin| {
            let own = authority.as_str();
            let origin = origin.to_str().unwrap_or_default();
            let authority = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            authority.is_none_or(|a| !a.eq_ignore_ascii_case(own))
        })
        .unwrap_or(false);
    let cross_site = headers
        .get("sec-fetch-site")
        .is_some_and(|s| s.as_bytes() == b"cross-site" || s.as_bytes() == b"same-site");
    if foreign_origin || (changes && cross_site) {
        return refuse(
            StatusCode::FORBIDDEN,
            "cross-origin requests are refused: call the API from its own origin or from a client that is not a browser".into(),
        );
    }
    if request.uri().path() == "/ui"
        && let Some(token) = guard.token.as_deref()
        && let Some(given) =
            crate::query_values(&request.uri().query().map(str::to_string), "token")
                .first()
                .map(|t| t.to_string())
    {
        if !same_bytes(given.as_bytes(), token.as_bytes()) {
            return refuse(StatusCode::UNAUTHORIZED, "wrong token".into());
        }
        return (
            StatusCode::SEE_OTHER,
            [
                (header::LOCATION, "/ui".to_string()),
                (
                    header::SET_COOKIE,
                    format!(
                        "{SESSION_COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
                        guard.session
                    ),
                ),
            ],
        )
            .into_response();
    }
    if !guard.authorized(request.headers()) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "this worker's API needs `Authorization: Bearer <token>` ([api] token in worker.toml); for the status page, open /ui?token=<token> once".into(),
        );
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let guard = Guard::new(None, vec!["connectd-0.connectd".into()]);
        for ok in [
            "127.0.0.1:8083",
            "localhost:8083",
            "LOCALHOST",
            "[::1]:8083",
            "10.1.2.3",
            "connectd-0.connectd:8083",
        ] {
            assert!(guard.host_allowed(ok), "{ok}");
        }
        for refused in ["rebind.attacker.example", "evil:8083", "localhost.evil:80"] {
            assert!(!guard.host_allowed(refused), "{refused}");
        }
        let any = Guard::new(None, vec!["*".into()]);
        assert!(any.host_allowed("whatever.example"));
    }

    #[test]
    fn tokens_by_header_or_cookie() {
        let guard = Guard::new(Some("t0ken".into()), vec![]);
        let with = |name: header::HeaderName, value: &str| {
            let mut h = HeaderMap::new();
            h.insert(name, value.parse().unwrap());
            guard.authorized(&h)
        };
        assert!(with(header::AUTHORIZATION, "Bearer t0ken"));
        assert!(!with(header::AUTHORIZATION, "Bearer t0ke"));
        assert!(!with(header::AUTHORIZATION, "Bearer t0kenn"));
        // The cookie holds the session key, never the token.
        let session = format!("a=b; connectd_session={}", guard.session);
        assert!(with(header::COOKIE, &session));
        assert!(!with(header::COOKIE, "connectd_session=t0ken"));
        assert!(!with(header::COOKIE, "connectd_session="));
        assert!(!with(header::COOKIE, "connectd_token=t0ken"));
        assert!(!guard.authorized(&HeaderMap::new()));
        assert_ne!(guard.session, Guard::new(None, vec![]).session);
    }
}
