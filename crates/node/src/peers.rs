//! Delivery between nodes: every message is a signed envelope (seal) from a key that the
//! federation directory lists and that is valid; an outbox per destination delivers in
//! order with retries and backoff, re-signing each attempt with a fresh time but the same
//! message ID, so that the receiver, which remembers every ID it processed, sees each
//! message exactly once. A message from an unknown or expired key, to another recipient,
//! outside the allowed clock skew, or tampered with is refused with a reason.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine as _;
use federation::{Accepted, Party, PartyRole};
use seal::envelope::{Envelope, EnvelopeError, EnvelopeVerifier, Message, ReplayCache};
use seal::keys::{Keyring, SecretIdentity, Validity};
use serde::{Deserialize, Serialize};
use treaty::StateCode;

/// The message that opens a case at the receiver.
pub const REQUEST: &str = "custodia/request/v1";
/// The message that runs a command, as `peer`, on a case at the receiver.
pub const COMMAND: &str = "custodia/command/v1";

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

/// An outgoing message waiting in the outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Queued {
    message_type: String,
    id: String,
    body: String,
}

/// IDs of every message processed, per sender, kept on disk (one line each), so that a
/// retried or replayed message is recognised after any downtime.
#[derive(Debug)]
struct Seen {
    ids: HashSet<(String, [u8; 16])>,
    file: PathBuf,
}

impl Seen {
    fn open(file: PathBuf) -> std::io::Result<Seen> {
        let mut ids = HashSet::new();
        if let Ok(text) = std::fs::read_to_string(&file) {
            for line in text.lines() {
                let Some((sender, hexid)) = line.split_once(' ') else { continue };
                let mut id = [0u8; 16];
                if hexid.len() == 32 && hexid.bytes().all(|b| b.is_ascii_hexdigit()) {
                    for (i, o) in id.iter_mut().enumerate() {
                        *o = u8::from_str_radix(&hexid[2 * i..2 * i + 2], 16).unwrap_or(0);
                    }
                    ids.insert((sender.to_string(), id));
                }
            }
        }
        Ok(Seen { ids, file })
    }
}

