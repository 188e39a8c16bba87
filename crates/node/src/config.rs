//! The node's configuration: a TOML file plus `CUSTODIA_` environment variables
//! (`CUSTODIA_HTTP__LISTEN=127.0.0.1:9000` sets `http.listen`). A bad configuration is
//! refused at start with a message that names the key and the problem.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Serialize};
use treaty::StateCode;

/// What kind of participant a node is: the federation directory's party role.
pub use federation::PartyRole;

/// `[node]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSection {
    /// The node's name in the federation (`BB-central-authority`).
    pub name: String,
    /// What kind of participant it is.
    pub role: PartyRole,
    /// The State it belongs to (ISO 3166-1 alpha-2).
    pub state: String,
}

/// `[http]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSection {
    /// Address and port to listen on.
    pub listen: String,
    /// The TLS certificate chain (PEM), relative to the configuration's directory; with
    /// `tls_key`, the node serves HTTPS only (`custodia keys tls` makes one for local use).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<String>,
    /// The TLS private key (PEM) of `tls_cert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<String>,
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection { listen: "127.0.0.1:8080".into(), tls_cert: None, tls_key: None }
    }
}

/// `[storage]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSection {
    /// `sqlite://PATH` (the embedded default) or `postgres://...`.
    pub database: String,
    /// A directory for evidence blobs (the embedded default) or `s3://bucket/prefix`.
    pub blobs: String,
    /// The transparency log's directory.
    pub log_dir: String,
    /// The States' legal profiles (`{"instruments": ..., "states": ...}` as in a case file).
    pub profiles: String,
    /// The API token registry (hashes only).
    pub tokens: String,
    /// People's accounts (argon2id hashes only).
    pub users: String,
}

impl Default for StorageSection {
    fn default() -> Self {
        StorageSection {
            database: "sqlite://data/custodia.db".into(),
            blobs: "data/blobs".into(),
            log_dir: "data/log".into(),
            profiles: "profiles.json".into(),
            tokens: "data/tokens.json".into(),
            users: "data/users.json".into(),
        }
    }
}

/// `[limits]`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// The largest JSON body accepted, in bytes.
    pub max_json_bytes: usize,
    /// The largest evidence upload accepted, in bytes.
    pub max_upload_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_json_bytes: policy::json::MAX_INPUT_BYTES, max_upload_bytes: 16 * 1024 * 1024 * 1024 }
    }
}

/// `[federation]`: the signed directory of the federation and the keys that sign it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederationSection {
    /// The signed directory (a C2SP signed note), relative to the configuration's directory.
    pub directory: String,
    /// The directory keys the node trusts (`name+hexid+base64`).
    pub keys: Vec<String>,
    /// How many of them must have signed.
    #[serde(default = "one")]
    pub threshold: usize,
    /// The certificates trusted for the other nodes' HTTPS endpoints (PEM, relative to the
    /// configuration's directory): their self-signed certificates, or the authorities that
    /// issue theirs. When set, only these are trusted; when absent, the platform's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_roots: Option<String>,
}

