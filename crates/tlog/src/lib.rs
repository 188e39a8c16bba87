//! `tlog`: transparency logs in the C2SP formats.
//!
//! - [`hash`] and [`merkle`]: RFC 6962 / 9162 hashing, roots, inclusion and consistency
//!   proofs (generation over any [`merkle::NodeSource`], pure verification);
//! - [`note`]: signed notes with Ed25519 signatures and timestamped cosignatures;
//! - [`checkpoint`]: checkpoints and the trust policy that opens them;
//! - [`tile`]: tile paths, hash tiles and entry bundles;
//! - [`tiles`]: a tree read from tiles: node hashes, proofs, full verification;
//! - [`storage`]: the storage trait, a local directory and `object_store` backends;
//! - [`sequencer`]: batched, durable, crash-safe appends;
//! - [`witness`]: the tlog-witness `add-checkpoint` logic and its client side.
#![forbid(unsafe_code)]

pub mod checkpoint;
pub mod client;
pub mod hash;
#[cfg(feature = "http")]
pub mod http;
pub mod merkle;
pub mod note;
pub mod sequencer;
pub mod storage;
pub mod tile;
pub mod tiles;
pub mod witness;
#[cfg(feature = "witness-server")]
pub mod witness_server;
