//! `POST /api/v1/inbox`: messages from other nodes, as signed envelopes. No token: the
//! envelope's signature, by a key the federation directory lists, is the authentication.
//!
//! Each message comes with the inclusion proof of its commitment in the sender's log
//! (headers [`SALT_HEADER`] and [`PROOF_HEADER`]). The receiver checks the envelope, then
//! the proof (the checkpoint signed by the sender's log key from the directory, the
//! commitment under it, no other root held for that size), acts on the message, logs its
//! receipt in its own log and answers with a signed acknowledgement naming the receipt's
//! index. A message received before is not acted on again: the answer is the
//! acknowledgement again. Refusals are recorded with their reason (`data/inbox-refused`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use seal::envelope::{Envelope, EnvelopeError};
use serde_json::{Value, json};

use crate::api::AppState;
use crate::auth::Caller;
use crate::cases::Cases;
use crate::peers::{
    Begun, COMMAND, CommandBody, PROOF_HEADER, Peers, REQUEST, Refusal, RequestBody, SALT_HEADER, receipt_entry,
};
use crate::problem::Problem;

fn refused(r: &Refusal) -> Problem {
    let status = match r {
        Refusal::Envelope(EnvelopeError::Malformed(_)) | Refusal::NoProof(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::FORBIDDEN,
    };
    let title = match r {
        Refusal::Envelope(_) => "The envelope was refused",
        Refusal::NoProof(_) | Refusal::NoLogKey(_) | Refusal::BadProof(_) => "The inclusion proof was refused",
        Refusal::Forked { .. } => "The sender's log forked",
    };
    Problem::new(status, r.code(), title).detail(r.to_string())
}

fn internal(what: &str, e: impl std::fmt::Display) -> Problem {
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error").detail(format!("{what}: {e}"))
}

/// What a message asks of this node, read from its body before anything is done.
enum Act {
    /// Open case `SENDER:ID`.
    Open(RequestBody),
    /// Run a command as `peer`.
    Command(CommandBody),
}

impl Act {
    fn read(env: &Envelope) -> Result<Act, Problem> {
        let bad_body = |e: serde_json::Error| {
            Problem::new(StatusCode::BAD_REQUEST, "bad-message", "The message body is not what its type says")
                .detail(e.to_string())
        };
        match env.message.message_type.as_str() {
            REQUEST => Ok(Act::Open(serde_json::from_slice(&env.message.body).map_err(bad_body)?)),
            COMMAND => Ok(Act::Command(serde_json::from_slice(&env.message.body).map_err(bad_body)?)),
            other => Err(Problem::new(StatusCode::BAD_REQUEST, "unknown-message", "Unknown message type")
                .detail(other.to_string())),
        }
    }

    fn case(&self, sender: &str) -> String {
        match self {
            Act::Open(b) => format!("{sender}:{}", b.case),
            Act::Command(b) => b.case.clone(),
        }
    }

    /// Whether the message already acted (a crash came between acting and the receipt).
    async fn acted(&self, cases: &Cases, begun: &Begun) -> Result<bool, Problem> {
        match self {
            Act::Open(_) => Ok(cases.last_seq(&begun.case).await?.is_some()),
            Act::Command(_) => cases.peer_acted_since(&begun.case, begun.last_seq).await,
        }
    }

    async fn run(&self, cases: &Cases, caller: &Caller, now: case::Timestamp) -> Result<Value, Problem> {
        match self {
            Act::Open(b) => {
                let id = format!("{}:{}", caller.name, b.case);
                let view = cases.create(caller, Some(id), b.side, &b.case_file, b.emergency, now).await?;
                Ok(json!({ "case": view.case["id"] }))
            }
            Act::Command(b) => {
                let (_, events) = cases.command(caller, &b.case, &b.command, None, now).await?;
                Ok(json!({ "events": events.len() }))
            }
        }
    }
}

fn answer(
    peers: &Peers,
    status: &str,
    sender: &str,
    id: &[u8; 16],
    index: u64,
    now: u64,
    mut extra: Value,
) -> Response {
    match peers.acknowledgement(sender, id, index, now) {
        Ok(ack) => {
            if let Some(o) = extra.as_object_mut() {
                o.insert("status".into(), status.into());
                o.insert("receipt_index".into(), index.into());
                o.insert("ack".into(), base64::engine::general_purpose::STANDARD.encode(ack.bytes()).into());
            }
            Json(extra).into_response()
        }
        Err(e) => internal("signing the acknowledgement", e).into_response(),
    }
}

/// Receives one message from another node.
pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    async {
        let (Some(peers), Some(cases)) = (state.peers.clone(), state.cases.clone()) else {
            return Err(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no-federation",
                "This node takes no messages from other nodes",
            ));
        };
        let now = crate::clock::now();
        let now_s = u64::try_from(now.0).unwrap_or(0);
        let env = match peers.verify(&body, now_s) {
            Ok(env) => env,
            Err(r) => {
                let (sender, id) = Envelope::parse(&body, seal::envelope::DEFAULT_MAX_BODY)
                    .map(|e| (e.sender, case::engine::hex(&e.message.id)))
                    .unwrap_or_else(|_| ("-".into(), "-".into()));
                peers.record_refusal(&sender, &id, &r, now_s);
                return Err(refused(&r));
            }
        };
        let (sender, id) = (env.sender.clone(), env.message.id);
        let _one_at_a_time = peers.inbox.lock().await;
        // Received before (the sender retried after a lost answer, or the network sent it
        // twice): nothing is done twice; the acknowledgement is sent again.
        if let Some(index) = peers.received(&sender, &id) {
            return Ok(answer(&peers, "duplicate", &sender, &id, index, now_s, json!({})));
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let entry = match peers.verify_proof(&env, header(SALT_HEADER), header(PROOF_HEADER)) {
            Ok(entry) => entry,
            Err(r) => {
                peers.record_refusal(&sender, &case::engine::hex(&id), &r, now_s);
                return Err(refused(&r));
            }
        };
        let act = Act::read(&env)?;
        if let Act::Command(b) = &act
            && !cases.peer_may_command(&sender, &b.case).await?
        {
            return Err(Problem::new(StatusCode::FORBIDDEN, "not-your-case", "This node may not act on that case")
                .detail(format!("{sender} is not a party to case {}", b.case)));
        }
        let log = peers.log().cloned().ok_or_else(|| internal("the inbox", "no log to record receipts in"))?;
        let caller = Caller { name: sender.clone(), role: case::Role::Peer, token_id: "envelope".into() };
        // Begun before a crash: it may have acted already.
        let earlier = match peers.begun(&sender, &id) {
            Some(b) if act.acted(&cases, &b).await? => Some(b),
            _ => None,
        };
        let (outcome, since) = match earlier {
            Some(b) => (json!({ "recovered": true }), Some(b.log_size)),
            None => {
                let case = act.case(&sender);
                let begun = Begun {
                    log_size: log.size(),
                    last_seq: cases.last_seq(&case).await?.unwrap_or(0),
                    case: case.clone(),
                };
                peers.begin(&sender, &id, begun.clone()).map_err(|e| internal("the inbox journal", e))?;
                match act.run(&cases, &caller, now).await {
                    Ok(v) => (v, None),
                    // It failed after acting (the case is stored; what is unlogged is logged
                    // at the next start): it acted.
                    Err(_) if act.acted(&cases, &begun).await? => (json!({}), None),
                    Err(p) => {
                        peers.abort(&sender, &id).map_err(|e| internal("the inbox journal", e))?;
                        return Err(p);
                    }
                }
            }
        };
        // The receipt, in this node's log (found there if a crash came after logging it).
        let receipt = receipt_entry(&sender, &id, &entry);
        let index = tokio::task::spawn_blocking(move || -> Result<u64, String> {
            let found = match since {
                Some(since) => log
                    .entries_since(since)
                    .map_err(|e| e.to_string())?
                    .iter()
                    .position(|e| *e == receipt)
                    .map(|i| since + i as u64),
                None => None,
            };
            match found {
                Some(i) => Ok(i),
                None => log.append(vec![receipt]).map_err(|e| e.to_string()),
            }
        })
        .await
        .map_err(|e| internal("the log", e))?
        .map_err(|e| internal("the log", e))?;
        peers.done(&sender, &id, index).map_err(|e| internal("the inbox journal", e))?;
        Ok(answer(&peers, "accepted", &sender, &id, index, now_s, outcome))
    }
    .await
    .unwrap_or_else(IntoResponse::into_response)
}
