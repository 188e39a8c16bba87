//! Signed notes (C2SP signed-note v1.0.0) with Ed25519 signatures (type 0x01) and
//! timestamped Ed25519 cosignatures (type 0x04, C2SP tlog-cosignature v1.0.1).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature as EdSignature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Signature type byte of plain Ed25519 note signatures.
pub const TYPE_ED25519: u8 = 0x01;
/// Signature type byte of timestamped Ed25519 cosignatures.
pub const TYPE_COSIGNATURE: u8 = 0x04;
/// Most signature lines accepted in one note (the specification asks for at least 16).
pub const MAX_SIGNATURES: usize = 100;
/// Largest note accepted, in bytes.
pub const MAX_NOTE_SIZE: usize = 1 << 20;
/// The em dash that starts every signature line.
const SIG_PREFIX: &str = "\u{2014} ";

/// Why a note, a key or a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note breaks the signed-note syntax.
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    /// The note is larger than [`MAX_NOTE_SIZE`].
    #[error("note is {0} bytes, more than the limit of {MAX_NOTE_SIZE}")]
    TooLarge(usize),
    /// More than [`MAX_SIGNATURES`] signature lines.
    #[error("note has {0} signature lines, more than the limit of {MAX_SIGNATURES}")]
    TooManySignatures(usize),
    /// A key in text form could not be parsed.
    #[error("malformed key: {0}")]
    MalformedKey(&'static str),
    /// A key name is empty or contains a space or a plus sign.
    #[error("invalid key name {0:?}: names must be non-empty and contain no spaces or '+'")]
    InvalidName(String),
    /// A signature from a trusted key does not verify.
    #[error("invalid signature for key {name}+{key_id:08x}")]
    InvalidSignature {
        /// Key name.
        name: String,
        /// Key ID.
        key_id: u32,
    },
    /// Two trusted keys share a name and key ID.
    #[error("ambiguous key {name}+{key_id:08x}: two trusted keys share this name and ID")]
    AmbiguousKey {
        /// Key name.
        name: String,
        /// Key ID.
        key_id: u32,
    },
    /// No signature from a trusted key is present.
    #[error("note has no signature from a trusted key")]
    NoTrustedSignature,
    /// A cosignature timestamp above 2^63 - 1.
    #[error("cosignature timestamp {0} exceeds 2^63 - 1")]
    TimestampOutOfRange(u64),
}

/// True when `name` is a valid key name: non-empty, no Unicode spaces, no '+'.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

/// The key ID: the first four bytes of SHA-256(name || 0x0A || type || public key).
pub fn key_id(name: &str, sig_type: u8, public_key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', sig_type]);
    h.update(public_key);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// The algorithm a key signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Ed25519 over the note text (type 0x01).
    Ed25519,
    /// Timestamped Ed25519 cosignature (type 0x04).
    Cosignature,
}

impl KeyKind {
    fn type_byte(self) -> u8 {
        match self {
            KeyKind::Ed25519 => TYPE_ED25519,
            KeyKind::Cosignature => TYPE_COSIGNATURE,
        }
    }
    fn from_type_byte(b: u8) -> Option<Self> {
        match b {
            TYPE_ED25519 => Some(KeyKind::Ed25519),
            TYPE_COSIGNATURE => Some(KeyKind::Cosignature),
            _ => None,
        }
    }
}

fn parse_hex_id(s: &str) -> Result<u32, NoteError> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(NoteError::MalformedKey("key ID must be 8 lower-case hexadecimal digits"));
    }
    u32::from_str_radix(s, 16).map_err(|_| NoteError::MalformedKey("key ID must be 8 hexadecimal digits"))
}

/// A verifier key, `name+hexid+base64(type || public key)`.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    id: u32,
    kind: KeyKind,
    key: VerifyingKey,
}

impl fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifierKey({self})")
    }
}

