//! `POST /api/v1/inbox`: messages from other nodes, as signed envelopes. No token: the
//! envelope's signature, by a key the federation directory lists, is the authentication.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use seal::envelope::EnvelopeError;
use serde_json::json;

use crate::api::AppState;
use crate::auth::Caller;
use crate::peers::{COMMAND, CommandBody, REQUEST, RequestBody};
use crate::problem::Problem;

fn refused(e: &EnvelopeError) -> Problem {
    let status = match e {
        EnvelopeError::Malformed(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::FORBIDDEN,
    };
    Problem::new(status, "envelope-refused", "The envelope was refused").detail(e.to_string())
}

/// Receives one message from another node.
pub async fn receive(State(state): State<AppState>, body: Bytes) -> Response {
    async {
        let (Some(peers), Some(cases)) = (state.peers.clone(), state.cases.clone()) else {
            return Err(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no-federation",
                "This node takes no messages from other nodes",
            ));
        };
        let now = crate::clock::now();
        let env = match peers.verify(&body, u64::try_from(now.0).unwrap_or(0)) {
            Ok(env) => env,
            // Already processed: the sender retried after a lost answer. Say so, so that it
            // moves on; nothing is done twice.
            Err(EnvelopeError::Replay { .. }) => return Ok(Json(json!({ "status": "duplicate" })).into_response()),
            Err(e) => {
                tracing::warn!(reason = %e, "refused an envelope");
                return Err(refused(&e));
            }
        };
        let caller = Caller { name: env.sender.clone(), role: case::Role::Peer, token_id: "envelope".into() };
        let bad_body = |e: serde_json::Error| {
            Problem::new(StatusCode::BAD_REQUEST, "bad-message", "The message body is not what its type says")
                .detail(e.to_string())
        };
        match env.message.message_type.as_str() {
            REQUEST => {
                let b: RequestBody = serde_json::from_slice(&env.message.body).map_err(bad_body)?;
                let id = format!("{}:{}", env.sender, b.case);
                let view = cases.create(&caller, Some(id), b.side, &b.case_file, b.emergency, now).await?;
                Ok(Json(json!({ "status": "accepted", "case": view.case["id"] })).into_response())
            }
            COMMAND => {
                let b: CommandBody = serde_json::from_slice(&env.message.body).map_err(bad_body)?;
                if !cases.peer_may_command(&env.sender, &b.case).await? {
                    return Err(Problem::new(
                        StatusCode::FORBIDDEN,
                        "not-your-case",
                        "This node may not act on that case",
                    )
                    .detail(format!("{} is not a party to case {}", env.sender, b.case)));
                }
                let (_, events) = cases.command(&caller, &b.case, &b.command, None, now).await?;
                Ok(Json(json!({ "status": "accepted", "events": events.len() })).into_response())
            }
            other => Err(Problem::new(StatusCode::BAD_REQUEST, "unknown-message", "Unknown message type")
                .detail(other.to_string())),
        }
    }
    .await
    .unwrap_or_else(IntoResponse::into_response)
}
