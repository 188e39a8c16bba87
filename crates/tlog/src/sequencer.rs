//! The sequencer: many concurrent appends batched into one durable write.
//!
//! Each batch writes every new or grown tile and entry bundle and the new signed
//! checkpoint, and the checkpoint is never readable before the tiles it covers are
//! durable. In a directory this takes one round of fsyncs ([`Storage::put_all_then`]):
//! tiles are written in place (no client asks for a tile that no checkpoint covers, and
//! the node serves no such tile), the checkpoint to a temporary file and to a kept copy,
//! all synced together; then the checkpoint takes its name. Only after that are the
//! callers given their indexes. A crash before leaves tiles beyond the checkpoint's size,
//! perhaps partly written, that nobody was told about and that the next batch overwrites;
//! a crash after it loses nothing acknowledged: if the checkpoint's name was lost, its
//! kept copy is found, checked against the entries and tiles written since and taken up.
//! On restart the state is rebuilt from the checkpoint and the tiles it covers, and the
//! root is recomputed and compared, so one size never gets two roots.

use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::checkpoint::{Checkpoint, CheckpointError, TrustPolicy};
use crate::hash::{Hash, leaf_hash, node_hash};
use crate::merkle::{self, NodeSource, ProofError};
use crate::note::SignerKey;
use crate::storage::{Storage, StorageError};
use crate::tile::{self, MAX_ENTRY_SIZE, TILE_HEIGHT, TILE_WIDTH, TileError, TilePath};

/// Name of the checkpoint object.
pub const CHECKPOINT: &str = "checkpoint";

/// Why an append or a restart failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SequencerError {
    /// The entry is larger than an entry bundle can hold.
    #[error(transparent)]
    Tile(#[from] TileError),
    /// Storage failed; the batch was not acknowledged.
    #[error("storage failed, entries not appended: {0}")]
    Storage(String),
    /// The stored checkpoint is unreadable or not ours.
    #[error("stored checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The stored tiles do not give the stored checkpoint's root.
    #[error("stored state is inconsistent: {0}")]
    Inconsistent(String),
    /// The checkpoint's origin is not the one configured.
    #[error("the log at this location has origin {found:?}, not {expected:?}")]
    WrongOrigin {
        /// Configured origin.
        expected: String,
        /// Stored origin.
        found: String,
    },
    /// The sequencer was shut down or failed earlier.
    #[error("the sequencer is stopped: {0}")]
    Stopped(String),
}

impl From<StorageError> for SequencerError {
    fn from(e: StorageError) -> Self {
        SequencerError::Storage(e.to_string())
    }
}

/// The right edge of the tree: the incomplete tile at each level and the incomplete
/// entry bundle. Everything to the left of it is in full tiles that never change.
#[derive(Debug, Clone)]
struct Edge {
    size: u64,
    partial: Vec<Vec<Hash>>,
    bundle: Vec<u8>,
    bundle_count: usize,
    /// Widths of the partial versions written of the current partial tile at each level
    /// (deleted once the full tile is durable, as tlog-tiles allows).
    partial_widths: Vec<Vec<u16>>,
    /// The same for the current partial entry bundle.
    bundle_widths: Vec<u16>,
}

/// What one batch writes: objects to put, then (after the checkpoint) objects to delete.
struct BatchWrites {
    puts: Vec<(String, Vec<u8>)>,
    deletes: Vec<String>,
}

impl Edge {
    fn empty() -> Self {
        Self {
            size: 0,
            partial: vec![Vec::new()],
            bundle: Vec::new(),
            bundle_count: 0,
            partial_widths: vec![Vec::new()],
            bundle_widths: Vec::new(),
        }
    }

    fn tile_root(hashes: &[Hash]) -> Hash {
        let mut level: Vec<Hash> = hashes.to_vec();
        while level.len() > 1 {
            level = level.chunks_exact(2).map(|p| node_hash(&p[0], &p[1])).collect();
        }
        level[0]
    }

