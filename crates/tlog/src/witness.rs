//! A witness (C2SP tlog-witness v1.0.0 `add-checkpoint`) and its client side.
//!
//! The witness checks a submitted checkpoint against the log keys it trusts, the old size
//! against the size it last cosigned, and the consistency proof; then it persists the new
//! size and root and returns a timestamped cosignature (C2SP tlog-cosignature v1.0.1).
//! The check of the old size and the write of the new state happen under one lock, so
//! two concurrent submissions cannot roll the state back.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::checkpoint::{Checkpoint, parse_decimal};
use crate::hash::Hash;
use crate::merkle;
use crate::note::{KeyKind, Note, NoteError, SignerKey, VerifierKey};
use crate::storage::{DirLock, DirStorage, Fetch, Storage, StorageError};

/// Most consistency proof lines a request may carry.
pub const MAX_PROOF_LINES: usize = 63;
/// Content type of a 409 response body carrying the latest size.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";

/// Why the witness refused a checkpoint; each maps to the HTTP status the spec gives.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// Malformed request, or old size above the checkpoint size (400).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The checkpoint's origin is not a log this witness follows (404).
    #[error("unknown log origin {0:?}")]
    UnknownLog(String),
    /// No signature from the log's trusted keys verifies (403).
    #[error("checkpoint is not validly signed by the log: {0}")]
    Forbidden(NoteError),
    /// The old size is not the size last cosigned (409, body = that size).
    #[error("old size {old} does not match the latest cosigned size {latest}")]
    OldSizeMismatch {
        /// Old size in the request.
        old: u64,
        /// Latest size cosigned.
        latest: u64,
    },
    /// Same size as the latest cosigned checkpoint, different root: a split view (409).
    #[error("checkpoint at size {size} has root {got}, but {cosigned} was cosigned at that size")]
    RootConflict {
        /// Tree size.
        size: u64,
        /// Root submitted.
        got: Hash,
        /// Root cosigned earlier.
        cosigned: Hash,
    },
    /// The consistency proof does not verify: the log rewrote history (422).
    #[error("consistency proof from size {old} to {new} does not verify: {reason}")]
    Inconsistent {
        /// Old size.
        old: u64,
        /// New size.
        new: u64,
        /// Why.
        reason: merkle::ProofError,
    },
    /// The state could not be read or written (500).
    #[error("witness state: {0}")]
    State(#[from] StorageError),
    /// Signing failed (500).
    #[error("cosigning failed: {0}")]
    Signing(NoteError),
}

impl WitnessError {
    /// The HTTP status code for this refusal.
    pub fn status(&self) -> u16 {
        match self {
            WitnessError::BadRequest(_) => 400,
            WitnessError::UnknownLog(_) => 404,
            WitnessError::Forbidden(_) => 403,
            WitnessError::OldSizeMismatch { .. } | WitnessError::RootConflict { .. } => 409,
            WitnessError::Inconsistent { .. } => 422,
            WitnessError::State(_) | WitnessError::Signing(_) => 500,
        }
    }

    /// The response body and content type the spec asks for, when it asks for one.
    pub fn body(&self) -> Option<(&'static str, String)> {
        match self {
            WitnessError::OldSizeMismatch { latest, .. } => Some((SIZE_CONTENT_TYPE, format!("{latest}\n"))),
            _ => None,
        }
    }
}

/// Where a witness keeps the latest cosigned (size, root) of each log.
pub trait WitnessState: Send + Sync + std::fmt::Debug {
    /// The latest cosigned state of a log.
    fn load(&self, origin: &str) -> Result<Option<(u64, Hash)>, StorageError>;
    /// Durably records a new state (called under the witness's lock), with the signed
    /// checkpoint that brought it ("The witness MUST persist the new checkpoint before
    /// responding", tlog-witness): the log's signature on it is evidence if the log later
    /// shows another view.
    fn store(&self, origin: &str, size: u64, root: Hash, checkpoint: &[u8]) -> Result<(), StorageError>;
}

/// State in memory (tests, ephemeral witnesses).
#[derive(Debug, Default)]
pub struct MemoryWitnessState(Mutex<HashMap<String, (u64, Hash)>>);

impl WitnessState for MemoryWitnessState {
    fn load(&self, origin: &str) -> Result<Option<(u64, Hash)>, StorageError> {
        Ok(self.0.lock().unwrap_or_else(|e| e.into_inner()).get(origin).copied())
    }
    fn store(&self, origin: &str, size: u64, root: Hash, _checkpoint: &[u8]) -> Result<(), StorageError> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(origin.to_string(), (size, root));
        Ok(())
    }
}

