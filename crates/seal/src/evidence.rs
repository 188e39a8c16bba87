//! Evidence packages: one age file per input and a signed manifest.
//!
//! ```text
//! PKG/MANIFEST             signed note (see `manifest`)
//! PKG/files/NAME.age       the age encryption of NAME, to every recipient
//! ```
//!
//! Sealing reads each input once (see `agefile`): a reader thread hashes the plaintext,
//! encryption threads seal its 64 KiB chunks (age STREAM) in place, a thread hashes the
//! ciphertext in order and the calling thread writes it. Memory is bounded by a pool of
//! 1 MiB blocks whatever the file size. The package is built in a temporary sibling
//! folder and renamed into place at the end.
//!
//! Opening reads each `.age` file once, hashing the ciphertext while it decrypts and
//! hashing the plaintext while it writes a temporary file in the output folder. Only when
//! every file of the package has matched the signed manifest are the temporary files
//! renamed to their final names; on any failure they are removed.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};

use sha2::{Digest as _, Sha256};

use crate::agefile;
use crate::keys::{KeyError, PublicIdentity, SecretIdentity, Timestamp};
use crate::manifest::{self, FileEntry, Manifest, ManifestError};

/// Name of the manifest inside a package.
pub const MANIFEST: &str = "MANIFEST";
/// Folder of the `.age` files inside a package.
pub const FILES: &str = "files";
const BUF: usize = 1 << 20;
const DEPTH: usize = 4;

/// Blocks travel down a bounded channel and come back on a return channel, so that a
/// pipeline allocates (and zeroes) at most `DEPTH + 3` blocks whatever the file size,
/// instead of a fresh 1 MiB block (page faults, zeroing) for every MiB.
struct Recycled {
    free: Receiver<Vec<u8>>,
}

impl Recycled {
    /// A block from the return channel, or a new one while fewer than needed exist.
    fn take(&self) -> Vec<u8> {
        self.free.try_recv().unwrap_or_else(|_| Vec::with_capacity(BUF))
    }
}

/// Why sealing, verifying or opening failed. Each variant names what failed.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// Reading or writing a file failed.
    #[error("{path}: {err}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error (part of this error's message, so not chained as a source).
        err: io::Error,
    },
    /// An input cannot be sealed under its name.
    #[error("input {0}")]
    InputName(String),
    /// An input is neither a regular file nor a folder.
    #[error("{0}: not a regular file or folder")]
    InputKind(PathBuf),
    /// Nothing to seal.
    #[error("no input file to seal")]
    NoInputs,
    /// No recipient given.
    #[error("no recipient: give at least one age1… recipient")]
    NoRecipients,
    /// A recipient is not an age X25519 recipient.
    #[error("recipient {0:?} is not an age X25519 recipient (age1…)")]
    BadRecipient(String),
    /// A key problem (e.g. signing outside the validity period).
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The output already exists.
    #[error("{0}: already exists, refusing to overwrite")]
    OutputExists(PathBuf),
    /// The manifest is missing, malformed, or does not verify.
    #[error("{path}: {err}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong (part of this error's message, so not chained as a source).
        err: ManifestError,
    },
    /// A file listed in the manifest is missing from the package.
    #[error("{0}: listed in the manifest but missing from the package")]
    FileMissing(PathBuf),
    /// A file in the package is not listed in the manifest.
    #[error("{0}: in the package but not listed in the manifest")]
    FileUnlisted(PathBuf),
    /// A `.age` file's size or SHA-256 differs from the manifest.
    #[error("{path}: ciphertext does not match the manifest ({what})")]
    CiphertextMismatch {
        /// The `.age` file.
        path: PathBuf,
        /// `size` or `sha256`, with values.
        what: String,
    },
    /// age refused the file (wrong identity, corrupt header or chunk).
    #[error("{path}: age decryption failed: {msg}")]
    Decrypt {
        /// The `.age` file.
        path: PathBuf,
        /// age's message.
        msg: String,
    },
    /// The decrypted bytes differ from the manifest's plaintext size or hash.
    #[error("{path}: decrypted plaintext does not match the manifest ({what})")]
    PlaintextMismatch {
        /// The `.age` file.
        path: PathBuf,
        /// `size` or `sha256`, with values.
        what: String,
    },
    /// age could not encrypt.
    #[error("age encryption failed: {0}")]
    Encrypt(String),
    /// A worker thread panicked (a bug).
    #[error("internal error: a worker thread stopped")]
    Worker,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> EvidenceError + '_ {
    move |err| EvidenceError::Io { path: path.to_path_buf(), err }
}