    /// Appends entries, returning the objects to write (full and partial tiles/bundles).
    fn append<'a>(&mut self, entries: impl IntoIterator<Item = &'a [u8]>) -> Result<BatchWrites, TileError> {
        let mut out: Vec<(String, Vec<u8>)> = Vec::new();
        let mut deletes: Vec<String> = Vec::new();
        let mut dirty_levels = vec![false; self.partial.len()];
        let mut bundle_dirty = false;
        for e in entries {
            tile::push_bundle_entry(&mut self.bundle, e)?;
            self.bundle_count += 1;
            bundle_dirty = true;
            if self.bundle_count as u64 == TILE_WIDTH {
                let index = self.size / TILE_WIDTH;
                let path = TilePath::entries(index, TILE_WIDTH as u16);
                out.push((path.path(), std::mem::take(&mut self.bundle)));
                deletes.extend(self.bundle_widths.drain(..).map(|w| TilePath::entries(index, w).path()));
                self.bundle_count = 0;
                bundle_dirty = false;
            }
            let mut h = leaf_hash(e);
            let mut level = 0usize;
            loop {
                if self.partial.len() == level {
                    self.partial.push(Vec::new());
                }
                if self.partial_widths.len() == level {
                    self.partial_widths.push(Vec::new());
                }
                if dirty_levels.len() == level {
                    dirty_levels.push(false);
                }
                self.partial[level].push(h);
                dirty_levels[level] = true;
                if self.partial[level].len() as u64 == TILE_WIDTH {
                    let full = std::mem::take(&mut self.partial[level]);
                    let shift = TILE_HEIGHT * level as u32;
                    let index = (self.size >> shift) / TILE_WIDTH;
                    let path = TilePath::hashes(level as u8, index, TILE_WIDTH as u16);
                    h = Self::tile_root(&full);
                    out.push((path.path(), tile::encode_hash_tile(&full)));
                    deletes.extend(
                        self.partial_widths[level].drain(..).map(|w| TilePath::hashes(level as u8, index, w).path()),
                    );
                    dirty_levels[level] = false;
                    level += 1;
                } else {
                    break;
                }
            }
            self.size += 1;
        }
        for (level, hashes) in self.partial.iter().enumerate() {
            if dirty_levels.get(level).copied().unwrap_or(false) && !hashes.is_empty() {
                let shift = TILE_HEIGHT * level as u32;
                let index = (self.size >> shift) / TILE_WIDTH;
                let path = TilePath::hashes(level as u8, index, hashes.len() as u16);
                out.push((path.path(), tile::encode_hash_tile(hashes)));
                if let Some(widths) = self.partial_widths.get_mut(level)
                    && !widths.contains(&path.width)
                {
                    widths.push(path.width);
                }
            }
        }
        if bundle_dirty && self.bundle_count > 0 {
            let path = TilePath::entries(self.size / TILE_WIDTH, self.bundle_count as u16);
            out.push((path.path(), self.bundle.clone()));
            if !self.bundle_widths.contains(&path.width) {
                self.bundle_widths.push(path.width);
            }
        }
        Ok(BatchWrites { puts: out, deletes })
    }

    fn root(&self) -> Result<Hash, ProofError> {
        merkle::tree_root(self, self.size)
    }

    /// Rebuilds the edge for `size` from storage.
    fn load(store: &dyn Storage, size: u64) -> Result<Self, SequencerError> {
        let mut edge = Edge {
            size,
            partial: Vec::new(),
            bundle: Vec::new(),
            bundle_count: 0,
            partial_widths: Vec::new(),
            bundle_widths: Vec::new(),
        };
        let mut level: u8 = 0;
        loop {
            let shift = TILE_HEIGHT * u32::from(level);
            let n = if shift >= 64 { 0 } else { size >> shift };
            let count = n % TILE_WIDTH;
            if count > 0 {
                let path = TilePath::hashes(level, n / TILE_WIDTH, count as u16);
                let data = store
                    .get(&path.path())?
                    .ok_or_else(|| SequencerError::Inconsistent(format!("tile {path} is missing")))?;
                edge.partial.push(tile::parse_hash_tile(&path, &data)?);
                edge.partial_widths.push(vec![path.width]);
            } else {
                edge.partial.push(Vec::new());
                edge.partial_widths.push(Vec::new());
            }
            if n < TILE_WIDTH {
                break;
            }
            level += 1;
        }
        let count = size % TILE_WIDTH;
        if count > 0 {
            let path = TilePath::entries(size / TILE_WIDTH, count as u16);
            let data = store
                .get(&path.path())?
                .ok_or_else(|| SequencerError::Inconsistent(format!("entry bundle {path} is missing")))?;
            let entries = tile::parse_bundle(Some(&path), &data)?;
            // The bundle must match the leaf hashes of the partial level-0 tile.
            for (i, e) in entries.iter().enumerate() {
                if edge.partial[0].get(i) != Some(&leaf_hash(e)) {
                    return Err(SequencerError::Inconsistent(format!(
                        "entry {i} of {path} does not match the level-0 tile"
                    )));
                }
            }
            edge.bundle = data;
            edge.bundle_count = count as usize;
            edge.bundle_widths.push(path.width);
        }
        Ok(edge)
    }
}

