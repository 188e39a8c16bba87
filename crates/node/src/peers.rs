//! Delivery between nodes (docs/delivery.md): every message is a signed envelope (seal)
//! from a key that the federation directory lists and that is valid, committed to the
//! sender's log before it leaves and sent with the inclusion proof of that commitment.
//! An outbox per destination delivers in order, in batches, with retries and backoff,
//! re-signing each attempt with a fresh time but the same message ID; a message leaves the
//! outbox only once the receiver's signed acknowledgement (naming the receipt it logged)
//! verified and was written down. The receiver verifies envelope and proof, writes the
//! message down, logs its receipt and acknowledges it; what it received before it only
//! acknowledges again. A message from an unknown, revoked or expired key, to another
//! recipient, outside the allowed clock skew, tampered with, without a proof that
//! verifies, or from a log that forked is refused with a reason, recorded.
//!
//! A message that a case change sends is written (held) before the change is stored and
//! released once it is ([`Peers::hold`]); the receiver's journal of messages is compacted
//! to one short line per message acted on; a message acknowledged but not acted on is
//! answered with a [`REFUSAL`]. Delivery and witnessing go over HTTPS to `https://`
//! endpoints, trusting the certificates given ([`Peers::trusting`]).

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use federation::{Accepted, Party, PartyRole};
use seal::envelope::{Envelope, EnvelopeError, EnvelopeVerifier, Message, ReplayCache};
use seal::keys::{Keyring, SecretIdentity, Validity};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tlog::checkpoint::TrustPolicy;
use tlog::client::TlogProof;
use tlog::hash::Hash;
use tlog::storage::{DirStorage, Fetch};
use tlog::tiles::TileTree;
use treaty::StateCode;

use crate::transparency::{Transparency, TransparencyError};

/// The message that opens a case at the receiver.
pub const REQUEST: &str = "custodia/request/v1";
/// The message that runs a command, as `peer`, on a case at the receiver.
pub const COMMAND: &str = "custodia/command/v1";
/// The message that tells the sender of a message, received and acknowledged, that the
/// receiver did not act on it, and why.
pub const REFUSAL: &str = "custodia/refusal/v1";

/// The body of a [`REFUSAL`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusalBody {
    /// The ID of the message not acted on (hex).
    pub message: String,
    /// Its type.
    pub message_type: String,
    /// Why, as a code (`not-acted`).
    pub code: String,
    /// Why, in words: what failed (the case's refusal of the command, the body).
    pub reason: String,
}

/// The body of a [`REQUEST`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestBody {
    /// The sender's id for the case (the receiver names its case `SENDER:ID`).
    pub case: String,
    /// The kind of case to open at the receiver: `requested` or `provider`.
    pub side: case::Side,
    /// The case file.
    pub case_file: serde_json::Value,
    /// An emergency.
    pub emergency: bool,
}

/// The body of a [`COMMAND`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommandBody {
    /// The receiver's id for the case.
    pub case: String,
    /// The command, run as `peer`.
    pub command: case::Command,
}

/// The extension of a message held until the case change that produces it is stored.
const HELD: &str = "held";

/// What ties a held message to the case change that produces it: the case, the event's
/// number, and the SHA-256 (hex) of the event's salt, which is drawn anew for each
/// attempt, so that an event stored by another attempt is not mistaken for this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// The case.
    pub case: String,
    /// The event's number in the case.
    pub seq: u64,
    /// SHA-256 of the event's salt (hex).
    pub salt_sha256: String,
}

/// An outgoing message waiting in the outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Queued {
    message_type: String,
    id: String,
    body: String,
    /// The salt of the message's commitment (hex).
    salt: String,
    /// The case whose change sends it, if a case change does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    case: Option<String>,
}

/// How the receiver remembers messages: a journal (`data/inbox-journal`, one JSON line
/// each, written with fsync): `received` (the verified envelope, before its receipt is
/// logged), `receipt` (where the receipt was logged: the message may be acknowledged),
/// `begin` (before the message is acted on, with what is needed to tell after a crash
/// whether it was), `applied` (acted on) and `abort` (not acted on, with the reason).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum JournalLine {
    Received {
        sender: String,
        id: String,
        envelope: String,
        entry: String,
        log_size: u64,
    },
    Receipt {
        sender: String,
        id: String,
        index: u64,
    },
    Begin {
        sender: String,
        id: String,
        #[serde(flatten)]
        begun: Begun,
    },
    Applied {
        sender: String,
        id: String,
    },
    Abort {
        sender: String,
        id: String,
        reason: String,
    },
    /// What compaction keeps of a message acted on (or not, for good): enough to know it
    /// was received and answer its acknowledgement again (the receipt's index), and, while
    /// the receipt is not logged, the commitment entry it binds. Nothing of the envelope.
    Seen {
        sender: String,
        id: String,
        log_size: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        receipt: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        entry: Option<String>,
    },
}

/// Bytes of the inbox journal that compaction would reclaim (the lines of messages acted on,
/// beyond their `seen` line) before it compacts, at least; and at least as many as the
/// `seen` lines hold, so that compacting costs O(1) a byte reclaimed. The journal stays
/// under its `seen` lines (about 100 bytes a message), the messages not yet acted on, and
/// this much more or as much again as the `seen` lines.
pub const DEFAULT_COMPACT_EVERY: u64 = 4 << 20;

/// What the receiver wrote down before acting on a message: the case the message acts
/// on and that case's last event then. After a crash, a message begun but not applied
/// was acted on if the case has a `peer` event after `last_seq` (messages are acted on
/// one at a time, in order, so that event is this message's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Begun {
    /// The case the message opens or acts on.
    pub case: String,
    /// The case's last event number before (0 for a case the message opens).
    pub last_seq: u64,
}

type Key = (String, [u8; 16]);

/// A sender's last checkpoint whose signature verified: the note, the key, what it says.
type VerifiedCheckpoint = (Vec<u8>, tlog::note::VerifierKey, tlog::checkpoint::Checkpoint);

/// A received message, as the journal knows it.
#[derive(Debug, Clone)]
struct Received {
    /// The sender's commitment entry (what the receipt binds).
    entry: Vec<u8>,
    /// The size of this node's log when it was received (its receipt, if logged before a
    /// crash, is after that).
    log_size: u64,
    /// Where its receipt was logged.
    receipt: Option<u64>,
    /// Its place in the order of reception.
    order: u64,
}

/// A message received and not yet acted on.
#[derive(Debug, Clone)]
pub struct ToApply {
    /// The sender.
    pub sender: String,
    /// The message ID.
    pub id: [u8; 16],
    /// The envelope, as received and verified.
    pub envelope: Vec<u8>,
}

#[derive(Debug)]
struct Journal {
    received: HashMap<Key, Received>,
    queue: std::collections::VecDeque<ToApply>,
    begun: HashMap<Key, Begun>,
    file: PathBuf,
    /// Bytes that compacting would reclaim (estimated).
    reclaimable: u64,
    /// The size of the `seen` lines when last compacted.
    compacted: u64,
    compact_every: u64,
}

impl Journal {
    fn open(file: PathBuf) -> Journal {
        let mut j = Journal {
            received: HashMap::new(),
            queue: Default::default(),
            begun: HashMap::new(),
            file,
            reclaimable: 0,
            compacted: 0,
            compact_every: DEFAULT_COMPACT_EVERY,
        };
        // A line cut by a crash does not parse and is skipped: its fsync never returned.
        let text = std::fs::read_to_string(&j.file).unwrap_or_default();
        for line in text.lines() {
            if let Ok(line) = serde_json::from_str::<JournalLine>(line) {
                j.apply(line);
            }
        }
        j.compact_if_due();
        j
    }

