//! Writing age files (age-encryption.org/v1) with the payload encrypted on several
//! threads, and both SHA-256 hashes taken on the way.
//!
//! The format is the age specification's, byte for byte, built from vetted parts:
//! recipient stanzas from the `age` crate (`Recipient::wrap_file_key`), HKDF-SHA-256 from
//! `age-core`, HMAC-SHA-256 from RustCrypto, and ChaCha20-Poly1305 from `ring`. What this
//! module adds is only the layout: the header text, and the STREAM construction (64 KiB
//! chunks, an 11-byte big-endian chunk counter and a last-chunk flag as the nonce) spread
//! over threads, since every chunk is encrypted independently. Every file it writes is
//! read back by the `age` crate's decryptor in the tests, and by the `age` tool in the
//! interoperability tests.
//!
//! ```text
//! age-encryption.org/v1
//! -> X25519 <ephemeral share>      one stanza per recipient; the body base64 (no padding),
//! <wrapped file key>               64 columns, the last line always shorter (maybe empty)
//! --- <HMAC-SHA-256 of the header up to "---", key HKDF(file key, "", "header")>
//! <16-byte nonce><chunk 0: ≤ 64 KiB + 16-byte tag>…   key HKDF(file key, nonce, "payload")
//! ```
//!
//! The pipeline, for one file: a reader thread reads 1 MiB blocks (16 chunks), hashing
//! the plaintext; encryption threads seal each chunk in place, its tag in a 16-byte gap
//! left after it, so a block's ciphertext is contiguous; a hashing thread puts blocks
//! back in order and hashes the ciphertext; the calling thread writes it. Blocks come
//! from a pool that allocates at most `max_blocks`, so memory is bounded whatever the
//! file's size.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};

use age::secrecy::ExposeSecret as _;
use age_core::format::{FileKey, Stanza};
use base64::Engine as _;
use base64::prelude::BASE64_STANDARD_NO_PAD;
use hmac::Mac as _;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// Plaintext bytes per STREAM chunk (age: 64 KiB).
const CHUNK: usize = 64 << 10;
/// Poly1305 tag after each chunk.
const TAG: usize = 16;
/// Chunks per block handed between threads (1 MiB of plaintext).
const CHUNKS_PER_BLOCK: usize = 16;
const SLOT: usize = CHUNK + TAG;
const BLOCK: usize = SLOT * CHUNKS_PER_BLOCK;
/// Blocks queued between two stages.
const DEPTH: usize = 4;
/// At most this many encryption threads, whatever the machine.
const MAX_WORKERS: usize = 8;

/// Why an age file could not be written. The caller knows which file `Read` and `Write`
/// are about.
#[derive(Debug)]
pub(crate) enum WriteError {
    /// Reading the plaintext failed.
    Read(io::Error),
    /// Writing the ciphertext failed.
    Write(io::Error),
    /// Building the header or encrypting failed (message says what).
    Encrypt(String),
}

/// The header of a new age file and the key of its payload.
pub(crate) struct Header {
    /// The header text, MAC line included, then the 16-byte payload nonce.
    pub(crate) bytes: Vec<u8>,
    payload_key: Zeroizing<[u8; 32]>,
}

