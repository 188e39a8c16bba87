//! Identities: an Ed25519 signing key and an age X25519 identity per party, with a
//! validity period, and their file formats.
//!
//! - `NAME.key` (secret): a standard age identity file. The age tools read the
//!   `AGE-SECRET-KEY-1…` line and ignore the `#` comment lines, which carry the custodia
//!   name, validity period and Ed25519 signing key.
//! - `NAME.pub` (public): a signed note (C2SP signed-note layout) whose body names the
//!   Ed25519 verifier key (`name+keyid+base64(0x01||key)`), the age recipient `age1…` and
//!   the validity period, self-signed by the key it describes.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use age::secrecy::ExposeSecret as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::note;

/// Seconds since the Unix epoch. The library never reads a clock: callers pass the time.
pub type Timestamp = u64;

/// The C2SP signed-note signature type byte for Ed25519.
const ED25519_TYPE: u8 = 0x01;
/// Longest key name accepted.
pub const MAX_NAME_LEN: usize = 64;

/// Errors reading or using keys.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// A key name is empty, too long or has a character outside `[A-Za-z0-9._-]`.
    #[error("invalid key name {0:?}: use 1 to 64 characters from A-Z a-z 0-9 . _ -")]
    InvalidName(String),
    /// A verifier key string is not `name+hexkeyid+base64(0x01||key)`.
    #[error("invalid verifier key: {0}")]
    InvalidVerifierKey(String),
    /// A secret key file is malformed.
    #[error("invalid secret key file: {0}")]
    InvalidSecretFile(String),
    /// A public key file is malformed.
    #[error("invalid public key file: {0}")]
    InvalidPublicFile(String),
    /// A public key file's self-signature does not verify.
    #[error("public key file for {0:?}: the self-signature does not verify")]
    BadSelfSignature(String),
    /// A validity period ends before it starts.
    #[error("invalid validity period: not-after {not_after} is not after not-before {not_before}")]
    InvalidValidity {
        /// Start.
        not_before: Timestamp,
        /// End.
        not_after: Timestamp,
    },
    /// The key is used outside its validity period.
    #[error("key {name} is not valid at {at} (valid from {not_before} until {not_after})")]
    OutsideValidity {
        /// Key name.
        name: String,
        /// The time of use.
        at: Timestamp,
        /// Start of validity.
        not_before: Timestamp,
        /// End of validity (exclusive).
        not_after: Timestamp,
    },
    /// The system random number generator failed.
    #[error("random number generator failed: {0}")]
    Random(String),
}

/// Checks a key name: 1 to 64 characters from `[A-Za-z0-9._-]` (a subset of what C2SP
/// signed-note allows, also safe as a file name).
pub fn check_name(name: &str) -> Result<(), KeyError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok { Ok(()) } else { Err(KeyError::InvalidName(name.to_string())) }
}

/// A C2SP signed-note key ID: the first 4 bytes of SHA-256(name || 0x0A || 0x01 || key).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub [u8; 4]);

impl KeyId {
    /// Computes the key ID of an Ed25519 key under `name`.
    pub fn compute(name: &str, key: &VerifyingKey) -> Self {
        let mut h = Sha256::new();
        h.update(name.as_bytes());
        h.update([b'\n', ED25519_TYPE]);
        h.update(key.as_bytes());
        let d = h.finalize();
        KeyId([d[0], d[1], d[2], d[3]])
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// A validity period `[not_before, not_after)` in Unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// First second the key is valid.
    pub not_before: Timestamp,
    /// First second the key is no longer valid.
    pub not_after: Timestamp,
}

impl Validity {
    /// A validity period; `not_after` must be after `not_before`.
    pub fn new(not_before: Timestamp, not_after: Timestamp) -> Result<Self, KeyError> {
        if not_after <= not_before {
            return Err(KeyError::InvalidValidity { not_before, not_after });
        }
        Ok(Self { not_before, not_after })
    }

    /// Whether `at` falls inside the period.
    pub fn contains(&self, at: Timestamp) -> bool {
        self.not_before <= at && at < self.not_after
    }

