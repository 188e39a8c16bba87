//! Signed envelopes: the exact bytes that travel between nodes and get logged.
//!
//! The byte format is documented in `docs/envelope.md`. In short, all integers big-endian:
//!
//! ```text
//! "custodia-envelope/v1\n"        21 bytes, domain separation
//! u8 len, sender name             the signer's key name
//! [u8; 4] sender key ID           C2SP signed-note key ID
//! u8 len, recipient name
//! u8 len, message type
//! u64 created                     Unix seconds
//! [u8; 16] id                     random, unique per sender
//! u32 len, body
//! [u8; 64] Ed25519 signature      over every byte before it
//! ```

use std::collections::HashMap;

use crate::keys::{self, KeyId, Keyring, SecretIdentity, Timestamp};

/// Domain-separation prefix: no other custodia signature covers bytes starting this way.
pub const MAGIC: &[u8; 21] = b"custodia-envelope/v1\n";
/// Longest body accepted by default (16 MiB).
pub const DEFAULT_MAX_BODY: usize = 16 << 20;
/// Default allowed clock skew: 5 minutes.
pub const DEFAULT_SKEW_SECS: u64 = 300;
const SIG_LEN: usize = 64;

/// Why envelope bytes do not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// Does not start with [`MAGIC`].
    #[error("not a custodia envelope (wrong prefix)")]
    BadMagic,
    /// Ends before a field is complete.
    #[error("truncated envelope: the {0} field is incomplete")]
    Truncated(&'static str),
    /// A name field is invalid.
    #[error("invalid {0} name")]
    BadName(&'static str),
    /// The message type has characters outside `[a-z0-9._/-]` or is empty.
    #[error("invalid message type")]
    BadType,
    /// The body is longer than allowed.
    #[error("the body is {len} bytes, over the limit of {max}")]
    BodyTooLong {
        /// Length claimed.
        len: u64,
        /// Limit.
        max: usize,
    },
    /// Bytes after the signature.
    #[error("{0} unexpected bytes after the signature")]
    TrailingBytes(usize),
}

/// Why an envelope is rejected. Each check has its own variant.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    /// The bytes are not an envelope.
    #[error("malformed envelope: {0}")]
    Malformed(#[from] ParseError),
    /// The sender's key is not in the keyring.
    #[error("unknown key {name}+{id}")]
    UnknownKey {
        /// Sender name.
        name: String,
        /// Key ID.
        id: KeyId,
    },
    /// The signature does not verify.
    #[error("bad signature from {name}+{id}")]
    BadSignature {
        /// Sender name.
        name: String,
        /// Key ID.
        id: KeyId,
    },
    /// The envelope was created after the sender's key expired.
    #[error("key {name}+{id} expired at {not_after}; the envelope claims creation at {created}")]
    KeyExpired {
        /// Sender name.
        name: String,
        /// Key ID.
        id: KeyId,
        /// End of validity.
        not_after: Timestamp,
        /// Creation time claimed.
        created: Timestamp,
    },
    /// The envelope was created before the sender's key became valid.
    #[error("key {name}+{id} is valid only from {not_before}; the envelope claims creation at {created}")]
    KeyNotYetValid {
        /// Sender name.
        name: String,
        /// Key ID.
        id: KeyId,
        /// Start of validity.
        not_before: Timestamp,
        /// Creation time claimed.
        created: Timestamp,
    },
    /// The envelope is addressed to another node.
    #[error("envelope addressed to {got:?}, not to {expected:?}")]
    OtherRecipient {
        /// This node.
        expected: String,
        /// Addressee.
        got: String,
    },
    /// The creation time is too far from the verifier's clock.
    #[error("creation time {created} is outside the allowed skew of {skew}s around {now}")]
    OutsideSkew {
        /// Claimed creation time.
        created: Timestamp,
        /// Verifier's time.
        now: Timestamp,
        /// Allowed skew in seconds.
        skew: u64,
    },
    /// The ID was already seen from this sender.
    #[error("replay: envelope ID {id} already seen from {sender}")]
    Replay {
        /// Sender.
        sender: String,
        /// Envelope ID in hex.
        id: String,
    },
    /// The signer's key may not sign now.
    #[error(transparent)]
    Key(#[from] keys::KeyError),
}

/// The fields of an envelope, before signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Addressee node name.
    pub recipient: String,
    /// Message type, `[a-z0-9._/-]{1,255}`.
    pub message_type: String,
    /// Creation time (Unix seconds).
    pub created: Timestamp,
    /// Unique ID; [`Message::new`] draws it at random.
    pub id: [u8; 16],
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Message {
    /// A message with a fresh random ID.
    pub fn new(recipient: &str, message_type: &str, created: Timestamp, body: Vec<u8>) -> Result<Self, keys::KeyError> {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| keys::KeyError::Random(e.to_string()))?;
        Ok(Self { recipient: recipient.to_string(), message_type: message_type.to_string(), created, id, body })
    }
}

/// A parsed envelope. [`Envelope::bytes`] are the exact bytes received, to be logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    bytes: Vec<u8>,
    /// Sender key name.
    pub sender: String,
    /// Sender key ID.
    pub key_id: KeyId,
    /// The message.
    pub message: Message,
    sig: [u8; SIG_LEN],
}