/// A new header for `recipients`, with a fresh random file key and nonce.
pub(crate) fn new_header(recipients: &[&dyn age::Recipient]) -> Result<Header, WriteError> {
    let no_randomness = |e: getrandom::Error| WriteError::Encrypt(format!("no randomness: {e}"));
    if recipients.is_empty() {
        return Err(WriteError::Encrypt("no recipient".into()));
    }
    let key = FileKey::try_init_with_mut(|k| getrandom::fill(k)).map_err(no_randomness)?;
    let mut nonce = [0u8; 16];
    getrandom::fill(&mut nonce).map_err(no_randomness)?;
    let mut stanzas = Vec::new();
    let mut labels = None;
    for r in recipients {
        let (mut s, l) = r.wrap_file_key(&key).map_err(|e| WriteError::Encrypt(e.to_string()))?;
        // As the age crate's Encryptor: valid labels, and the same for every recipient
        // (so that, say, a passphrase never shares a file with a public key).
        match &labels {
            None if !l.iter().all(age_core::format::is_arbitrary_string) => {
                return Err(WriteError::Encrypt(format!("recipient labels {l:?} are not valid")));
            }
            None => labels = Some(l),
            Some(first) if *first != l => {
                return Err(WriteError::Encrypt("recipients of incompatible kinds cannot share a file".into()));
            }
            Some(_) => {}
        }
        stanzas.append(&mut s);
    }
    Ok(header_with(key.expose_secret(), nonce, &stanzas))
}

/// The header for a given file key, nonce and stanzas (deterministic, so tests can pin
/// its text).
pub(crate) fn header_with(file_key: &[u8; 16], nonce: [u8; 16], stanzas: &[Stanza]) -> Header {
    let mut text = b"age-encryption.org/v1\n".to_vec();
    for s in stanzas {
        text.extend_from_slice(b"->");
        for word in std::iter::once(&s.tag).chain(&s.args) {
            text.push(b' ');
            text.extend_from_slice(word.as_bytes());
        }
        text.push(b'\n');
        let body = BASE64_STANDARD_NO_PAD.encode(&s.body);
        // Full 64-column lines, then a last line that is always shorter (maybe empty).
        let mut lines = body.as_bytes().chunks(64).peekable();
        let mut last_full = body.is_empty();
        while let Some(line) = lines.next() {
            text.extend_from_slice(line);
            text.push(b'\n');
            last_full = lines.peek().is_none() && line.len() == 64;
        }
        if last_full {
            text.push(b'\n');
        }
    }
    text.extend_from_slice(b"---");
    let mac_key = Zeroizing::new(age_core::primitives::hkdf(&[], b"header", file_key));
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(mac_key.as_ref()).expect("HMAC takes any key length");
    mac.update(&text);
    text.push(b' ');
    text.extend_from_slice(BASE64_STANDARD_NO_PAD.encode(mac.finalize().into_bytes()).as_bytes());
    text.push(b'\n');
    text.extend_from_slice(&nonce);
    let payload_key = Zeroizing::new(age_core::primitives::hkdf(&nonce, b"payload", file_key));
    Header { bytes: text, payload_key }
}

/// The STREAM nonce of chunk `counter`: 11 bytes big-endian, then 1 if it is the last.
fn chunk_nonce(counter: u64, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = u8::from(last);
    Nonce::assume_unique_for_key(n)
}

/// Up to 16 chunks of one file; chunk `k` sits at `k * SLOT`, its tag right after it.
struct Block {
    seq: u64,
    buf: Vec<u8>,
    chunks: usize,
    /// Plaintext length of the block's last chunk (every other one is full).
    last_len: usize,
    /// Whether the block's last chunk is the file's last.
    is_final: bool,
}

impl Block {
    fn plain_len(&self) -> usize {
        (self.chunks - 1) * CHUNK + self.last_len
    }
    fn cipher_len(&self) -> usize {
        self.plain_len() + self.chunks * TAG
    }
}

/// Recycled block buffers: at most `max` are ever allocated (and zeroed); past that the
/// reader waits for the writer to hand one back. This is what bounds memory, whatever
/// the file's size and however the threads are scheduled.
struct Pool {
    free: Receiver<Vec<u8>>,
    made: usize,
    max: usize,
}

impl Pool {
    /// A free block, or `None` if the writer stopped.
    fn take(&mut self, seq: u64) -> Option<Block> {
        let buf = match self.free.try_recv() {
            Ok(buf) => buf,
            Err(_) if self.made < self.max => {
                self.made += 1;
                vec![0; BLOCK]
            }
            Err(_) => self.free.recv().ok()?,
        };
        Some(Block { seq, buf, chunks: 0, last_len: 0, is_final: false })
    }
}

