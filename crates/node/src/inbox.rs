//! `POST /api/v1/inbox` (one message) and `POST /api/v1/inbox/batch` (several, in order):
//! messages from other nodes, as signed envelopes. No token: the envelope's signature, by
//! a key the federation directory lists, is the authentication.
//!
//! Each message comes with the inclusion proof of its commitment in the sender's log. The
//! receiver checks the envelope (a directory key valid at its time, intact, addressed
//! here, within the skew), then the proof (the checkpoint signed by the sender's log key
//! from the directory, the commitment under it, no other root held for that size), and
//! that the sender may act on the case; it writes the message down (`data/inbox-journal`,
//! fsync), logs its receipt in its own log (one batch for all the messages of a delivery)
//! and answers each with a signed acknowledgement naming the receipt's index. A message
//! received before is not taken again: the answer is its acknowledgement again. Refusals
//! are recorded with their reason (`data/inbox-refused`).
//!
//! The messages taken in are then acted on by one task, in the order received, exactly
//! once: before acting it writes down the case and its last event, so that after a crash
//! it can tell whether the message had acted (see [`Begun`]). A message not acted on (the
//! case refused it) is answered with a signed `custodia/refusal/v1` through the outbox; a
//! refusal received is recorded in the outbox (`outbox/SENDER/refused/ID.refusal`).

use std::collections::HashSet;
use std::sync::Arc;

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
    Batch, Begun, COMMAND, CommandBody, Outcome, PROOF_HEADER, Peers, REFUSAL, REQUEST, Refusal, RefusalBody,
    RequestBody, Results, SALT_HEADER, ToApply,
};
use crate::problem::Problem;

fn refused(r: &Refusal) -> Problem {
    let status = match r {
        Refusal::Envelope(EnvelopeError::Malformed(_)) | Refusal::NoProof(_) => StatusCode::BAD_REQUEST,
        Refusal::NotActed(_) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::FORBIDDEN,
    };
    let title = match r {
        Refusal::Envelope(_) => "The envelope was refused",
        Refusal::NoProof(_) | Refusal::NoLogKey(_) | Refusal::BadProof(_) => "The inclusion proof was refused",
        Refusal::Forked { .. } => "The sender's log forked",
        Refusal::NotActed(_) => "The message was not acted on",
    };
    Problem::new(status, r.code(), title).detail(r.to_string())
}

fn internal(what: &str, e: impl std::fmt::Display) -> Problem {
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error").detail(format!("{what}: {e}"))
}

/// What a message asks of this node, read from its body before it is taken in.
enum Act {
    /// Open case `SENDER:ID`.
    Open(RequestBody),
    /// Run a command as `peer`.
    Command(CommandBody),
    /// Record that a message this node delivered was not acted on.
    Refusal(RefusalBody),
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
            REFUSAL => {
                let body: RefusalBody = serde_json::from_slice(&env.message.body).map_err(bad_body)?;
                if crate::peers::unhex_id(&body.message).is_none() {
                    return Err(Problem::new(
                        StatusCode::BAD_REQUEST,
                        "bad-message",
                        "The message body is not what its type says",
                    )
                    .detail(format!("message: {:?} is not a message ID (32 hex digits)", body.message)));
                }
                Ok(Act::Refusal(body))
            }
            other => Err(Problem::new(StatusCode::BAD_REQUEST, "unknown-message", "Unknown message type")
                .detail(other.to_string())),
        }
    }

    fn case(&self, sender: &str) -> String {
        match self {
            Act::Open(b) => format!("{sender}:{}", b.case),
            Act::Command(b) => b.case.clone(),
            Act::Refusal(_) => String::new(),
        }
    }

    /// Whether `sender` may send this: a command only on a case it is party to.
    async fn allowed(&self, cases: &Cases, sender: &str) -> Result<(), Problem> {
        match self {
            Act::Command(b) if !cases.peer_may_command(sender, &b.case).await? => {
                Err(Problem::new(StatusCode::FORBIDDEN, "not-your-case", "This node may not act on that case")
                    .detail(format!("{sender} is not a party to case {}", b.case)))
            }
            _ => Ok(()),
        }
    }

    /// Whether the message already acted (a crash came between acting and writing so).
    async fn acted(&self, cases: &Cases, begun: &Begun) -> Result<bool, Problem> {
        match self {
            Act::Open(_) => Ok(cases.last_seq(&begun.case).await?.is_some()),
            Act::Command(_) => cases.peer_acted_since(&begun.case, begun.last_seq).await,
            Act::Refusal(_) => Ok(false),
        }
    }

    async fn run(&self, cases: &Cases, caller: &Caller, now: case::Timestamp) -> Result<(), Problem> {
        match self {
            Act::Open(b) => {
                let id = format!("{}:{}", caller.name, b.case);
                cases.create(caller, Some(id), b.side, &b.case_file, b.emergency, now).await.map(|_| ())
            }
            Act::Command(b) => cases.command(caller, &b.case, &b.command, None, now).await.map(|_| ()),
            // Recorded by the applier, not by the cases service.
            Act::Refusal(_) => Ok(()),
        }
    }
}

