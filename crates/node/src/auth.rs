//! Who is calling: API tokens, each scoped to one role, stored hashed, revocable.
//!
//! Tokens live in `tokens.json` beside the node's data (SHA-256 of each token, never the
//! token itself: tokens are 256-bit random values, so a fast hash is enough). The file is
//! rewritten atomically (temporary file, fsync, rename).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, StatusCode, header};
use case::Role;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::problem::Problem;

/// The roles a person or program can hold (not `peer` or `clock`, which are the node's).
pub const USER_ROLES: &[Role] = &[
    Role::CaseWorker,
    Role::Judge,
    Role::CentralAuthority,
    Role::PointOfContact,
    Role::ProviderLegal,
    Role::Oversight,
    Role::Administrator,
];

/// One token, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Public identifier (`tok_` + 16 hex digits), printed in lists and logs.
    pub id: String,
    /// Who or what holds it.
    pub name: String,
    /// The one role it grants.
    pub role: Role,
    /// SHA-256 of the token, hex.
    pub hash: String,
    /// When it was made (seconds since the epoch).
    pub created: i64,
    /// Revoked tokens are kept, and refused.
    pub revoked: bool,
}

/// Why a token operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Reading or writing the token file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The token file is not valid.
    #[error("{path}: not a valid token file: {source}")]
    Corrupt {
        /// The file.
        path: String,
        /// Why.
        source: serde_json::Error,
    },
    /// A role that cannot be given to a token.
    #[error("{0:?} is not a role for people or programs: expected one of {1}")]
    BadRole(String, String),
    /// No token with this id.
    #[error("no token {0}")]
    NoSuchToken(String),
    /// The name is empty.
    #[error("a token needs a name")]
    NoName,
}

use case::engine::hex;

/// The token registry of a node. The file is the truth (`custodia admin token create` and
/// `revoke` write it from another process); what was read is kept while the file's identity,
/// size and times stay the same, so a request costs one `stat`, not a read and a parse.
#[derive(Debug, Clone)]
pub struct Tokens {
    path: PathBuf,
    read: Arc<Mutex<Option<Read>>>,
}

/// The records as last read, with the stamp of the file they were read from.
type Read = (FileStamp, Arc<Vec<TokenRecord>>);

