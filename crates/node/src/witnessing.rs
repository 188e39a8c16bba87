//! Witnessing between nodes (C2SP tlog-witness): every node is a witness for the other
//! parties' logs (`POST /witness/add-checkpoint`: it checks the log's signature and the
//! consistency with what it cosigned before, refuses to go back or to accept another root
//! for a size it cosigned, and cosigns), and every node submits its own checkpoints to the
//! witnesses the directory names for it, serving the checkpoint with their cosignatures.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tlog::checkpoint::Checkpoint;
use tlog::note::{KeyKind, Note, SignerKey, VerifierKey};
use tlog::storage::{DirStorage, Fetch};
use tlog::witness::{AddCheckpointRequest, DirWitnessState, Witness, WitnessOutcome};

use crate::peers::Peers;

/// What a submission round found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    /// Witnesses that cosigned the current checkpoint.
    pub cosigned: Vec<String>,
    /// Witnesses that hold another root for a size: a fork or a split view.
    pub conflicts: Vec<String>,
    /// Witnesses that could not be reached or refused for another reason.
    pub failed: Vec<String>,
}

/// This node as a witness of others, and as a log that others witness.
#[derive(Debug)]
pub struct Witnessing {
    /// The witness that other nodes submit to.
    pub witness: Arc<Witness<DirWitnessState>>,
    peers: Arc<Peers>,
    log_dir: PathBuf,
    held: Mutex<HashMap<String, u64>>,
    cosigned: Mutex<Option<(u64, Vec<u8>)>>,
    client: reqwest::Client,
}