/// Receives progress: the total number of bytes, then increments.
pub trait Progress {
    /// The amount of work, in bytes.
    fn start(&mut self, total: u64);
    /// `n` more bytes done.
    fn advance(&mut self, n: u64);
}

/// A [`Progress`] that shows nothing.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _: u64) {}
    fn advance(&mut self, _: u64) {}
}

/// A file to seal under a package name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    /// Name in the package (`/`-separated).
    pub name: String,
    /// Where to read it.
    pub path: PathBuf,
}

/// Expands paths into inputs: a file is named by its file name, a folder's files by the
/// folder name followed by their relative path. Names must be unique.
pub fn collect_inputs(paths: &[PathBuf]) -> Result<Vec<Input>, EvidenceError> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<Input>) -> Result<(), EvidenceError> {
        let mut entries =
            fs::read_dir(dir).map_err(io_err(dir))?.collect::<Result<Vec<_>, _>>().map_err(io_err(dir))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let name =
                e.file_name().into_string().map_err(|n| EvidenceError::InputName(format!("{n:?} is not UTF-8")))?;
            let name = format!("{prefix}/{name}");
            let ty = e.file_type().map_err(io_err(&path))?;
            if ty.is_dir() {
                walk(&path, &name, out)?;
            } else if ty.is_file() {
                out.push(Input { name, path });
            } else {
                return Err(EvidenceError::InputKind(path));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for p in paths {
        let base = p
            .file_name()
            .map(|n| n.to_owned())
            .or_else(|| p.canonicalize().ok().and_then(|c| c.file_name().map(|s| s.to_owned())))
            .and_then(|n| n.to_str().map(str::to_string))
            .ok_or_else(|| EvidenceError::InputName(format!("{}: no usable file name", p.display())))?;
        let meta = fs::metadata(p).map_err(io_err(p))?;
        if meta.is_dir() {
            walk(p, &base, &mut out)?;
        } else if meta.is_file() {
            out.push(Input { name: base, path: p.clone() });
        } else {
            return Err(EvidenceError::InputKind(p.clone()));
        }
    }
    if out.is_empty() {
        return Err(EvidenceError::NoInputs);
    }
    for i in &out {
        manifest::check_file_name(&i.name).map_err(EvidenceError::InputName)?;
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    manifest::check_name_set(out.iter().map(|i| i.name.as_str())).map_err(EvidenceError::InputName)?;
    Ok(out)
}

/// Parses age X25519 recipients.
pub fn parse_recipients(recipients: &[String]) -> Result<Vec<age::x25519::Recipient>, EvidenceError> {
    if recipients.is_empty() {
        return Err(EvidenceError::NoRecipients);
    }
    recipients
        .iter()
        .map(|r| age::x25519::Recipient::from_str(r).map_err(|_| EvidenceError::BadRecipient(r.clone())))
        .collect()
}

/// Where a package's `.age` file for `name` lives.
pub fn age_path(pkg: &Path, name: &str) -> PathBuf {
    let mut p = pkg.join(FILES);
    for c in name.split('/') {
        p.push(c);
    }
    p.set_file_name(format!("{}.age", p.file_name().and_then(|n| n.to_str()).unwrap_or_default()));
    p
}

/// Reads `path` in blocks, hashing each and handing it on; keeps hashing to the end even
/// when the receiver is gone, so the full hash is always known.
fn read_hash_send(path: &Path, tx: SyncSender<Vec<u8>>, pool: Recycled) -> Result<(u64, [u8; 32]), EvidenceError> {
    let mut f = File::open(path).map_err(io_err(path))?;
    let mut h = Sha256::new();
    let mut n = 0u64;
    let mut tx = Some(tx);
    while let Some(buf) = read_block(&mut f, path, &pool)? {
        h.update(&buf);
        n += buf.len() as u64;
        if let Some(t) = &tx
            && t.send(buf).is_err()
        {
            tx = None;
        }
    }
    Ok((n, h.finalize().into()))
}

/// The next block of up to `BUF` bytes of `f` in a recycled buffer, or `None` at its end.
fn read_block(f: &mut File, path: &Path, pool: &Recycled) -> Result<Option<Vec<u8>>, EvidenceError> {
    let mut buf = pool.take();
    // A returned block keeps its length, so this zeroes only new blocks.
    buf.resize(BUF, 0);
    let k = agefile::read_full(f, &mut buf).map_err(io_err(path))?;
    buf.truncate(k);
    Ok((k > 0).then_some(buf))
}

/// Receives blocks, hashing them and writing them to `out`, and hands each block back on
/// `done` for reuse.
fn recv_hash_write(
    rx: Receiver<Vec<u8>>,
    mut out: File,
    path: &Path,
    done: Sender<Vec<u8>>,
) -> Result<(u64, [u8; 32]), EvidenceError> {
    let mut h = Sha256::new();
    let mut n = 0u64;
    for buf in rx {
        h.update(&buf);
        n += buf.len() as u64;
        out.write_all(&buf).map_err(io_err(path))?;
        // The other end may be gone (it finished); the block is then simply dropped.
        let _ = done.send(buf);
    }
    out.sync_all().map_err(io_err(path))?;
    Ok((n, h.finalize().into()))
}

/// A writer that batches bytes into blocks sent down a channel.
struct ChannelWriter {
    tx: SyncSender<Vec<u8>>,
    buf: Vec<u8>,
    pool: Recycled,
}

impl ChannelWriter {
    fn new(tx: SyncSender<Vec<u8>>, pool: Recycled) -> Self {
        ChannelWriter { tx, buf: Vec::with_capacity(BUF), pool }
    }

    fn flush_block(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let mut next = self.pool.take();
            next.clear();
            let block = std::mem::replace(&mut self.buf, next);
            self.tx.send(block).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "writer thread stopped"))?;
        }
        Ok(())
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = BUF - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == BUF {
            self.flush_block()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A reader over blocks received from a channel.
struct ChannelReader {
    rx: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    at: usize,
    done: Sender<Vec<u8>>,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.buf.len() {
            match self.rx.recv() {
                Ok(b) => {
                    let used = std::mem::replace(&mut self.buf, b);
                    if used.capacity() > 0 {
                        let _ = self.done.send(used);
                    }
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn join<T>(h: std::thread::ScopedJoinHandle<'_, Result<T, EvidenceError>>) -> Result<T, EvidenceError> {
    h.join().map_err(|_| EvidenceError::Worker)?
}

/// Encrypts one file to `dest`, returning its manifest entry.
fn seal_file(
    input: &Input,
    recipients: &[age::x25519::Recipient],
    dest: &Path,
    progress: &mut dyn Progress,
) -> Result<FileEntry, EvidenceError> {
    if let Some(parent) = dest.parent() {
        fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let plain = File::open(&input.path).map_err(io_err(&input.path))?;
    let mut out = fs::OpenOptions::new().write(true).create_new(true).open(dest).map_err(io_err(dest))?;
    let recipients: Vec<&dyn age::Recipient> = recipients.iter().map(|r| r as &dyn age::Recipient).collect();
    let header = agefile::new_header(&recipients).map_err(|e| write_error(e, input, dest))?;
    let w = agefile::write(header, plain, &mut out, &mut |n| progress.advance(n))
        .map_err(|e| write_error(e, input, dest))?;
    Ok(FileEntry {
        name: input.name.clone(),
        size: w.size,
        sha256: w.sha256,
        age_size: w.age_size,
        age_sha256: w.age_sha256,
    })
}

fn write_error(e: agefile::WriteError, input: &Input, dest: &Path) -> EvidenceError {
    match e {
        agefile::WriteError::Read(err) => EvidenceError::Io { path: input.path.clone(), err },
        agefile::WriteError::Write(err) => EvidenceError::Io { path: dest.to_path_buf(), err },
        agefile::WriteError::Encrypt(msg) => EvidenceError::Encrypt(msg),
    }
}

/// Seals `inputs` into a new package folder `out`, encrypted to `recipients` and signed
/// by `sealer` at time `now`. `out` must not exist; it appears only when complete.
pub fn seal(
    inputs: &[Input],
    recipients: &[String],
    sealer: &SecretIdentity,
    now: Timestamp,
    out: &Path,
    progress: &mut dyn Progress,
) -> Result<Manifest, EvidenceError> {
    let parsed = parse_recipients(recipients)?;
    if inputs.is_empty() {
        return Err(EvidenceError::NoInputs);
    }
    // Fail before any work if the key may not sign now.
    sealer.sign_at(b"", now)?;
    if fs::symlink_metadata(out).is_ok() {
        return Err(EvidenceError::OutputExists(out.to_path_buf()));
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::Builder::new().prefix(".custodia-seal-").tempdir_in(&parent).map_err(io_err(&parent))?;
    let mut total = 0;
    for i in inputs {
        total += fs::metadata(&i.path).map_err(io_err(&i.path))?.len();
    }
    progress.start(total);
    let mut files = Vec::with_capacity(inputs.len());
    for input in inputs {
        files.push(seal_file(input, &parsed, &age_path(tmp.path(), &input.name), progress)?);
    }
    let manifest = Manifest { sealer: sealer.verifier(), created: now, recipients: recipients.to_vec(), files };
    let text = manifest.sign(sealer)?;
    let mpath = tmp.path().join(MANIFEST);
    let mut f = File::create_new(&mpath).map_err(io_err(&mpath))?;
    f.write_all(text.as_bytes()).and_then(|()| f.sync_all()).map_err(io_err(&mpath))?;
    let kept = tmp.keep();
    if let Err(e) = fs::rename(&kept, out) {
        let _ = fs::remove_dir_all(&kept);
        return Err(io_err(out)(e));
    }
    Ok(manifest)
}

/// The size and SHA-256 of `path`, read on a second thread while this one hashes, so
/// that reading (the kernel's copy) and hashing overlap.
fn hash_file(path: &Path, progress: &mut dyn Progress) -> Result<(u64, [u8; 32]), EvidenceError> {
    std::thread::scope(|s| {
        let (tx, rx) = sync_channel::<Vec<u8>>(DEPTH);
        let (done, free) = channel();
        let reader = s.spawn(move || {
            let mut f = File::open(path).map_err(io_err(path))?;
            let pool = Recycled { free };
            while let Some(buf) = read_block(&mut f, path, &pool)? {
                if tx.send(buf).is_err() {
                    break;
                }
            }
            Ok(())
        });
        let mut h = Sha256::new();
        let mut n = 0u64;
        for buf in rx {
            h.update(&buf);
            n += buf.len() as u64;
            progress.advance(buf.len() as u64);
            let _ = done.send(buf);
        }
        join(reader)?;
        Ok((n, h.finalize().into()))
    })
}

/// Reads and checks the manifest of `pkg` against `signer`.
pub fn read_manifest(pkg: &Path, signer: &PublicIdentity) -> Result<Manifest, EvidenceError> {
    let path = pkg.join(MANIFEST);
    let meta = fs::metadata(&path).map_err(io_err(&path))?;
    if meta.len() > crate::note::MAX_NOTE_LEN as u64 {
        return Err(EvidenceError::Manifest { path, err: crate::note::NoteError::TooLong.into() });
    }
    let bytes = fs::read(&path).map_err(io_err(&path))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| EvidenceError::Manifest { path: path.clone(), err: crate::note::NoteError::NotText.into() })?;
    Manifest::parse_signed(&text, signer).map_err(|err| EvidenceError::Manifest { path, err })
}

/// Checks that the package's `files/` folder holds exactly the manifest's files.
fn check_listing(pkg: &Path, m: &Manifest) -> Result<(), EvidenceError> {
    let mut expected: std::collections::BTreeSet<PathBuf> = m.files.iter().map(|f| age_path(pkg, &f.name)).collect();
    for p in &expected {
        if !fs::symlink_metadata(p).map(|m| m.is_file()).unwrap_or(false) {
            return Err(EvidenceError::FileMissing(p.clone()));
        }
    }
    fn walk(dir: &Path, expected: &mut std::collections::BTreeSet<PathBuf>) -> Result<(), EvidenceError> {
        for e in fs::read_dir(dir).map_err(io_err(dir))? {
            let e = e.map_err(io_err(dir))?;
            let p = e.path();
            if e.file_type().map_err(io_err(&p))?.is_dir() {
                walk(&p, expected)?;
            } else if !expected.remove(&p) {
                return Err(EvidenceError::FileUnlisted(p));
            }
        }
        Ok(())
    }
    walk(&pkg.join(FILES), &mut expected)?;
    for e in fs::read_dir(pkg).map_err(io_err(pkg))? {
        let e = e.map_err(io_err(pkg))?;
        if e.file_name() != MANIFEST && e.file_name() != FILES {
            return Err(EvidenceError::FileUnlisted(e.path()));
        }
    }
    Ok(())
}

fn compare(expected: (u64, &[u8; 32]), got: (u64, [u8; 32])) -> Option<String> {
    if expected.0 != got.0 {
        Some(format!("size {} expected {}", got.0, expected.0))
    } else if *expected.1 != got.1 {
        Some(format!("sha256 {} expected {}", hex::encode(got.1), hex::encode(expected.1)))
    } else {
        None
    }
}

/// Verifies a package without any secret key: the manifest's signature, that the
/// package holds exactly the listed files, and every `.age` file's size and SHA-256.
pub fn verify(pkg: &Path, signer: &PublicIdentity, progress: &mut dyn Progress) -> Result<Manifest, EvidenceError> {
    let m = read_manifest(pkg, signer)?;
    check_listing(pkg, &m)?;
    progress.start(m.files.iter().map(|f| f.age_size).sum());
    for f in &m.files {
        let path = age_path(pkg, &f.name);
        if let Some(what) = compare((f.age_size, &f.age_sha256), hash_file(&path, progress)?) {
            return Err(EvidenceError::CiphertextMismatch { path, what });
        }
    }
    Ok(m)
}

/// Decrypts an age file from `input` into `output` with the first matching identity,
/// returning the plaintext length. On failure the message says what age refused; bytes
/// already written to `output` are not authenticated and must be discarded.
pub fn decrypt_to<R: Read, W: Write + ?Sized>(
    input: R,
    identities: &[Box<dyn age::Identity + Send + Sync>],
    output: &mut W,
    progress: &mut dyn Progress,
) -> Result<u64, String> {
    let d = age::Decryptor::new_buffered(io::BufReader::with_capacity(64 << 10, input)).map_err(|e| e.to_string())?;
    let mut r = d.decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity)).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; BUF];
    let mut total = 0u64;
    loop {
        let k = match r.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(k) => k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.to_string()),
        };
        output.write_all(&buf[..k]).map_err(|e| format!("writing the plaintext: {e}"))?;
        total += k as u64;
        progress.advance(k as u64);
    }
}

/// Decrypts one file into a temporary file in `dir`, checking both hashes.
fn open_file(
    pkg: &Path,
    f: &FileEntry,
    identities: &[Box<dyn age::Identity + Send + Sync>],
    dir: &Path,
    progress: &mut dyn Progress,
) -> Result<tempfile::NamedTempFile, EvidenceError> {
    let path = age_path(pkg, &f.name);
    let tmp =
        tempfile::Builder::new().prefix(".custodia-open-").suffix(".partial").tempfile_in(dir).map_err(io_err(dir))?;
    let out = tmp.as_file().try_clone().map_err(io_err(tmp.path()))?;
    let tmp_path = tmp.path().to_path_buf();
    std::thread::scope(|s| {
        let (ctx, crx) = sync_channel::<Vec<u8>>(DEPTH);
        let (ptx, prx) = sync_channel::<Vec<u8>>(DEPTH);
        let (cipher_done, cipher_free) = channel();
        let (plain_done, plain_free) = channel();
        let reader = s.spawn(|| read_hash_send(&path, ctx, Recycled { free: cipher_free }));
        let writer = s.spawn(|| recv_hash_write(prx, out, &tmp_path, plain_done));
        let decrypted = (|| -> Result<(), String> {
            let input = ChannelReader { rx: crx, buf: Vec::new(), at: 0, done: cipher_done };
            let mut sink = ChannelWriter::new(ptx, Recycled { free: plain_free });
            decrypt_to(input, identities, &mut sink, progress)?;
            sink.flush_block().map_err(|e| e.to_string())
        })();
        let ciphertext = join(reader)?;
        let plaintext = join(writer);
        if let Some(what) = compare((f.age_size, &f.age_sha256), ciphertext) {
            return Err(EvidenceError::CiphertextMismatch { path: path.clone(), what });
        }
        decrypted.map_err(|msg| EvidenceError::Decrypt { path: path.clone(), msg })?;
        if let Some(what) = compare((f.size, &f.sha256), plaintext?) {
            return Err(EvidenceError::PlaintextMismatch { path: path.clone(), what });
        }
        Ok(())
    })?;
    Ok(tmp)
}

/// Verifies and decrypts a package into `out_dir` (created if missing). Every file is
/// decrypted to a temporary file and checked against the manifest; only when all match
/// are they renamed to their final names (never overwriting). On failure nothing is left.
pub fn open(
    pkg: &Path,
    identities: &[Box<dyn age::Identity + Send + Sync>],
    signer: &PublicIdentity,
    out_dir: &Path,
    progress: &mut dyn Progress,
) -> Result<Manifest, EvidenceError> {
    let m = read_manifest(pkg, signer)?;
    check_listing(pkg, &m)?;
    let finals: Vec<PathBuf> = m
        .files
        .iter()
        .map(|f| {
            let mut p = out_dir.to_path_buf();
            p.extend(f.name.split('/'));
            p
        })
        .collect();
    for p in &finals {
        if fs::symlink_metadata(p).is_ok() {
            return Err(EvidenceError::OutputExists(p.clone()));
        }
    }
    let created_dir = !out_dir.exists();
    fs::create_dir_all(out_dir).map_err(io_err(out_dir))?;
    progress.start(m.files.iter().map(|f| f.size).sum());
    let mut temps = Vec::with_capacity(m.files.len());
    for f in &m.files {
        match open_file(pkg, f, identities, out_dir, progress) {
            Ok(t) => temps.push(t),
            Err(e) => {
                drop(temps);
                if created_dir {
                    let _ = fs::remove_dir(out_dir);
                }
                return Err(e);
            }
        }
    }
    for (tmp, dest) in temps.into_iter().zip(&finals) {
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        tmp.persist_noclobber(dest).map_err(|e| io_err(dest)(e.error))?;
    }
    Ok(m)
}

/// Reads the identities of an age identity file (custodia `.key` or `age-keygen` output).
pub fn read_identities(path: &Path) -> Result<Vec<Box<dyn age::Identity + Send + Sync>>, EvidenceError> {
    let bad = |msg: String| EvidenceError::Io {
        path: path.to_path_buf(),
        err: io::Error::new(io::ErrorKind::InvalidData, msg),
    };
    let text = fs::read(path).map_err(io_err(path))?;
    let file = age::IdentityFile::from_buffer(&text[..]).map_err(|e| bad(format!("not an age identity file: {e}")))?;
    let ids = file.into_identities().map_err(|e| bad(format!("unusable identity: {e}")))?;
    if ids.is_empty() {
        return Err(bad("no identity in the file".into()));
    }
    Ok(ids)
}