impl VerifierKey {
    /// Parses the text form `name+hexid+base64`.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let text = text.trim_end_matches('\n');
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(hex), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::MalformedKey("expected name+hexid+base64"));
        };
        if !is_valid_name(name) {
            return Err(NoteError::InvalidName(name.to_string()));
        }
        let id = parse_hex_id(hex)?;
        let raw = B64.decode(b64).map_err(|_| NoteError::MalformedKey("key material is not valid base64"))?;
        let (&ty, pk) = raw.split_first().ok_or(NoteError::MalformedKey("key material is empty"))?;
        let kind = KeyKind::from_type_byte(ty).ok_or(NoteError::MalformedKey("unsupported signature type"))?;
        let pk: [u8; 32] = pk.try_into().map_err(|_| NoteError::MalformedKey("an Ed25519 public key is 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&pk).map_err(|_| NoteError::MalformedKey("not an Ed25519 point"))?;
        if key_id(name, ty, &pk) != id {
            return Err(NoteError::MalformedKey("key ID does not match the name and public key"));
        }
        Ok(Self { name: name.to_string(), id, kind, key })
    }

    /// Builds a verifier key from its parts.
    pub fn new(name: &str, kind: KeyKind, key: VerifyingKey) -> Result<Self, NoteError> {
        if !is_valid_name(name) {
            return Err(NoteError::InvalidName(name.to_string()));
        }
        let id = key_id(name, kind.type_byte(), key.as_bytes());
        Ok(Self { name: name.to_string(), id, kind, key })
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Key ID.
    pub fn key_id(&self) -> u32 {
        self.id
    }
    /// Signature algorithm.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }
    /// The Ed25519 public key.
    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Verifies one signature's bytes (without the key ID) over the note text. Returns
    /// the cosignature timestamp for cosignatures.
    fn verify(&self, text: &[u8], sig: &[u8]) -> Option<Option<u64>> {
        match self.kind {
            KeyKind::Ed25519 => {
                let sig = EdSignature::from_slice(sig).ok()?;
                self.key.verify_strict(text, &sig).ok()?;
                Some(None)
            }
            KeyKind::Cosignature => {
                if sig.len() != 8 + 64 {
                    return None;
                }
                let ts = u64::from_be_bytes(sig[..8].try_into().ok()?);
                if ts > i64::MAX as u64 {
                    return None;
                }
                let sig = EdSignature::from_slice(&sig[8..]).ok()?;
                let msg = cosignature_message(ts, text);
                self.key.verify_strict(&msg, &sig).ok()?;
                Some(Some(ts))
            }
        }
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = vec![self.kind.type_byte()];
        raw.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.id, B64.encode(raw))
    }
}

/// The message a cosigner signs: `cosignature/v1\ntime <T>\n` followed by the note text.
pub fn cosignature_message(timestamp: u64, text: &[u8]) -> Vec<u8> {
    let mut msg = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    msg.extend_from_slice(text);
    msg
}

/// A signing key, text form `PRIVATE+KEY+name+hexid+base64(type || seed)`.
#[derive(Clone)]
pub struct SignerKey {
    name: String,
    id: u32,
    kind: KeyKind,
    key: SigningKey,
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignerKey({}+{:08x}, secret hidden)", self.name, self.id)
    }
}