    fn check(&self, name: &str, at: Timestamp) -> Result<(), KeyError> {
        if self.contains(at) {
            Ok(())
        } else {
            Err(KeyError::OutsideValidity {
                name: name.to_string(),
                at,
                not_before: self.not_before,
                not_after: self.not_after,
            })
        }
    }
}

/// An Ed25519 verifier key with its C2SP signed-note name and key ID.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    id: KeyId,
    key: VerifyingKey,
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({self})")
    }
}

impl VerifierKey {
    /// A verifier key for `key` under `name`.
    pub fn new(name: &str, key: VerifyingKey) -> Result<Self, KeyError> {
        check_name(name)?;
        Ok(Self { name: name.to_string(), id: KeyId::compute(name, &key), key })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The Ed25519 public key.
    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Verifies `sig` over `msg` with `verify_strict` (rejects malleable and small-order
    /// encodings).
    pub fn verify(&self, msg: &[u8], sig: &[u8; 64]) -> bool {
        let sig = ed25519_dalek::Signature::from_bytes(sig);
        self.key.verify_strict(msg, &sig).is_ok()
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = [0u8; 33];
        raw[0] = ED25519_TYPE;
        raw[1..].copy_from_slice(self.key.as_bytes());
        write!(f, "{}+{}+{}", self.name, self.id, B64.encode(raw))
    }
}

impl FromStr for VerifierKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, KeyError> {
        let bad = |m: &str| KeyError::InvalidVerifierKey(m.to_string());
        // The base64 key may itself contain '+': split off the name and ID only.
        let mut parts = s.splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected name+keyid+key"));
        };
        check_name(name)?;
        if id.len() != 8 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad("the key ID is not 8 lowercase hex digits"));
        }
        let raw = B64.decode(key).map_err(|_| bad("the key is not base64"))?;
        if raw.len() != 33 || raw[0] != ED25519_TYPE {
            return Err(bad("the key is not an Ed25519 key (0x01 followed by 32 bytes)"));
        }
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&raw[1..]);
        let vk = VerifyingKey::from_bytes(&bytes).map_err(|_| bad("the key is not a valid Ed25519 point"))?;
        let v = VerifierKey::new(name, vk)?;
        if v.id.to_string() != id {
            return Err(bad("the key ID does not match the name and key"));
        }
        Ok(v)
    }
}

/// A party's public identity: verifier key, age recipient and validity period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicIdentity {
    /// The Ed25519 verifier key.
    pub verifier: VerifierKey,
    /// The age X25519 recipient (`age1…`).
    pub recipient: String,
    /// When the keys may be used.
    pub validity: Validity,
}

const PUB_HEADER: &str = "custodia public key v1";

impl PublicIdentity {
    /// The key name.
    pub fn name(&self) -> &str {
        self.verifier.name()
    }

    /// Checks that `at` is inside the validity period.
    pub fn check_valid_at(&self, at: Timestamp) -> Result<(), KeyError> {
        self.validity.check(self.name(), at)
    }

    fn body(&self) -> String {
        format!(
            "{PUB_HEADER}\nname: {}\nverifier: {}\nrecipient: {}\nnot-before: {}\nnot-after: {}\n",
            self.name(),
            self.verifier,
            self.recipient,
            self.validity.not_before,
            self.validity.not_after
        )
    }

