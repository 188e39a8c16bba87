//! The evidence manifest: a signed note listing every file of a package.
//!
//! ```text
//! custodia evidence manifest v1
//! sealer: NAME+KEYID+BASE64KEY
//! created: UNIX-SECONDS
//! recipient: age1…                (one line per recipient, at least one)
//! file: SIZE SHA256 AGE-SIZE AGE-SHA256 NAME   (one line per file, sorted by NAME)
//!
//! — NAME BASE64(keyid || Ed25519 signature of the body above)
//! ```

use std::fmt::Write as _;
use std::str::FromStr as _;

use crate::keys::{PublicIdentity, SecretIdentity, Timestamp, VerifierKey};
use crate::note;

const HEADER: &str = "custodia evidence manifest v1";
/// Longest file name (a relative path with `/` separators) accepted.
pub const MAX_FILE_NAME: usize = 1024;

/// Why a manifest is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    /// The note layout is wrong.
    #[error("manifest: {0}")]
    Note(#[from] note::NoteError),
    /// A line is wrong.
    #[error("manifest line {line}: {msg}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// Not in canonical order or layout.
    #[error("manifest: {0}")]
    Invalid(String),
    /// The sealer named in the manifest is not the expected signer.
    #[error("manifest sealed by {got}, expected signer {expected}")]
    SignerMismatch {
        /// Expected signer.
        expected: String,
        /// Sealer named in the manifest.
        got: String,
    },
    /// The signature does not verify.
    #[error("manifest signature does not verify for {0}")]
    BadSignature(String),
    /// The sealer's key was not valid at the creation time.
    #[error("manifest created at {created}, outside the validity of key {key} ({not_before}..{not_after})")]
    SealerKeyNotValid {
        /// Key.
        key: String,
        /// Claimed creation time.
        created: Timestamp,
        /// Validity start.
        not_before: Timestamp,
        /// Validity end.
        not_after: Timestamp,
    },
}

/// One file of a package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Relative name, `/`-separated.
    pub name: String,
    /// Plaintext size.
    pub size: u64,
    /// SHA-256 of the plaintext.
    pub sha256: [u8; 32],
    /// Size of the `.age` file.
    pub age_size: u64,
    /// SHA-256 of the `.age` file.
    pub age_sha256: [u8; 32],
}

/// A package manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The sealer's verifier key.
    pub sealer: VerifierKey,
    /// Creation time (claimed by the sealer).
    pub created: Timestamp,
    /// age recipients the files are encrypted to.
    pub recipients: Vec<String>,
    /// Files, sorted by name.
    pub files: Vec<FileEntry>,
}

/// Checks a file name: a relative `/`-separated path of printable characters without
/// empty, `.` or `..` components or backslashes.
pub fn check_file_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_FILE_NAME {
        return Err(format!("file name {name:?} is empty or longer than {MAX_FILE_NAME} bytes"));
    }
    if name.chars().any(|c| c.is_control() || c == '\\') {
        return Err(format!("file name {name:?} has a control character or backslash"));
    }
    if name.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Err(format!("file name {name:?} has an empty, . or .. component"));
    }
    Ok(())
}

/// Checks a sorted list of names: unique, and none is a folder of another.
pub(crate) fn check_name_set<'a>(names: impl Iterator<Item = &'a str>) -> Result<(), String> {
    let mut prev: Option<&str> = None;
    for n in names {
        if let Some(p) = prev {
            if p >= n {
                return Err(format!("file names not sorted and unique at {n:?}"));
            }
            if n.starts_with(p) && n.as_bytes()[p.len()] == b'/' {
                return Err(format!("{p:?} is both a file and a folder"));
            }
        }
        prev = Some(n);
    }
    Ok(())
}

fn parse_hash(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut h = [0u8; 32];
    hex::decode_to_slice(s, &mut h).ok()?;
    Some(h)
}

impl Manifest {
    /// The canonical body text (what gets signed).
    pub fn body(&self) -> String {
        let mut s = format!("{HEADER}\nsealer: {}\ncreated: {}\n", self.sealer, self.created);
        for r in &self.recipients {
            let _ = writeln!(s, "recipient: {r}");
        }
        for f in &self.files {
            let _ = writeln!(
                s,
                "file: {} {} {} {} {}",
                f.size,
                hex::encode(f.sha256),
                f.age_size,
                hex::encode(f.age_sha256),
                f.name
            );
        }
        s
    }