impl SignerKey {
    /// Generates a new key from the operating system's random source.
    pub fn generate(name: &str, kind: KeyKind) -> Result<Self, NoteError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|_| NoteError::MalformedKey("the system random source failed"))?;
        Self::from_seed(name, kind, seed)
    }

    /// Builds a key from a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, kind: KeyKind, seed: [u8; 32]) -> Result<Self, NoteError> {
        if !is_valid_name(name) {
            return Err(NoteError::InvalidName(name.to_string()));
        }
        let key = SigningKey::from_bytes(&seed);
        let id = key_id(name, kind.type_byte(), key.verifying_key().as_bytes());
        Ok(Self { name: name.to_string(), id, kind, key })
    }

    /// Parses the text form.
    pub fn parse(text: &str) -> Result<Self, NoteError> {
        let text = text.trim_end_matches('\n');
        let rest = text
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::MalformedKey("a signer key starts with PRIVATE+KEY+"))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(hex), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(NoteError::MalformedKey("expected PRIVATE+KEY+name+hexid+base64"));
        };
        let id = parse_hex_id(hex)?;
        let raw = B64.decode(b64).map_err(|_| NoteError::MalformedKey("key material is not valid base64"))?;
        let (&ty, seed) = raw.split_first().ok_or(NoteError::MalformedKey("key material is empty"))?;
        let kind = KeyKind::from_type_byte(ty).ok_or(NoteError::MalformedKey("unsupported signature type"))?;
        let seed: [u8; 32] =
            seed.try_into().map_err(|_| NoteError::MalformedKey("an Ed25519 private key is 32 bytes"))?;
        let k = Self::from_seed(name, kind, seed)?;
        if k.id != id {
            return Err(NoteError::MalformedKey("key ID does not match the name and key"));
        }
        Ok(k)
    }

    /// The text form (secret).
    pub fn to_text(&self) -> String {
        let mut raw = vec![self.kind.type_byte()];
        raw.extend_from_slice(&self.key.to_bytes());
        format!("PRIVATE+KEY+{}+{:08x}+{}", self.name, self.id, B64.encode(raw))
    }

    /// The matching verifier key.
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey { name: self.name.clone(), id: self.id, kind: self.kind, key: self.key.verifying_key() }
    }

    /// Key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Key ID.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// Signs a note text; `timestamp` is used (and required to fit in 63 bits) only by
    /// cosignature keys.
    pub fn sign(&self, text: &str, timestamp: u64) -> Result<NoteSignature, NoteError> {
        check_text(text.as_bytes())?;
        let mut bytes = self.id.to_be_bytes().to_vec();
        match self.kind {
            KeyKind::Ed25519 => bytes.extend_from_slice(&self.key.sign(text.as_bytes()).to_bytes()),
            KeyKind::Cosignature => {
                if timestamp > i64::MAX as u64 {
                    return Err(NoteError::TimestampOutOfRange(timestamp));
                }
                bytes.extend_from_slice(&timestamp.to_be_bytes());
                let msg = cosignature_message(timestamp, text.as_bytes());
                bytes.extend_from_slice(&self.key.sign(&msg).to_bytes());
            }
        }
        Ok(NoteSignature { name: self.name.clone(), key_id: self.id, bytes })
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key ID (the first four bytes of the decoded signature).
    pub key_id: u32,
    /// The decoded signature, key ID included.
    pub bytes: Vec<u8>,
}

impl NoteSignature {
    /// The signature line, with its final newline.
    pub fn to_line(&self) -> String {
        format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(&self.bytes))
    }

    /// Parses one signature line (without its final newline).
    pub fn parse_line(line: &str) -> Result<Self, NoteError> {
        let rest = line
            .strip_prefix(SIG_PREFIX)
            .ok_or(NoteError::Malformed("signature line must start with an em dash and a space"))?;
        let (name, b64) =
            rest.split_once(' ').ok_or(NoteError::Malformed("signature line lacks a space after the key name"))?;
        if !is_valid_name(name) {
            return Err(NoteError::Malformed("invalid key name in signature line"));
        }
        let bytes = B64.decode(b64).map_err(|_| NoteError::Malformed("signature is not valid base64"))?;
        if bytes.len() < 5 {
            return Err(NoteError::Malformed("signature is shorter than 5 bytes"));
        }
        let key_id = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        Ok(Self { name: name.to_string(), key_id, bytes })
    }
}

fn check_text(text: &[u8]) -> Result<(), NoteError> {
    if text.is_empty() || !text.ends_with(b"\n") {
        return Err(NoteError::Malformed("note text must end with a newline"));
    }
    if text.iter().any(|&b| b < 0x20 && b != b'\n') {
        return Err(NoteError::Malformed("note contains a control character"));
    }
    Ok(())
}

/// A parsed (not yet verified) signed note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The text, final newline included.
    pub text: String,
    /// The signatures, in order.
    pub signatures: Vec<NoteSignature>,
}