/// What tells that the registry file changed: it is replaced by a rename on every write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileStamp {
    fn of(path: &Path) -> std::io::Result<Option<FileStamp>> {
        use std::os::unix::fs::MetadataExt as _;
        match std::fs::metadata(path) {
            Ok(m) => Ok(Some(FileStamp {
                dev: m.dev(),
                ino: m.ino(),
                len: m.len(),
                mtime: (m.mtime(), m.mtime_nsec()),
                ctime: (m.ctime(), m.ctime_nsec()),
            })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Tokens {
    /// The registry in `path` (created on first write).
    pub fn new(path: impl Into<PathBuf>) -> Tokens {
        Tokens { path: path.into(), read: Arc::default() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every token record.
    pub fn list(&self) -> Result<Vec<TokenRecord>, AuthError> {
        match std::fs::read(&self.path) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|source| AuthError::Corrupt { path: self.path.display().to_string(), source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(source) => Err(AuthError::Io { path: self.path.display().to_string(), source }),
        }
    }

    fn write(&self, records: &[TokenRecord]) -> Result<(), AuthError> {
        let io = |source| AuthError::Io { path: self.path.display().to_string(), source };
        let tmp = self.path.with_extension("json.tmp");
        let body = serde_json::to_vec_pretty(records).unwrap_or_default();
        {
            use std::io::Write as _;
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(&body).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        Ok(())
    }

    /// Makes a token for `name` with `role`; returns the record and the token (shown once).
    pub fn create(&self, name: &str, role: &str, now: i64) -> Result<(TokenRecord, String), AuthError> {
        if name.trim().is_empty() {
            return Err(AuthError::NoName);
        }
        let role = USER_ROLES.iter().copied().find(|r| r.id() == role).ok_or_else(|| {
            AuthError::BadRole(role.into(), USER_ROLES.iter().map(|r| r.id()).collect::<Vec<_>>().join(", "))
        })?;
        let mut secret = [0u8; 32];
        let mut idb = [0u8; 8];
        getrandom::fill(&mut secret).and_then(|()| getrandom::fill(&mut idb)).map_err(|e| AuthError::Io {
            path: "(system random source)".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let id = format!("tok_{}", hex(&idb));
        let token = format!("cst_{}_{}", &id[4..], hex(&secret));
        let record = TokenRecord {
            id,
            name: name.trim().into(),
            role,
            hash: hex(&Sha256::digest(token.as_bytes())),
            created: now,
            revoked: false,
        };
        let mut all = self.list()?;
        all.push(record.clone());
        self.write(&all)?;
        Ok((record, token))
    }

    /// Revokes a token by id.
    pub fn revoke(&self, id: &str) -> Result<TokenRecord, AuthError> {
        let mut all = self.list()?;
        let rec = all.iter_mut().find(|r| r.id == id).ok_or_else(|| AuthError::NoSuchToken(id.into()))?;
        rec.revoked = true;
        let out = rec.clone();
        self.write(&all)?;
        Ok(out)
    }

    /// The live token record matching `token`, if any.
    pub fn check(&self, token: &str) -> Result<Option<TokenRecord>, AuthError> {
        let hash = hex(&Sha256::digest(token.as_bytes()));
        Ok(self.current()?.iter().find(|r| !r.revoked && r.hash == hash).cloned())
    }

    /// The records as the file holds them now: read again only when it changed.
    fn current(&self) -> Result<Arc<Vec<TokenRecord>>, AuthError> {
        let io = |source| AuthError::Io { path: self.path.display().to_string(), source };
        let Some(stamp) = FileStamp::of(&self.path).map_err(io)? else { return Ok(Arc::default()) };
        let mut read = self.read.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((seen, records)) = read.as_ref()
            && *seen == stamp
        {
            return Ok(records.clone());
        }
        // Replaced between the stat and the read? Then the next stat differs and reads again.
        let records = Arc::new(self.list()?);
        *read = Some((stamp, records.clone()));
        Ok(records)
    }
}

/// The caller of a request, authenticated.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's holder.
    pub name: String,
    /// The role the token grants.
    pub role: Role,
    /// The token's id.
    pub token_id: String,
}

/// Authenticates a request: an `Authorization: Bearer` token (programs), or else the
/// session cookie of a person, whose requests that change anything must also carry the
/// session's CSRF token in `X-CSRF-Token`.
pub fn who(state: &crate::api::AppState, method: &axum::http::Method, headers: &HeaderMap) -> Result<Caller, Problem> {
    if headers.contains_key(header::AUTHORIZATION) {
        return caller(&state.tokens, headers);
    }
    let Some(sid) = crate::users::cookie(headers) else { return caller(&state.tokens, headers) };
    let now = crate::clock::now().0;
    let session = state.users.session(&sid, now).ok_or_else(|| {
        Problem::new(StatusCode::UNAUTHORIZED, "session-expired", "Your session has ended")
            .detail("log in again at /login")
    })?;
    let safe = matches!(*method, axum::http::Method::GET | axum::http::Method::HEAD);
    if !safe {
        let sent = headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
        if sent != session.csrf {
            return Err(Problem::new(StatusCode::FORBIDDEN, "csrf", "Missing or wrong CSRF token")
                .detail("send the session's token in X-CSRF-Token")
                .field("X-CSRF-Token"));
        }
    }
    Ok(Caller { name: session.name, role: session.role, token_id: "session".into() })
}

/// Authenticates a request by its `Authorization: Bearer` token.
pub fn caller(tokens: &Tokens, headers: &HeaderMap) -> Result<Caller, Problem> {
    let unauthorized = |detail: &str| {
        Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "Authentication required")
            .detail(detail.to_string())
            .field("Authorization")
    };
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| unauthorized("send `Authorization: Bearer TOKEN` (custodia admin token create)"))?;
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| unauthorized("expected `Bearer TOKEN`"))?;
    match tokens.check(token.trim()) {
        Ok(Some(r)) => Ok(Caller { name: r.name, role: r.role, token_id: r.id }),
        Ok(None) => Err(unauthorized("unknown or revoked token")),
        Err(e) => {
            Err(Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "tokens", "The token registry could not be read")
                .detail(e.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token revoked by another process (the CLI writes the file) is refused at once by a
    /// registry that had read the file before; a token created there is accepted at once.
    #[test]
    fn the_registry_sees_changes_made_by_another_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let server = Tokens::new(&path);
        assert!(server.check("cst_nothing").unwrap().is_none(), "no file yet: no token");
        let cli = Tokens::new(&path);
        let (a, token_a) = cli.create("a", "case_worker", 0).unwrap();
        assert_eq!(server.check(&token_a).unwrap().map(|r| r.id), Some(a.id.clone()));
        assert_eq!(server.check(&token_a).unwrap().map(|r| r.id), Some(a.id.clone()), "from what was read");
        let (b, token_b) = Tokens::new(&path).create("b", "judge", 0).unwrap();
        assert_eq!(server.check(&token_b).unwrap().map(|r| r.id), Some(b.id));
        Tokens::new(&path).revoke(&a.id).unwrap();
        assert!(server.check(&token_a).unwrap().is_none(), "revoked elsewhere: refused at once");
        std::fs::remove_file(&path).unwrap();
        assert!(server.check(&token_b).unwrap().is_none(), "registry gone: no token");
        std::fs::write(&path, b"not json").unwrap();
        assert!(matches!(server.check(&token_b), Err(AuthError::Corrupt { .. })));
    }
}
