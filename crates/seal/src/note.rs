//! The C2SP signed-note layout: a text body ending in a newline, a blank line, then one
//! or more signature lines `— NAME BASE64(keyid || signature)`. The signature covers the
//! body bytes exactly.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::keys::{KeyId, VerifierKey};

/// Longest note accepted (manifests of many files fit easily).
pub const MAX_NOTE_LEN: usize = 16 << 20;
/// Most signature lines accepted.
const MAX_SIGS: usize = 16;

/// Why a note does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NoteError {
    /// Over [`MAX_NOTE_LEN`].
    #[error("the note is longer than {MAX_NOTE_LEN} bytes")]
    TooLong,
    /// Not UTF-8, or a control character other than newline.
    #[error("the note has bytes that are not printable UTF-8 text")]
    NotText,
    /// No blank line separating body and signatures.
    #[error("the note has no signature block (a blank line followed by signature lines)")]
    NoSignatures,
    /// A signature line is malformed.
    #[error("malformed signature line {0:?}")]
    BadSignatureLine(String),
}

/// One signature line, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// Key name.
    pub name: String,
    /// Key ID.
    pub id: KeyId,
    /// Ed25519 signature.
    pub sig: [u8; 64],
}

/// Renders a note from its body and signatures.
pub(crate) fn render(body: &str, sigs: &[(&VerifierKey, [u8; 64])]) -> String {
    let mut out = String::with_capacity(body.len() + 128);
    out.push_str(body);
    out.push('\n');
    for (k, sig) in sigs {
        let mut raw = Vec::with_capacity(68);
        raw.extend_from_slice(&k.id().0);
        raw.extend_from_slice(sig);
        out.push_str(&format!("\u{2014} {} {}\n", k.name(), B64.encode(raw)));
    }
    out
}

/// Splits a note into its body and its signature lines.
pub fn split(text: &str) -> Result<(&str, Vec<NoteSignature>), NoteError> {
    if text.len() > MAX_NOTE_LEN {
        return Err(NoteError::TooLong);
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(NoteError::NotText);
    }
    let at = text.rfind("\n\n").ok_or(NoteError::NoSignatures)?;
    let body = &text[..=at];
    let sig_text = &text[at + 2..];
    if sig_text.is_empty() || !sig_text.ends_with('\n') {
        return Err(NoteError::NoSignatures);
    }
    let mut sigs = Vec::new();
    for line in sig_text[..sig_text.len() - 1].split('\n') {
        let bad = || NoteError::BadSignatureLine(line.chars().take(80).collect());
        let rest = line.strip_prefix("\u{2014} ").ok_or_else(bad)?;
        let (name, b64) = rest.split_once(' ').ok_or_else(bad)?;
        crate::keys::check_name(name).map_err(|_| bad())?;
        let raw = B64.decode(b64).map_err(|_| bad())?;
        if raw.len() != 68 || sigs.len() >= MAX_SIGS {
            return Err(bad());
        }
        let mut id = [0u8; 4];
        id.copy_from_slice(&raw[..4]);
        let mut sig = [0u8; 64];
        sig.copy_from_slice(&raw[4..]);
        sigs.push(NoteSignature { name: name.to_string(), id: KeyId(id), sig });
    }
    Ok((body, sigs))
}

/// Whether one of `sigs` is a valid signature of `body` by `key`.
pub(crate) fn verified_by(body: &str, sigs: &[NoteSignature], key: &VerifierKey) -> bool {
    sigs.iter().any(|s| s.name == key.name() && s.id == key.id() && key.verify(body.as_bytes(), &s.sig))
}