    /// Compacts when enough was appended since the last time.
    fn compact_if_due(&mut self) {
        if self.reclaimable >= self.compact_every.max(self.compacted)
            && let Err(e) = self.compact()
        {
            // The journal as it is stays valid: appends go on, and compaction is tried again
            // once as much more could be reclaimed.
            tracing::error!(file = %self.file.display(), error = %e, "cannot compact the inbox journal");
            self.reclaimable = 0;
        }
    }

    /// Rewrites the journal as the fewest lines that give the same state: each message not
    /// yet acted on in full (envelope, receipt, begin), each other one as one `seen` line
    /// without its envelope. Written beside it, fsync'd, renamed over it (a crash leaves
    /// the old one whole).
    fn compact(&mut self) -> std::io::Result<()> {
        let mut order: Vec<(&Key, &Received)> = self.received.iter().collect();
        order.sort_by_key(|(_, r)| r.order);
        let waiting: HashMap<Key, &ToApply> = self.queue.iter().map(|m| ((m.sender.clone(), m.id), m)).collect();
        let mut text = Vec::new();
        let mut seen_bytes = 0u64;
        let mut put = |line: JournalLine| -> std::io::Result<()> {
            let before = text.len();
            let seen = matches!(line, JournalLine::Seen { .. });
            text.extend(serde_json::to_vec(&line).map_err(std::io::Error::other)?);
            text.push(b'\n');
            if seen {
                seen_bytes += (text.len() - before) as u64;
            }
            Ok(())
        };
        for ((sender, id), r) in order {
            let (sender, hex_id) = (sender.clone(), case::engine::hex(id));
            match waiting.get(&(sender.clone(), *id)) {
                Some(m) => {
                    put(JournalLine::Received {
                        sender: sender.clone(),
                        id: hex_id.clone(),
                        envelope: b64(&m.envelope),
                        entry: b64(&r.entry),
                        log_size: r.log_size,
                    })?;
                    if let Some(index) = r.receipt {
                        put(JournalLine::Receipt { sender: sender.clone(), id: hex_id.clone(), index })?;
                    }
                    if let Some(begun) = self.begun.get(&(sender.clone(), *id)) {
                        put(JournalLine::Begin { sender, id: hex_id, begun: begun.clone() })?;
                    }
                }
                None => put(JournalLine::Seen {
                    sender,
                    id: hex_id,
                    log_size: r.log_size,
                    receipt: r.receipt,
                    entry: r.receipt.is_none().then(|| b64(&r.entry)),
                })?,
            }
        }
        let tmp = self.file.with_extension("compacting");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.file)?;
        if let Some(dir) = self.file.parent() {
            sync_dir(dir)?;
        }
        // What a `seen` line no longer holds is not kept in memory either.
        for (k, r) in &mut self.received {
            if r.receipt.is_some() && !waiting.contains_key(k) {
                r.entry = Vec::new();
            }
        }
        self.reclaimable = 0;
        self.compacted = seen_bytes;
        Ok(())
    }

    fn apply(&mut self, line: JournalLine) {
        let unb64 = |s: &str| base64::engine::general_purpose::STANDARD.decode(s).ok();
        match line {
            JournalLine::Received { sender, id, envelope, entry, log_size } => {
                if let (Some(id), Some(envelope), Some(entry)) = (unhex::<16>(&id), unb64(&envelope), unb64(&entry)) {
                    let order = self.received.len() as u64;
                    self.received.insert((sender.clone(), id), Received { entry, log_size, receipt: None, order });
                    self.queue.push_back(ToApply { sender, id, envelope });
                }
            }
            JournalLine::Receipt { sender, id, index } => {
                if let Some(r) = unhex::<16>(&id).and_then(|id| self.received.get_mut(&(sender, id))) {
                    r.receipt = Some(index);
                }
            }
            JournalLine::Begin { sender, id, begun } => {
                if let Some(id) = unhex::<16>(&id) {
                    self.begun.insert((sender, id), begun);
                }
            }
            JournalLine::Seen { sender, id, log_size, receipt, entry } => {
                if let Some(id) = unhex::<16>(&id) {
                    let entry = entry.and_then(|e| unb64(&e)).unwrap_or_default();
                    let order = self.received.len() as u64;
                    self.received.insert((sender, id), Received { entry, log_size, receipt, order });
                }
            }
            JournalLine::Applied { sender, id } | JournalLine::Abort { sender, id, .. } => {
                if let Some(id) = unhex::<16>(&id) {
                    // Its envelope (base64 in the `received` line) and its other lines.
                    if let Some(m) = self.queue.iter().find(|m| m.sender == sender && m.id == id) {
                        self.reclaimable += m.envelope.len() as u64 * 4 / 3 + 512;
                    }
                    self.queue.retain(|m| !(m.sender == sender && m.id == id));
                    self.begun.remove(&(sender, id));
                }
            }
        }
    }

    /// Writes `lines` with one fsync, then applies them.
    fn write(&mut self, lines: Vec<JournalLine>) -> std::io::Result<()> {
        let mut text = Vec::new();
        for line in &lines {
            text.extend(serde_json::to_vec(line).map_err(std::io::Error::other)?);
            text.push(b'\n');
        }
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&self.file)?;
        f.write_all(&text)?;
        f.sync_data()?;
        for line in lines {
            self.apply(line);
        }
        self.compact_if_due();
        Ok(())
    }
}

/// A message ID: 32 hex digits.
pub fn unhex_id(s: &str) -> Option<[u8; 16]> {
    unhex::<16>(s)
}

/// Parses `2N` hex digits.
fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Accepts every ID: the receiver's journal, not the envelope check, tells a message
/// already received (so that its acknowledgement can be sent again), and an
/// acknowledgement is a fact that may arrive any number of times.
struct NoReplayRecord;

impl ReplayCache for NoReplayRecord {
    fn insert_if_new(&mut self, _: &str, _: &[u8; 16], _: u64, _: u64) -> bool {
        true
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The log entry that commits the sender to a message, before it is delivered: a salted
/// SHA-256 of sender, recipient, type, ID and the body's SHA-256, so that the public log
/// shows that a message exists without showing who wrote to whom or what. The creation
/// time is left out: each delivery attempt is signed anew with its own.
pub fn message_entry(sender: &str, message: &Message, salt: &[u8; 32]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(b"custodia/message/v1\n");
    h.update(salt);
    for s in [sender, &message.recipient, &message.message_type] {
        h.update((s.len() as u32).to_be_bytes());
        h.update(s.as_bytes());
    }
    h.update(message.id);
    h.update(Sha256::digest(&message.body));
    format!("custodia/message/v1\n{}\n", b64(&h.finalize())).into_bytes()
}

/// The log entry in which the receiver records that it received a message: a SHA-256 of
/// sender, ID and the sender's commitment (itself salted, so nothing is shown).
pub fn receipt_entry(sender: &str, id: &[u8; 16], message_entry: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(b"custodia/receipt/v1\n");
    h.update((sender.len() as u32).to_be_bytes());
    h.update(sender.as_bytes());
    h.update(id);
    h.update(message_entry);
    format!("custodia/receipt/v1\n{}\n", b64(&h.finalize())).into_bytes()
}

/// The HTTP header that carries the salt of the message's commitment (64 hex digits).
pub const SALT_HEADER: &str = "custodia-commitment-salt";
/// The HTTP header that carries the inclusion proof of the message's commitment in the
/// sender's log (C2SP tlog-proof, base64).
pub const PROOF_HEADER: &str = "custodia-inclusion-proof";
/// The most messages sent in one request, unless set otherwise.
pub const DEFAULT_BATCH: usize = 256;
/// The acknowledgement: an envelope from the receiver back to the sender.
pub const ACK: &str = "custodia/ack/v1";

/// The body of an [`ACK`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckBody {
    /// The ID of the message received (hex).
    pub message: String,
    /// Where the receiver logged its receipt ([`receipt_entry`]) in its own log.
    pub receipt_index: u64,
}

/// A verified acknowledgement, as the sender keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckRecord {
    /// The receiver.
    pub from: String,
    /// The message (hex ID).
    pub message: String,
    /// The commitment's index in this node's log.
    pub message_index: u64,
    /// The receipt's index in the receiver's log.
    pub receipt_index: u64,
    /// The acknowledgement envelope, as received (base64).
    pub envelope: String,
    /// When it was verified here (Unix milliseconds, this node's own clock).
    pub verified_ms: u64,
    /// The case whose change sent the message, if a case change did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case: Option<String>,
}