/// Blocks that fill every stage: the reader's two, three queues, one per encryption
/// thread, and the writer's.
fn max_blocks(workers: usize) -> usize {
    3 * DEPTH + workers + 3
}

/// Fills `buf` from `r` unless the input ends first; returns the bytes read.
pub(crate) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(k) => filled += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads `input` into blocks, hashing the plaintext. A block is sent on only when it is
/// known whether its last chunk is the file's last, which may take reading the next one.
fn read_blocks(mut input: impl Read, tx: SyncSender<Block>, mut pool: Pool) -> Result<(u64, [u8; 32]), WriteError> {
    let mut h = Sha256::new();
    let mut total = 0u64;
    let mut held: Option<Block> = None;
    let mut seq = 0;
    let stopped = || WriteError::Encrypt("the pipeline stopped".into());
    let send = |b: Block| tx.send(b).map_err(|_| stopped());
    loop {
        let mut b = pool.take(seq).ok_or_else(stopped)?;
        let mut eof = false;
        while b.chunks < CHUNKS_PER_BLOCK {
            let at = b.chunks * SLOT;
            let n = read_full(&mut input, &mut b.buf[at..at + CHUNK]).map_err(WriteError::Read)?;
            if n == 0 {
                eof = true;
                break;
            }
            h.update(&b.buf[at..at + n]);
            total += n as u64;
            b.chunks += 1;
            b.last_len = n;
            if n < CHUNK {
                eof = true;
                break;
            }
        }
        if b.chunks == 0 {
            match held.take() {
                // The input ended on a block boundary: the held block ends the file.
                Some(mut prev) => {
                    prev.is_final = true;
                    send(prev)?;
                }
                // An empty input: one empty last chunk (age allows it only here).
                None => {
                    b.chunks = 1;
                    b.is_final = true;
                    send(b)?;
                }
            }
            return Ok((total, h.finalize().into()));
        }
        if let Some(prev) = held.take() {
            send(prev)?;
        }
        seq += 1;
        if eof {
            b.is_final = true;
            send(b)?;
            return Ok((total, h.finalize().into()));
        }
        held = Some(b);
    }
}

/// Seals every chunk of `b` in place, each tag in the gap after its chunk.
fn seal_block(key: &LessSafeKey, b: &mut Block) -> Result<(), WriteError> {
    for k in 0..b.chunks {
        let at = k * SLOT;
        let last = k + 1 == b.chunks;
        let len = if last { b.last_len } else { CHUNK };
        let counter = b.seq * CHUNKS_PER_BLOCK as u64 + k as u64;
        let tag = key
            .seal_in_place_separate_tag(
                chunk_nonce(counter, last && b.is_final),
                Aad::empty(),
                &mut b.buf[at..at + len],
            )
            .map_err(|_| WriteError::Encrypt(format!("ChaCha20-Poly1305 refused chunk {counter}")))?;
        b.buf[at + len..at + len + TAG].copy_from_slice(tag.as_ref());
    }
    Ok(())
}

/// How the encryption threads seal a block: `seal_block`, or a failing one in tests.
type Sealer<'a> = &'a (dyn Fn(&LessSafeKey, &mut Block) -> Result<(), WriteError> + Sync);

/// Sends an error down the pipeline if its thread panics, so that the block it held is
/// not waited for forever.
struct PanicGuard<'a>(&'a SyncSender<Result<Block, WriteError>>);

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.0.send(Err(WriteError::Encrypt("an encryption thread panicked".into())));
        }
    }
}

