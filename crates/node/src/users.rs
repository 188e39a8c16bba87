//! People: accounts with argon2id password hashes (in `users.json`, rewritten
//! atomically), sessions in HttpOnly SameSite=Strict cookies, and a CSRF token per
//! session that every state-changing request made with the cookie must carry.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use case::Role;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::auth::USER_ROLES;

/// The session cookie's name.
pub const COOKIE: &str = "custodia_session";
/// How long a session lasts without use, in seconds.
pub const SESSION_SECONDS: i64 = 8 * 3600;

/// One account, as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct User {
    /// The login name.
    pub name: String,
    /// The one role it holds.
    pub role: Role,
    /// The argon2id hash (PHC string).
    pub hash: String,
    /// Disabled accounts cannot log in.
    pub disabled: bool,
}

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// The file.
    #[error("{0}")]
    Io(String),
    /// A role that cannot be given to a person.
    #[error("{0:?} is not a role for people: expected one of {1}")]
    BadRole(String, String),
    /// The name is taken or malformed.
    #[error("{0}")]
    BadName(String),
    /// Too short a password.
    #[error("a password needs at least 12 characters")]
    WeakPassword,
}

/// A logged-in person.
#[derive(Clone, Debug)]
pub struct Session {
    /// The account.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The CSRF token forms and scripts must send back.
    pub csrf: String,
    /// When it lapses (seconds since the epoch), pushed back on each use.
    pub expires: i64,
}

/// Accounts and sessions of a node.
#[derive(Debug)]
pub struct Users {
    path: PathBuf,
    sessions: Mutex<HashMap<String, Session>>,
}

use case::engine::hex;

fn random_hex() -> Result<String, UserError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| UserError::Io(e.to_string()))?;
    Ok(hex(&b))
}

impl Users {
    /// The accounts in `path`.
    pub fn new(path: impl Into<PathBuf>) -> Users {
        Users { path: path.into(), sessions: Mutex::new(HashMap::new()) }
    }

    /// Every account.
    pub fn list(&self) -> Result<Vec<User>, UserError> {
        match std::fs::read(&self.path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| UserError::Io(format!("{}: {e}", self.path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(UserError::Io(format!("{}: {e}", self.path.display()))),
        }
    }

    fn write(&self, users: &[User]) -> Result<(), UserError> {
        use std::io::Write as _;
        let io = |e: std::io::Error| UserError::Io(format!("{}: {e}", self.path.display()));
        let tmp = self.path.with_extension("json.tmp");
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&serde_json::to_vec_pretty(users).unwrap_or_default()).and_then(|()| f.sync_all()).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        }
        std::fs::rename(&tmp, &self.path).map_err(io)
    }

    /// Adds an account.
    pub fn add(&self, name: &str, role: &str, password: &str) -> Result<User, UserError> {
        let name = name.trim();
        if name.is_empty() || name.len() > 64 || !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
        {
            return Err(UserError::BadName("a login name is 1 to 64 letters, digits, or . _ - @".into()));
        }
        let role = USER_ROLES.iter().copied().find(|r| r.id() == role).ok_or_else(|| {
            UserError::BadRole(role.into(), USER_ROLES.iter().map(|r| r.id()).collect::<Vec<_>>().join(", "))
        })?;
        if password.chars().count() < 12 {
            return Err(UserError::WeakPassword);
        }
        let mut all = self.list()?;
        if all.iter().any(|u| u.name == name) {
            return Err(UserError::BadName(format!("{name} exists")));
        }
        let salt = SaltString::generate(&mut OsRng);
        let hash = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| UserError::Io(e.to_string()))?
            .to_string();
        let user = User { name: name.into(), role, hash, disabled: false };
        all.push(user.clone());
        self.write(&all)?;
        Ok(user)
    }

    /// Checks a login; on success opens a session and returns its id (for the cookie).
    pub fn login(&self, name: &str, password: &str, now: i64) -> Option<(String, Session)> {
        let users = self.list().ok()?;
        let user = users.iter().find(|u| u.name == name && !u.disabled);
        // Verify against a hash even for an unknown name, so that timing says nothing.
        static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let dummy = DUMMY.get_or_init(|| {
            let salt = SaltString::generate(&mut OsRng);
            Argon2::default()
                .hash_password(b"not a password of anyone", &salt)
                .map(|h| h.to_string())
                .unwrap_or_default()
        });
        let hash = user.map_or(dummy.as_str(), |u| u.hash.as_str());
        let parsed = PasswordHash::new(hash).ok()?;
        let ok = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
        let user = user.filter(|_| ok)?;
        let sid = random_hex().ok()?;
        let session = Session {
            name: user.name.clone(),
            role: user.role,
            csrf: random_hex().ok()?,
            expires: now + SESSION_SECONDS,
        };
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hex(&Sha256::digest(sid.as_bytes())), session.clone());
        Some((sid, session))
    }

    /// The live session for a cookie value, pushed back.
    pub fn session(&self, sid: &str, now: i64) -> Option<Session> {
        let key = hex(&Sha256::digest(sid.as_bytes()));
        let mut all = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        match all.get_mut(&key) {
            Some(s) if s.expires > now => {
                s.expires = now + SESSION_SECONDS;
                Some(s.clone())
            }
            Some(_) => {
                all.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Ends a session.
    pub fn logout(&self, sid: &str) {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner()).remove(&hex(&Sha256::digest(sid.as_bytes())));
    }
}

/// The session cookie's value in a request, if any.
pub fn cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == COOKIE).then(|| v.to_string())
        })
}

/// The `Set-Cookie` value for a session (HttpOnly, SameSite=Strict; Secure when served over TLS).
pub fn set_cookie(sid: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={sid}; HttpOnly; SameSite=Strict; Path=/; Max-Age={SESSION_SECONDS}{}",
        if secure { "; Secure" } else { "" }
    )
}