/// State in a directory: one file per log (named by the SHA-256 of the origin), written
/// atomically and durably; the directory is locked so that one process owns it.
#[derive(Debug)]
pub struct DirWitnessState {
    dir: DirStorage,
    _lock: DirLock,
}

impl DirWitnessState {
    /// Opens (and locks) a state directory.
    pub fn open(path: impl Into<std::path::PathBuf>) -> Result<Self, StorageError> {
        let dir = DirStorage::new(path)?;
        let lock = dir.lock()?;
        Ok(Self { dir, _lock: lock })
    }

    fn key(origin: &str) -> String {
        let d = Sha256::digest(origin.as_bytes());
        let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
        format!("logs/{hex}")
    }
}

impl WitnessState for DirWitnessState {
    fn load(&self, origin: &str) -> Result<Option<(u64, Hash)>, StorageError> {
        let Some(data) = self.dir.get(&Self::key(origin))? else { return Ok(None) };
        let bad = || StorageError::ObjectStore {
            op: "parse",
            key: Self::key(origin),
            message: "witness state file is corrupt".into(),
        };
        let text = String::from_utf8(data).map_err(|_| bad())?;
        let mut lines = text.lines();
        if lines.next() != Some(origin) {
            return Err(bad());
        }
        let size = lines.next().and_then(parse_decimal).ok_or_else(bad)?;
        let root = lines.next().and_then(Hash::from_base64).ok_or_else(bad)?;
        Ok(Some((size, root)))
    }
    /// The file is the signed checkpoint itself, whose first lines are the origin, size and
    /// root that [`WitnessState::load`] reads (files of earlier versions hold only those).
    fn store(&self, origin: &str, size: u64, root: Hash, checkpoint: &[u8]) -> Result<(), StorageError> {
        let head = format!("{origin}\n{size}\n{root}\n");
        if checkpoint.starts_with(head.as_bytes()) {
            self.dir.put(&Self::key(origin), checkpoint)
        } else {
            self.dir.put(&Self::key(origin), head.as_bytes())
        }
    }
}

/// A parsed `add-checkpoint` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpointRequest {
    /// Size of the checkpoint the client believes the witness has.
    pub old: u64,
    /// Consistency proof from `old` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, as sent.
    pub checkpoint: Vec<u8>,
}

impl AddCheckpointRequest {
    /// Parses a request body strictly.
    pub fn parse(body: &[u8]) -> Result<Self, WitnessError> {
        let bad = |m: &str| WitnessError::BadRequest(m.to_string());
        let mut rest = body;
        let next_line = |rest: &mut &[u8]| -> Result<String, WitnessError> {
            let i = rest.iter().position(|&b| b == b'\n').ok_or_else(|| bad("line without a final newline"))?;
            let line = std::str::from_utf8(&rest[..i]).map_err(|_| bad("request is not UTF-8"))?.to_string();
            *rest = &rest[i + 1..];
            Ok(line)
        };
        let first = next_line(&mut rest)?;
        let old = first
            .strip_prefix("old ")
            .and_then(parse_decimal)
            .ok_or_else(|| bad("first line must be `old <size>` in decimal without leading zeroes"))?;
        let mut proof = Vec::new();
        loop {
            let line = next_line(&mut rest)?;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(bad("more than 63 consistency proof lines"));
            }
            proof.push(Hash::from_base64(&line).ok_or_else(|| bad("proof line is not a base64 hash"))?);
        }
        Ok(Self { old, proof, checkpoint: rest.to_vec() })
    }

    /// Encodes the request body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("old {}\n", self.old).into_bytes();
        for h in &self.proof {
            out.extend_from_slice(h.to_base64().as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.checkpoint);
        out
    }
}

/// A witness: its cosigning key, the logs it follows and its state.
#[derive(Debug)]
pub struct Witness<S: WitnessState> {
    key: SignerKey,
    logs: HashMap<String, Vec<VerifierKey>>,
    state: S,
    lock: Mutex<()>,
}

impl<S: WitnessState> Witness<S> {
    /// A witness cosigning with `key` (a cosignature key) for `logs` (origin and its keys).
    pub fn new(key: SignerKey, logs: Vec<(String, Vec<VerifierKey>)>, state: S) -> Self {
        Self { key, logs: logs.into_iter().collect(), state, lock: Mutex::new(()) }
    }

    /// The cosigner's verifier key.
    pub fn verifier(&self) -> VerifierKey {
        self.key.verifier()
    }

