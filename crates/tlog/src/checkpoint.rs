//! Checkpoints (C2SP tlog-checkpoint v1.0.0): the signed head of a log.

use crate::hash::Hash;
use crate::note::{Note, NoteError, SignerKey, VerifiedSignature, VerifierKey};

/// Why a checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The note around the checkpoint is malformed or its signatures fail.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The checkpoint text breaks the format.
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    /// The checkpoint is for another log.
    #[error("checkpoint origin is {found:?}, expected {expected:?}")]
    WrongOrigin {
        /// Origin expected.
        expected: String,
        /// Origin found.
        found: String,
    },
    /// The log's own key did not sign it.
    #[error("checkpoint is not signed by the log key {0}")]
    NotSignedByLog(String),
    /// Too few witnesses cosigned it.
    #[error("checkpoint has {found} valid witness cosignatures, {required} required")]
    QuorumNotMet {
        /// Valid cosignatures from configured witnesses.
        found: usize,
        /// Required count.
        required: usize,
    },
}

/// The body of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Unique identifier of the log.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// Root hash at that size.
    pub root: Hash,
    /// Opaque extension lines (each non-empty, without newline).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: &str, size: u64, root: Hash) -> Self {
        Self { origin: origin.to_string(), size, root, extensions: Vec::new() }
    }

    /// Parses a checkpoint note text (final newline included).
    pub fn from_text(text: &str) -> Result<Self, CheckpointError> {
        let body = text.strip_suffix('\n').ok_or(CheckpointError::Malformed("text must end with a newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(CheckpointError::Malformed("origin line is empty"));
        }
        let size_line = lines.next().ok_or(CheckpointError::Malformed("missing tree size line"))?;
        let size = parse_decimal(size_line)
            .ok_or(CheckpointError::Malformed("tree size must be a decimal number with no leading zeroes"))?;
        let root_line = lines.next().ok_or(CheckpointError::Malformed("missing root hash line"))?;
        let root = Hash::from_base64(root_line)
            .ok_or(CheckpointError::Malformed("root hash must be the base64 encoding of 32 bytes"))?;
        let mut extensions = Vec::new();
        for l in lines {
            if l.is_empty() {
                return Err(CheckpointError::Malformed("extension lines must be non-empty"));
            }
            extensions.push(l.to_string());
        }
        Ok(Self { origin: origin.to_string(), size, root, extensions })
    }

    /// The note text.
    pub fn to_text(&self) -> String {
        let mut s = format!("{}\n{}\n{}\n", self.origin, self.size, self.root.to_base64());
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Signs the checkpoint with the log key, producing a signed note.
    pub fn sign(&self, key: &SignerKey) -> Result<Note, CheckpointError> {
        if self.origin.contains('\n') || self.extensions.iter().any(|e| e.is_empty() || e.contains('\n')) {
            return Err(CheckpointError::Malformed("origin and extension lines must be single non-empty lines"));
        }
        let mut note = Note::new(&self.to_text())?;
        note.sign(key, 0)?;
        Ok(note)
    }
}

/// Parses a decimal with no leading zeroes (except `0` itself) and no sign.
pub fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

/// A checkpoint with the signatures that verified.
#[derive(Debug, Clone)]
pub struct SignedCheckpoint {
    /// The checkpoint body.
    pub checkpoint: Checkpoint,
    /// The whole note.
    pub note: Note,
    /// Signatures from trusted keys that verified.
    pub verified: Vec<VerifiedSignature>,
}

/// What a reader trusts: the log key, witness keys and how many witnesses must cosign.
#[derive(Debug, Clone)]
pub struct TrustPolicy {
    /// The log's origin, when the reader knows it: a checkpoint naming another origin is
    /// another log's, even if signed by the same key (C2SP tlog-checkpoint).
    pub origin: Option<String>,
    /// The log's key (its name is normally the origin).
    pub log_key: Option<VerifierKey>,
    /// Witness (cosigner) keys.
    pub witnesses: Vec<VerifierKey>,
    /// Number of distinct witnesses that must have cosigned.
    pub quorum: usize,
}

impl TrustPolicy {
    /// Opens a signed checkpoint: parses the note, checks its origin (when one is
    /// configured), verifies the signatures of trusted keys, requires the log signature
    /// (when a log key is configured) and the witness quorum.
    pub fn open(&self, msg: &[u8]) -> Result<SignedCheckpoint, CheckpointError> {
        let note = Note::parse(msg)?;
        let checkpoint = Checkpoint::from_text(&note.text)?;
        if let Some(origin) = &self.origin
            && checkpoint.origin != *origin
        {
            return Err(CheckpointError::WrongOrigin { expected: origin.clone(), found: checkpoint.origin });
        }
        let mut keys: Vec<VerifierKey> = self.witnesses.clone();
        if let Some(k) = &self.log_key {
            keys.push(k.clone());
        }
        let verified = note.verify(&keys)?;
        if let Some(k) = &self.log_key
            && !verified.iter().any(|v| &v.key == k)
        {
            return Err(CheckpointError::NotSignedByLog(k.to_string()));
        }
        let found = verified.iter().filter(|v| self.witnesses.contains(&v.key)).count();
        if found < self.quorum {
            return Err(CheckpointError::QuorumNotMet { found, required: self.quorum });
        }
        Ok(SignedCheckpoint { checkpoint, note, verified })
    }
}