/// Seals the blocks it takes. A failure goes to the hashing thread, which stops the
/// pipeline.
fn encrypt_blocks(
    key: &LessSafeKey,
    seal: Sealer<'_>,
    rx: &Mutex<Receiver<Block>>,
    tx: &SyncSender<Result<Block, WriteError>>,
) {
    let _guard = PanicGuard(tx);
    loop {
        // A poisoned lock means another encryption thread panicked; the receiver is intact.
        let next = rx.lock().unwrap_or_else(|e| e.into_inner()).recv();
        let Ok(mut b) = next else { return };
        let sealed = seal(key, &mut b).map(|()| b);
        // If the pipeline stopped, the thread that stopped it reports why.
        if tx.send(sealed).is_err() {
            return;
        }
    }
}

/// Where an age file goes: its bytes, then a sync that makes them durable.
pub(crate) trait Output: Write {
    /// Makes everything written durable.
    fn sync(&mut self) -> io::Result<()>;
}

impl Output for File {
    fn sync(&mut self) -> io::Result<()> {
        self.sync_all()
    }
}

/// What `write` measured: plaintext and ciphertext sizes and SHA-256 hashes.
pub(crate) struct Written {
    pub(crate) size: u64,
    pub(crate) sha256: [u8; 32],
    pub(crate) age_size: u64,
    pub(crate) age_sha256: [u8; 32],
}

/// Encrypts `input` to `out` under `header` (which it writes first), then syncs `out`.
/// `progress` is called with the plaintext bytes of each block written. The header is
/// taken, so that its key and nonces serve one file only.
pub(crate) fn write(
    header: Header,
    input: impl Read + Send,
    out: &mut impl Output,
    progress: &mut dyn FnMut(u64),
) -> Result<Written, WriteError> {
    pipeline(header, input, out, progress, &seal_block)
}

fn pipeline(
    header: Header,
    input: impl Read + Send,
    out: &mut impl Output,
    progress: &mut dyn FnMut(u64),
    seal: Sealer<'_>,
) -> Result<Written, WriteError> {
    let key = LessSafeKey::new(
        UnboundKey::new(&CHACHA20_POLY1305, header.payload_key.as_ref())
            .map_err(|_| WriteError::Encrypt("bad payload key length".into()))?,
    );
    let header = &header;
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, MAX_WORKERS);
    std::thread::scope(|s| {
        let (ptx, prx) = sync_channel::<Block>(DEPTH);
        let (ctx, crx) = sync_channel(DEPTH);
        let (free_tx, free_rx): (Sender<Vec<u8>>, _) = channel();
        let reader =
            s.spawn(move || read_blocks(input, ptx, Pool { free: free_rx, made: 0, max: max_blocks(workers) }));
        // Shared by the encryption threads only, so that when the last of them stops the
        // reader's sends fail and it stops too.
        let prx = Arc::new(Mutex::new(prx));
        let encryptors: Vec<_> = (0..workers)
            .map(|_| {
                let (key, prx, ctx) = (&key, Arc::clone(&prx), ctx.clone());
                s.spawn(move || encrypt_blocks(key, seal, &prx, &ctx))
            })
            .collect();
        drop((ctx, prx));
        let (wtx, wrx) = sync_channel(DEPTH);
        let hasher = s.spawn(move || hash_in_order(header, crx, wtx));
        // Returning drops the receiver, so on a failure every other thread stops too.
        let written = write_blocks(header, wrx, out, free_tx, progress);
        let hashed = hasher.join();
        let read = reader.join();
        let mut encryptor_panicked = false;
        for e in encryptors {
            encryptor_panicked |= e.join().is_err();
        }
        // A write failure (a full disk) explains the others; then a read failure; then
        // a panic, an encryption failure, or the pipeline's end before the last chunk.
        let panicked = |what: &str| WriteError::Encrypt(format!("the {what} thread panicked"));
        written?;
        let read = read.map_err(|_| panicked("reader"))?;
        if let Err(e @ WriteError::Read(_)) = read {
            return Err(e);
        }
        if encryptor_panicked {
            return Err(panicked("encryption"));
        }
        let (age_size, age_sha256) = hashed.map_err(|_| panicked("hashing"))??;
        let (size, sha256) = read?;
        Ok(Written { size, sha256, age_size, age_sha256 })
    })
}