/// A message as it came: envelope bytes, salt and proof.
struct Incoming {
    bytes: Vec<u8>,
    salt: Option<String>,
    proof: Option<String>,
}

/// A message taken in: its sender and ID, whether it had been before, and where its
/// receipt is logged.
struct Taken {
    sender: String,
    id: [u8; 16],
    duplicate: bool,
    receipt_index: u64,
}

/// Takes messages in, in order: verifies each, writes the new ones down, logs their
/// receipts (one batch), and wakes the task that acts on them.
async fn take_in(peers: &Arc<Peers>, cases: &Arc<Cases>, items: Vec<Incoming>) -> Vec<Result<Taken, Problem>> {
    let now_s = u64::try_from(crate::clock::now().0).unwrap_or(0);
    let _one_at_a_time = peers.inbox.lock().await;
    let mut out: Vec<Option<Result<Taken, Problem>>> = items.iter().map(|_| None).collect();
    let mut fresh = Vec::new();
    let mut taken: Vec<(usize, String, [u8; 16], bool)> = Vec::new();
    let mut in_this = HashSet::new();
    for (i, item) in items.into_iter().enumerate() {
        let env = match peers.verify(&item.bytes, now_s) {
            Ok(env) => env,
            Err(r) => {
                let (sender, id) = Envelope::parse(&item.bytes, seal::envelope::DEFAULT_MAX_BODY)
                    .map(|e| (e.sender, case::engine::hex(&e.message.id)))
                    .unwrap_or_else(|_| ("-".into(), "-".into()));
                peers.record_refusal(&sender, &id, &r, now_s);
                out[i] = Some(Err(refused(&r)));
                continue;
            }
        };
        let (sender, id) = (env.sender.clone(), env.message.id);
        // Received before (the sender retried after a lost answer, or the network sent it
        // twice): not taken again; its acknowledgement is sent again.
        if peers.received(&sender, &id).is_some() || in_this.contains(&(sender.clone(), id)) {
            taken.push((i, sender, id, true));
            continue;
        }
        let entry = match peers.verify_proof(&env, item.salt.as_deref(), item.proof.as_deref()) {
            Ok(entry) => entry,
            Err(r) => {
                peers.record_refusal(&sender, &case::engine::hex(&id), &r, now_s);
                out[i] = Some(Err(refused(&r)));
                continue;
            }
        };
        let act = match Act::read(&env) {
            Ok(act) => act,
            Err(p) => {
                out[i] = Some(Err(p));
                continue;
            }
        };
        if let Err(p) = act.allowed(cases, &sender).await {
            out[i] = Some(Err(p));
            continue;
        }
        in_this.insert((sender.clone(), id));
        taken.push((i, sender, id, false));
        fresh.push((env, entry));
    }
    let written = async {
        if !fresh.is_empty() {
            let size = peers.log().map_or(0, |l| l.size());
            peers.take(&fresh, size).map_err(|e| internal("the inbox journal", e))?;
        }
        if !taken.is_empty() {
            let p = peers.clone();
            tokio::task::spawn_blocking(move || p.log_receipts())
                .await
                .map_err(|e| internal("the log", e))?
                .map_err(|e| internal("logging receipts", e))?;
        }
        Ok::<(), Problem>(())
    }
    .await;
    for (i, sender, id, duplicate) in taken {
        out[i] = Some(match (&written, peers.received(&sender, &id)) {
            (Ok(()), Some(Some(receipt_index))) => Ok(Taken { sender, id, duplicate, receipt_index }),
            (Err(p), _) => Err(p.clone()),
            _ => Err(internal("the inbox", "a message taken in without a receipt")),
        });
    }
    out.into_iter().map(|o| o.unwrap_or_else(|| Err(internal("the inbox", "a message left unanswered")))).collect()
}