/// Why the receiver refused a message. Each check has its own reason.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The envelope: unknown, expired or not yet valid key, bad signature (a tampered
    /// body), another recipient, outside the clock skew, malformed.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// No inclusion proof came with the message.
    #[error("no inclusion proof of the message's commitment: {0}")]
    NoProof(String),
    /// The directory names no log for the sender.
    #[error("the federation directory names no log for {0}, so its proofs cannot be checked")]
    NoLogKey(String),
    /// The proof does not verify (checkpoint signature, or inclusion).
    #[error("the inclusion proof does not verify: {0}")]
    BadProof(String),
    /// Received and acknowledged, but not acted on: the case refused it.
    #[error("not acted on: {0}")]
    NotActed(String),
    /// Two checkpoints of one size with different roots: the sender's log forked.
    #[error(
        "forked log: {sender} signed root {got} for size {size}, but this node holds its root {held} for that size"
    )]
    Forked {
        /// The sender.
        sender: String,
        /// The size.
        size: u64,
        /// The root this node holds.
        held: String,
        /// The root now shown.
        got: String,
    },
}

impl Refusal {
    /// A short code for the problem document and the record.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Envelope(EnvelopeError::Malformed(_)) => "malformed-envelope",
            Refusal::Envelope(_) => "envelope-refused",
            Refusal::NoProof(_) => "no-proof",
            Refusal::NoLogKey(_) => "no-log-key",
            Refusal::BadProof(_) => "bad-proof",
            Refusal::Forked { .. } => "forked-log",
            Refusal::NotActed(_) => "not-acted",
        }
    }
}

/// Why a message could not be queued or read.
#[derive(Debug, thiserror::Error)]
pub enum PeersError {
    /// A file of the node.
    #[error("{path}: {detail}")]
    File {
        /// The file.
        path: String,
        /// Why.
        detail: String,
    },
    /// The directory.
    #[error("the federation directory: {0}")]
    Directory(#[from] federation::DirectoryError),
    /// A party the directory does not list.
    #[error("no party {0} in the federation directory")]
    UnknownParty(String),
    /// A key or envelope.
    #[error("sealing the message: {0}")]
    Seal(String),
}

fn file_err(path: &Path, e: impl std::fmt::Display) -> PeersError {
    PeersError::File { path: path.display().to_string(), detail: e.to_string() }
}

/// This node's place in the federation.
#[derive(Debug)]
pub struct Peers {
    me: String,
    identity: SecretIdentity,
    directory: Accepted,
    verifier: EnvelopeVerifier,
    journal: Mutex<Journal>,
    checkpoints: Mutex<HashMap<String, BTreeMap<u64, Hash>>>,
    last_checkpoint: Mutex<HashMap<String, VerifiedCheckpoint>>,
    checkpoints_file: PathBuf,
    refused_file: PathBuf,
    outbox: PathBuf,
    logged: Mutex<HashMap<PathBuf, u64>>,
    log: OnceLock<Arc<Transparency>>,
    client: reqwest::Client,
    delivering: tokio::sync::Mutex<()>,
    /// Held while messages are taken in: one delivery at a time, so that a message sent
    /// twice at once is taken once, and messages are taken in the order they come.
    pub inbox: tokio::sync::Mutex<()>,
    applier: tokio::sync::Notify,
    applier_started: std::sync::atomic::AtomicBool,
    batch: std::sync::atomic::AtomicUsize,
    /// Woken when a message is queued.
    pub wake: tokio::sync::Notify,
}

fn keyring(directory: &Accepted) -> Keyring {
    let mut ring = Keyring::new();
    for p in &directory.directory.parties {
        for k in &p.keys {
            let Ok(key) = k.key.to_string().parse::<seal::keys::VerifierKey>() else { continue };
            let from = k.from.days_since_epoch().max(0) as u64 * 86_400;
            let until = (k.until.days_since_epoch().max(0) as u64 + 1) * 86_400;
            if let Ok(v) = Validity::new(from, until) {
                ring.add(key, v);
            }
        }
    }
    ring
}

impl Queued {
    fn message(&self, to: &str, created: u64) -> Option<(Message, [u8; 32])> {
        let id = unhex::<16>(&self.id)?;
        let salt = unhex::<32>(&self.salt)?;
        let body = base64::engine::general_purpose::STANDARD.decode(&self.body).ok()?;
        Some((Message { recipient: to.into(), message_type: self.message_type.clone(), created, id, body }, salt))
    }
}

/// One message of a batch delivery (`POST /api/v1/inbox/batch`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    /// The envelope (base64).
    pub envelope: String,
    /// The salt of the message's commitment (hex).
    pub salt: String,
    /// The inclusion proof of the commitment (C2SP tlog-proof, base64).
    pub proof: String,
}

/// A batch delivery: messages in the order they must be acted on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Batch {
    /// The messages.
    pub messages: Vec<Delivery>,
}

/// What became of one message of a batch, at the receiver.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Outcome {
    /// The HTTP status the message alone would have had.
    pub status: u16,
    /// The signed acknowledgement (base64), when the message was received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<String>,
    /// Where the receipt was logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_index: Option<u64>,
    /// Whether it had been received before.
    #[serde(default)]
    pub duplicate: bool,
    /// Why not, when refused (a problem document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<serde_json::Value>,
}

/// The answer to a batch delivery: one outcome per message, in order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Results {
    /// The outcomes.
    pub results: Vec<Outcome>,
}

/// What became of one delivery attempt.
enum Attempt {
    /// The receiver acknowledged it, and the acknowledgement verified.
    Acknowledged(AckRecord),
    /// The receiver refused it for good, with this reason.
    Refused(String),
    /// Not delivered, or not acknowledged as it must be: try again later.
    Failed,
}

impl Peers {
    /// This node (`me`, with `identity`) in `directory`, with its outbox and the record
    /// of received messages under `data`.
    pub fn new(me: &str, identity: SecretIdentity, directory: Accepted, data: &Path) -> Result<Peers, PeersError> {
        if directory.directory.party(me).is_none() {
            return Err(PeersError::UnknownParty(me.into()));
        }
        let outbox = data.join("outbox");
        std::fs::create_dir_all(&outbox).map_err(|e| file_err(&outbox, e))?;
        let journal = Journal::open(data.join("inbox-journal"));
        let checkpoints_file = data.join("peer-checkpoints");
        let mut checkpoints: HashMap<String, BTreeMap<u64, Hash>> = HashMap::new();
        for line in std::fs::read_to_string(&checkpoints_file).unwrap_or_default().lines() {
            let mut f = line.split(' ');
            if let (Some(sender), Some(size), Some(root)) = (f.next(), f.next(), f.next())
                && let (Ok(size), Some(root)) = (size.parse::<u64>(), Hash::from_base64(root))
            {
                checkpoints.entry(sender.to_string()).or_default().entry(size).or_insert(root);
            }
        }
        let logged = load_logged(&outbox).map_err(|e| file_err(&outbox, e))?;
        let verifier = EnvelopeVerifier::new(keyring(&directory), me);
        let client = client_builder().build().map_err(|e| PeersError::Seal(e.to_string()))?;
        Ok(Peers {
            me: me.into(),
            identity,
            directory,
            verifier,
            journal: Mutex::new(journal),
            checkpoints: Mutex::new(checkpoints),
            last_checkpoint: Mutex::new(HashMap::new()),
            checkpoints_file,
            refused_file: data.join("inbox-refused"),
            outbox,
            logged: Mutex::new(logged),
            log: OnceLock::new(),
            client,
            delivering: tokio::sync::Mutex::new(()),
            inbox: tokio::sync::Mutex::new(()),
            applier: tokio::sync::Notify::new(),
            applier_started: std::sync::atomic::AtomicBool::new(false),
            batch: std::sync::atomic::AtomicUsize::new(DEFAULT_BATCH),
            wake: tokio::sync::Notify::new(),
        })
    }

