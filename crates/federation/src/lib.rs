//! The federation directory: who takes part (State, role, name), their endpoints, their
//! signing keys (C2SP signed-note verifier keys) and age recipients with validity
//! periods, and the witnesses each log must reach.
//!
//! The directory is a C2SP signed note, signed by a threshold of the federation's
//! directory keys. Each version names the hash of the one before, and a node accepts a
//! new version only if it continues the chain it holds: a forged directory (not enough
//! trusted signatures), a rolled-back one (an older version), or a fork (another text
//! for a version it already holds) is rejected. Each accepted version is logged by the
//! node, so a key change is public.
//!
//! Invariant: pure. Time is a parameter; nothing here touches the network or disk.
#![forbid(unsafe_code)]

use std::fmt::Write as _;

use sha2::{Digest, Sha256};
use tlog::note::{Note, NoteError, VerifierKey};
use treaty::{Date, StateCode};

/// The first line of a directory's text.
pub const HEADER: &str = "custodia/directory/v1";

/// What kind of participant a party is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PartyRole {
    /// A State's central authority.
    CentralAuthority,
    /// A State's 24/7 point of contact.
    PointOfContact,
    /// A court.
    Court,
    /// A service provider.
    Provider,
    /// An oversight body.
    Oversight,
}

impl PartyRole {
    /// Every role, as written.
    pub const ALL: [(&'static str, PartyRole); 5] = [
        ("central_authority", PartyRole::CentralAuthority),
        ("point_of_contact", PartyRole::PointOfContact),
        ("court", PartyRole::Court),
        ("provider", PartyRole::Provider),
        ("oversight", PartyRole::Oversight),
    ];

    /// Parses a role.
    pub fn parse(s: &str) -> Option<PartyRole> {
        PartyRole::ALL.iter().find(|(id, _)| *id == s).map(|(_, r)| *r)
    }

    /// The role as written.
    pub fn id(self) -> &'static str {
        PartyRole::ALL.iter().find(|(_, r)| *r == self).map_or("?", |(id, _)| id)
    }
}

impl std::fmt::Display for PartyRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

impl serde::Serialize for PartyRole {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

impl<'de> serde::Deserialize<'de> for PartyRole {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<PartyRole, D::Error> {
        let s = String::deserialize(d)?;
        PartyRole::parse(&s).ok_or_else(|| {
            let known: Vec<&str> = PartyRole::ALL.iter().map(|(id, _)| *id).collect();
            serde::de::Error::custom(format!("unknown role {s:?}: expected one of {}", known.join(", ")))
        })
    }
}

/// One signing key of a party, with the days it is valid (inclusive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartyKey {
    /// The signed-note verifier key.
    pub key: VerifierKey,
    /// First valid day.
    pub from: Date,
    /// Last valid day.
    pub until: Date,
}

/// One participant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Party {
    /// Its name (the name of its keys).
    pub name: String,
    /// Its State.
    pub state: StateCode,
    /// What it is.
    pub role: PartyRole,
    /// Its HTTPS endpoint.
    pub endpoint: String,
    /// Its signing keys (more than one during a rotation).
    pub keys: Vec<PartyKey>,
    /// Its age recipient, for evidence sealed to it.
    pub recipient: String,
    /// Its transparency log: origin and log key (C2SP checkpoint signer), if it keeps one.
    pub log: Option<(String, VerifierKey)>,
    /// Its witness's cosignature key (C2SP tlog-cosignature), if it witnesses.
    pub cosigner: Option<VerifierKey>,
    /// The parties whose witnesses its log must reach.
    pub witnesses: Vec<String>,
}

/// One version of the directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directory {
    /// The federation's name.
    pub federation: String,
    /// The version (1, 2, ...).
    pub version: u64,
    /// SHA-256 of the previous version's signed note, none for version 1.
    pub previous: Option<[u8; 32]>,
    /// The parties.
    pub parties: Vec<Party>,
}