fn one() -> usize {
    1
}

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[node]`
    pub node: NodeSection,
    /// `[http]`
    #[serde(default)]
    pub http: HttpSection,
    /// `[storage]`
    #[serde(default)]
    pub storage: StorageSection,
    /// `[limits]`
    #[serde(default)]
    pub limits: Limits,
    /// `[federation]`: absent for a node that talks to no other node.
    #[serde(default)]
    pub federation: Option<FederationSection>,
}

/// A configuration problem, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct ConfigError {
    /// The key (`http.listen`), or the file.
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

/// What a validated configuration resolves to.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// The configuration as read.
    pub config: Config,
    /// `node.state`, parsed.
    pub state: StateCode,
    /// `http.listen`, parsed.
    pub listen: SocketAddr,
    /// The directory relative paths are resolved against (the configuration file's).
    pub base: PathBuf,
}

impl Config {
    /// Reads `path`, then `CUSTODIA_` environment variables, and validates the result.
    pub fn load(path: &Path) -> Result<Resolved, ConfigError> {
        if !path.is_file() {
            return Err(ConfigError { key: path.display().to_string(), problem: "no such configuration file".into() });
        }
        let figment = Figment::new()
            .merge(Toml::file_exact(path))
            // CUSTODIA_LOG is the log filter, not a configuration key.
            .merge(Env::prefixed("CUSTODIA_").ignore(&["log"]).split("__"));
        let config: Config = figment.extract().map_err(|e| {
            let key = if e.path.is_empty() { path.display().to_string() } else { e.path.join(".") };
            ConfigError { key, problem: e.kind.to_string() }
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        config.validate(base)
    }

    /// Checks what serde cannot.
    pub fn validate(self, base: PathBuf) -> Result<Resolved, ConfigError> {
        let err = |key: &str, problem: String| ConfigError { key: key.into(), problem };
        if self.node.name.trim().is_empty() || self.node.name.contains(char::is_whitespace) {
            return Err(err("node.name", "must be a non-empty name without spaces".into()));
        }
        let state = StateCode::parse(&self.node.state).ok_or_else(|| {
            err(
                "node.state",
                format!("{:?} is not a State code: expected two capital letters (ISO 3166-1 alpha-2)", self.node.state),
            )
        })?;
        let listen: SocketAddr = self
            .http
            .listen
            .parse()
            .map_err(|e| err("http.listen", format!("{:?} is not an address:port ({e})", self.http.listen)))?;
        match (&self.http.tls_cert, &self.http.tls_key) {
            (Some(_), None) => return Err(err("http.tls_key", "missing: http.tls_cert is set, so is the key".into())),
            (None, Some(_)) => {
                return Err(err("http.tls_cert", "missing: http.tls_key is set, so is the certificate".into()));
            }
            (Some(c), Some(k)) => {
                for (key, file) in [("http.tls_cert", c), ("http.tls_key", k)] {
                    if !base.join(file).is_file() {
                        return Err(err(key, format!("{file:?}: no such file (custodia keys tls makes one)")));
                    }
                }
            }
            (None, None) => {}
        }
        let db = &self.storage.database;
        if !(db.starts_with("sqlite://") || db.starts_with("postgres://") || db.starts_with("postgresql://")) {
            return Err(err("storage.database", format!("{db:?}: expected sqlite://PATH or postgres://...")));
        }
        if self.storage.blobs.trim().is_empty() {
            return Err(err("storage.blobs", "must name a directory or s3://bucket/prefix".into()));
        }
        if self.storage.log_dir.trim().is_empty() {
            return Err(err("storage.log_dir", "must name a directory".into()));
        }
        if let Some(f) = &self.federation {
            if f.keys.is_empty() {
                return Err(err("federation.keys", "list at least one directory key".into()));
            }
            for (i, k) in f.keys.iter().enumerate() {
                tlog::note::VerifierKey::parse(k).map_err(|e| err(&format!("federation.keys[{i}]"), e.to_string()))?;
            }
            if f.threshold == 0 || f.threshold > f.keys.len() {
                return Err(err(
                    "federation.threshold",
                    format!("must be between 1 and the {} keys listed", f.keys.len()),
                ));
            }
            if let Some(roots) = &f.tls_roots
                && !base.join(roots).is_file()
            {
                return Err(err("federation.tls_roots", format!("{roots:?}: no such file")));
            }
        }
        if self.limits.max_json_bytes == 0 {
            return Err(err("limits.max_json_bytes", "must be at least 1".into()));
        }
        Ok(Resolved { config: self, state, listen, base })
    }

    /// A working configuration for a new node.
    pub fn example(name: &str, role: PartyRole, state: &str, listen: &str) -> Config {
        Config {
            node: NodeSection { name: name.into(), role, state: state.into() },
            http: HttpSection { listen: listen.into(), ..HttpSection::default() },
            storage: StorageSection::default(),
            limits: Limits::default(),
            federation: None,
        }
    }

    /// The configuration as TOML.
    pub fn to_toml(&self) -> String {
        let mut out =
            String::from("# custodia node configuration. Environment variables CUSTODIA_SECTION__KEY override it.\n\n");
        out.push_str(&format!(
            "[node]\nname = {:?}\nrole = {:?}\nstate = {:?}\n\n[http]\nlisten = {:?}\n\n[storage]\ndatabase = {:?}\nblobs = {:?}\nlog_dir = {:?}\nprofiles = {:?}\ntokens = {:?}\nusers = {:?}\n\n[limits]\nmax_json_bytes = {}\nmax_upload_bytes = {}\n",
            self.node.name,
            self.node.role.id(),
            self.node.state,
            self.http.listen,
            self.storage.database,
            self.storage.blobs,
            self.storage.log_dir,
            self.storage.profiles,
            self.storage.tokens,
            self.storage.users,
            self.limits.max_json_bytes,
            self.limits.max_upload_bytes
        ));
        if let (Some(c), Some(k)) = (&self.http.tls_cert, &self.http.tls_key) {
            let at = out.find("\n\n[storage]").unwrap_or(out.len());
            out.insert_str(at, &format!("\ntls_cert = {c:?}\ntls_key = {k:?}"));
        }
        if let Some(f) = &self.federation {
            out.push_str(&format!(
                "\n[federation]\ndirectory = {:?}\nkeys = {:?}\nthreshold = {}\n",
                f.directory, f.keys, f.threshold
            ));
            if let Some(roots) = &f.tls_roots {
                out.push_str(&format!("tls_roots = {roots:?}\n"));
            }
        }
        out
    }
}