impl NodeSource for Edge {
    type Error = ProofError;
    fn node(&self, level: u32, index: u64) -> Result<Hash, ProofError> {
        let missing = ProofError::MissingNode { level, index };
        let l = (level / TILE_HEIGHT) as usize;
        let r = level % TILE_HEIGHT;
        let tile = self.partial.get(l).ok_or(missing.clone())?;
        let n = self.size >> (TILE_HEIGHT * l as u32);
        let tile_start = n - tile.len() as u64;
        let first = index << r;
        if first < tile_start {
            return Err(missing);
        }
        let pos = (first - tile_start) as usize;
        let slice = tile.get(pos..pos + (1usize << r)).ok_or(missing)?;
        Ok(Edge::tile_root(slice))
    }
}

/// Tuning of the sequencer.
#[derive(Debug, Clone)]
pub struct SequencerConfig {
    /// Most entries written in one batch.
    pub max_batch: usize,
    /// Longest wait for more entries before writing a non-empty batch.
    pub linger: Duration,
}

impl Default for SequencerConfig {
    fn default() -> Self {
        Self { max_batch: 1 << 16, linger: Duration::ZERO }
    }
}

/// Where the writer puts a request's answer: the result, and the task to wake when it
/// is awaited instead of waited for.
#[derive(Debug, Default)]
struct Slot {
    result: Option<Result<u64, SequencerError>>,
    waker: Option<std::task::Waker>,
}

type Reply = Arc<(Mutex<Slot>, Condvar)>;

/// A pending append: [`Ticket::wait`] blocks until the first index is durable; awaiting
/// the ticket (it is a `Future`, with any executor) gives the same without holding a
/// thread.
#[derive(Debug)]
pub struct Ticket {
    reply: Reply,
}

impl Ticket {
    /// Waits until the entries are durable (or the batch failed).
    pub fn wait(self) -> Result<u64, SequencerError> {
        let (lock, cond) = &*self.reply;
        let mut slot = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(r) = slot.result.take() {
                return r;
            }
            slot = cond.wait(slot).unwrap_or_else(|e| e.into_inner());
        }
    }
}

impl std::future::Future for Ticket {
    type Output = Result<u64, SequencerError>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        let mut slot = self.reply.0.lock().unwrap_or_else(|e| e.into_inner());
        match slot.result.take() {
            Some(r) => std::task::Poll::Ready(r),
            None => {
                slot.waker = Some(cx.waker().clone());
                std::task::Poll::Pending
            }
        }
    }
}

struct Request {
    entries: Vec<Vec<u8>>,
    reply: Reply,
}

#[derive(Default)]
struct Queue {
    requests: Vec<Request>,
    queued_entries: usize,
    closed: Option<String>,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    head: Mutex<(u64, Hash)>,
    batches: std::sync::atomic::AtomicU64,
}

/// A running sequencer for one log. Appends from any thread; a background thread
/// writes batches. Dropping it stops the thread after the current batch.
pub struct Sequencer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Sequencer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (size, root) = self.head();
        write!(f, "Sequencer(size {size}, root {root})")
    }
}