fn acknowledge(peers: &Peers, t: &Taken) -> Result<String, Problem> {
    let now_s = u64::try_from(crate::clock::now().0).unwrap_or(0);
    let ack = peers
        .acknowledgement(&t.sender, &t.id, t.receipt_index, now_s)
        .map_err(|e| internal("signing the acknowledgement", e))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(ack.bytes()))
}

fn services(state: &AppState) -> Result<(Arc<Peers>, Arc<Cases>), Problem> {
    let (Some(peers), Some(cases)) = (state.peers.clone(), state.cases.clone()) else {
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no-federation",
            "This node takes no messages from other nodes",
        ));
    };
    start_applier(cases.clone(), peers.clone());
    Ok((peers, cases))
}

/// Receives one message from another node (salt and proof in the [`SALT_HEADER`] and
/// [`PROOF_HEADER`] headers).
pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    async {
        let (peers, cases) = services(&state)?;
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let item = Incoming { bytes: body.to_vec(), salt: header(SALT_HEADER), proof: header(PROOF_HEADER) };
        let t = take_in(&peers, &cases, vec![item]).await.pop().unwrap_or_else(|| Err(internal("the inbox", "-")))?;
        let status = if t.duplicate { "duplicate" } else { "accepted" };
        let ack = acknowledge(&peers, &t)?;
        Ok::<_, Problem>(
            Json(json!({ "status": status, "receipt_index": t.receipt_index, "ack": ack })).into_response(),
        )
    }
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// Receives several messages from another node, to be acted on in the order given; one
/// outcome per message.
pub async fn receive_batch(State(state): State<AppState>, body: Bytes) -> Response {
    async {
        let (peers, cases) = services(&state)?;
        let batch: Batch = serde_json::from_slice(&body).map_err(|e| {
            Problem::new(StatusCode::BAD_REQUEST, "bad-batch", "Not a batch of messages").detail(e.to_string())
        })?;
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).unwrap_or_default();
        let items = batch
            .messages
            .into_iter()
            .map(|m| Incoming { bytes: b64(&m.envelope), salt: Some(m.salt), proof: Some(m.proof) })
            .collect();
        let results = take_in(&peers, &cases, items)
            .await
            .into_iter()
            .map(|r| match r.and_then(|t| acknowledge(&peers, &t).map(|ack| (t, ack))) {
                Ok((t, ack)) => Outcome {
                    status: 200,
                    ack: Some(ack),
                    receipt_index: Some(t.receipt_index),
                    duplicate: t.duplicate,
                    problem: None,
                },
                Err(p) => Outcome {
                    status: p.status,
                    problem: Some(serde_json::to_value(&p).unwrap_or(Value::Null)),
                    ..Outcome::default()
                },
            })
            .collect();
        Ok::<_, Problem>(Json(Results { results }).into_response())
    }
    .await
    .unwrap_or_else(IntoResponse::into_response)
}

