//! A tree read from its tiles: node hashes for proofs (with a cache of expanded tiles),
//! and full verification that recomputes every tile from the entries.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::hash::{Hash, leaf_hash, node_hash};
use crate::merkle::{self, NodeSource, ProofError};
use crate::storage::{Fetch, StorageError};
use crate::tile::{self, TILE_HEIGHT, TILE_WIDTH, TileError, TileKind, TilePath};

/// Why a tree could not be read or did not verify.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// A proof could not be built or failed.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// A tile or bundle is malformed.
    #[error(transparent)]
    Tile(#[from] TileError),
    /// Reading failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A tile the tree size needs is absent.
    #[error("tile {0} is missing")]
    MissingTile(String),
    /// A tile's contents differ from what the tiles or entries below it give.
    #[error("tile {path} does not match {against}: hash {position} differs")]
    TileMismatch {
        /// The tile whose contents are wrong.
        path: String,
        /// What it was compared with.
        against: String,
        /// Index of the first differing hash in the tile.
        position: usize,
    },
    /// The root recomputed from the tiles differs from the checkpoint.
    #[error("root recomputed from the tiles is {computed}, the checkpoint says {expected}")]
    RootMismatch {
        /// Root from the tiles.
        computed: Hash,
        /// Root in the checkpoint.
        expected: Hash,
    },
}

/// Reads a tile or bundle. A partial one that the log has deleted (allowed once the full
/// tile exists) is served from the full one, cut to the partial width.
pub fn fetch_tile(fetch: &dyn Fetch, path: &TilePath) -> Result<Option<Vec<u8>>, StorageError> {
    if let Some(data) = fetch.get(&path.path())? {
        return Ok(Some(data));
    }
    if path.is_full() {
        return Ok(None);
    }
    let full = TilePath { width: TILE_WIDTH as u16, ..*path };
    let Some(data) = fetch.get(&full.path())? else { return Ok(None) };
    let width = usize::from(path.width);
    Ok(Some(match path.kind {
        TileKind::Hashes(_) => data.get(..width * crate::hash::HASH_SIZE).map_or(data.clone(), <[u8]>::to_vec),
        TileKind::Entries => {
            // Walk `width` length-prefixed entries; a malformed bundle is returned whole
            // so that parsing reports it.
            let mut end = 0usize;
            for _ in 0..width {
                let Some(len) = data.get(end..end + 2).map(|b| usize::from(u16::from_be_bytes([b[0], b[1]]))) else {
                    return Ok(Some(data));
                };
                end += 2 + len;
            }
            data.get(..end).map_or(data.clone(), <[u8]>::to_vec)
        }
    }))
}

/// A tile with its eight internal levels precomputed: `levels[r]` holds the hashes of the
/// complete subtrees of height `r` inside the tile.
#[derive(Debug)]
struct ExpandedTile {
    levels: Vec<Vec<Hash>>,
}

impl ExpandedTile {
    fn new(hashes: Vec<Hash>) -> Self {
        let mut levels = vec![hashes];
        for r in 1..TILE_HEIGHT as usize {
            let below = &levels[r - 1];
            let next: Vec<Hash> = below.chunks_exact(2).map(|p| node_hash(&p[0], &p[1])).collect();
            levels.push(next);
        }
        Self { levels }
    }
}

/// A tree of a given size read from the tiles in a [`Fetch`]. Tiles are cached once read.
#[derive(Debug)]
pub struct TileTree<'a> {
    fetch: &'a dyn Fetch,
    size: u64,
    cache: Mutex<HashMap<TilePath, Arc<ExpandedTile>>>,
}

impl<'a> TileTree<'a> {
    /// A reader for the tree of `size` leaves.
    pub fn new(fetch: &'a dyn Fetch, size: u64) -> Self {
        Self { fetch, size, cache: Mutex::new(HashMap::new()) }
    }

    /// The tree size.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn tile(&self, path: TilePath) -> Result<Arc<ExpandedTile>, TreeError> {
        if let Some(t) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(&path) {
            return Ok(t.clone());
        }
        let data = fetch_tile(self.fetch, &path)?.ok_or_else(|| TreeError::MissingTile(path.path()))?;
        let hashes = tile::parse_hash_tile(&path, &data)?;
        let t = Arc::new(ExpandedTile::new(hashes));
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(path, t.clone());
        Ok(t)
    }

    /// The raw hashes of a tile.
    pub fn tile_hashes(&self, path: TilePath) -> Result<Vec<Hash>, TreeError> {
        Ok(self.tile(path)?.levels[0].clone())
    }

    /// Leaf hash at `index`.
    pub fn leaf_hash(&self, index: u64) -> Result<Hash, TreeError> {
        self.node(0, index)
    }

    /// Root hash of the tree.
    pub fn root(&self) -> Result<Hash, TreeError> {
        merkle::tree_root(self, self.size)
    }

    /// Inclusion proof for leaf `index`.
    pub fn inclusion_proof(&self, index: u64) -> Result<Vec<Hash>, TreeError> {
        merkle::inclusion_proof(self, index, self.size)
    }

    /// Consistency proof from an earlier size to this tree's size.
    pub fn consistency_proof(&self, old: u64) -> Result<Vec<Hash>, TreeError> {
        merkle::consistency_proof(self, old, self.size)
    }
}