/// A signature that verified against a trusted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    /// The key that made it.
    pub key: VerifierKey,
    /// The cosignature timestamp, for cosignatures.
    pub timestamp: Option<u64>,
}

impl Note {
    /// Puts a signature on the note, in place of any signature by the same key (name and
    /// key ID): a witness's newer cosignature of the same checkpoint replaces its older
    /// one, so that a note cosigned round after round keeps one line per key.
    pub fn put_signature(&mut self, signature: NoteSignature) {
        let (name, key_id) = (signature.name.clone(), signature.key_id);
        let same = |s: &NoteSignature| s.name == name && s.key_id == key_id;
        match self.signatures.iter().position(same) {
            Some(i) => {
                self.signatures.retain(|s| !same(s));
                self.signatures.insert(i, signature);
            }
            None => self.signatures.push(signature),
        }
    }

    /// Parses a signed note strictly: UTF-8, no control characters but newline, text and
    /// signatures separated by the last blank line, one or more well-formed signature lines.
    pub fn parse(msg: &[u8]) -> Result<Self, NoteError> {
        if msg.len() > MAX_NOTE_SIZE {
            return Err(NoteError::TooLarge(msg.len()));
        }
        let s = std::str::from_utf8(msg).map_err(|_| NoteError::Malformed("note is not valid UTF-8"))?;
        check_text(msg)?;
        let split = s.rfind("\n\n").ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        let text = &s[..split + 1];
        let sigs = &s[split + 2..];
        if sigs.is_empty() {
            return Err(NoteError::Malformed("note has no signature lines"));
        }
        let lines: Vec<&str> = sigs.strip_suffix('\n').unwrap_or(sigs).split('\n').collect();
        if lines.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures(lines.len()));
        }
        let signatures = lines.into_iter().map(NoteSignature::parse_line).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { text: text.to_string(), signatures })
    }

    /// A note with no signatures yet; the text must end in a newline.
    pub fn new(text: &str) -> Result<Self, NoteError> {
        check_text(text.as_bytes())?;
        if text.ends_with("\n\n") {
            return Err(NoteError::Malformed("note text must not end with a blank line"));
        }
        Ok(Self { text: text.to_string(), signatures: Vec::new() })
    }

    /// Signs the text with `key` (at `timestamp` for cosignature keys) and adds the signature,
    /// replacing an earlier signature by the same key.
    pub fn sign(&mut self, key: &SignerKey, timestamp: u64) -> Result<(), NoteError> {
        let sig = key.sign(&self.text, timestamp)?;
        self.signatures.retain(|s| !(s.name == sig.name && s.key_id == sig.key_id));
        self.signatures.push(sig);
        Ok(())
    }

    /// The encoded note: text, blank line, signature lines.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.text.clone();
        out.push('\n');
        for s in &self.signatures {
            out.push_str(&s.to_line());
        }
        out.into_bytes()
    }

    /// Verifies the signatures made by trusted keys and returns them (each trusted key at
    /// most once). Signatures from unknown keys are ignored; a signature from a trusted key
    /// that does not verify rejects the whole note; no trusted signature at all rejects it.
    pub fn verify(&self, trusted: &[VerifierKey]) -> Result<Vec<VerifiedSignature>, NoteError> {
        let mut verified: Vec<VerifiedSignature> = Vec::new();
        for sig in &self.signatures {
            let mut matching = trusted.iter().filter(|k| k.name == sig.name && k.id == sig.key_id);
            let Some(key) = matching.next() else { continue };
            if matching.any(|k| k != key) {
                return Err(NoteError::AmbiguousKey { name: sig.name.clone(), key_id: sig.key_id });
            }
            let Some(ts) = key.verify(self.text.as_bytes(), &sig.bytes[4..]) else {
                return Err(NoteError::InvalidSignature { name: sig.name.clone(), key_id: sig.key_id });
            };
            if !verified.iter().any(|v| &v.key == key) {
                verified.push(VerifiedSignature { key: key.clone(), timestamp: ts });
            }
        }
        if verified.is_empty() {
            return Err(NoteError::NoTrustedSignature);
        }
        Ok(verified)
    }
}