    /// Handles an `add-checkpoint` request body at time `now` (POSIX seconds); returns
    /// the response body (cosignature lines) or the refusal.
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> Result<Vec<u8>, WitnessError> {
        let req = AddCheckpointRequest::parse(body)?;
        let note = Note::parse(&req.checkpoint).map_err(|e| WitnessError::BadRequest(e.to_string()))?;
        let cp = Checkpoint::from_text(&note.text).map_err(|e| WitnessError::BadRequest(e.to_string()))?;
        let keys = self.logs.get(&cp.origin).ok_or_else(|| WitnessError::UnknownLog(cp.origin.clone()))?;
        note.verify(keys).map_err(WitnessError::Forbidden)?;
        if req.old > cp.size {
            return Err(WitnessError::BadRequest(format!(
                "old size {} is above the checkpoint size {}",
                req.old, cp.size
            )));
        }
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let stored = self.state.load(&cp.origin)?;
        let latest = stored.map_or(0, |s| s.0);
        if req.old != latest {
            return Err(WitnessError::OldSizeMismatch { old: req.old, latest });
        }
        match stored {
            Some((size, root)) if size == cp.size => {
                if root != cp.root {
                    return Err(WitnessError::RootConflict { size, got: cp.root, cosigned: root });
                }
                // A proof from a size to itself is empty; any other does not verify (422).
                merkle::verify_consistency(size, size, &root, &root, &req.proof)
                    .map_err(|reason| WitnessError::Inconsistent { old: size, new: size, reason })?;
            }
            Some((size, root)) => merkle::verify_consistency(size, cp.size, &root, &cp.root, &req.proof)
                .map_err(|reason| WitnessError::Inconsistent { old: size, new: cp.size, reason })?,
            // "The proof MUST be empty if the old size is zero. If the Merkle Consistency
            // Proof doesn't verify, the witness MUST respond with 422" (tlog-witness).
            None => merkle::verify_consistency(0, cp.size, &crate::hash::Hash::empty_root(), &cp.root, &req.proof)
                .map_err(|reason| WitnessError::Inconsistent { old: 0, new: cp.size, reason })?,
        }
        self.state.store(&cp.origin, cp.size, cp.root, &req.checkpoint)?;
        let sig = self.key.sign(&note.text, now).map_err(WitnessError::Signing)?;
        Ok(sig.to_line().into_bytes())
    }
}

/// Creates a new cosigning key for a witness.
pub fn generate_witness_key(name: &str) -> Result<SignerKey, NoteError> {
    SignerKey::generate(name, KeyKind::Cosignature)
}

/// What a log (the witness client) makes of a witness's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WitnessOutcome {
    /// Cosigned: the signature lines to add to the checkpoint.
    Cosigned(Vec<u8>),
    /// The witness has another old size: retry with that size and a proof from it.
    OldSize(u64),
    /// The witness holds a view that conflicts with this checkpoint (409 without a size,
    /// or 422): the roots do not match; do not retry blindly.
    RootMismatch,
    /// The witness is rate limiting (429): retry later.
    RetryLater,
    /// The witness does not follow this log (404).
    UnknownLog,
    /// The witness does not accept the log's signature (403).
    Forbidden,
    /// Any other answer.
    Failed(u16),
}

/// Interprets a witness response (status, content type, body) the way deployed
/// witnesses answer: 409 with a `text/x.tlog.size` body is an old-size mismatch, other
/// 409s and 422 are root mismatches, 429 means retry later.
pub fn classify_response(status: u16, content_type: Option<&str>, body: &[u8]) -> WitnessOutcome {
    match status {
        200 => WitnessOutcome::Cosigned(body.to_vec()),
        409 => {
            let is_size = content_type.is_some_and(|c| c.split(';').next().unwrap_or("").trim() == SIZE_CONTENT_TYPE);
            let size = std::str::from_utf8(body).ok().and_then(|s| s.strip_suffix('\n')).and_then(parse_decimal);
            match (is_size, size) {
                (true, Some(n)) => WitnessOutcome::OldSize(n),
                _ => WitnessOutcome::RootMismatch,
            }
        }
        422 => WitnessOutcome::RootMismatch,
        429 => WitnessOutcome::RetryLater,
        404 => WitnessOutcome::UnknownLog,
        403 => WitnessOutcome::Forbidden,
        other => WitnessOutcome::Failed(other),
    }
}

/// Adds the cosignature lines a witness returned to a signed checkpoint, keeping only
/// those that verify with `witness`; fails when none does.
pub fn attach_cosignatures(checkpoint: &[u8], lines: &[u8], witness: &VerifierKey) -> Result<Note, NoteError> {
    let mut note = Note::parse(checkpoint)?;
    let mut combined = checkpoint.to_vec();
    combined.extend_from_slice(lines);
    let with = Note::parse(&combined)?;
    with.verify(std::slice::from_ref(witness))?;
    for s in &with.signatures[note.signatures.len()..] {
        if s.name == witness.name() && s.key_id == witness.key_id() && !note.signatures.contains(s) {
            note.signatures.push(s.clone());
        }
    }
    Ok(note)
}
