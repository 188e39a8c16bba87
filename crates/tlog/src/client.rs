//! Reading a log from a directory, an object store or over HTTP(S) (anything that
//! implements [`Fetch`]): open its checkpoint under a trust policy, verify the whole tree,
//! verify consistency with an earlier checkpoint, and produce or check inclusion proofs
//! in the C2SP tlog-proof text form. Also the on-disk layout of a local log.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::checkpoint::{Checkpoint, CheckpointError, SignedCheckpoint, TrustPolicy, parse_decimal};
use crate::hash::{Hash, leaf_hash};
use crate::merkle::{self, ProofError};
use crate::note::{KeyKind, Note, NoteError, SignerKey, VerifierKey};
use crate::sequencer::{CHECKPOINT, Sequencer, SequencerConfig, SequencerError};
use crate::storage::{DirLock, DirStorage, Fetch, Storage, StorageError};
use crate::tile::{self, TileError};
use crate::tiles::{TileTree, TreeError, VerifyReport, verify_tree};

/// Where a local log keeps its signing key (never served: keep `private/` off any web
/// server that publishes the directory).
pub const KEY_FILE: &str = "private/signing.key";
/// The log's public verifier key, kept next to the tiles for convenience.
pub const VKEY_FILE: &str = "log.vkey";

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Reading failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The checkpoint is malformed, unsigned or lacks cosignatures.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// A tile, bundle or the root does not match.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// A proof does not verify.
    #[error("proof: {0}")]
    Proof(#[from] ProofError),
    /// A key is malformed.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// A tile or bundle is malformed.
    #[error(transparent)]
    Tile(#[from] TileError),
    /// The sequencer failed.
    #[error(transparent)]
    Sequencer(#[from] SequencerError),
    /// No checkpoint was found.
    #[error("no checkpoint found at {0}")]
    NoCheckpoint(String),
    /// The earlier checkpoint is for another log or a larger tree.
    #[error("the earlier checkpoint {0}")]
    Since(String),
    /// A proof file is malformed.
    #[error("malformed tlog-proof: {0}")]
    MalformedProof(String),
    /// `init` on a directory that already holds a log.
    #[error("{0} already holds a log (found {KEY_FILE}); refusing to overwrite its key")]
    AlreadyInitialized(String),
    /// The directory holds no signing key.
    #[error("{0} holds no log key ({KEY_FILE}); run `custodia log init` first")]
    NotInitialized(String),
}

/// Creates a new log in a directory: a signing key named after the origin, the public
/// key, and the signed checkpoint of the empty tree. Returns the verifier key.
pub fn init_dir(dir: &std::path::Path, origin: &str) -> Result<VerifierKey, ClientError> {
    let store = DirStorage::new(dir)?;
    let _lock = store.lock()?;
    if store.get(KEY_FILE)?.is_some() || store.get(CHECKPOINT)?.is_some() {
        return Err(ClientError::AlreadyInitialized(dir.display().to_string()));
    }
    let key = SignerKey::generate(origin, KeyKind::Ed25519)?;
    store.put(KEY_FILE, format!("{}\n", key.to_text()).as_bytes())?;
    restrict_permissions(&dir.join(KEY_FILE));
    let vkey = key.verifier();
    store.put(VKEY_FILE, format!("{vkey}\n").as_bytes())?;
    let seq = Sequencer::open(Arc::new(store), key, origin, SequencerConfig::default())?;
    seq.close();
    Ok(vkey)
}

#[cfg(unix)]
fn restrict_permissions(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}
#[cfg(not(unix))]
fn restrict_permissions(_: &std::path::Path) {}

/// A local log opened for appending: the lock is held for as long as this lives.
#[derive(Debug)]
pub struct OpenLog {
    /// The sequencer.
    pub sequencer: Sequencer,
    _lock: DirLock,
}

/// Opens a local log for appending, refusing when another process holds it.
pub fn open_dir(dir: &std::path::Path, config: SequencerConfig) -> Result<OpenLog, ClientError> {
    let store = DirStorage::new(dir)?;
    let lock = store.lock()?;
    let key_text = store.get(KEY_FILE)?.ok_or_else(|| ClientError::NotInitialized(dir.display().to_string()))?;
    let key = SignerKey::parse(&String::from_utf8_lossy(&key_text))?;
    let origin = key.name().to_string();
    let sequencer = Sequencer::open(Arc::new(store), key, &origin, config)?;
    Ok(OpenLog { sequencer, _lock: lock })
}

/// Reads and opens the latest checkpoint under a trust policy.
pub fn open_checkpoint(fetch: &dyn Fetch, policy: &TrustPolicy) -> Result<SignedCheckpoint, ClientError> {
    let msg = fetch.get(CHECKPOINT)?.ok_or_else(|| ClientError::NoCheckpoint(format!("{fetch:?}")))?;
    Ok(policy.open(&msg)?)
}

/// What `verify_log` established.
#[derive(Debug, Clone)]
pub struct LogVerification {
    /// The checkpoint that verified.
    pub checkpoint: Checkpoint,
    /// Names of the witnesses whose cosignatures verified.
    pub witnesses: Vec<String>,
    /// What the tree check read.
    pub report: VerifyReport,
    /// Size of the earlier checkpoint shown consistent, if one was given.
    pub consistent_since: Option<u64>,
}

/// Verifies a whole log: the checkpoint's signatures under `policy`, every tile from the
/// entries up to the root, and (when `since` holds an earlier signed checkpoint)
/// consistency from that checkpoint to this one.
pub fn verify_log(
    fetch: &dyn Fetch,
    policy: &TrustPolicy,
    since: Option<&[u8]>,
) -> Result<LogVerification, ClientError> {
    let signed = open_checkpoint(fetch, policy)?;
    let cp = signed.checkpoint.clone();
    let report = verify_tree(fetch, cp.size, &cp.root, true)?;
    let mut consistent_since = None;
    if let Some(old_msg) = since {
        let log_only = TrustPolicy { origin: None, log_key: policy.log_key.clone(), witnesses: Vec::new(), quorum: 0 };
        let old = log_only.open(old_msg).map_err(|e| ClientError::Since(format!("does not verify: {e}")))?.checkpoint;
        if old.origin != cp.origin {
            return Err(ClientError::Since(format!("is for origin {:?}, not {:?}", old.origin, cp.origin)));
        }
        if old.size > cp.size {
            return Err(ClientError::Since(format!("has size {}, larger than the current {}", old.size, cp.size)));
        }
        let tree = TileTree::new(fetch, cp.size);
        let proof = tree.consistency_proof(old.size)?;
        merkle::verify_consistency(old.size, cp.size, &old.root, &cp.root, &proof).map_err(|e| {
            ClientError::Since(format!("(size {}) is not consistent with the current tree: {e}", old.size))
        })?;
        consistent_since = Some(old.size);
    }
    let witnesses = signed
        .verified
        .iter()
        .filter(|v| policy.witnesses.contains(&v.key))
        .map(|v| v.key.name().to_string())
        .collect();
    Ok(LogVerification { checkpoint: cp, witnesses, report, consistent_since })
}

/// An inclusion proof in the C2SP tlog-proof v1 text form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Optional application data.
    pub extra: Option<Vec<u8>>,
    /// Index of the entry.
    pub index: u64,
    /// Inclusion proof hashes.
    pub proof: Vec<Hash>,
    /// The signed checkpoint (note bytes).
    pub checkpoint: Vec<u8>,
}

const PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

impl TlogProof {
    /// The text form.
    pub fn to_text(&self) -> Vec<u8> {
        let mut s = format!("{PROOF_HEADER}\n");
        if let Some(e) = &self.extra {
            s.push_str(&format!("extra {}\n", B64.encode(e)));
        }
        s.push_str(&format!("index {}\n", self.index));
        for h in &self.proof {
            s.push_str(&h.to_base64());
            s.push('\n');
        }
        s.push('\n');
        let mut out = s.into_bytes();
        out.extend_from_slice(&self.checkpoint);
        out
    }

    /// Parses the text form strictly.
    pub fn parse(text: &[u8]) -> Result<Self, ClientError> {
        let bad = |m: &str| ClientError::MalformedProof(m.to_string());
        let split =
            text.windows(2).position(|w| w == b"\n\n").ok_or_else(|| bad("no blank line before the checkpoint"))?;
        let head = std::str::from_utf8(&text[..split + 1]).map_err(|_| bad("not UTF-8"))?;
        let checkpoint = text[split + 2..].to_vec();
        let mut lines = head.strip_suffix('\n').unwrap_or(head).split('\n').peekable();
        if lines.next() != Some(PROOF_HEADER) {
            return Err(bad("first line must be c2sp.org/tlog-proof@v1"));
        }
        let mut extra = None;
        if let Some(l) = lines.peek().and_then(|l| l.strip_prefix("extra ")) {
            extra = Some(B64.decode(l).map_err(|_| bad("extra is not base64"))?);
            lines.next();
        }
        let index = lines
            .next()
            .and_then(|l| l.strip_prefix("index "))
            .and_then(parse_decimal)
            .ok_or_else(|| bad("expected `index <N>`"))?;
        let proof = lines
            .map(|l| Hash::from_base64(l).ok_or_else(|| bad("proof line is not a base64 hash")))
            .collect::<Result<Vec<_>, _>>()?;
        if proof.len() > 63 {
            return Err(bad("more than 63 proof hashes"));
        }
        Ok(Self { extra, index, proof, checkpoint })
    }

    /// Verifies that `entry` is included at `index` under a checkpoint that satisfies
    /// `policy`; returns the checkpoint.
    pub fn verify(&self, entry: &[u8], policy: &TrustPolicy) -> Result<SignedCheckpoint, ClientError> {
        let signed = policy.open(&self.checkpoint)?;
        let cp = &signed.checkpoint;
        merkle::verify_inclusion(&leaf_hash(entry), self.index, cp.size, &self.proof, &cp.root)?;
        Ok(signed)
    }
}

/// Builds the inclusion proof of entry `index` against the log's current checkpoint
/// (verified under `policy`), and returns it with the entry.
pub fn prove(fetch: &dyn Fetch, policy: &TrustPolicy, index: u64) -> Result<(TlogProof, Vec<u8>), ClientError> {
    let msg = fetch.get(CHECKPOINT)?.ok_or_else(|| ClientError::NoCheckpoint(format!("{fetch:?}")))?;
    let signed = policy.open(&msg)?;
    let cp = signed.checkpoint;
    let tree = TileTree::new(fetch, cp.size);
    let proof = tree.inclusion_proof(index)?;
    let bundle_path = tile::bundle_for(index / tile::TILE_WIDTH, cp.size)
        .ok_or(ProofError::IndexOutOfRange { index, size: cp.size })?;
    let data =
        crate::tiles::fetch_tile(fetch, &bundle_path)?.ok_or_else(|| TreeError::MissingTile(bundle_path.path()))?;
    let entries = tile::parse_bundle(Some(&bundle_path), &data)?;
    let entry = entries[(index % tile::TILE_WIDTH) as usize].to_vec();
    let p = TlogProof { extra: None, index, proof, checkpoint: msg };
    p.verify(&entry, policy)?;
    Ok((p, entry))
}

/// A summary of a log read without any trusted key (nothing in it is verified).
#[derive(Debug, Clone)]
pub struct Inspection {
    /// The checkpoint body as parsed.
    pub checkpoint: Checkpoint,
    /// Signature lines: name, key ID and, for 76-byte signatures, the timestamp field.
    pub signatures: Vec<(String, u32, usize)>,
    /// Hash tiles the tree size implies.
    pub tiles: usize,
    /// Entry bundles the tree size implies.
    pub bundles: u64,
}

/// Reads a log's checkpoint and layout without verifying signatures.
pub fn inspect(fetch: &dyn Fetch) -> Result<Inspection, ClientError> {
    let msg = fetch.get(CHECKPOINT)?.ok_or_else(|| ClientError::NoCheckpoint(format!("{fetch:?}")))?;
    let note = Note::parse(&msg)?;
    let checkpoint = Checkpoint::from_text(&note.text)?;
    let signatures = note.signatures.iter().map(|s| (s.name.clone(), s.key_id, s.bytes.len() - 4)).collect();
    let tiles = tile::tiles_for_size(checkpoint.size).len();
    let bundles = checkpoint.size.div_ceil(tile::TILE_WIDTH);
    Ok(Inspection { checkpoint, signatures, tiles, bundles })
}