    /// Signs the manifest with the sealer's key (valid at `created`), giving the note text.
    pub fn sign(&self, sealer: &SecretIdentity) -> Result<String, crate::keys::KeyError> {
        let body = self.body();
        let sig = sealer.sign_at(body.as_bytes(), self.created)?;
        Ok(note::render(&body, &[(&sealer.verifier(), sig)]))
    }

    /// Parses a body (no signature check). Refuses anything not in canonical form.
    pub fn parse_body(body: &str) -> Result<Self, ManifestError> {
        let err = |line: usize, msg: String| ManifestError::Line { line, msg };
        let mut lines = body.lines().enumerate().map(|(i, l)| (i + 1, l)).peekable();
        match lines.next() {
            Some((_, HEADER)) => {}
            _ => return Err(err(1, format!("expected {HEADER:?}"))),
        }
        let (n, l) = lines.next().ok_or_else(|| err(2, "missing sealer line".into()))?;
        let sealer = l
            .strip_prefix("sealer: ")
            .ok_or_else(|| err(n, "expected sealer: NAME+ID+KEY".into()))?
            .parse::<VerifierKey>()
            .map_err(|e| err(n, e.to_string()))?;
        let (n, l) = lines.next().ok_or_else(|| err(3, "missing created line".into()))?;
        let created = crate::keys::parse_time(
            l.strip_prefix("created: ").ok_or_else(|| err(n, "expected created: SECONDS".into()))?,
        )
        .map_err(|e| err(n, e))?;
        let mut recipients = Vec::new();
        while let Some((n, l)) = lines.next_if(|(_, l)| l.starts_with("recipient: ")) {
            let r = &l["recipient: ".len()..];
            age::x25519::Recipient::from_str(r).map_err(|e| err(n, format!("recipient {r:?}: {e}")))?;
            recipients.push(r.to_string());
        }
        if recipients.is_empty() {
            return Err(ManifestError::Invalid("no recipient".into()));
        }
        let mut files = Vec::new();
        for (n, l) in lines {
            let rest = l.strip_prefix("file: ").ok_or_else(|| err(n, format!("unexpected line {l:?}")))?;
            let mut p = rest.splitn(5, ' ');
            let mut next = |what: &str| p.next().ok_or_else(|| err(n, format!("missing {what}")));
            let size = crate::keys::parse_time(next("size")?).map_err(|e| err(n, format!("size: {e}")))?;
            let sha256 = parse_hash(next("sha256")?).ok_or_else(|| err(n, "sha256 is not 64 hex digits".into()))?;
            let age_size = crate::keys::parse_time(next("age size")?).map_err(|e| err(n, format!("age size: {e}")))?;
            let age_sha256 =
                parse_hash(next("age sha256")?).ok_or_else(|| err(n, "age sha256 is not 64 hex digits".into()))?;
            let name = next("name")?.to_string();
            check_file_name(&name).map_err(|e| err(n, e))?;
            files.push(FileEntry { name, size, sha256, age_size, age_sha256 });
        }
        if files.is_empty() {
            return Err(ManifestError::Invalid("no file".into()));
        }
        check_name_set(files.iter().map(|f| f.name.as_str())).map_err(ManifestError::Invalid)?;
        let m = Self { sealer, created, recipients, files };
        if m.body() != body {
            return Err(ManifestError::Invalid("not in canonical form".into()));
        }
        Ok(m)
    }

    /// Parses a signed manifest and checks it against the expected signer: the sealer
    /// line names the signer's key, the signature verifies, and the key was valid at the
    /// creation time.
    pub fn parse_signed(text: &str, signer: &PublicIdentity) -> Result<Self, ManifestError> {
        let (body, sigs) = note::split(text)?;
        let m = Self::parse_body(body)?;
        if m.sealer != signer.verifier {
            return Err(ManifestError::SignerMismatch {
                expected: signer.verifier.to_string(),
                got: m.sealer.to_string(),
            });
        }
        if !note::verified_by(body, &sigs, &signer.verifier) {
            return Err(ManifestError::BadSignature(signer.verifier.to_string()));
        }
        if !signer.validity.contains(m.created) {
            return Err(ManifestError::SealerKeyNotValid {
                key: signer.verifier.to_string(),
                created: m.created,
                not_before: signer.validity.not_before,
                not_after: signer.validity.not_after,
            });
        }
        Ok(m)
    }
}