/// Starts the task that acts on the messages taken in (once per node).
pub fn start_applier(cases: Arc<Cases>, peers: Arc<Peers>) {
    let p = peers.clone();
    p.start_applier(move || {
        tokio::spawn(run_applier(cases, peers));
    });
}

/// Acts on the messages taken in, one at a time, in order; a failure that may pass (the
/// storage, a concurrent change) is tried again, the same message first.
async fn run_applier(cases: Arc<Cases>, peers: Arc<Peers>) {
    loop {
        let Some(m) = peers.next_to_apply() else {
            peers.wait_for_messages(std::time::Duration::from_secs(1)).await;
            continue;
        };
        if let Err(e) = apply(&cases, &peers, &m).await {
            tracing::warn!(sender = %m.sender, error = %e, "acting on a message failed; trying again");
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }
}

async fn apply(cases: &Cases, peers: &Peers, m: &ToApply) -> Result<(), String> {
    let now = crate::clock::now();
    let now_s = u64::try_from(now.0).unwrap_or(0);
    let detail = |p: Problem| format!("{}: {}", p.title, p.detail.unwrap_or_default());
    let env = Envelope::parse(&m.envelope, seal::envelope::DEFAULT_MAX_BODY);
    let message_type = env.as_ref().map(|e| e.message.message_type.clone()).unwrap_or_default();
    // Not acted on: the sender is told why (a refusal, queued before the abort is written:
    // after a crash between the two it is queued again, with the same ID), and it is recorded.
    let abort = |why: String| {
        let reason = Refusal::NotActed(why);
        match peers.queue_refusal(&m.sender, &m.id, &message_type, &reason) {
            Ok(()) => {}
            // A sender the directory in force no longer lists cannot be told.
            Err(e @ crate::peers::PeersError::UnknownParty(_)) => {
                tracing::warn!(sender = %m.sender, error = %e, "the sender of a message not acted on cannot be told");
            }
            Err(e) => return Err(e.to_string()),
        }
        peers.abort(&m.sender, &m.id, &reason, now_s).map_err(|e| e.to_string())
    };
    let (env, act) =
        match env.map_err(|e| e.to_string()).and_then(|env| Act::read(&env).map_err(detail).map(|a| (env, a))) {
            Ok(x) => x,
            Err(why) => return abort(why),
        };
    match act.allowed(cases, &m.sender).await {
        Ok(()) => {}
        Err(p) if p.status >= 500 => return Err(detail(p)),
        Err(p) => return abort(detail(p)),
    }
    if let Act::Refusal(body) = &act {
        // Written down where a person looks for what became of the messages sent.
        peers.record_refused_after_delivery(&env, body, now_s).map_err(|e| e.to_string())?;
        return peers.applied(&m.sender, &m.id).map_err(|e| e.to_string());
    }
    // Begun before a crash: it may have acted already.
    if let Some(b) = peers.begun(&m.sender, &m.id)
        && act.acted(cases, &b).await.map_err(detail)?
    {
        return peers.applied(&m.sender, &m.id).map_err(|e| e.to_string());
    }
    let case = act.case(&m.sender);
    let begun = Begun { last_seq: cases.last_seq(&case).await.map_err(detail)?.unwrap_or(0), case };
    peers.begin(&m.sender, &m.id, begun.clone()).map_err(|e| e.to_string())?;
    let caller = Caller { name: m.sender.clone(), role: case::Role::Peer, token_id: "envelope".into() };
    match act.run(cases, &caller, now).await {
        Ok(()) => peers.applied(&m.sender, &m.id).map_err(|e| e.to_string()),
        // It failed after acting (the case is stored; what is unlogged is logged at the
        // next start): it acted.
        Err(_) if act.acted(cases, &begun).await.map_err(detail)? => {
            peers.applied(&m.sender, &m.id).map_err(|e| e.to_string())
        }
        Err(p) if p.status >= 500 || p.kind == "version-conflict" => Err(detail(p)),
        Err(p) => abort(detail(p)),
    }
}