/// Receives encrypted blocks in any order, hashes the header and then the blocks in
/// order, and hands them on in order. Ends after the file's last chunk.
fn hash_in_order(
    header: &Header,
    rx: Receiver<Result<Block, WriteError>>,
    tx: SyncSender<Block>,
) -> Result<(u64, [u8; 32]), WriteError> {
    let mut h = Sha256::new();
    h.update(&header.bytes);
    let mut n = header.bytes.len() as u64;
    let mut next = 0;
    let mut waiting = BTreeMap::new();
    for b in rx {
        let b = b?;
        waiting.insert(b.seq, b);
        while let Some(b) = waiting.remove(&next) {
            let c = &b.buf[..b.cipher_len()];
            h.update(c);
            n += c.len() as u64;
            next += 1;
            let ended = b.is_final;
            if tx.send(b).is_err() {
                // The writer stopped; it reports why.
                return Err(WriteError::Encrypt("the writer stopped".into()));
            }
            if ended {
                return Ok((n, h.finalize().into()));
            }
        }
    }
    // The reader or an encryption thread stopped early; the caller reports why.
    Err(WriteError::Encrypt("the ciphertext ended before the last chunk".into()))
}

/// Writes the header, then the blocks it receives (in order), then syncs `out`. Only
/// a write failure is its own: if the blocks stop before the last one, the hashing
/// thread reports why.
fn write_blocks(
    header: &Header,
    rx: Receiver<Block>,
    out: &mut impl Output,
    free: Sender<Vec<u8>>,
    progress: &mut dyn FnMut(u64),
) -> Result<(), WriteError> {
    out.write_all(&header.bytes).map_err(WriteError::Write)?;
    for b in rx {
        out.write_all(&b.buf[..b.cipher_len()]).map_err(WriteError::Write)?;
        progress(b.plain_len() as u64);
        let ended = b.is_final;
        // The reader may be done; the buffer is then simply dropped.
        let _ = free.send(b.buf);
        if ended {
            return out.sync().map_err(WriteError::Write);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stanza(body_len: usize) -> Stanza {
        Stanza { tag: "X25519".into(), args: vec!["abc".into()], body: vec![7; body_len] }
    }

    /// Bodies whose base64 fills whole lines get an empty last line; others end short.
    #[test]
    fn stanza_bodies_wrap_at_64_columns_with_a_short_last_line() {
        for (len, lines) in [(0, vec![""]), (32, vec!["43"]), (48, vec!["64", ""]), (49, vec!["64", "2"])] {
            let h = header_with(&[1; 16], [2; 16], &[stanza(len)]);
            let text = String::from_utf8_lossy(&h.bytes[..h.bytes.len() - 16]).into_owned();
            let body: Vec<_> = text.lines().skip(2).take_while(|l| !l.starts_with("---")).collect();
            let got: Vec<String> =
                body.iter().map(|l| if l.is_empty() { String::new() } else { l.len().to_string() }).collect();
            assert_eq!(got, lines, "body of {len} bytes:\n{text}");
            assert!(text.starts_with("age-encryption.org/v1\n-> X25519 abc\n"), "{text}");
        }
    }

    /// age-core's own parser reads back every stanza this module writes.
    #[test]
    fn age_core_parses_the_stanzas() {
        for len in 0..200 {
            let h = header_with(&[1; 16], [2; 16], &[stanza(len)]);
            let after_magic = &h.bytes["age-encryption.org/v1\n".len()..];
            let (rest, parsed) = age_core::format::read::age_stanza(after_magic).expect("parses");
            assert!(rest.starts_with(b"---"), "body of {len} bytes");
            assert_eq!(parsed.tag, "X25519");
            assert_eq!(parsed.args, ["abc"]);
            assert_eq!(parsed.body(), vec![7; len]);
        }
    }

    #[test]
    fn nonce_is_the_counter_then_the_last_flag() {
        let n = chunk_nonce(0x0102, true);
        assert_eq!(n.as_ref(), &[0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 1]);
        assert_eq!(chunk_nonce(u64::MAX, false).as_ref()[3..], [255, 255, 255, 255, 255, 255, 255, 255, 0]);
    }

    fn identity() -> age::x25519::Identity {
        age::x25519::Identity::generate()
    }

    fn seal_to(
        data: &[u8],
        input: impl Read + Send,
        ids: &[&age::x25519::Identity],
    ) -> (Vec<u8>, Result<Written, WriteError>) {
        let recipients: Vec<_> = ids.iter().map(|i| i.to_public()).collect();
        let dyns: Vec<&dyn age::Recipient> = recipients.iter().map(|r| r as &dyn age::Recipient).collect();
        let header = new_header(&dyns).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.age");
        let mut out = File::create_new(&path).unwrap();
        let mut reported = 0;
        let w = write(header, input, &mut out, &mut |n| reported += n);
        if w.is_ok() {
            assert_eq!(reported, data.len() as u64, "progress counts every plaintext byte");
        }
        (std::fs::read(&path).unwrap(), w)
    }

    fn decrypt(bytes: &[u8], id: &age::x25519::Identity) -> Result<Vec<u8>, String> {
        let d = age::Decryptor::new(bytes).map_err(|e| e.to_string())?;
        let mut r = d.decrypt(std::iter::once(id as &dyn age::Identity)).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        r.read_to_end(&mut out).map_err(|e| e.to_string())?;
        Ok(out)
    }

    /// The payload's length: what follows the header's MAC line and the 16-byte nonce.
    fn payload_len(bytes: &[u8]) -> usize {
        let mac = bytes.windows(4).position(|w| w == b"\n---").expect("a MAC line");
        let end = mac + bytes[mac + 1..].iter().position(|&b| b == b'\n').expect("the MAC line ends") + 2;
        bytes.len() - end - 16
    }

    /// The payload length that the age crate's own encryptor writes for the same
    /// plaintext (its header may differ: it adds a random "grease" stanza).
    fn age_crate_len(data: &[u8], id: &age::x25519::Identity) -> usize {
        let r = id.to_public();
        let e = age::Encryptor::with_recipients(std::iter::once(&r as &dyn age::Recipient)).unwrap();
        let mut out = Vec::new();
        let mut w = e.wrap_output(&mut out).unwrap();
        w.write_all(data).unwrap();
        w.finish().unwrap();
        payload_len(&out)
    }

    /// Every size around the chunk and block boundaries: the age crate decrypts it (which
    /// checks the header MAC, every tag and the last-chunk flag), the layout has the
    /// length the age crate's own encryptor gives, and both hashes are of the bytes.
    #[test]
    fn the_age_crate_reads_every_size_around_chunk_and_block_boundaries() {
        let id = identity();
        let block = CHUNK * CHUNKS_PER_BLOCK;
        let sizes = [
            0,
            1,
            CHUNK - 1,
            CHUNK,
            CHUNK + 1,
            2 * CHUNK,
            block - 1,
            block,
            block + 1,
            block + CHUNK,
            2 * block,
            2 * block + 5,
        ];
        for size in sizes {
            let data: Vec<u8> = (0..size).map(|i| (i * 31 + i / 7) as u8).collect();
            let (bytes, w) = seal_to(&data, &data[..], &[&id]);
            let w = w.unwrap();
            assert_eq!(decrypt(&bytes, &id).unwrap(), data, "size {size}");
            assert_eq!(payload_len(&bytes), age_crate_len(&data, &id), "size {size}");
            assert_eq!((w.size, w.sha256), (size as u64, <[u8; 32]>::from(Sha256::digest(&data))), "size {size}");
            assert_eq!((w.age_size, w.age_sha256), (bytes.len() as u64, <[u8; 32]>::from(Sha256::digest(&bytes))));
        }
    }

    /// Every recipient can open it; another identity cannot.
    #[test]
    fn every_recipient_and_no_one_else() {
        let (a, b, other) = (identity(), identity(), identity());
        let data = vec![9u8; 3 * CHUNK + 17];
        let (bytes, w) = seal_to(&data, &data[..], &[&a, &b]);
        w.unwrap();
        assert_eq!(decrypt(&bytes, &a).unwrap(), data);
        assert_eq!(decrypt(&bytes, &b).unwrap(), data);
        assert!(decrypt(&bytes, &other).is_err());
    }

    /// Gives at most `step` bytes per read, then fails at `fail_at` if set.
    struct Trickle<'a> {
        data: &'a [u8],
        at: usize,
        step: usize,
        fail_at: Option<usize>,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.fail_at.is_some_and(|f| self.at >= f) {
                return Err(io::Error::other("the disk went away"));
            }
            let n = out.len().min(self.step).min(self.data.len() - self.at);
            out[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    /// Short reads still fill whole chunks (a chunk boundary is never where a read ended).
    #[test]
    fn short_reads_fill_whole_chunks() {
        let id = identity();
        let data: Vec<u8> = (0..CHUNK * CHUNKS_PER_BLOCK + 3 * CHUNK).map(|i| (i % 251) as u8).collect();
        let (bytes, w) = seal_to(&data, Trickle { data: &data, at: 0, step: 1000, fail_at: None }, &[&id]);
        w.unwrap();
        assert_eq!(decrypt(&bytes, &id).unwrap(), data);
        assert_eq!(payload_len(&bytes), age_crate_len(&data, &id));
    }

    /// A read failure is reported as one, after every thread stopped.
    #[test]
    fn a_read_failure_stops_the_pipeline_and_is_reported() {
        let id = identity();
        let data = vec![1u8; 40 * CHUNK];
        for fail_at in [0, CHUNK / 2, 20 * CHUNK] {
            let (_, w) = seal_to(&data, Trickle { data: &data, at: 0, step: CHUNK, fail_at: Some(fail_at) }, &[&id]);
            match w {
                Err(WriteError::Read(e)) => assert_eq!(e.to_string(), "the disk went away"),
                Err(e) => panic!("expected a read error, got {e:?}"),
                Ok(_) => panic!("a failed read gave a file"),
            }
        }
    }

    /// Takes `limit` bytes, then fails as a full disk does.
    struct FullAfter {
        limit: usize,
        got: usize,
    }

    impl Write for FullAfter {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            if self.got + data.len() > self.limit {
                return Err(io::Error::from_raw_os_error(28));
            }
            self.got += data.len();
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Output for FullAfter {
        fn sync(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Output for Vec<u8> {
        fn sync(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn header_to(id: &age::x25519::Identity) -> Header {
        let r = id.to_public();
        new_header(&[&r as &dyn age::Recipient]).unwrap()
    }

    /// Runs `f` on its own thread; a pipeline that hangs fails the test instead of
    /// hanging it.
    fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = channel();
        std::thread::spawn(move || tx.send(f()));
        rx.recv_timeout(std::time::Duration::from_secs(60)).expect("the pipeline hung")
    }

    /// A write failure is reported as one, whether on the header or in the middle of the
    /// payload (more blocks than the pool holds are then still being read).
    #[test]
    fn a_write_failure_stops_the_pipeline_and_is_reported() {
        let id = identity();
        let blocks = max_blocks(MAX_WORKERS) + 3;
        for limit in [0, 2 * BLOCK + 100] {
            let header = header_to(&id);
            let r = within_a_minute(move || {
                let data = vec![1u8; blocks * CHUNK * CHUNKS_PER_BLOCK];
                write(header, &data[..], &mut FullAfter { limit, got: 0 }, &mut |_| {})
            });
            match r {
                Err(WriteError::Write(e)) => assert_eq!(e.raw_os_error(), Some(28)),
                Err(e) => panic!("expected a write error, got {e:?}"),
                Ok(_) => panic!("wrote past a full disk"),
            }
        }
    }

    /// A file many times the pool's size: blocks come back and are reused, every byte
    /// is counted once by the progress callback, and the age crate reads it.
    #[test]
    fn a_file_larger_than_the_pool_round_trips() {
        let id = identity();
        let header = header_to(&id);
        let size = (max_blocks(MAX_WORKERS) + 5) * CHUNK * CHUNKS_PER_BLOCK + 7;
        let (data, bytes, w, reported) = within_a_minute(move || {
            let data: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
            let (mut out, mut reported) = (Vec::new(), 0);
            let w = write(header, &data[..], &mut out, &mut |n| reported += n);
            (data, out, w, reported)
        });
        assert_eq!(w.unwrap().size, size as u64);
        assert_eq!(reported, size as u64, "progress counts every plaintext byte once");
        assert_eq!(decrypt(&bytes, &id).unwrap(), data);
    }

    /// An encryption thread that fails, or panics, while a file larger than the pool is
    /// still being read: the pipeline stops and says why, instead of waiting forever for
    /// the block that thread held.
    #[test]
    fn an_encryption_failure_or_panic_stops_the_pipeline() {
        let id = identity();
        for panics in [false, true] {
            let header = header_to(&id);
            let r = within_a_minute(move || {
                let data = vec![3u8; (max_blocks(MAX_WORKERS) + 5) * CHUNK * CHUNKS_PER_BLOCK];
                let failing = move |key: &LessSafeKey, b: &mut Block| {
                    if b.seq == 2 {
                        if panics {
                            panic!("injected: an encryption thread panics on block 2");
                        }
                        return Err(WriteError::Encrypt("injected: block 2 refused".into()));
                    }
                    seal_block(key, b)
                };
                let mut sink = FullAfter { limit: usize::MAX, got: 0 };
                pipeline(header, &data[..], &mut sink, &mut |_| {}, &failing)
            });
            match r {
                Err(WriteError::Encrypt(m)) if panics => assert_eq!(m, "the encryption thread panicked"),
                Err(WriteError::Encrypt(m)) => assert_eq!(m, "injected: block 2 refused"),
                Err(e) => panic!("expected an encryption error, got {e:?}"),
                Ok(_) => panic!("a failed encryption gave a file"),
            }
        }
    }

    /// No recipient, or recipients of kinds that cannot share a file, are refused.
    #[test]
    fn header_refusals() {
        assert!(matches!(new_header(&[]), Err(WriteError::Encrypt(m)) if m == "no recipient"));
        let x = identity().to_public();
        let p = age::scrypt::Recipient::new(age::secrecy::SecretString::from("pass".to_string()));
        let r = new_header(&[&x as &dyn age::Recipient, &p as &dyn age::Recipient]);
        assert!(matches!(r, Err(WriteError::Encrypt(m)) if m.contains("incompatible")));
    }

    /// The pool allocates at most `max` blocks; then it waits for one to come back, or
    /// gives none once the writer is gone.
    #[test]
    fn the_pool_never_allocates_past_its_bound() {
        let (tx, rx) = channel();
        let mut pool = Pool { free: rx, made: 0, max: 2 };
        let a = pool.take(0).unwrap();
        let _b = pool.take(1).unwrap();
        let ptr = a.buf.as_ptr();
        tx.send(a.buf).unwrap();
        let c = pool.take(2).unwrap();
        assert_eq!(c.buf.as_ptr(), ptr, "the returned block is reused");
        assert_eq!(pool.made, 2);
        drop(tx);
        assert!(pool.take(3).is_none(), "no third block is allocated");
    }
}