    /// Parses and checks a `.pub` file: the body's fields and the self-signature.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let bad = |m: String| KeyError::InvalidPublicFile(m);
        let (body, sigs) = note::split(text).map_err(|e| bad(e.to_string()))?;
        let mut lines = body.lines();
        if lines.next() != Some(PUB_HEADER) {
            return Err(bad(format!("the first line is not {PUB_HEADER:?}")));
        }
        let mut fields =
            Fields::parse(lines, &["name", "verifier", "recipient", "not-before", "not-after"]).map_err(bad)?;
        let name = fields.take("name");
        let verifier: VerifierKey = fields.take("verifier").parse()?;
        if verifier.name() != name {
            return Err(bad("the verifier key's name differs from the name line".into()));
        }
        let recipient = fields.take("recipient");
        age::x25519::Recipient::from_str(&recipient).map_err(|e| bad(format!("recipient: {e}")))?;
        let not_before = parse_time(&fields.take("not-before")).map_err(|e| bad(format!("not-before: {e}")))?;
        let not_after = parse_time(&fields.take("not-after")).map_err(|e| bad(format!("not-after: {e}")))?;
        let validity = Validity::new(not_before, not_after)?;
        let id = Self { verifier, recipient, validity };
        if id.body() != body {
            return Err(bad("the body is not in canonical form".into()));
        }
        if !note::verified_by(body, &sigs, &id.verifier) {
            return Err(KeyError::BadSelfSignature(id.name().to_string()));
        }
        Ok(id)
    }
}

/// A party's secret identity: Ed25519 signing key and age X25519 identity.
pub struct SecretIdentity {
    name: String,
    signing: SigningKey,
    age: age::x25519::Identity,
    validity: Validity,
    created: Timestamp,
}

impl fmt::Debug for SecretIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretIdentity").field("name", &self.name).field("validity", &self.validity).finish()
    }
}

impl SecretIdentity {
    /// Generates fresh keys, valid during `validity`, created at `created`.
    pub fn generate(name: &str, validity: Validity, created: Timestamp) -> Result<Self, KeyError> {
        check_name(name)?;
        let mut seed = Zeroizing::new([0u8; 32]);
        getrandom::fill(seed.as_mut()).map_err(|e| KeyError::Random(e.to_string()))?;
        let signing = SigningKey::from_bytes(&seed);
        Ok(Self { name: name.to_string(), signing, age: age::x25519::Identity::generate(), validity, created })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The validity period.
    pub fn validity(&self) -> Validity {
        self.validity
    }

    /// The public half.
    pub fn public(&self) -> PublicIdentity {
        PublicIdentity {
            verifier: self.verifier(),
            recipient: self.age.to_public().to_string(),
            validity: self.validity,
        }
    }

    /// The Ed25519 verifier key.
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            id: KeyId::compute(&self.name, &self.signing.verifying_key()),
            key: self.signing.verifying_key(),
        }
    }

    /// The age identity.
    pub fn age_identity(&self) -> &age::x25519::Identity {
        &self.age
    }

    /// Signs `msg` if `at` is inside the validity period.
    pub fn sign_at(&self, msg: &[u8], at: Timestamp) -> Result<[u8; 64], KeyError> {
        self.validity.check(&self.name, at)?;
        Ok(self.signing.sign(msg).to_bytes())
    }

    /// Renders the `.pub` file: a self-signed note.
    pub fn public_file(&self) -> String {
        let body = self.public().body();
        let sig = self.signing.sign(body.as_bytes()).to_bytes();
        note::render(&body, &[(&self.verifier(), sig)])
    }

    /// Renders the `.key` file: an age identity file with custodia comment lines.
    pub fn secret_file(&self) -> Zeroizing<String> {
        let seed = Zeroizing::new(B64.encode(self.signing.to_bytes()));
        Zeroizing::new(format!(
            "# custodia secret key: keep this file private\n\
             # created: {}\n\
             # custodia-name: {}\n\
             # custodia-not-before: {}\n\
             # custodia-not-after: {}\n\
             # custodia-signing-key: {}\n\
             # public key: {}\n\
             {}\n",
            self.created,
            self.name,
            self.validity.not_before,
            self.validity.not_after,
            seed.as_str(),
            self.age.to_public(),
            self.age.to_string().expose_secret()
        ))
    }

    /// Parses a `.key` file written by [`SecretIdentity::secret_file`].
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let bad = |m: String| KeyError::InvalidSecretFile(m);
        let mut fields = BTreeMap::new();
        let mut age_line = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# custodia-") {
                let (k, v) = rest.split_once(": ").ok_or_else(|| bad(format!("malformed line {line:?}")))?;
                if fields.insert(k.to_string(), Zeroizing::new(v.to_string())).is_some() {
                    return Err(bad(format!("custodia-{k} appears twice")));
                }
            } else if line.starts_with('#') || line.is_empty() {
                continue;
            } else if line.starts_with("AGE-SECRET-KEY-1") {
                if age_line.replace(line).is_some() {
                    return Err(bad("more than one AGE-SECRET-KEY line".into()));
                }
            } else {
                return Err(bad("unexpected line (neither a comment nor AGE-SECRET-KEY-1…)".into()));
            }
        }
        let mut get = |k: &str| fields.remove(k).ok_or_else(|| bad(format!("missing # custodia-{k}: line")));
        let name = get("name")?.to_string();
        check_name(&name)?;
        let nb = parse_time(&get("not-before")?).map_err(|e| bad(format!("not-before: {e}")))?;
        let na = parse_time(&get("not-after")?).map_err(|e| bad(format!("not-after: {e}")))?;
        let seed = get("signing-key")?;
        let raw = Zeroizing::new(B64.decode(seed.as_bytes()).map_err(|_| bad("the signing key is not base64".into()))?);
        let seed: Zeroizing<[u8; 32]> =
            Zeroizing::new(raw.as_slice().try_into().map_err(|_| bad("the signing key is not 32 bytes".into()))?);
        let age_line = age_line.ok_or_else(|| bad("no AGE-SECRET-KEY-1 line".into()))?;
        let age = age::x25519::Identity::from_str(age_line).map_err(|e| bad(format!("age identity: {e}")))?;
        let created =
            text.lines().find_map(|l| l.strip_prefix("# created: ")).and_then(|v| parse_time(v).ok()).unwrap_or(nb);
        Ok(Self { name, signing: SigningKey::from_bytes(&seed), age, validity: Validity::new(nb, na)?, created })
    }
}