/// This node's witness cosignature key (`data/witness.key`, created on first start, with
/// its verifier key in `data/witness.vkey`: the party's `cosigner` in the directory).
/// An existing key is never replaced: a file that cannot be read or parsed is an error.
pub fn witness_key(data: &Path, me: &str) -> Result<SignerKey, String> {
    let path = data.join("witness.key");
    let named = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let key = match std::fs::read_to_string(&path) {
        Ok(text) => SignerKey::parse(text.trim()).map_err(|e| named(&e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SignerKey::generate(&format!("{me}.witness"), KeyKind::Cosignature).map_err(|e| named(&e))?;
            crate::write_new_durably(&path, format!("{}\n", key.to_text()).as_bytes(), 0o600).map_err(|e| named(&e))?;
            key
        }
        Err(e) => return Err(named(&e)),
    };
    let vkey = data.join("witness.vkey");
    let text = format!("{}\n", key.verifier());
    if std::fs::read_to_string(&vkey).ok().as_deref() != Some(text.as_str()) {
        let _ = std::fs::remove_file(&vkey);
        crate::write_new_durably(&vkey, text.as_bytes(), 0o644).map_err(|e| format!("{}: {e}", vkey.display()))?;
    }
    Ok(key)
}

impl Witnessing {
    /// The witness for every other party's log in the directory, and the submitter of this
    /// node's log (in `log_dir`).
    pub fn new(peers: Arc<Peers>, key: SignerKey, data: &Path, log_dir: &Path) -> Result<Witnessing, String> {
        let logs: Vec<(String, Vec<VerifierKey>)> = peers
            .directory()
            .parties
            .iter()
            .filter(|p| p.name != peers.me())
            .filter_map(|p| p.log.clone())
            .map(|(origin, key)| (origin, vec![key]))
            .collect();
        let state = DirWitnessState::open(data.join("witness-state")).map_err(|e| e.to_string())?;
        // The peers' client: the same certificates are trusted for the witnesses.
        let client = peers.client().clone();
        Ok(Witnessing {
            witness: Arc::new(Witness::new(key, logs, state)),
            peers,
            log_dir: log_dir.to_path_buf(),
            held: Mutex::new(HashMap::new()),
            cosigned: Mutex::new(None),
            client,
        })
    }

    /// The checkpoint to serve: the latest one with the cosignatures gathered for it.
    pub fn serving_checkpoint(&self, current: &[u8]) -> Vec<u8> {
        let size = Note::parse(current).ok().and_then(|n| Checkpoint::from_text(&n.text).ok()).map(|c| c.size);
        match (&*self.cosigned.lock().unwrap_or_else(|e| e.into_inner()), size) {
            (Some((s, note)), Some(size)) if *s == size => note.clone(),
            _ => current.to_vec(),
        }
    }

    /// The last checkpoint its witnesses cosigned, with their cosignatures (none before
    /// the first round that gathered any).
    pub fn last_cosigned(&self) -> Option<Vec<u8>> {
        self.cosigned.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|(_, note)| note.clone())
    }

    /// Submits this node's current checkpoint to each of its witnesses once; gathers the
    /// cosignatures.
    pub async fn submit(&self, now: u64) -> Round {
        let mut round = Round::default();
        let store = match DirStorage::new(&self.log_dir) {
            Ok(s) => s,
            Err(_) => return round,
        };
        let Ok(Some(checkpoint)) = store.get(tlog::sequencer::CHECKPOINT) else { return round };
        let Some(cp) = Note::parse(&checkpoint).ok().and_then(|n| Checkpoint::from_text(&n.text).ok()) else {
            return round;
        };
        let Some(me) = self.peers.directory().party(self.peers.me()).cloned() else { return round };
        // What is served now (the checkpoint with the cosignatures gathered for its size),
        // or else the log's own checkpoint: never a note without its text.
        let Ok(mut note) = Note::parse(&self.serving_checkpoint(&checkpoint)).or_else(|_| Note::parse(&checkpoint))
        else {
            return round;
        };
        for w in &me.witnesses {
            let Some(party) = self.peers.directory().party(w) else { continue };
            let Some(cosigner) = party.cosigner.clone() else { continue };
            for attempt in 0..2 {
                let old = self.held.lock().unwrap_or_else(|e| e.into_inner()).get(w).copied().unwrap_or(0);
                let proof = if old > 0 && old < cp.size {
                    match tlog::tiles::TileTree::new(&store, cp.size).consistency_proof(old) {
                        Ok(p) => p,
                        Err(_) => break,
                    }
                } else {
                    Vec::new()
                };
                let body = AddCheckpointRequest { old, proof, checkpoint: checkpoint.clone() }.to_bytes();
                let url = format!("{}/witness/add-checkpoint", party.endpoint.trim_end_matches('/'));
                let Ok(r) = self.client.post(url).body(body).send().await else {
                    round.failed.push(w.clone());
                    break;
                };
                let status = r.status().as_u16();
                let ctype = r.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
                let bytes = r.bytes().await.unwrap_or_default();
                match tlog::witness::classify_response(status, ctype.as_deref(), &bytes) {
                    WitnessOutcome::Cosigned(lines) => {
                        match tlog::witness::attach_cosignatures(&checkpoint, &lines, &cosigner) {
                            Ok(with) => {
                                for s in with.signatures {
                                    note.put_signature(s);
                                }
                                round.cosigned.push(w.clone());
                            }
                            Err(e) => {
                                // It took the checkpoint (200) but its lines do not verify
                                // against the cosigner key the directory lists for it.
                                tracing::warn!(witness = %w, error = %e, "the witness's cosignature does not verify");
                                round.failed.push(w.clone());
                            }
                        }
                        self.held.lock().unwrap_or_else(|e| e.into_inner()).insert(w.clone(), cp.size);
                        break;
                    }
                    WitnessOutcome::OldSize(n) => {
                        self.held.lock().unwrap_or_else(|e| e.into_inner()).insert(w.clone(), n);
                        if attempt == 1 {
                            // Its size moved again between the two attempts: next round.
                            round.failed.push(w.clone());
                        }
                    }
                    WitnessOutcome::RootMismatch => {
                        tracing::error!(witness = %w, size = cp.size, "the witness holds another root for this log: a fork or a split view");
                        round.conflicts.push(w.clone());
                        break;
                    }
                    _ => {
                        round.failed.push(w.clone());
                        break;
                    }
                }
            }
        }
        let _ = now;
        if !round.cosigned.is_empty() {
            *self.cosigned.lock().unwrap_or_else(|e| e.into_inner()) = Some((cp.size, note.to_bytes()));
        }
        round
    }
}

#[cfg(test)]
mod tests {
    use super::witness_key;

    /// Made once (mode 0600, with its verifier key beside it), then read back; a key file
    /// that cannot be read as a key is an error naming it, and is never replaced.
    #[test]
    fn the_witness_key_is_made_once_and_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let key = witness_key(dir.path(), "AA-court").unwrap();
        assert_eq!(key.name(), "AA-court.witness");
        let vkey = std::fs::read_to_string(dir.path().join("witness.vkey")).unwrap();
        assert_eq!(vkey, format!("{}\n", key.verifier()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join("witness.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(witness_key(dir.path(), "AA-court").unwrap().verifier(), key.verifier());
        let path = dir.path().join("witness.key");
        std::fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
        let err = witness_key(dir.path(), "AA-court").unwrap_err();
        assert!(err.contains("witness.key"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), [0xff, 0xfe, 0x00], "the unreadable key is left as it was");
        assert!(!dir.path().join("witness.partial").exists());
    }
}