/// Why a directory is refused, or a key is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// The signed note is malformed, or a signature from a trusted key is bad.
    #[error("the directory is not a valid signed note: {0}")]
    Note(#[from] NoteError),
    /// Fewer trusted signatures than the threshold.
    #[error("the directory carries {got} trusted signature(s); {needed} are needed")]
    NotEnoughSignatures {
        /// Trusted signatures that verified.
        got: usize,
        /// The threshold.
        needed: usize,
    },
    /// A line of the text is not what the format says.
    #[error("directory line {line}: {problem}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// An older version than the one held: a rollback.
    #[error("version {got} is older than the version {have} already accepted: a rollback")]
    Rollback {
        /// Held.
        have: u64,
        /// Offered.
        got: u64,
    },
    /// Another text for a version already held: a fork.
    #[error("version {version} differs from the version {version} already accepted: a fork")]
    Fork {
        /// The version.
        version: u64,
    },
    /// The new version does not name the held one as its previous.
    #[error("version {got} does not continue version {have}: its previous hash is not the accepted one")]
    BrokenChain {
        /// Held.
        have: u64,
        /// Offered.
        got: u64,
    },
    /// A key that no party of the directory holds.
    #[error("no party of directory version {version} holds the key {name}+{key_id:08x}")]
    UnknownKey {
        /// The key's name.
        name: String,
        /// Its ID.
        key_id: u32,
        /// The directory version consulted.
        version: u64,
    },
    /// A key used outside its validity.
    #[error("the key {name}+{key_id:08x} is valid from {from} to {until}, not on {on}")]
    KeyNotValid {
        /// The key's name.
        name: String,
        /// Its ID.
        key_id: u32,
        /// First valid day.
        from: Date,
        /// Last valid day.
        until: Date,
        /// The day asked.
        on: Date,
    },
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

impl Directory {
    /// The note text (to be signed).
    pub fn to_text(&self) -> String {
        let mut s = format!("{HEADER}\nfederation {}\nversion {}\n", self.federation, self.version);
        let _ = writeln!(s, "previous {}", self.previous.map_or("none".into(), |h| hex(&h)));
        for p in &self.parties {
            let _ = writeln!(s, "party {} {} {} {}", p.name, p.state, p.role.id(), p.endpoint);
            for k in &p.keys {
                let _ = writeln!(s, "key {} {} {}", k.key, k.from, k.until);
            }
            let _ = writeln!(s, "recipient {}", p.recipient);
            if let Some((origin, key)) = &p.log {
                let _ = writeln!(s, "log {origin} {key}");
            }
            if let Some(c) = &p.cosigner {
                let _ = writeln!(s, "cosigner {c}");
            }
            if !p.witnesses.is_empty() {
                let _ = writeln!(s, "witnesses {}", p.witnesses.join(" "));
            }
        }
        s
    }

    /// Reads a directory's text strictly.
    pub fn parse_text(text: &str) -> Result<Directory, DirectoryError> {
        let bad = |line: usize, problem: &str| DirectoryError::Malformed { line, problem: problem.into() };
        let lines: Vec<&str> =
            text.strip_suffix('\n').ok_or_else(|| bad(0, "the text must end with a newline"))?.split('\n').collect();
        if lines.first() != Some(&HEADER) {
            return Err(bad(1, &format!("expected `{HEADER}`")));
        }
        let value = |i: usize, name: &str| -> Result<&str, DirectoryError> {
            lines
                .get(i)
                .and_then(|l| l.strip_prefix(name))
                .and_then(|v| v.strip_prefix(' '))
                .filter(|v| !v.is_empty())
                .ok_or_else(|| bad(i + 1, &format!("expected `{name} ...`")))
        };
        let federation = value(1, "federation")?.to_string();
        let version: u64 = value(2, "version")?.parse().map_err(|_| bad(3, "the version must be a number"))?;
        if version == 0 {
            return Err(bad(3, "versions start at 1"));
        }
        let previous = match value(3, "previous")? {
            "none" if version == 1 => None,
            "none" => return Err(bad(4, "only version 1 has no previous version")),
            h => Some(unhex32(h).ok_or_else(|| bad(4, "the previous hash must be 64 lower-case hex digits"))?),
        };
        if version == 1 && previous.is_some() {
            return Err(bad(4, "version 1 has no previous version"));
        }
        let mut parties: Vec<Party> = Vec::new();
        for (i, line) in lines.iter().enumerate().skip(4) {
            let n = i + 1;
            let (word, rest) = line.split_once(' ').ok_or_else(|| bad(n, "expected `WORD value...`"))?;
            let fields: Vec<&str> = rest.split(' ').collect();
            if fields.iter().any(|f| f.is_empty()) {
                return Err(bad(n, "fields are separated by single spaces"));
            }
            if word == "party" {
                let [name, state, role, endpoint] = fields[..] else {
                    return Err(bad(n, "expected `party NAME STATE ROLE ENDPOINT`"));
                };
                if !tlog::note::is_valid_name(name) {
                    return Err(bad(n, "not a valid party name"));
                }
                if parties.iter().any(|p| p.name == name) {
                    return Err(bad(n, &format!("party {name} appears twice")));
                }
                let state = StateCode::parse(state).ok_or_else(|| bad(n, "the State must be two capital letters"))?;
                let role = PartyRole::parse(role).ok_or_else(|| bad(n, &format!("unknown role {role:?}")))?;
                if !endpoint.starts_with("https://") && !plain_loopback(endpoint) {
                    return Err(bad(n, "the endpoint must be https:// (or http:// to a loopback address)"));
                }
                parties.push(Party {
                    name: name.into(),
                    state,
                    role,
                    endpoint: endpoint.into(),
                    keys: Vec::new(),
                    recipient: String::new(),
                    log: None,
                    cosigner: None,
                    witnesses: Vec::new(),
                });
                continue;
            }
            let party = parties.last_mut().ok_or_else(|| bad(n, "a party's details must follow its `party` line"))?;
            match (word, &fields[..]) {
                ("key", [key, from, until]) => {
                    let key = VerifierKey::parse(key).map_err(|e| bad(n, &e.to_string()))?;
                    if key.name() != party.name {
                        return Err(bad(n, &format!("the key is named {}, not {}", key.name(), party.name)));
                    }
                    let from = Date::parse(from).map_err(|_| bad(n, "the first valid day must be YYYY-MM-DD"))?;
                    let until = Date::parse(until).map_err(|_| bad(n, "the last valid day must be YYYY-MM-DD"))?;
                    if until < from {
                        return Err(bad(n, "a key's validity ends before it starts"));
                    }
                    party.keys.push(PartyKey { key, from, until });
                }
                ("recipient", [r]) if party.recipient.is_empty() => {
                    if !r.starts_with("age1")
                        || r.len() < 10
                        || !r[4..].bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                    {
                        return Err(bad(n, "the recipient must be an age X25519 recipient (age1...)"));
                    }
                    party.recipient = (*r).into();
                }
                ("log", [origin, key]) if party.log.is_none() => {
                    let key = VerifierKey::parse(key).map_err(|e| bad(n, &e.to_string()))?;
                    if key.name() != *origin {
                        return Err(bad(n, "a log key is named after the log's origin"));
                    }
                    party.log = Some(((*origin).to_string(), key));
                }
                ("cosigner", [key]) if party.cosigner.is_none() => {
                    let key = VerifierKey::parse(key).map_err(|e| bad(n, &e.to_string()))?;
                    if key.kind() != tlog::note::KeyKind::Cosignature {
                        return Err(bad(n, "a cosigner key is a timestamped cosignature key (type 0x04)"));
                    }
                    party.cosigner = Some(key);
                }
                ("witnesses", ws) if party.witnesses.is_empty() => {
                    party.witnesses = ws.iter().map(|w| (*w).to_string()).collect()
                }
                _ => return Err(bad(n, &format!("unexpected `{word}` line"))),
            }
        }
        for p in &parties {
            if p.keys.is_empty() || p.recipient.is_empty() {
                return Err(bad(0, &format!("party {} needs at least one key and a recipient", p.name)));
            }
            for w in &p.witnesses {
                if !parties.iter().any(|q| &q.name == w) {
                    return Err(bad(0, &format!("party {} names an unknown witness {w}", p.name)));
                }
            }
        }
        Ok(Directory { federation, version, previous, parties })
    }

    /// The party holding key `name`+`key_id`, if the key is valid on `on`.
    pub fn key(&self, name: &str, key_id: u32, on: Date) -> Result<(&Party, &PartyKey), DirectoryError> {
        let unknown = || DirectoryError::UnknownKey { name: name.into(), key_id, version: self.version };
        let party = self.parties.iter().find(|p| p.name == name).ok_or_else(unknown)?;
        let key = party.keys.iter().find(|k| k.key.key_id() == key_id).ok_or_else(unknown)?;
        if on < key.from || on > key.until {
            return Err(DirectoryError::KeyNotValid {
                name: name.into(),
                key_id,
                from: key.from,
                until: key.until,
                on,
            });
        }
        Ok((party, key))
    }

    /// The party named `name`.
    pub fn party(&self, name: &str) -> Option<&Party> {
        self.parties.iter().find(|p| p.name == name)
    }
}

/// A directory version that was verified and accepted, with the hash of its signed note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The directory.
    pub directory: Directory,
    /// SHA-256 of the signed note's bytes (what the next version names as previous).
    pub hash: [u8; 32],
    /// The signed note's bytes (what the node logs).
    pub note: Vec<u8>,
}