    /// The same node, trusting for the other nodes' HTTPS endpoints exactly the
    /// certificates in `roots_pem` (their self-signed certificates, or the authorities that
    /// issue theirs) instead of the platform's roots. `source` names the file in errors.
    pub fn trusting(mut self, roots_pem: &[u8], source: &str) -> Result<Peers, PeersError> {
        let certs = reqwest::Certificate::from_pem_bundle(roots_pem).map_err(|e| file_err(Path::new(source), e))?;
        if certs.is_empty() {
            return Err(file_err(Path::new(source), "no CERTIFICATE block in this PEM file"));
        }
        self.client = client_builder().tls_certs_only(certs).build().map_err(|e| file_err(Path::new(source), e))?;
        Ok(self)
    }

    /// The HTTP client for the other nodes (HTTPS with the trusted certificates): the
    /// outbox's, and the witnessing's.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Gives the outbox this node's log, where each message's commitment is appended
    /// before it is delivered (the cases service does this when it takes the peers).
    pub fn attach_log(&self, log: Arc<Transparency>) {
        let _ = self.log.set(log);
    }

    /// Sets how many bytes are appended to the inbox journal between two compactions, at
    /// least ([`DEFAULT_COMPACT_EVERY`] unless set; at least 1).
    pub fn set_journal_compaction(&self, bytes: u64) {
        self.journal.lock().unwrap_or_else(|e| e.into_inner()).compact_every = bytes.max(1);
    }

    /// Sets the most messages sent in one request (at least 1; [`DEFAULT_BATCH`] unless set).
    pub fn set_batch_limit(&self, messages: usize) {
        self.batch.store(messages.max(1), std::sync::atomic::Ordering::Relaxed);
    }

    /// This node's log, once attached.
    pub fn log(&self) -> Option<&Arc<Transparency>> {
        self.log.get()
    }

    /// This node's name.
    pub fn me(&self) -> &str {
        &self.me
    }

    /// The directory in force.
    pub fn directory(&self) -> &federation::Directory {
        &self.directory.directory
    }

    /// The log entry that records the directory version in force here.
    pub fn directory_entry(&self) -> Vec<u8> {
        let d = self.directory();
        let hash = case::engine::hex(&self.directory.hash);
        format!("custodia/directory/v1\nfederation {}\nversion {}\nhash {hash}\n", d.federation, d.version).into_bytes()
    }

    /// The central authority of a State.
    pub fn central_authority_of(&self, state: StateCode) -> Option<&Party> {
        self.directory().parties.iter().find(|p| p.state == state && p.role == PartyRole::CentralAuthority)
    }

    /// Verifies an incoming envelope: a directory key valid at its time (so neither
    /// unknown, revoked nor expired), an intact signature, this node as recipient, within
    /// the skew. Whether it was received before is [`Peers::received`]'s question.
    pub fn verify(&self, bytes: &[u8], now: u64) -> Result<Envelope, Refusal> {
        Ok(self.verifier.verify(bytes, now, &mut NoReplayRecord)?)
    }