impl Envelope {
    /// Signs `message` as `sender` at time `now` (the key must be valid at the message's
    /// creation time). The message type and names must be well formed.
    pub fn seal(sender: &SecretIdentity, message: Message) -> Result<Self, EnvelopeError> {
        let vk = sender.verifier();
        let mut b = Vec::with_capacity(128 + message.body.len());
        b.extend_from_slice(MAGIC);
        push_str(&mut b, vk.name());
        b.extend_from_slice(&vk.id().0);
        keys::check_name(&message.recipient).map_err(|_| ParseError::BadName("recipient"))?;
        push_str(&mut b, &message.recipient);
        if !valid_type(message.message_type.as_bytes()) {
            return Err(ParseError::BadType.into());
        }
        push_str(&mut b, &message.message_type);
        b.extend_from_slice(&message.created.to_be_bytes());
        b.extend_from_slice(&message.id);
        let len = u32::try_from(message.body.len())
            .map_err(|_| ParseError::BodyTooLong { len: message.body.len() as u64, max: u32::MAX as usize })?;
        b.extend_from_slice(&len.to_be_bytes());
        b.extend_from_slice(&message.body);
        let sig = sender.sign_at(&b, message.created)?;
        b.extend_from_slice(&sig);
        Ok(Self { bytes: b, sender: vk.name().to_string(), key_id: vk.id(), message, sig })
    }

    /// Parses envelope bytes without verifying anything but their form.
    pub fn parse(bytes: &[u8], max_body: usize) -> Result<Self, ParseError> {
        let mut r = Reader { b: bytes, at: 0 };
        if r.take(MAGIC.len(), "prefix").map_err(|_| ParseError::BadMagic)? != MAGIC {
            return Err(ParseError::BadMagic);
        }
        let sender = r.name("sender")?;
        let key_id = KeyId(r.array("sender key ID")?);
        let recipient = r.name("recipient")?;
        let tlen = r.take(1, "message type")?[0] as usize;
        let t = r.take(tlen, "message type")?;
        if !valid_type(t) {
            return Err(ParseError::BadType);
        }
        let message_type = String::from_utf8_lossy(t).into_owned();
        let created = u64::from_be_bytes(r.array("creation time")?);
        let id: [u8; 16] = r.array("id")?;
        let blen = u32::from_be_bytes(r.array("body length")?);
        if blen as usize > max_body {
            return Err(ParseError::BodyTooLong { len: blen.into(), max: max_body });
        }
        let body = r.take(blen as usize, "body")?.to_vec();
        let sig: [u8; SIG_LEN] = r.array("signature")?;
        if r.at != bytes.len() {
            return Err(ParseError::TrailingBytes(bytes.len() - r.at));
        }
        Ok(Self {
            bytes: bytes.to_vec(),
            sender,
            key_id,
            message: Message { recipient, message_type, created, id, body },
            sig,
        })
    }

    /// The whole envelope: signed bytes followed by the signature. Log these.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes the signature covers.
    pub fn signed_bytes(&self) -> &[u8] {
        &self.bytes[..self.bytes.len() - SIG_LEN]
    }
}

fn push_str(b: &mut Vec<u8>, s: &str) {
    // Names and types are checked to be at most 255 bytes before this is called.
    b.push(s.len() as u8);
    b.extend_from_slice(s.as_bytes());
}