/// Verifies a signed directory against the federation's directory keys (`threshold` of
/// them must sign) and the version held (`held`), if any.
pub fn verify(
    note: &[u8],
    trusted: &[VerifierKey],
    threshold: usize,
    held: Option<&Accepted>,
) -> Result<Accepted, DirectoryError> {
    let parsed = Note::parse(note)?;
    let signed = parsed.verify(trusted).map_err(|e| match e {
        NoteError::NoTrustedSignature => DirectoryError::NotEnoughSignatures { got: 0, needed: threshold.max(1) },
        other => DirectoryError::Note(other),
    })?;
    if signed.len() < threshold.max(1) {
        return Err(DirectoryError::NotEnoughSignatures { got: signed.len(), needed: threshold.max(1) });
    }
    let directory = Directory::parse_text(&parsed.text)?;
    let hash: [u8; 32] = Sha256::digest(note).into();
    if let Some(h) = held {
        let (have, got) = (h.directory.version, directory.version);
        if got < have {
            return Err(DirectoryError::Rollback { have, got });
        }
        if got == have && h.directory != directory {
            return Err(DirectoryError::Fork { version: got });
        }
        if got == have + 1 && directory.previous != Some(h.hash) {
            return Err(DirectoryError::BrokenChain { have, got });
        }
        if got > have + 1 {
            // Versions in between must be shown: the chain cannot be checked otherwise.
            return Err(DirectoryError::BrokenChain { have, got });
        }
    }
    Ok(Accepted { directory, hash, note: note.to_vec() })
}

/// Signs a directory with the given directory keys (a timestamp is not used by Ed25519
/// note keys).
pub fn sign(directory: &Directory, keys: &[&tlog::note::SignerKey]) -> Result<Vec<u8>, DirectoryError> {
    let mut note = Note::new(&directory.to_text())?;
    for k in keys {
        note.sign(k, 0)?;
    }
    Ok(note.to_bytes())
}

/// An `http://` endpoint whose host is a loopback IP address (`127.0.0.0/8`, `::1`): the only
/// plain-HTTP endpoints a directory may list (tests and single-machine demos). A name such as
/// `127.0.0.1.example.org` is not an address and is refused.
fn plain_loopback(endpoint: &str) -> bool {
    let Some(rest) = endpoint.strip_prefix("http://") else { return false };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return false;
    }
    let host = match authority.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((h, port)) if port.is_empty() || port.starts_with(':') => h,
            _ => return false,
        },
        None => authority.split(':').next().unwrap_or(""),
    };
    host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}