impl NodeSource for TileTree<'_> {
    type Error = TreeError;
    fn node(&self, level: u32, index: u64) -> Result<Hash, TreeError> {
        let missing = || TreeError::Proof(ProofError::MissingNode { level, index });
        if level >= 64 || index.checked_shl(level).is_none_or(|v| v >> level != index) {
            return Err(missing());
        }
        let tile_level = u8::try_from(level / TILE_HEIGHT).map_err(|_| missing())?;
        let r = level % TILE_HEIGHT;
        let first = index << r; // index at tree level 8 * tile_level
        let tile_index = first / TILE_WIDTH;
        let path = tile::tile_for(tile_level, tile_index, self.size).ok_or_else(missing)?;
        let pos = (first % TILE_WIDTH) as usize;
        if pos + (1usize << r) > usize::from(path.width) {
            return Err(missing());
        }
        let t = self.tile(path)?;
        t.levels[r as usize].get(pos >> r).copied().ok_or_else(missing)
    }
}

/// What [`verify_tree`] checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Hash tiles read and checked.
    pub tiles: u64,
    /// Entry bundles read and checked against the level-0 tiles.
    pub bundles: u64,
    /// Entries hashed.
    pub entries: u64,
    /// The root recomputed.
    pub root: Hash,
}

/// Recomputes the tree of `size` leaves: every level-0 tile from the entry bundles (when
/// `check_entries`), every higher tile from the tiles below, and the root from the tiles;
/// fails on the first tile, bundle or root that does not match.
pub fn verify_tree(
    fetch: &dyn Fetch,
    size: u64,
    expected_root: &Hash,
    check_entries: bool,
) -> Result<VerifyReport, TreeError> {
    let mut report = VerifyReport::default();
    // Hashes the level below says this level must hold (full tiles' subtree roots).
    let mut expected_next: Vec<Hash> = Vec::new();
    let tiles = tile::tiles_for_size(size);
    let mut current_level: Option<u8> = None;
    let mut expected_here: Vec<Hash> = Vec::new();
    for path in tiles {
        let TileKind::Hashes(level) = path.kind else { continue };
        if current_level != Some(level) {
            current_level = Some(level);
            expected_here = std::mem::take(&mut expected_next);
        }
        let data = fetch_tile(fetch, &path)?.ok_or_else(|| TreeError::MissingTile(path.path()))?;
        let hashes = tile::parse_hash_tile(&path, &data)?;
        report.tiles += 1;
        if level == 0 {
            if check_entries {
                let bundle_path = TilePath::entries(path.index, path.width);
                let bundle =
                    fetch_tile(fetch, &bundle_path)?.ok_or_else(|| TreeError::MissingTile(bundle_path.path()))?;
                let entries = tile::parse_bundle(Some(&bundle_path), &bundle)?;
                report.bundles += 1;
                for (i, (e, h)) in entries.iter().zip(&hashes).enumerate() {
                    if &leaf_hash(e) != h {
                        return Err(TreeError::TileMismatch {
                            path: path.path(),
                            against: format!("the entries in {bundle_path}"),
                            position: i,
                        });
                    }
                }
                report.entries += entries.len() as u64;
            }
        } else {
            let start = (path.index * TILE_WIDTH) as usize;
            for (i, h) in hashes.iter().enumerate() {
                if expected_here.get(start + i) != Some(h) {
                    return Err(TreeError::TileMismatch {
                        path: path.path(),
                        against: format!("the level-{} tiles below it", level - 1),
                        position: i,
                    });
                }
            }
        }
        if path.is_full() {
            let t = ExpandedTile::new(hashes);
            let top = &t.levels[TILE_HEIGHT as usize - 1];
            expected_next.push(node_hash(&top[0], &top[1]));
        }
    }
    let tree = TileTree::new(fetch, size);
    let root = tree.root()?;
    if &root != expected_root {
        return Err(TreeError::RootMismatch { computed: root, expected: *expected_root });
    }
    report.root = root;
    Ok(report)
}
