//! `/login`, `/logout`, `/me`: people's sessions (see [`crate::users`]).

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::api::AppState;
use crate::problem::Problem;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    node_name: String,
    error: String,
    name: String,
}

#[derive(Template)]
#[template(path = "me.html")]
struct MePage {
    node_name: String,
    name: String,
    role: String,
    csrf: String,
    home: (&'static str, &'static str),
}

fn render(t: impl Template, status: StatusCode) -> Response {
    match t.render() {
        Ok(html) => {
            let mut r = crate::ui::page(html);
            *r.status_mut() = status;
            r
        }
        Err(e) => Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "render", "The page could not be rendered")
            .detail(e.to_string())
            .into_response(),
    }
}

/// `GET /login`
pub async fn page(State(state): State<AppState>) -> Response {
    render(
        LoginPage { node_name: state.config.config.node.name.clone(), error: String::new(), name: String::new() },
        StatusCode::OK,
    )
}

/// `POST /login` (form: `name`, `password`): a session cookie, then `/me`.
pub async fn submit(State(state): State<AppState>, body: Bytes) -> Response {
    let mut name = String::new();
    let mut password = String::new();
    for (k, v) in form_urlencoded::parse(&body) {
        match k.as_ref() {
            "name" => name = v.into_owned(),
            "password" => password = v.into_owned(),
            _ => {}
        }
    }
    let users = state.users.clone();
    let now = crate::clock::now().0;
    let (n, p) = (name.clone(), password);
    let result = tokio::task::spawn_blocking(move || users.login(&n, &p, now)).await.ok().flatten();
    match result {
        Some((sid, _)) => {
            let mut r = Redirect::to("/me").into_response();
            if let Ok(v) = HeaderValue::from_str(&crate::users::set_cookie(&sid, false)) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        None => render(
            LoginPage {
                node_name: state.config.config.node.name.clone(),
                error: "Wrong name or password.".into(),
                name,
            },
            StatusCode::UNAUTHORIZED,
        ),
    }
}

/// `GET /me`: who you are, with the session's CSRF token.
pub async fn me(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let now = crate::clock::now().0;
    match crate::users::cookie(&headers).and_then(|sid| state.users.session(&sid, now)) {
        Some(s) => render(
            MePage {
                node_name: state.config.config.node.name.clone(),
                name: s.name,
                role: s.role.id().replace('_', " "),
                csrf: s.csrf,
                home: crate::roles::main_page(s.role),
            },
            StatusCode::OK,
        ),
        None => Redirect::to("/login").into_response(),
    }
}

/// `POST /logout` (form: `csrf`).
pub async fn logout(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let now = crate::clock::now().0;
    let Some(sid) = crate::users::cookie(&headers) else { return Redirect::to("/login").into_response() };
    let Some(session) = state.users.session(&sid, now) else { return Redirect::to("/login").into_response() };
    let sent =
        form_urlencoded::parse(&body).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned()).unwrap_or_default();
    if sent != session.csrf {
        return Problem::new(StatusCode::FORBIDDEN, "csrf", "Missing or wrong CSRF token")
            .field("csrf")
            .into_response();
    }
    state.users.logout(&sid);
    let mut r = Redirect::to("/login").into_response();
    if let Ok(v) =
        HeaderValue::from_str(&format!("{}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0", crate::users::COOKIE))
    {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}
