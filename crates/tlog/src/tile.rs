//! Tiles (C2SP tlog-tiles v0.1.0): paths, hash tiles and entry bundles.

use std::fmt;

use crate::hash::{HASH_SIZE, Hash};

/// Hashes (or entries) in a full tile.
pub const TILE_WIDTH: u64 = 256;
/// Tree levels covered by one tile level.
pub const TILE_HEIGHT: u32 = 8;
/// Largest entry an entry bundle can hold (16-bit length prefix).
pub const MAX_ENTRY_SIZE: usize = 0xFFFF;
/// Highest tile level (levels 0..=63 exist on paper).
pub const MAX_TILE_LEVEL: u8 = 63;

/// Why a tile path, a tile or a bundle was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    /// A path that is not a canonical tile path.
    #[error("invalid tile path {path:?}: {reason}")]
    InvalidPath {
        /// The path.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A hash tile of the wrong length.
    #[error("tile {path} is {got} bytes, expected {expected} ({width} hashes)")]
    WrongTileSize {
        /// Tile path.
        path: String,
        /// Width.
        width: u16,
        /// Expected length.
        expected: usize,
        /// Length found.
        got: usize,
    },
    /// An entry bundle that does not parse.
    #[error("entry bundle {path} is malformed: {reason}")]
    MalformedBundle {
        /// Bundle path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// An entry larger than the 16-bit length prefix allows.
    #[error(
        "entry of {0} bytes is larger than the limit of 65535 bytes (16-bit length prefix); it is refused, not truncated"
    )]
    EntryTooLarge(usize),
}

/// Whether a tile holds hashes (at a level) or entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TileKind {
    /// Hash tile at tile level L (tree levels 8L .. 8L+8).
    Hashes(u8),
    /// Entry bundle.
    Entries,
}

/// A tile's coordinates: kind, index and width (1..=256; 256 means a full tile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TilePath {
    /// Hashes at a level, or entries.
    pub kind: TileKind,
    /// Index of the tile at its level.
    pub index: u64,
    /// Number of hashes or entries (1..=256).
    pub width: u16,
}

/// Encodes a tile index as `x001/x234/067`.
pub fn encode_index(n: u64) -> String {
    let mut groups = Vec::new();
    let mut n = n;
    loop {
        groups.push(n % 1000);
        n /= 1000;
        if n == 0 {
            break;
        }
    }
    let mut out = String::new();
    for (i, g) in groups.iter().enumerate().rev() {
        if i > 0 {
            out.push_str(&format!("x{g:03}/"));
        } else {
            out.push_str(&format!("{g:03}"));
        }
    }
    out
}

impl TilePath {
    /// A hash tile.
    pub fn hashes(level: u8, index: u64, width: u16) -> Self {
        Self { kind: TileKind::Hashes(level), index, width }
    }
    /// An entry bundle.
    pub fn entries(index: u64, width: u16) -> Self {
        Self { kind: TileKind::Entries, index, width }
    }

    /// Is this a full tile?
    pub fn is_full(&self) -> bool {
        u64::from(self.width) == TILE_WIDTH
    }

    /// Whether a tree of `size` leaves holds this tile whole: a tile that a checkpoint of
    /// that size (or a smaller one) lets a client ask for. Anything else lies beyond the
    /// log's checkpoint, where the writer may still be writing (or may write other bytes
    /// after a crash), so it must not be served, let alone as immutable.
    pub fn covered_by(&self, size: u64) -> bool {
        let level = match self.kind {
            TileKind::Hashes(l) => u32::from(l),
            TileKind::Entries => 0,
        };
        let Some(n) = size.checked_shr(level * TILE_HEIGHT) else { return false };
        self.index
            .checked_mul(TILE_WIDTH)
            .and_then(|start| start.checked_add(u64::from(self.width)))
            .is_some_and(|end| end <= n)
    }

    /// The canonical path, e.g. `tile/0/x001/234`, `tile/entries/000.p/7`.
    pub fn path(&self) -> String {
        let level = match self.kind {
            TileKind::Hashes(l) => l.to_string(),
            TileKind::Entries => "entries".to_string(),
        };
        let mut s = format!("tile/{level}/{}", encode_index(self.index));
        if !self.is_full() {
            s.push_str(&format!(".p/{}", self.width));
        }
        s
    }

    /// Parses a canonical tile path strictly (no redundant groups, no leading zeros in
    /// the level or width, width 1..=255 for partial tiles).
    pub fn parse(path: &str) -> Result<Self, TileError> {
        let bad = |reason| TileError::InvalidPath { path: path.chars().take(200).collect(), reason };
        let rest = path.strip_prefix("tile/").ok_or_else(|| bad("must start with tile/"))?;
        let (level, rest) = rest.split_once('/').ok_or_else(|| bad("missing level"))?;
        let kind = if level == "entries" {
            TileKind::Entries
        } else {
            if level.is_empty() || level.len() > 2 || !level.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("level must be a decimal number"));
            }
            if level.len() > 1 && level.starts_with('0') {
                return Err(bad("level has a leading zero"));
            }
            let l: u8 = level.parse().map_err(|_| bad("level must be a decimal number"))?;
            if l > MAX_TILE_LEVEL {
                return Err(bad("level is above 63"));
            }
            TileKind::Hashes(l)
        };
        let (index_part, width) = match rest.split_once(".p/") {
            Some((idx, w)) => {
                if w.is_empty() || w.len() > 3 || !w.bytes().all(|b| b.is_ascii_digit()) || w.starts_with('0') {
                    return Err(bad("partial width must be a decimal number from 1 to 255"));
                }
                let w: u16 = w.parse().map_err(|_| bad("partial width must be a number"))?;
                if u64::from(w) >= TILE_WIDTH {
                    return Err(bad("partial width must be below 256"));
                }
                (idx, w)
            }
            None => (rest, TILE_WIDTH as u16),
        };
        let groups: Vec<&str> = index_part.split('/').collect();
        let mut index: u64 = 0;
        for (i, g) in groups.iter().enumerate() {
            let last = i + 1 == groups.len();
            let digits = if last {
                *g
            } else {
                g.strip_prefix('x').ok_or_else(|| bad("non-final index groups start with x"))?
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("index groups are three decimal digits"));
            }
            if i == 0 && !last && digits == "000" {
                return Err(bad("index has a redundant leading group"));
            }
            let d: u64 = digits.parse().map_err(|_| bad("index group is not a number"))?;
            index = index.checked_mul(1000).and_then(|v| v.checked_add(d)).ok_or_else(|| bad("index overflows"))?;
        }
        Ok(Self { kind, index, width })
    }
}