/// The public keys a node trusts, by name and key ID; a name may have several keys
/// (rotation), each with its own validity period.
#[derive(Clone, Debug, Default)]
pub struct Keyring {
    keys: BTreeMap<(String, KeyId), (VerifierKey, Validity)>,
}

impl Keyring {
    /// An empty keyring.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a verifier key with its validity period.
    pub fn add(&mut self, key: VerifierKey, validity: Validity) {
        self.keys.insert((key.name.clone(), key.id), (key, validity));
    }

    /// Adds a public identity.
    pub fn add_identity(&mut self, id: &PublicIdentity) {
        self.add(id.verifier.clone(), id.validity);
    }

    /// Looks a key up by name and key ID.
    pub fn get(&self, name: &str, id: KeyId) -> Option<&(VerifierKey, Validity)> {
        self.keys.get(&(name.to_string(), id))
    }
}

pub(crate) fn parse_time(s: &str) -> Result<Timestamp, String> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return Err(format!("{s:?} is not a number of seconds"));
    }
    s.parse().map_err(|_| format!("{s:?} is out of range"))
}

/// `key: value` lines in a fixed order, each exactly once.
pub(crate) struct Fields(BTreeMap<&'static str, String>);

impl Fields {
    pub(crate) fn parse<'a>(lines: impl Iterator<Item = &'a str>, keys: &[&'static str]) -> Result<Self, String> {
        let mut out = BTreeMap::new();
        let mut lines = lines;
        for &k in keys {
            let line = lines.next().ok_or_else(|| format!("missing {k}: line"))?;
            let v = line
                .strip_prefix(k)
                .and_then(|r| r.strip_prefix(": "))
                .ok_or_else(|| format!("expected a {k}: line, found {line:?}"))?;
            out.insert(k, v.to_string());
        }
        if let Some(extra) = lines.next() {
            return Err(format!("unexpected line {extra:?}"));
        }
        Ok(Self(out))
    }

    pub(crate) fn take(&mut self, k: &'static str) -> String {
        self.0.remove(k).unwrap_or_default()
    }
}