    /// Verifies the inclusion proof that came with `env`: the checkpoint is signed by the
    /// sender's log key from the directory, the message's commitment (recomputed with
    /// `salt`) is included under it, and no other root for that size was seen from this
    /// sender. Returns the commitment entry.
    pub fn verify_proof(&self, env: &Envelope, salt: Option<&str>, proof: Option<&str>) -> Result<Vec<u8>, Refusal> {
        let salt = salt
            .and_then(unhex::<32>)
            .ok_or_else(|| Refusal::NoProof(format!("the {SALT_HEADER} header is missing or not 64 hex digits")))?;
        let proof = proof
            .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok())
            .ok_or_else(|| Refusal::NoProof(format!("the {PROOF_HEADER} header is missing or not base64")))?;
        let proof = TlogProof::parse(&proof).map_err(|e| Refusal::NoProof(e.to_string()))?;
        let (origin, log_key) = self
            .directory()
            .party(&env.sender)
            .and_then(|p| p.log.clone())
            .ok_or_else(|| Refusal::NoLogKey(env.sender.clone()))?;
        let entry = message_entry(&env.sender, &env.message, &salt);
        // The messages of one delivery share a checkpoint: its signature is verified once.
        let known = {
            let last = self.last_checkpoint.lock().unwrap_or_else(|e| e.into_inner());
            last.get(&env.sender)
                .filter(|(note, key, _)| *note == proof.checkpoint && *key == log_key)
                .map(|c| c.2.clone())
        };
        let cp = match known {
            Some(cp) => cp,
            None => {
                // Signed by the sender's log key, and of the log (origin) the directory names.
                let policy = TrustPolicy {
                    origin: Some(origin),
                    log_key: Some(log_key.clone()),
                    witnesses: Vec::new(),
                    quorum: 0,
                };
                let cp = policy.open(&proof.checkpoint).map_err(|e| Refusal::BadProof(e.to_string()))?.checkpoint;
                self.last_checkpoint
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(env.sender.clone(), (proof.checkpoint.clone(), log_key, cp.clone()));
                cp
            }
        };
        tlog::merkle::verify_inclusion(&tlog::hash::leaf_hash(&entry), proof.index, cp.size, &proof.proof, &cp.root)
            .map_err(|e| Refusal::BadProof(e.to_string()))?;
        let mut held = self.checkpoints.lock().unwrap_or_else(|e| e.into_inner());
        let roots = held.entry(env.sender.clone()).or_default();
        match roots.get(&cp.size) {
            Some(root) if *root != cp.root => {
                return Err(Refusal::Forked {
                    sender: env.sender.clone(),
                    size: cp.size,
                    held: root.to_base64(),
                    got: cp.root.to_base64(),
                });
            }
            Some(_) => {}
            None => {
                roots.insert(cp.size, cp.root);
                // Kept to catch a fork later; losing the last lines in a crash only means
                // fewer roots to compare with.
                let line = format!("{} {} {}\n", env.sender, cp.size, cp.root.to_base64());
                let _ = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.checkpoints_file)
                    .and_then(|mut f| f.write_all(line.as_bytes()));
            }
        }
        Ok(entry)
    }

    /// Records a refused message with its reason (`data/inbox-refused`, one JSON line).
    pub fn record_refusal(&self, sender: &str, id: &str, refusal: &Refusal, now: u64) {
        tracing::warn!(sender, id, reason = %refusal, "refused a message");
        let line = serde_json::json!({
            "at": now, "sender": sender, "id": id, "code": refusal.code(), "reason": refusal.to_string(),
        });
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.refused_file)
            .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
    }

    /// The refusals recorded so far, oldest first.
    pub fn refusals(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.refused_file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Whether message `id` from `sender` was received (verified and written down), and
    /// where its receipt was logged, if it was.
    pub fn received(&self, sender: &str, id: &[u8; 16]) -> Option<Option<u64>> {
        self.journal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .received
            .get(&(sender.to_string(), *id))
            .map(|r| r.receipt)
    }

    fn journal(&self, lines: Vec<JournalLine>) -> Result<(), PeersError> {
        let mut j = self.journal.lock().unwrap_or_else(|e| e.into_inner());
        let file = j.file.clone();
        j.write(lines).map_err(|e| file_err(&file, e))
    }

    /// Writes down, durably and in order, messages verified (envelope and proof): each
    /// with its commitment entry, and the size of this node's log now.
    pub fn take(&self, messages: &[(Envelope, Vec<u8>)], log_size: u64) -> Result<(), PeersError> {
        self.journal(
            messages
                .iter()
                .map(|(env, entry)| JournalLine::Received {
                    sender: env.sender.clone(),
                    id: case::engine::hex(&env.message.id),
                    envelope: b64(env.bytes()),
                    entry: b64(entry),
                    log_size,
                })
                .collect(),
        )
    }

    /// Logs the receipt of every message received whose receipt is not logged yet (one
    /// batch), and writes down where. A message received before a crash may have its
    /// receipt in the log already: it is looked for there first, so none is logged twice.
    /// Blocks.
    pub fn log_receipts(&self) -> Result<usize, PeersError> {
        let log = self.log.get().ok_or_else(|| PeersError::Seal("no log to record receipts in".into()))?;
        let mut missing: Vec<(Key, Received)> = {
            let j = self.journal.lock().unwrap_or_else(|e| e.into_inner());
            j.received.iter().filter(|(_, r)| r.receipt.is_none()).map(|(k, r)| (k.clone(), r.clone())).collect()
        };
        // Receipts in the order the messages came.
        missing.sort_by_key(|(_, r)| r.order);
        if missing.is_empty() {
            return Ok(0);
        }
        let read = |e: TransparencyError| PeersError::Seal(e.to_string());
        let mut lines = Vec::with_capacity(missing.len());
        let mut to_append = Vec::new();
        let size = log.size();
        // Receipts logged before a crash: after the log size written down with the message.
        let earliest = missing.iter().map(|(_, r)| r.log_size).min().unwrap_or(size);
        let logged: HashMap<Vec<u8>, u64> = if earliest < size {
            log.entries_since(earliest)
                .map_err(read)?
                .into_iter()
                .enumerate()
                .filter(|(_, e)| e.starts_with(b"custodia/receipt/v1\n"))
                .map(|(i, e)| (e, earliest + i as u64))
                .collect()
        } else {
            HashMap::new()
        };
        for ((sender, id), r) in &missing {
            let receipt = receipt_entry(sender, id, &r.entry);
            match logged.get(&receipt) {
                Some(&index) => {
                    lines.push(JournalLine::Receipt { sender: sender.clone(), id: case::engine::hex(id), index })
                }
                None => to_append.push(((sender.clone(), *id), receipt)),
            }
        }
        if !to_append.is_empty() {
            let first = log.append(to_append.iter().map(|(_, e)| e.clone()).collect()).map_err(read)?;
            for (k, ((sender, id), _)) in to_append.iter().enumerate() {
                lines.push(JournalLine::Receipt {
                    sender: sender.clone(),
                    id: case::engine::hex(id),
                    index: first + k as u64,
                });
            }
        }
        let n = lines.len();
        self.journal(lines)?;
        self.applier.notify_one();
        Ok(n)
    }

    /// The oldest message received and not yet acted on.
    pub fn next_to_apply(&self) -> Option<ToApply> {
        self.journal.lock().unwrap_or_else(|e| e.into_inner()).queue.front().cloned()
    }

    /// Messages received and not yet acted on.
    pub fn to_apply(&self) -> usize {
        self.journal.lock().unwrap_or_else(|e| e.into_inner()).queue.len()
    }

    /// Waits until every message received has been acted on (or refused).
    pub async fn settled(&self) {
        while self.to_apply() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }

    /// What was written down before acting on message `id` from `sender`, if acting on it
    /// was begun but neither finished nor aborted (a crash came in between).
    pub fn begun(&self, sender: &str, id: &[u8; 16]) -> Option<Begun> {
        self.journal.lock().unwrap_or_else(|e| e.into_inner()).begun.get(&(sender.to_string(), *id)).cloned()
    }

    /// Writes down, durably, that message `id` from `sender` is about to be acted on.
    pub fn begin(&self, sender: &str, id: &[u8; 16], begun: Begun) -> Result<(), PeersError> {
        self.journal(vec![JournalLine::Begin { sender: sender.into(), id: case::engine::hex(id), begun }])
    }

    /// Writes down, durably, that message `id` from `sender` was acted on.
    pub fn applied(&self, sender: &str, id: &[u8; 16]) -> Result<(), PeersError> {
        self.journal(vec![JournalLine::Applied { sender: sender.into(), id: case::engine::hex(id) }])
    }

    /// Writes down that message `id` from `sender` is not acted on, and why (recorded with
    /// the refusals too).
    pub fn abort(&self, sender: &str, id: &[u8; 16], reason: &Refusal, now: u64) -> Result<(), PeersError> {
        self.record_refusal(sender, &case::engine::hex(id), reason, now);
        self.journal(vec![JournalLine::Abort {
            sender: sender.into(),
            id: case::engine::hex(id),
            reason: reason.to_string(),
        }])
    }

    /// Starts acting on received messages with `start`, once per node.
    pub fn start_applier(&self, start: impl FnOnce()) {
        if !self.applier_started.swap(true, std::sync::atomic::Ordering::SeqCst) {
            start();
        }
    }

    /// Waits until a receipt was logged (or `timeout`).
    pub async fn wait_for_messages(&self, timeout: std::time::Duration) {
        let _ = tokio::time::timeout(timeout, self.applier.notified()).await;
    }

    /// The signed acknowledgement of message `id` from `to`, whose receipt this node
    /// logged at `receipt_index`: an envelope from this node's key.
    pub fn acknowledgement(
        &self,
        to: &str,
        id: &[u8; 16],
        receipt_index: u64,
        now: u64,
    ) -> Result<Envelope, PeersError> {
        let body = serde_json::to_vec(&AckBody { message: case::engine::hex(id), receipt_index })
            .map_err(|e| PeersError::Seal(e.to_string()))?;
        let m = Message::new(to, ACK, now, body).map_err(|e| PeersError::Seal(e.to_string()))?;
        Envelope::seal(&self.identity, m).map_err(|e| PeersError::Seal(e.to_string()))
    }

    /// Verifies the acknowledgement of message `id` sent to `from`: an envelope to this
    /// node from `from`'s directory key, of type [`ACK`], naming `id`. Returns where
    /// `from` logged its receipt.
    pub fn verify_ack(&self, from: &str, id: &[u8; 16], bytes: &[u8], now: u64) -> Result<u64, String> {
        let env = self.verifier.verify(bytes, now, &mut NoReplayRecord).map_err(|e| e.to_string())?;
        if env.sender != from {
            return Err(format!("acknowledged by {}, not by {from}", env.sender));
        }
        if env.message.message_type != ACK {
            return Err(format!("a {} envelope, not an acknowledgement", env.message.message_type));
        }
        let body: AckBody = serde_json::from_slice(&env.message.body).map_err(|e| e.to_string())?;
        if body.message != case::engine::hex(id) {
            return Err(format!("acknowledges message {}, not {}", body.message, case::engine::hex(id)));
        }
        Ok(body.receipt_index)
    }

    /// Queues a message to `to` (durably, in order), and wakes the deliverer.
    pub fn enqueue(&self, to: &str, message_type: &str, body: &impl Serialize) -> Result<(), PeersError> {
        self.queue(to, message_type, body).map(|_| ())
    }

    /// [`Peers::enqueue`], returning the message's ID (hex).
    pub fn queue(&self, to: &str, message_type: &str, body: &impl Serialize) -> Result<String, PeersError> {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| PeersError::Seal(e.to_string()))?;
        let (_, q) = self.write_queued(to, message_type, id, body, None)?;
        self.wake.notify_one();
        Ok(q.id)
    }

    /// Writes a message into `to`'s outbox (fsync, then renamed into place): `.msg`, ready
    /// to go, or `.held` with what ties it to the case change that produces it.
    fn write_queued(
        &self,
        to: &str,
        message_type: &str,
        id: [u8; 16],
        body: &impl Serialize,
        hold: Option<&Hold>,
    ) -> Result<(PathBuf, Queued), PeersError> {
        if self.directory().party(to).is_none() {
            return Err(PeersError::UnknownParty(to.into()));
        }
        let dir = self.outbox.join(to);
        std::fs::create_dir_all(&dir).map_err(|e| file_err(&dir, e))?;
        let mut salt = [0u8; 32];
        getrandom::fill(&mut salt).map_err(|e| PeersError::Seal(e.to_string()))?;
        let q = Queued {
            message_type: message_type.into(),
            id: case::engine::hex(&id),
            body: base64::engine::general_purpose::STANDARD
                .encode(serde_json::to_vec(body).map_err(|e| PeersError::Seal(e.to_string()))?),
            salt: case::engine::hex(&salt),
            case: hold.map(|h| h.case.clone()),
        };
        let mut text = serde_json::to_value(&q).map_err(|e| PeersError::Seal(e.to_string()))?;
        if let (Some(hold), Some(o)) = (hold, text.as_object_mut()) {
            o.insert("hold".into(), serde_json::to_value(hold).map_err(|e| PeersError::Seal(e.to_string()))?);
        }
        let ext = if hold.is_some() { HELD } else { "msg" };
        // Sequence: nanoseconds since the epoch, made unique within this directory (a held
        // message keeps its place when it is released).
        let mut seq = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let path = loop {
            let p = dir.join(format!("{seq:032}.{ext}"));
            if !p.exists() && !p.with_extension(if hold.is_some() { "msg" } else { HELD }).exists() {
                break p;
            }
            seq += 1;
        };
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp).map_err(|e| file_err(&tmp, e))?;
        f.write_all(&serde_json::to_vec(&text).unwrap_or_default())
            .and_then(|()| f.sync_all())
            .map_err(|e| file_err(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| file_err(&path, e))?;
        if hold.is_some() {
            // It must outlive a crash that comes after its change is stored.
            sync_dir(&dir).map_err(|e| file_err(&dir, e))?;
        }
        Ok((path, q))
    }

    /// Tells `to` that its message `id` (of type `message_type`), received and
    /// acknowledged here, is not acted on, and why: a [`REFUSAL`] queued like any message.
    /// Its ID is derived from the refused message's, so a refusal queued again after a
    /// crash is taken once. No refusal answers a refusal.
    pub fn queue_refusal(
        &self,
        to: &str,
        id: &[u8; 16],
        message_type: &str,
        reason: &Refusal,
    ) -> Result<(), PeersError> {
        if message_type == REFUSAL {
            return Ok(());
        }
        let mut h = Sha256::new();
        h.update(b"custodia/refusal-id/v1\n");
        h.update((to.len() as u32).to_be_bytes());
        h.update(to.as_bytes());
        h.update(id);
        let mut rid = [0u8; 16];
        rid.copy_from_slice(&h.finalize()[..16]);
        let body = RefusalBody {
            message: case::engine::hex(id),
            message_type: message_type.into(),
            code: reason.code().into(),
            reason: reason.to_string(),
        };
        self.write_queued(to, REFUSAL, rid, &body, None)?;
        self.wake.notify_one();
        Ok(())
    }

    /// Records a [`REFUSAL`] from `from`, verified: the message it names was not acted on
    /// there. Written (fsync) to `outbox/FROM/refused/ID.refusal` as one JSON object: when,
    /// who, the message, its type, the case that sent it and where its commitment is in this
    /// node's log (from the acknowledgement, when there is one), the code, the reason, and
    /// the signed refusal. Recording it again changes nothing.
    pub fn record_refused_after_delivery(
        &self,
        refusal: &Envelope,
        body: &RefusalBody,
        now: u64,
    ) -> Result<(), PeersError> {
        let from = &refusal.sender;
        let id = unhex::<16>(&body.message)
            .ok_or_else(|| PeersError::Seal(format!("{:?} is not a message ID", body.message)))?;
        let ack = self.acknowledgements(from).into_iter().rev().find(|a| a.message == body.message);
        let dir = self.outbox.join(from).join("refused");
        std::fs::create_dir_all(&dir).map_err(|e| file_err(&dir, e))?;
        let file = dir.join(format!("{}.refusal", case::engine::hex(&id)));
        if file.exists() {
            return Ok(());
        }
        let record = serde_json::json!({
            "at": now,
            "from": from,
            "message": body.message,
            "message_type": body.message_type,
            "case": ack.as_ref().and_then(|a| a.case.clone()),
            "message_index": ack.as_ref().map(|a| a.message_index),
            "code": body.code,
            "reason": body.reason,
            "refusal": b64(refusal.bytes()),
        });
        tracing::warn!(from = %from, message = %body.message, reason = %body.reason, "a message delivered was not acted on");
        let tmp = file.with_extension("tmp");
        std::fs::File::create(&tmp)
            .and_then(|mut f| {
                f.write_all(format!("{record}\n").as_bytes())?;
                f.sync_all()
            })
            .map_err(|e| file_err(&tmp, e))?;
        std::fs::rename(&tmp, &file).map_err(|e| file_err(&file, e))?;
        sync_dir(&dir).map_err(|e| file_err(&dir, e))
    }

    /// The messages this node delivered that their receiver then did not act on (each
    /// [`Peers::record_refused_after_delivery`]'s record), oldest first.
    pub fn refused_after_delivery(&self) -> Vec<serde_json::Value> {
        let mut out: Vec<serde_json::Value> = std::fs::read_dir(&self.outbox)
            .map(|d| {
                d.flatten()
                    .flat_map(|dest| {
                        std::fs::read_dir(dest.path().join("refused"))
                            .map(|f| f.flatten().collect::<Vec<_>>())
                            .unwrap_or_default()
                    })
                    .filter(|e| e.path().extension().is_some_and(|x| x == "refusal"))
                    .filter_map(|e| std::fs::read(e.path()).ok())
                    .filter_map(|raw| serde_json::from_slice(&raw).ok())
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by_key(|r| r["at"].as_u64().unwrap_or(0));
        out
    }

    /// Writes a message that a case change produces, before that change is stored: held
    /// (`outbox/DEST/*.held`, fsync'd) with the case, the event's number and the SHA-256
    /// of the event's salt, so that after a crash it can be told whether the change was
    /// stored ([`Peers::release`]) or not ([`Peers::discard`]). A held message is not sent,
    /// nor is any queued after it to the same destination, until it is released.
    pub fn hold(
        &self,
        to: &str,
        message_type: &str,
        id: [u8; 16],
        body: &impl Serialize,
        hold: &Hold,
    ) -> Result<PathBuf, PeersError> {
        self.write_queued(to, message_type, id, body, Some(hold)).map(|(p, _)| p)
    }

    /// Releases held messages (their change is stored): they are queued, in their place,
    /// and the deliverer is woken.
    pub fn release(&self, held: &[PathBuf]) -> Result<(), PeersError> {
        for p in held {
            let to = p.with_extension("msg");
            match std::fs::rename(p, &to) {
                Ok(()) => {}
                // Released already (a recovery and a command settling the same message).
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && to.exists() => {}
                Err(e) => return Err(file_err(p, e)),
            }
            // A rename lost in a crash leaves it held: the next start releases it again.
        }
        self.wake.notify_one();
        Ok(())
    }

    /// Drops held messages whose change was not stored.
    pub fn discard(&self, held: &[PathBuf]) -> Result<(), PeersError> {
        for p in held {
            match std::fs::remove_file(p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(file_err(p, e)),
            }
        }
        // Messages queued after them may go now.
        self.wake.notify_one();
        Ok(())
    }

    /// The messages held, with what ties each to its case change, oldest first. A file
    /// that does not read is returned with `None`: nothing can release it.
    pub fn held(&self) -> Vec<(PathBuf, Option<Hold>)> {
        #[derive(Deserialize)]
        struct WithHold {
            hold: Hold,
        }
        let mut out: Vec<(PathBuf, Option<Hold>)> = std::fs::read_dir(&self.outbox)
            .map(|d| {
                d.flatten()
                    .flat_map(|dest| {
                        std::fs::read_dir(dest.path()).map(|f| f.flatten().collect::<Vec<_>>()).unwrap_or_default()
                    })
                    .map(|e: std::fs::DirEntry| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == HELD))
                    .map(|p| {
                        let hold = std::fs::read(&p)
                            .ok()
                            .and_then(|raw| serde_json::from_slice::<WithHold>(&raw).ok())
                            .map(|w| w.hold);
                        (p, hold)
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.sort_by(|a, b| a.0.file_name().cmp(&b.0.file_name()));
        out
    }

    /// Messages waiting, per destination.
    pub fn pending(&self) -> usize {
        std::fs::read_dir(&self.outbox)
            .map(|d| {
                d.flatten()
                    .map(|e| {
                        std::fs::read_dir(e.path())
                            .map(|f| f.flatten().filter(|x| x.path().extension().is_some_and(|e| e == "msg")).count())
                            .unwrap_or(0)
                    })
                    .sum()
            })
            .unwrap_or(0)
    }

    /// The acknowledgements received from `to`, oldest first.
    pub fn acknowledgements(&self, to: &str) -> Vec<AckRecord> {
        std::fs::read_to_string(self.outbox.join(to).join("acks"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Appends the commitments of the queued messages not yet committed to this node's
    /// log (one batch), writes down their indices (`outbox/DEST/logged`), and returns the
    /// index of each queued message's commitment.
    async fn commit(&self, dir: &Path, to: &str, queued: &[(PathBuf, Queued)]) -> Result<Vec<u64>, String> {
        let log = self.log.get().ok_or("the outbox has no log to commit messages to")?.clone();
        let missing: Vec<(usize, Vec<u8>)> = {
            let logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
            queued
                .iter()
                .enumerate()
                .filter(|(_, (p, _))| !logged.contains_key(p))
                .map(|(i, (p, q))| {
                    q.message(to, 0)
                        .map(|(m, salt)| (i, message_entry(&self.me, &m, &salt)))
                        .ok_or_else(|| format!("{}: not a queued message", p.display()))
                })
                .collect::<Result<_, _>>()?
        };
        if !missing.is_empty() {
            let entries: Vec<Vec<u8>> = missing.iter().map(|(_, e)| e.clone()).collect();
            let first = log.append_async(entries).await.map_err(|e| e.to_string())?;
            let mut lines = String::new();
            let mut logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
            for (k, (i, _)) in missing.iter().enumerate() {
                let path = &queued[*i].0;
                let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
                lines.push_str(&format!("{name} {}\n", first + k as u64));
                logged.insert(path.clone(), first + k as u64);
            }
            // Lost in a crash, these indices only mean the commitments are logged again.
            let file = dir.join("logged");
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&file)
                .and_then(|mut f| {
                    f.write_all(lines.as_bytes())?;
                    f.sync_data()
                })
                .map_err(|e| format!("{}: {e}", file.display()))?;
        }
        let logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
        queued
            .iter()
            .map(|(p, _)| logged.get(p).copied().ok_or_else(|| format!("{}: not committed", p.display())))
            .collect()
    }

    /// Inclusion proofs (C2SP tlog-proof, base64) of the entries at `indexes` under this
    /// node's current checkpoint.
    async fn prove(&self, indexes: Vec<u64>) -> Result<Vec<String>, String> {
        let log = self.log.get().ok_or("no log")?.clone();
        tokio::task::spawn_blocking(move || {
            let store = DirStorage::new(log.dir()).map_err(|e| e.to_string())?;
            let cp = store.get(tlog::sequencer::CHECKPOINT).map_err(|e| e.to_string())?.ok_or("no checkpoint")?;
            let note = tlog::note::Note::parse(&cp).map_err(|e| e.to_string())?;
            let size = tlog::checkpoint::Checkpoint::from_text(&note.text).map_err(|e| e.to_string())?.size;
            let tree = TileTree::new(&store, size);
            indexes
                .into_iter()
                .map(|index| {
                    let proof = tree.inclusion_proof(index).map_err(|e| e.to_string())?;
                    Ok(b64(&TlogProof { extra: None, index, proof, checkpoint: cp.clone() }.to_text()))
                })
                .collect()
        })
        .await
        .map_err(|e| e.to_string())?
    }

    /// Sends `batch` (in order) and reads what became of each message, in order, up to
    /// the first that was not acknowledged as it must be.
    async fn attempt(&self, to: &str, endpoint: &str, batch: &[(&Queued, u64, &str)], now: u64) -> Vec<Attempt> {
        let mut ids = Vec::with_capacity(batch.len());
        let mut messages = Vec::with_capacity(batch.len());
        for (q, _, proof) in batch {
            let Some((message, salt)) = q.message(to, now) else {
                ids.push(None);
                continue;
            };
            let id = message.id;
            match Envelope::seal(&self.identity, message) {
                Ok(env) => {
                    ids.push(Some(id));
                    messages.push(Delivery {
                        envelope: b64(env.bytes()),
                        salt: case::engine::hex(&salt),
                        proof: (*proof).to_string(),
                    });
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot sign a message");
                    break;
                }
            }
        }
        if ids.first().is_some_and(Option::is_none) {
            return vec![Attempt::Refused("not a queued message".into())];
        }
        let n = ids.iter().take_while(|i| i.is_some()).count();
        messages.truncate(n);
        let sent = self
            .client
            .post(format!("{}/api/v1/inbox/batch", endpoint.trim_end_matches('/')))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&Batch { messages }).unwrap_or_default())
            .send()
            .await;
        let results: Vec<Outcome> = match sent {
            Ok(r) if r.status().is_success() => {
                let bytes = r.bytes().await.unwrap_or_default();
                match serde_json::from_slice::<Results>(&bytes) {
                    Ok(r) => r.results,
                    Err(e) => {
                        tracing::warn!(to, error = %e, "an answer that is not a delivery result: kept to try again");
                        return vec![Attempt::Failed];
                    }
                }
            }
            _ => return vec![Attempt::Failed], // unreachable or busy: keep the order, retry later
        };
        let mut out = Vec::new();
        for ((result, id), (q, index, _)) in results.into_iter().zip(ids.into_iter().flatten()).zip(batch) {
            let attempt = match (result.ack, result.status) {
                (Some(ack), _) => {
                    let Some(ack) = base64::engine::general_purpose::STANDARD.decode(ack).ok() else {
                        out.push(Attempt::Failed);
                        break;
                    };
                    match self.verify_ack(to, &id, &ack, now) {
                        Ok(receipt_index) => Attempt::Acknowledged(AckRecord {
                            from: to.into(),
                            message: q.id.clone(),
                            message_index: *index,
                            receipt_index,
                            envelope: b64(&ack),
                            verified_ms: std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .map_or(0, |d| d.as_millis() as u64),
                            case: q.case.clone(),
                        }),
                        Err(e) => {
                            tracing::warn!(to, reason = %e, "an acknowledgement that does not verify: kept to try again");
                            Attempt::Failed
                        }
                    }
                }
                (None, s) if (400..500).contains(&s) && ![408, 409, 429].contains(&s) => {
                    Attempt::Refused(result.problem.map(|p| p.to_string()).unwrap_or_default())
                }
                (None, _) => {
                    tracing::warn!(to, "delivered without an acknowledgement: kept to try again");
                    Attempt::Failed
                }
            };
            let stop = matches!(attempt, Attempt::Failed);
            out.push(attempt);
            if stop {
                break;
            }
        }
        if out.is_empty() {
            out.push(Attempt::Failed);
        }
        out
    }

    /// Writes down the acknowledgements (`outbox/DEST/acks`, fsync) and only then drops
    /// their messages from the outbox.
    fn record_acks(&self, dir: &Path, acked: Vec<(PathBuf, AckRecord)>) -> usize {
        if acked.is_empty() {
            return 0;
        }
        let mut text = Vec::new();
        for (_, a) in &acked {
            text.extend(serde_json::to_vec(a).unwrap_or_default());
            text.push(b'\n');
        }
        let file = dir.join("acks");
        let written = std::fs::OpenOptions::new().create(true).append(true).open(&file).and_then(|mut f| {
            f.write_all(&text)?;
            f.sync_data()
        });
        if let Err(e) = written {
            tracing::error!(file = %file.display(), error = %e, "cannot record acknowledgements: messages kept");
            return 0;
        }
        let mut logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
        for (p, _) in &acked {
            let _ = std::fs::remove_file(p);
            logged.remove(p);
        }
        acked.len()
    }

    /// Tries to deliver every queued message, in order per destination: commits the new
    /// ones to this node's log, sends each with the inclusion proof of its commitment,
    /// and drops it only once the receiver's signed acknowledgement verified and was
    /// written down. Stops at a destination's first failure (to keep the order) and
    /// returns how many were acknowledged. A message the receiver refuses for good (4xx
    /// other than 408/409/429) is moved to `outbox/DEST/refused/` with the reason beside it.
    pub async fn deliver(self: &Arc<Self>, now: u64) -> usize {
        let _one_at_a_time = self.delivering.lock().await;
        let mut delivered = 0;
        let Ok(dests) = std::fs::read_dir(&self.outbox) else { return 0 };
        for dest in dests.flatten() {
            let to = dest.file_name().to_string_lossy().to_string();
            let Some(endpoint) = self.directory().party(&to).map(|p| p.endpoint.clone()) else { continue };
            let mut files: Vec<PathBuf> = std::fs::read_dir(dest.path())
                .map(|d| {
                    d.flatten()
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|e| e == "msg" || e == HELD))
                        .collect()
                })
                .unwrap_or_default();
            files.sort();
            let mut queued = Vec::with_capacity(files.len());
            for file in files {
                // A message held until its case change is stored keeps its place: nothing
                // after it goes before it.
                if file.extension().is_some_and(|e| e == HELD) {
                    break;
                }
                let Some(q) = std::fs::read(&file).ok().and_then(|raw| serde_json::from_slice::<Queued>(&raw).ok())
                else {
                    break;
                };
                queued.push((file, q));
            }
            if queued.is_empty() {
                continue;
            }
            let proofs = match self.commit(&dest.path(), &to, &queued).await {
                Ok(indexes) => match self.prove(indexes.clone()).await {
                    Ok(p) => indexes.into_iter().zip(p).collect::<Vec<_>>(),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot prove the messages' commitments");
                        continue;
                    }
                },
                Err(e) => {
                    tracing::error!(error = %e, "cannot commit the messages to the log");
                    continue;
                }
            };
            let mut acked = Vec::new();
            let mut recording: Option<tokio::task::JoinHandle<usize>> = None;
            let mut at = 0;
            'batches: while at < queued.len() {
                // Up to the batch limit or 4 MiB a request, in order.
                let limit = self.batch.load(std::sync::atomic::Ordering::Relaxed);
                let mut end = at;
                let mut bytes = 0;
                while end < queued.len() && end - at < limit && (end == at || bytes < 4 << 20) {
                    bytes += queued[end].1.body.len() + proofs[end].1.len();
                    end += 1;
                }
                let batch: Vec<(&Queued, u64, &str)> =
                    (at..end).map(|i| (&queued[i].1, proofs[i].0, proofs[i].1.as_str())).collect();
                let outcome = self.attempt(&to, &endpoint, &batch, now).await;
                for (k, attempt) in outcome.into_iter().enumerate() {
                    let file = &queued[at + k].0;
                    match attempt {
                        Attempt::Acknowledged(a) => acked.push((file.clone(), a)),
                        Attempt::Refused(reason) => {
                            let refused = dest.path().join("refused");
                            let _ = std::fs::create_dir_all(&refused);
                            if let Some(name) = file.file_name() {
                                let _ = std::fs::write(refused.join(name).with_extension("reason"), reason);
                                let _ = std::fs::rename(file, refused.join(name));
                            }
                        }
                        Attempt::Failed => break 'batches,
                    }
                }
                // The acknowledgements are written down while the next batch travels.
                if let Some(h) = recording.take() {
                    delivered += h.await.unwrap_or(0);
                }
                let (me, dir, these) = (self.clone(), dest.path(), std::mem::take(&mut acked));
                recording = Some(tokio::task::spawn_blocking(move || me.record_acks(&dir, these)));
                at = end;
            }
            if let Some(h) = recording.take() {
                delivered += h.await.unwrap_or(0);
            }
            delivered += self.record_acks(&dest.path(), acked);
        }
        delivered
    }
}

