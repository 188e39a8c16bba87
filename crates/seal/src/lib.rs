//! `seal`: identities, signed envelopes and evidence packages in the age format.
//!
//! - [`keys`]: an Ed25519 signing key and an age X25519 identity per party, C2SP
//!   signed-note key IDs, validity periods, and the `.key` / `.pub` file formats.
//! - [`envelope`]: the signed bytes that travel between nodes (see `docs/envelope.md`),
//!   verified against a keyring with a caller-supplied time and a replay cache.
//! - [`evidence`] and [`manifest`]: packages of age-encrypted files with a signed
//!   manifest, sealed, verified without secret keys, and opened atomically.
//!
//! The library never reads a clock: every time is a parameter.
#![forbid(unsafe_code)]

mod agefile;
pub mod envelope;
pub mod evidence;
pub mod keys;
pub mod manifest;
pub mod note;

/// Re-exported so callers can wipe secret key text after parsing.
pub use zeroize;

pub use envelope::{Envelope, EnvelopeError, EnvelopeVerifier, MemoryReplayCache, Message, ReplayCache};
pub use evidence::{EvidenceError, Input, NoProgress, Progress};
pub use keys::{KeyError, KeyId, Keyring, PublicIdentity, SecretIdentity, Timestamp, Validity, VerifierKey};
pub use manifest::{FileEntry, Manifest, ManifestError};
