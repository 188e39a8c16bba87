//! The node's own transparency log: created on first start, opened (and locked) while the
//! node runs; commitment and reveal entries are appended here and the statistics are
//! recomputed from what the log holds.

use std::path::{Path, PathBuf};

use tlog::client::{self, ClientError, OpenLog};
use tlog::sequencer::{SequencerConfig, SequencerError};
use tlog::storage::DirStorage;
use tlog::tile::{self, TILE_WIDTH};

/// A node's log.
#[derive(Debug)]
pub struct Transparency {
    log: OpenLog,
    dir: PathBuf,
    /// The log's verifier key (`name+hexid+base64`).
    pub verifier_key: String,
}

/// Why the log could not be opened, read or appended to.
#[derive(Debug, thiserror::Error)]
pub enum TransparencyError {
    /// Opening or creating.
    #[error("opening the log in {dir}")]
    Open {
        /// The directory.
        dir: String,
        /// Why.
        source: ClientError,
    },
    /// Appending.
    #[error("appending to the log: {0}")]
    Append(#[from] SequencerError),
    /// Reading tiles or bundles.
    #[error("reading the log: {0}")]
    Read(String),
}

impl Transparency {
    /// Opens the log in `dir`, creating it with origin `origin` if it does not exist.
    pub fn open_or_create(dir: &Path, origin: &str) -> Result<Transparency, TransparencyError> {
        let err = |source| TransparencyError::Open { dir: dir.display().to_string(), source };
        if !dir.join(client::KEY_FILE).exists() {
            client::init_dir(dir, origin).map_err(err)?;
        }
        let log = client::open_dir(dir, SequencerConfig::default()).map_err(err)?;
        let verifier_key = std::fs::read_to_string(dir.join(client::VKEY_FILE)).unwrap_or_default().trim().to_string();
        Ok(Transparency { log, dir: dir.to_path_buf(), verifier_key })
    }

    /// Appends entries; returns the index of the first once they are durable. Blocks.
    pub fn append(&self, entries: Vec<Vec<u8>>) -> Result<u64, TransparencyError> {
        Ok(self.log.sequencer.append_batch(entries)?)
    }

    /// [`Transparency::append`] without holding a thread while the batch is written: the
    /// sequencer wakes the awaiting task.
    pub async fn append_async(&self, entries: Vec<Vec<u8>>) -> Result<u64, TransparencyError> {
        Ok(self.log.sequencer.submit(entries)?.await?)
    }

    /// The log's size.
    pub fn size(&self) -> u64 {
        self.log.sequencer.head().0
    }

    /// The directory the log is kept in (tiles, entry bundles, checkpoint).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every entry of the log, read back from its entry bundles. Blocks.
    pub fn entries(&self) -> Result<Vec<Vec<u8>>, TransparencyError> {
        self.entries_since(0)
    }

    /// The entries from index `start` to the end of the log, read back from the entry
    /// bundles that hold them (not the whole log). Blocks.
    pub fn entries_since(&self, start: u64) -> Result<Vec<Vec<u8>>, TransparencyError> {
        let store = DirStorage::new(&self.dir).map_err(|e| TransparencyError::Read(e.to_string()))?;
        let size = self.size();
        let mut out = Vec::with_capacity(size.saturating_sub(start) as usize);
        for b in start / TILE_WIDTH..size.div_ceil(TILE_WIDTH) {
            let Some(path) = tile::bundle_for(b, size) else { break };
            // A superseded partial bundle may be gone: fall back to the full one, cut.
            let data = tlog::tiles::fetch_tile(&store, &path)
                .map_err(|e| TransparencyError::Read(e.to_string()))?
                .ok_or_else(|| TransparencyError::Read(format!("{} is missing", path.path())))?;
            let entries = tile::parse_bundle(Some(&path), &data).map_err(|e| TransparencyError::Read(e.to_string()))?;
            let skip = if b == start / TILE_WIDTH { (start % TILE_WIDTH) as usize } else { 0 };
            out.extend(entries.into_iter().skip(skip).map(<[u8]>::to_vec));
        }
        Ok(out)
    }
}