/// Reads and checks the stored checkpoint of a log signed by `key`.
pub fn read_checkpoint(store: &dyn Storage, key: &SignerKey) -> Result<Option<Checkpoint>, SequencerError> {
    let Some(msg) = store.get(CHECKPOINT)? else { return Ok(None) };
    let policy = TrustPolicy { origin: None, log_key: Some(key.verifier()), witnesses: Vec::new(), quorum: 0 };
    Ok(Some(policy.open(&msg)?.checkpoint))
}

/// The checkpoint a restart goes on from, with its bytes: the stored one, unless a copy
/// kept by [`Storage::put_all_then`] is newer (the checkpoint's name was not yet durable
/// when the machine stopped), signed by `key`, and its batch reached the disk whole (a
/// copy is synced with its batch's tiles, not after them): [`matches_from`] the stored
/// checkpoint, or [`crate::tiles::verify_tree`] of the whole tree when that checkpoint's
/// edge cannot be read back. A stored checkpoint that is unreadable (its name led to a
/// file since reused) gives way to such a copy too; without one it is an error, as before.
fn recover_checkpoint(store: &dyn Storage, key: &SignerKey) -> Result<Option<(Checkpoint, Vec<u8>)>, SequencerError> {
    let policy = TrustPolicy { origin: None, log_key: Some(key.verifier()), witnesses: Vec::new(), quorum: 0 };
    let stored = store.get(CHECKPOINT)?.map(|msg| policy.open(&msg).map(|s| (s.checkpoint, msg)));
    let floor = match &stored {
        Some(Ok((cp, _))) => Some((cp.size, cp.root)),
        _ => None,
    };
    let mut copies: Vec<(Checkpoint, Vec<u8>)> = store
        .kept_copies(CHECKPOINT)?
        .into_iter()
        .filter_map(|msg| policy.open(&msg).ok().map(|s| (s.checkpoint, msg)))
        .filter(|(cp, _)| floor.is_none_or(|(size, _)| cp.size > size))
        .collect();
    copies.sort_by_key(|(cp, _)| std::cmp::Reverse(cp.size));
    for (cp, msg) in copies {
        let matches = match floor.map(|(size, root)| matches_from(store, size, root, &cp)) {
            Some(Ok(m)) => m,
            // The stored checkpoint's edge is gone (its partial tiles were replaced since):
            // the whole tree, from the entries.
            _ => crate::tiles::verify_tree(store, cp.size, &cp.root, true).is_ok(),
        };
        if matches {
            return Ok(Some((cp, msg)));
        }
    }
    match stored {
        Some(Ok(found)) => Ok(Some(found)),
        Some(Err(e)) => Err(e.into()),
        None => Ok(None),
    }
}

/// Whether the stored tiles and entries give `cp`, checked from the edge of the durable
/// checkpoint (`size`, `root`) below it: the entries since are read back and appended in
/// memory, the root compared, and every tile `cp` needs that the append makes compared
/// byte for byte with the stored one. `Err` when the edge itself cannot be read back.
fn matches_from(store: &dyn Storage, size: u64, root: Hash, cp: &Checkpoint) -> Result<bool, SequencerError> {
    let mut edge = Edge::load(store, size)?;
    if edge.root().map_err(|e| SequencerError::Inconsistent(e.to_string()))? != root {
        return Err(SequencerError::Inconsistent(format!("the tiles no longer give the root at size {size}")));
    }
    let mut entries: Vec<Vec<u8>> = Vec::new();
    for b in size / TILE_WIDTH..cp.size.div_ceil(TILE_WIDTH) {
        let Some(path) = tile::bundle_for(b, cp.size) else { return Ok(false) };
        let Some(data) = store.get(&path.path())? else { return Ok(false) };
        let Ok(parsed) = tile::parse_bundle(Some(&path), &data) else { return Ok(false) };
        let skip = if b == size / TILE_WIDTH { (size % TILE_WIDTH) as usize } else { 0 };
        entries.extend(parsed.iter().skip(skip).map(|e| e.to_vec()));
    }
    let Ok(writes) = edge.append(entries.iter().map(Vec::as_slice)) else { return Ok(false) };
    if edge.size != cp.size || edge.root().ok() != Some(cp.root) {
        return Ok(false);
    }
    for (path, bytes) in &writes.puts {
        if store.get(path)?.as_ref() != Some(bytes) {
            return Ok(false);
        }
    }
    Ok(true)
}