/// The commitment indices written down per queued message (`outbox/DEST/logged`), for the
/// messages still queued; each file is rewritten without the lines of messages gone.
fn load_logged(outbox: &Path) -> std::io::Result<HashMap<PathBuf, u64>> {
    let mut out = HashMap::new();
    for dest in std::fs::read_dir(outbox)?.flatten() {
        let file = dest.path().join("logged");
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        let mut kept = String::new();
        for line in text.lines() {
            let Some((name, index)) = line.split_once(' ') else { continue };
            let (path, Ok(index)) = (dest.path().join(name), index.parse::<u64>()) else { continue };
            if path.extension().is_some_and(|e| e == "msg") && path.exists() {
                kept.push_str(line);
                kept.push('\n');
                out.insert(path, index);
            }
        }
        if kept.len() != text.len() {
            let tmp = file.with_extension("tmp");
            std::fs::write(&tmp, &kept)?;
            std::fs::File::open(&tmp)?.sync_all()?;
            std::fs::rename(&tmp, &file)?;
        }
    }
    Ok(out)
}

/// How this node talks to the others: a deadline for each request; HTTPS (rustls) for an
/// `https://` endpoint.
fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().timeout(std::time::Duration::from_secs(10))
}

/// Makes a rename or a new file in `dir` durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Loads this node's identity (`data/identity.key`, created on first start).
pub fn identity(data: &Path, me: &str, now: u64) -> Result<SecretIdentity, PeersError> {
    let key = data.join("identity.key");
    match std::fs::read_to_string(&key) {
        Ok(text) => return SecretIdentity::parse(&text).map_err(|e| file_err(&key, e)),
        // Only a missing key is made: one that cannot be read is an error, never replaced.
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(file_err(&key, e)),
        Err(_) => {}
    }
    let validity = Validity::new(now.saturating_sub(86_400), now + 2 * 365 * 86_400)
        .map_err(|e| PeersError::Seal(e.to_string()))?;
    let id = SecretIdentity::generate(me, validity, now).map_err(|e| PeersError::Seal(e.to_string()))?;
    std::fs::create_dir_all(data).map_err(|e| file_err(data, e))?;
    let public = data.join("identity.pub");
    let _ = std::fs::remove_file(&public);
    crate::write_new_durably(&public, id.public_file().as_bytes(), 0o644).map_err(|e| file_err(&public, e))?;
    crate::write_new_durably(&key, id.secret_file().as_bytes(), 0o600).map_err(|e| file_err(&key, e))?;
    Ok(id)
}