impl ReplayCache for Seen {
    fn insert_if_new(&mut self, sender: &str, id: &[u8; 16], _keep_until: u64, _now: u64) -> bool {
        if self.ids.contains(&(sender.to_string(), *id)) {
            return false;
        }
        let line = format!("{sender} {}\n", case::engine::hex(id));
        let written = std::fs::OpenOptions::new().create(true).append(true).open(&self.file).and_then(|mut f| {
            f.write_all(line.as_bytes())?;
            f.sync_data()
        });
        if written.is_err() {
            // Not durable: refuse as if seen; the sender retries later.
            return false;
        }
        self.ids.insert((sender.to_string(), *id));
        true
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
    seen: Mutex<Seen>,
    outbox: PathBuf,
    client: reqwest::Client,
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

impl Peers {
    /// This node (`me`, with `identity`) in `directory`, with its outbox and the record
    /// of processed messages under `data`.
    pub fn new(me: &str, identity: SecretIdentity, directory: Accepted, data: &Path) -> Result<Peers, PeersError> {
        if directory.directory.party(me).is_none() {
            return Err(PeersError::UnknownParty(me.into()));
        }
        let outbox = data.join("outbox");
        std::fs::create_dir_all(&outbox).map_err(|e| file_err(&outbox, e))?;
        let seen_file = data.join("inbox-seen");
        let seen = Seen::open(seen_file.clone()).map_err(|e| file_err(&seen_file, e))?;
        let verifier = EnvelopeVerifier::new(keyring(&directory), me);
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| PeersError::Seal(e.to_string()))?;
        Ok(Peers {
            me: me.into(),
            identity,
            directory,
            verifier,
            seen: Mutex::new(seen),
            outbox,
            client,
            wake: tokio::sync::Notify::new(),
        })
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

    /// Verifies an incoming envelope: a directory key valid at its time, this node as
    /// recipient, within the skew, never seen before.
    pub fn verify(&self, bytes: &[u8], now: u64) -> Result<Envelope, EnvelopeError> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        self.verifier.verify(bytes, now, &mut *seen)
    }

    /// Queues a message to `to` (durably, in order), and wakes the deliverer.
    pub fn enqueue(&self, to: &str, message_type: &str, body: &impl Serialize) -> Result<(), PeersError> {
        if self.directory().party(to).is_none() {
            return Err(PeersError::UnknownParty(to.into()));
        }
        let dir = self.outbox.join(to);
        std::fs::create_dir_all(&dir).map_err(|e| file_err(&dir, e))?;
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| PeersError::Seal(e.to_string()))?;
        let q = Queued {
            message_type: message_type.into(),
            id: case::engine::hex(&id),
            body: base64::engine::general_purpose::STANDARD
                .encode(serde_json::to_vec(body).map_err(|e| PeersError::Seal(e.to_string()))?),
        };
        // Sequence: nanoseconds since the epoch, made unique within this directory.
        let mut seq = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let path = loop {
            let p = dir.join(format!("{seq:032}.msg"));
            if !p.exists() {
                break p;
            }
            seq += 1;
        };
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp).map_err(|e| file_err(&tmp, e))?;
        f.write_all(&serde_json::to_vec(&q).unwrap_or_default())
            .and_then(|()| f.sync_all())
            .map_err(|e| file_err(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| file_err(&path, e))?;
        self.wake.notify_one();
        Ok(())
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

    /// Tries to deliver every queued message, in order per destination; stops at a
    /// destination's first failure (to keep the order) and returns how many were
    /// delivered. A message the receiver refuses for good (4xx other than 408/409/429) is
    /// moved to `outbox/DEST/refused/` with the receiver's reason beside it.
    pub async fn deliver(&self, now: u64) -> usize {
        let mut delivered = 0;
        let Ok(dests) = std::fs::read_dir(&self.outbox) else { return 0 };
        for dest in dests.flatten() {
            let to = dest.file_name().to_string_lossy().to_string();
            let Some(endpoint) = self.directory().party(&to).map(|p| p.endpoint.clone()) else { continue };
            let mut files: Vec<PathBuf> = std::fs::read_dir(dest.path())
                .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "msg")).collect())
                .unwrap_or_default();
            files.sort();
            for file in files {
                let Ok(raw) = std::fs::read(&file) else { break };
                let Ok(q) = serde_json::from_slice::<Queued>(&raw) else { break };
                let mut id = [0u8; 16];
                for (i, o) in id.iter_mut().enumerate() {
                    *o = u8::from_str_radix(q.id.get(2 * i..2 * i + 2).unwrap_or("00"), 16).unwrap_or(0);
                }
                let body = base64::engine::general_purpose::STANDARD.decode(&q.body).unwrap_or_default();
                let message =
                    Message { recipient: to.clone(), message_type: q.message_type.clone(), created: now, id, body };
                let Ok(env) = Envelope::seal(&self.identity, message) else { break };
                let sent = self
                    .client
                    .post(format!("{}/api/v1/inbox", endpoint.trim_end_matches('/')))
                    .body(env.bytes().to_vec())
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => {
                        let _ = std::fs::remove_file(&file);
                        delivered += 1;
                    }
                    Ok(r) if r.status().is_client_error() && ![408, 409, 429].contains(&r.status().as_u16()) => {
                        let reason = r.text().await.unwrap_or_default();
                        let refused = dest.path().join("refused");
                        let _ = std::fs::create_dir_all(&refused);
                        if let Some(name) = file.file_name() {
                            let _ = std::fs::write(refused.join(name).with_extension("reason"), reason);
                            let _ = std::fs::rename(&file, refused.join(name));
                        }
                    }
                    _ => break, // unreachable or busy: keep the order, retry later
                }
            }
        }
        delivered
    }
}

/// Loads this node's identity (`data/identity.key`, created on first start).
pub fn identity(data: &Path, me: &str, now: u64) -> Result<SecretIdentity, PeersError> {
    let key = data.join("identity.key");
    if let Ok(text) = std::fs::read_to_string(&key) {
        return SecretIdentity::parse(&text).map_err(|e| file_err(&key, e));
    }
    let validity = Validity::new(now.saturating_sub(86_400), now + 2 * 365 * 86_400)
        .map_err(|e| PeersError::Seal(e.to_string()))?;
    let id = SecretIdentity::generate(me, validity, now).map_err(|e| PeersError::Seal(e.to_string()))?;
    std::fs::create_dir_all(data).map_err(|e| file_err(data, e))?;
    std::fs::write(&key, id.secret_file().as_bytes()).map_err(|e| file_err(&key, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).map_err(|e| file_err(&key, e))?;
    }
    std::fs::write(data.join("identity.pub"), id.public_file()).map_err(|e| file_err(data, e))?;
    Ok(id)
}
