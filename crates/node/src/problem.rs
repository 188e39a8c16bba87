//! Errors as RFC 9457 problem documents (`application/problem+json`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// One problem with the input, at a JSON path.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvalidParam {
    /// The JSON path (`request.offence.max_penalty_years`) or parameter name.
    pub name: String,
    /// What is wrong.
    pub reason: String,
}

fn problem_type<S: serde::Serializer>(kind: &&'static str, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("/problems/{kind}"))
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the kind of problem (`/problems/KIND`).
    #[serde(rename = "type", serialize_with = "problem_type")]
    #[schema(value_type = String)]
    pub kind: &'static str,
    /// A short summary of the kind of problem.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What happened this time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every problem with the input, for validation errors.
    #[serde(rename = "invalid-params", skip_serializing_if = "Vec::is_empty")]
    pub invalid_params: Vec<InvalidParam>,
}

impl Problem {
    /// A problem of kind `kind` (the last part of `/problems/KIND`).
    pub fn new(status: StatusCode, kind: &'static str, title: &'static str) -> Problem {
        Problem { kind, title, status: status.as_u16(), detail: None, field: None, invalid_params: Vec::new() }
    }

    /// With a detail sentence.
    pub fn detail(mut self, detail: impl Into<String>) -> Problem {
        self.detail = Some(detail.into());
        self
    }

    /// With the field at fault.
    pub fn field(mut self, field: impl Into<String>) -> Problem {
        self.field = Some(field.into());
        self
    }

    /// The input is not a valid case file.
    pub fn invalid_case(problems: Vec<policy::Problem>) -> Problem {
        let mut p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-case", "The case file is not valid");
        p.field = problems.first().map(|x| x.path.clone());
        p.detail = Some(format!(
            "{} problem(s); the first: {}",
            problems.len(),
            problems.first().map(ToString::to_string).unwrap_or_default()
        ));
        p.invalid_params = problems.into_iter().map(|x| InvalidParam { name: x.path, reason: x.message }).collect();
        p
    }

    /// Nothing at this path.
    pub fn not_found(what: &str) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found").detail(format!("no {what} here"))
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut res = (status, body).into_response();
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        res
    }
}