impl fmt::Display for TilePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// Parses a hash tile's bytes into its hashes, checking the length against the width.
pub fn parse_hash_tile(path: &TilePath, data: &[u8]) -> Result<Vec<Hash>, TileError> {
    let expected = usize::from(path.width) * HASH_SIZE;
    if data.len() != expected {
        return Err(TileError::WrongTileSize { path: path.path(), width: path.width, expected, got: data.len() });
    }
    Ok(data.chunks_exact(HASH_SIZE).filter_map(Hash::from_slice).collect())
}

/// Encodes hashes as tile bytes.
pub fn encode_hash_tile(hashes: &[Hash]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hashes.len() * HASH_SIZE);
    for h in hashes {
        out.extend_from_slice(&h.0);
    }
    out
}

/// Appends one entry to an entry bundle, refusing entries over 65535 bytes.
pub fn push_bundle_entry(bundle: &mut Vec<u8>, entry: &[u8]) -> Result<(), TileError> {
    let len = u16::try_from(entry.len()).map_err(|_| TileError::EntryTooLarge(entry.len()))?;
    bundle.extend_from_slice(&len.to_be_bytes());
    bundle.extend_from_slice(entry);
    Ok(())
}

/// Encodes entries as a bundle.
pub fn encode_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>, TileError> {
    let mut out = Vec::new();
    for e in entries {
        push_bundle_entry(&mut out, e.as_ref())?;
    }
    Ok(out)
}

/// Splits an entry bundle into its entries; `path` (when given) checks the count.
pub fn parse_bundle<'a>(path: Option<&TilePath>, data: &'a [u8]) -> Result<Vec<&'a [u8]>, TileError> {
    let name = || path.map_or_else(|| "(bundle)".to_string(), TilePath::path);
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        if rest.len() < 2 {
            return Err(TileError::MalformedBundle { path: name(), reason: "truncated length prefix".into() });
        }
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        if rest.len() < 2 + len {
            return Err(TileError::MalformedBundle {
                path: name(),
                reason: format!("entry {} claims {len} bytes but only {} remain", out.len(), rest.len() - 2),
            });
        }
        out.push(&rest[2..2 + len]);
        rest = &rest[2 + len..];
        if out.len() as u64 > TILE_WIDTH {
            return Err(TileError::MalformedBundle { path: name(), reason: "more than 256 entries".into() });
        }
    }
    if let Some(p) = path
        && out.len() != usize::from(p.width)
    {
        return Err(TileError::MalformedBundle {
            path: name(),
            reason: format!("holds {} entries, the path says {}", out.len(), p.width),
        });
    }
    Ok(out)
}

/// The tiles (hash tiles at every level) that make up a tree of `size` leaves, in
/// level order: for each level, full tiles then the partial one.
pub fn tiles_for_size(size: u64) -> Vec<TilePath> {
    let mut out = Vec::new();
    let mut level: u8 = 0;
    loop {
        let n = if u32::from(level) * TILE_HEIGHT >= 64 { 0 } else { size >> (u32::from(level) * TILE_HEIGHT) };
        if n == 0 {
            break;
        }
        for i in 0..n / TILE_WIDTH {
            out.push(TilePath::hashes(level, i, TILE_WIDTH as u16));
        }
        if n % TILE_WIDTH != 0 {
            out.push(TilePath::hashes(level, n / TILE_WIDTH, (n % TILE_WIDTH) as u16));
        }
        level += 1;
    }
    out
}

/// The hash tile at `level` holding tile index `index` in a tree of `size` leaves (its
/// width follows from the size), or None when the tree has no such tile.
pub fn tile_for(level: u8, index: u64, size: u64) -> Option<TilePath> {
    let shift = u32::from(level) * TILE_HEIGHT;
    if shift >= 64 {
        return None;
    }
    let n = size >> shift;
    let start = index.checked_mul(TILE_WIDTH)?;
    if start >= n {
        return None;
    }
    Some(TilePath::hashes(level, index, (n - start).min(TILE_WIDTH) as u16))
}

/// The entry bundle holding bundle index `index` in a tree of `size` leaves.
pub fn bundle_for(index: u64, size: u64) -> Option<TilePath> {
    let start = index.checked_mul(TILE_WIDTH)?;
    if start >= size {
        return None;
    }
    Some(TilePath::entries(index, (size - start).min(TILE_WIDTH) as u16))
}