impl Sequencer {
    /// Opens the log in `store` (recovering from its durable state) or starts a new one.
    pub fn open(
        store: Arc<dyn Storage>,
        key: SignerKey,
        origin: &str,
        config: SequencerConfig,
    ) -> Result<Self, SequencerError> {
        let edge = match recover_checkpoint(store.as_ref(), &key)? {
            Some((cp, msg)) => {
                if cp.origin != origin {
                    return Err(SequencerError::WrongOrigin { expected: origin.to_string(), found: cp.origin });
                }
                let edge = Edge::load(store.as_ref(), cp.size)?;
                let root = edge.root().map_err(|e| SequencerError::Inconsistent(e.to_string()))?;
                if root != cp.root {
                    return Err(SequencerError::Inconsistent(format!(
                        "tiles give root {root} at size {}, the checkpoint says {}",
                        cp.size, cp.root
                    )));
                }
                // Its name made durable now, before any batch overwrites a kept copy.
                store.put(CHECKPOINT, &msg)?;
                edge
            }
            None => {
                // A new log: publish the empty checkpoint so that readers find one.
                let cp = Checkpoint::new(origin, 0, Hash::empty_root());
                store.put(CHECKPOINT, &cp.sign(&key)?.to_bytes())?;
                Edge::empty()
            }
        };
        let root = edge.root().map_err(|e| SequencerError::Inconsistent(e.to_string()))?;
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            wake: Condvar::new(),
            head: Mutex::new((edge.size, root)),
            batches: std::sync::atomic::AtomicU64::new(0),
        });
        let writer = Writer {
            store,
            key,
            origin: origin.to_string(),
            edge,
            config,
            shared: shared.clone(),
            pending_deletes: Vec::new(),
        };
        let thread = std::thread::Builder::new()
            .name("tlog-sequencer".into())
            .spawn(move || writer.run())
            .map_err(|e| SequencerError::Stopped(format!("cannot start the writer thread: {e}")))?;
        Ok(Self { shared, thread: Some(thread) })
    }

    /// Size and root of the latest durable checkpoint.
    pub fn head(&self) -> (u64, Hash) {
        *self.shared.head.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of batches (checkpoints) written since this sequencer started.
    pub fn batches_written(&self) -> u64 {
        self.shared.batches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Appends one entry; returns its index once it is durable and covered by a signed
    /// checkpoint.
    pub fn append(&self, entry: Vec<u8>) -> Result<u64, SequencerError> {
        self.append_batch(vec![entry])
    }

    /// Appends entries that get consecutive indexes; returns the first index once all are
    /// durable and covered by a signed checkpoint.
    pub fn append_batch(&self, entries: Vec<Vec<u8>>) -> Result<u64, SequencerError> {
        self.submit(entries)?.wait()
    }

    /// Queues entries (consecutive indexes) without waiting; the ticket gives the first
    /// index once they are durable. Lets one writer keep many appends in flight.
    pub fn submit(&self, entries: Vec<Vec<u8>>) -> Result<Ticket, SequencerError> {
        if let Some(e) = entries.iter().find(|e| e.len() > MAX_ENTRY_SIZE) {
            return Err(TileError::EntryTooLarge(e.len()).into());
        }
        let reply: Reply = Arc::new((Mutex::new(Slot::default()), Condvar::new()));
        if entries.is_empty() {
            answer(&reply, Ok(self.head().0));
            return Ok(Ticket { reply });
        }
        {
            let mut q = self.shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(why) = &q.closed {
                return Err(SequencerError::Stopped(why.clone()));
            }
            q.queued_entries += entries.len();
            q.requests.push(Request { entries, reply: reply.clone() });
        }
        self.shared.wake.notify_one();
        Ok(Ticket { reply })
    }

    /// Stops the writer after the batches already queued.
    pub fn close(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        {
            let mut q = self.shared.queue.lock().unwrap_or_else(|e| e.into_inner());
            if q.closed.is_none() {
                q.closed = Some("closed".into());
            }
        }
        self.shared.wake.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Sequencer {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Writer {
    store: Arc<dyn Storage>,
    key: SignerKey,
    origin: String,
    edge: Edge,
    config: SequencerConfig,
    shared: Arc<Shared>,
    /// Superseded partial tiles still to delete (retried after each batch).
    pending_deletes: Vec<String>,
}

fn answer(reply: &Reply, r: Result<u64, SequencerError>) {
    let (lock, cond) = &**reply;
    let waker = {
        let mut slot = lock.lock().unwrap_or_else(|e| e.into_inner());
        slot.result = Some(r);
        slot.waker.take()
    };
    cond.notify_all();
    if let Some(w) = waker {
        w.wake();
    }
}

impl Writer {
    fn run(mut self) {
        loop {
            let batch = {
                let mut q = self.shared.queue.lock().unwrap_or_else(|e| e.into_inner());
                while q.requests.is_empty() && q.closed.is_none() {
                    q = self.shared.wake.wait(q).unwrap_or_else(|e| e.into_inner());
                }
                if q.requests.is_empty() {
                    return;
                }
                if !self.config.linger.is_zero() && q.queued_entries < self.config.max_batch && q.closed.is_none() {
                    q = self.shared.wake.wait_timeout(q, self.config.linger).unwrap_or_else(|e| e.into_inner()).0;
                }
                let mut taken = 0usize;
                let mut n = 0usize;
                while n < q.requests.len() && (n == 0 || taken + q.requests[n].entries.len() <= self.config.max_batch) {
                    taken += q.requests[n].entries.len();
                    n += 1;
                }
                q.queued_entries -= taken;
                q.requests.drain(..n).collect::<Vec<_>>()
            };
            if let Err(e) = self.write(&batch) {
                for r in &batch {
                    answer(&r.reply, Err(e.clone()));
                }
                // The in-memory edge may be ahead of storage: rebuild it from storage.
                if let Err(e2) = self.reload() {
                    let why = format!("after a failed write ({e}), reloading failed: {e2}");
                    let mut q = self.shared.queue.lock().unwrap_or_else(|e| e.into_inner());
                    q.closed = Some(why.clone());
                    for r in q.requests.drain(..) {
                        answer(&r.reply, Err(SequencerError::Stopped(why.clone())));
                    }
                    return;
                }
            }
        }
    }

    fn reload(&mut self) -> Result<(), SequencerError> {
        let cp = read_checkpoint(self.store.as_ref(), &self.key)?
            .ok_or_else(|| SequencerError::Inconsistent("checkpoint disappeared".into()))?;
        self.edge = Edge::load(self.store.as_ref(), cp.size)?;
        Ok(())
    }

    fn write(&mut self, batch: &[Request]) -> Result<(), SequencerError> {
        let start = self.edge.size;
        let writes = self.edge.append(batch.iter().flat_map(|r| r.entries.iter().map(Vec::as_slice)))?;
        let root = self.edge.root().map_err(|e| SequencerError::Inconsistent(e.to_string()))?;
        let cp = Checkpoint::new(&self.origin, self.edge.size, root).sign(&self.key)?.to_bytes();
        self.store.put_all_then(&writes.puts, (CHECKPOINT, &cp))?;
        *self.shared.head.lock().unwrap_or_else(|e| e.into_inner()) = (self.edge.size, root);
        self.shared.batches.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut next = start;
        for r in batch {
            answer(&r.reply, Ok(next));
            next += r.entries.len() as u64;
        }
        // Partial tiles whose full tile is now durable may go (readers of older
        // checkpoints fall back to the full tile). A failure only delays the deletion.
        self.pending_deletes.extend(writes.deletes);
        if !self.pending_deletes.is_empty() && self.store.delete_all(&self.pending_deletes).is_ok() {
            self.pending_deletes.clear();
        }
        Ok(())
    }
}