fn valid_type(t: &[u8]) -> bool {
    !t.is_empty()
        && t.len() <= 255
        && t.iter().all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'/' | b'-'))
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ParseError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len()).ok_or(ParseError::Truncated(what))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], ParseError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    fn name(&mut self, what: &'static str) -> Result<String, ParseError> {
        let len = self.take(1, what)?[0] as usize;
        let s = std::str::from_utf8(self.take(len, what)?).map_err(|_| ParseError::BadName(what))?;
        keys::check_name(s).map_err(|_| ParseError::BadName(what))?;
        Ok(s.to_string())
    }
}

/// Remembers envelope IDs seen per sender, so that a replay is refused.
pub trait ReplayCache {
    /// Records `id` from `sender`; returns `false` if it was already recorded. The entry
    /// may be forgotten after `keep_until` (after which the skew check refuses it).
    fn insert_if_new(&mut self, sender: &str, id: &[u8; 16], keep_until: Timestamp, now: Timestamp) -> bool;
}

/// An in-memory [`ReplayCache`]; entries are dropped once their envelopes would fail
/// the skew check anyway, so memory stays bounded by the message rate times the window.
#[derive(Debug, Default)]
pub struct MemoryReplayCache {
    seen: HashMap<(String, [u8; 16]), Timestamp>,
    last_prune: Timestamp,
}

impl MemoryReplayCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of IDs remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no ID is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

impl ReplayCache for MemoryReplayCache {
    fn insert_if_new(&mut self, sender: &str, id: &[u8; 16], keep_until: Timestamp, now: Timestamp) -> bool {
        if now > self.last_prune {
            self.seen.retain(|_, &mut until| until >= now);
            self.last_prune = now;
        }
        match self.seen.entry((sender.to_string(), *id)) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(keep_until);
                true
            }
        }
    }
}

/// Verifies envelopes addressed to one node.
#[derive(Debug, Clone)]
pub struct EnvelopeVerifier {
    keyring: Keyring,
    me: String,
    skew: u64,
    max_body: usize,
}

impl EnvelopeVerifier {
    /// A verifier for envelopes addressed to `me`, trusting `keyring`, with the default
    /// skew (5 minutes) and body limit (16 MiB).
    pub fn new(keyring: Keyring, me: &str) -> Self {
        Self { keyring, me: me.to_string(), skew: DEFAULT_SKEW_SECS, max_body: DEFAULT_MAX_BODY }
    }

    /// Sets the allowed clock skew in seconds.
    pub fn with_skew(mut self, secs: u64) -> Self {
        self.skew = secs;
        self
    }

    /// Sets the body limit.
    pub fn with_max_body(mut self, max: usize) -> Self {
        self.max_body = max;
        self
    }

    /// Parses and verifies `bytes` at time `now`. Checks, in order: form, known key,
    /// signature, key validity at the creation time, recipient, skew, and replay; the ID
    /// is recorded only when every other check passed.
    pub fn verify(&self, bytes: &[u8], now: Timestamp, cache: &mut dyn ReplayCache) -> Result<Envelope, EnvelopeError> {
        let env = Envelope::parse(bytes, self.max_body)?;
        let (name, id) = (env.sender.clone(), env.key_id);
        let Some((key, validity)) = self.keyring.get(&name, id) else {
            return Err(EnvelopeError::UnknownKey { name, id });
        };
        if !key.verify(env.signed_bytes(), &env.sig) {
            return Err(EnvelopeError::BadSignature { name, id });
        }
        let created = env.message.created;
        if created < validity.not_before {
            return Err(EnvelopeError::KeyNotYetValid { name, id, not_before: validity.not_before, created });
        }
        if created >= validity.not_after {
            return Err(EnvelopeError::KeyExpired { name, id, not_after: validity.not_after, created });
        }
        if env.message.recipient != self.me {
            return Err(EnvelopeError::OtherRecipient { expected: self.me.clone(), got: env.message.recipient });
        }
        if created.abs_diff(now) > self.skew {
            return Err(EnvelopeError::OutsideSkew { created, now, skew: self.skew });
        }
        let keep_until = created.saturating_add(self.skew);
        if !cache.insert_if_new(&name, &env.message.id, keep_until, now) {
            return Err(EnvelopeError::Replay { sender: name, id: hex::encode(env.message.id) });
        }
        Ok(env)
    }
}
