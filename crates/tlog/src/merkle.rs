//! Merkle tree maths from RFC 6962 / RFC 9162: roots, inclusion and consistency proofs.
//!
//! Proof generation works over any [`NodeSource`], something that can produce the hash
//! of a complete, aligned subtree (an in-memory tree, or tiles read from storage). Proof
//! verification is pure and follows the algorithms of RFC 9162, sections 2.1.3.2 and
//! 2.1.4.2.

use crate::hash::{Hash, leaf_hash, node_hash};

/// Why a proof was refused or could not be produced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is not below the tree size {size}")]
    IndexOutOfRange {
        /// Leaf index asked for.
        index: u64,
        /// Size of the tree.
        size: u64,
    },
    /// The two tree sizes cannot be compared (the first is larger than the second).
    #[error("consistency between sizes {old} and {new} is undefined: the old size is larger")]
    SizesOutOfOrder {
        /// Earlier size.
        old: u64,
        /// Later size.
        new: u64,
    },
    /// The proof has the wrong number of hashes for the sizes given.
    #[error("proof has {got} hashes, expected {expected}")]
    WrongLength {
        /// Expected count.
        expected: usize,
        /// Count found.
        got: usize,
    },
    /// The proof does not lead to the expected root.
    #[error("proof does not match the root hash: computed {computed}, expected {expected}")]
    RootMismatch {
        /// Root computed from the proof.
        computed: Hash,
        /// Root expected.
        expected: Hash,
    },
    /// A consistency proof does not match the earlier root.
    #[error("consistency proof does not match the old root: computed {computed}, expected {expected}")]
    OldRootMismatch {
        /// Root computed from the proof.
        computed: Hash,
        /// Root expected.
        expected: Hash,
    },
    /// A node needed for a proof is not available.
    #[error("node at level {level} index {index} is not available")]
    MissingNode {
        /// Level (0 = leaves).
        level: u32,
        /// Index at that level.
        index: u64,
    },
}

/// Something that knows the hash of every complete, aligned subtree of a tree: the node at
/// `level` and `index` covers leaves `index << level .. (index + 1) << level`.
pub trait NodeSource {
    /// Error produced when a node cannot be read.
    type Error: From<ProofError>;
    /// Hash of the complete subtree at `level` and `index`.
    fn node(&self, level: u32, index: u64) -> Result<Hash, Self::Error>;
}

/// Largest power of two strictly smaller than `n` (n >= 2).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The Merkle tree hash of the leaves `start .. start + n`, where `start` is a multiple of
/// the largest power of two not above `n` (true for every range a proof needs).
pub fn range_hash<S: NodeSource>(src: &S, start: u64, n: u64) -> Result<Hash, S::Error> {
    if n == 0 {
        return Ok(Hash::empty_root());
    }
    // Decompose into complete subtrees, largest first, then fold from the right.
    let mut parts: Vec<Hash> = Vec::with_capacity(64);
    let mut pos = start;
    let mut rest = n;
    while rest > 0 {
        let level = 63 - rest.leading_zeros();
        let size = 1u64 << level;
        if !pos.is_multiple_of(size) {
            return Err(ProofError::MissingNode { level, index: pos >> level }.into());
        }
        parts.push(src.node(level, pos >> level)?);
        pos += size;
        rest -= size;
    }
    let mut acc = parts.pop().unwrap_or_else(Hash::empty_root);
    while let Some(left) = parts.pop() {
        acc = node_hash(&left, &acc);
    }
    Ok(acc)
}

/// The root hash of a tree of `size` leaves.
pub fn tree_root<S: NodeSource>(src: &S, size: u64) -> Result<Hash, S::Error> {
    range_hash(src, 0, size)
}

/// The inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162 PATH).
pub fn inclusion_proof<S: NodeSource>(src: &S, index: u64, size: u64) -> Result<Vec<Hash>, S::Error> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size }.into());
    }
    let mut proof = Vec::new();
    // Walk down from the root, remembering siblings; emit them bottom-up.
    let (mut start, mut n, mut m) = (0u64, size, index);
    while n > 1 {
        let k = split_point(n);
        if m < k {
            proof.push(range_hash(src, start + k, n - k)?);
            n = k;
        } else {
            proof.push(range_hash(src, start, k)?);
            start += k;
            m -= k;
            n -= k;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// The consistency proof between the trees of `old` and `new` leaves (RFC 9162 PROOF).
pub fn consistency_proof<S: NodeSource>(src: &S, old: u64, new: u64) -> Result<Vec<Hash>, S::Error> {
    if old > new {
        return Err(ProofError::SizesOutOfOrder { old, new }.into());
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    let mut proof = Vec::new();
    let (mut start, mut n, mut m, mut whole) = (0u64, new, old, true);
    loop {
        if m == n {
            if !whole {
                proof.push(range_hash(src, start, n)?);
            }
            break;
        }
        let k = split_point(n);
        if m <= k {
            proof.push(range_hash(src, start + k, n - k)?);
            n = k;
        } else {
            proof.push(range_hash(src, start, k)?);
            start += k;
            m -= k;
            n -= k;
            whole = false;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// Checks that `leaf` is at `index` in the tree of `size` leaves with root `root`.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> Result<(), ProofError> {
    let computed = root_from_inclusion(leaf, index, size, proof)?;
    if &computed != root {
        return Err(ProofError::RootMismatch { computed, expected: *root });
    }
    Ok(())
}

/// The expected length of an inclusion proof.
pub fn inclusion_proof_len(index: u64, size: u64) -> usize {
    let (inner, border) = decompose_inclusion(index, size);
    (inner + border) as usize
}

fn decompose_inclusion(index: u64, size: u64) -> (u32, u32) {
    if size == 0 {
        return (0, 0);
    }
    // inner: levels where the path to `index` and to `size - 1` differ.
    let inner = 64 - (index ^ (size - 1)).leading_zeros();
    // `inner` may be 64 (index and size - 1 differ in the top bit): nothing is left.
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner, border)
}

/// Computes the root implied by an inclusion proof.
pub fn root_from_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash]) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let expected = inclusion_proof_len(index, size);
    if proof.len() != expected {
        return Err(ProofError::WrongLength { expected, got: proof.len() });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    // With the length checked above, `s` is always zero here.
    debug_assert_eq!(s, 0);
    Ok(r)
}

/// Checks that the tree of `new` leaves with root `new_root` extends the tree of `old`
/// leaves with root `old_root`.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old > new {
        return Err(ProofError::SizesOutOfOrder { old, new });
    }
    if old == new {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength { expected: 0, got: proof.len() });
        }
        if old_root != new_root {
            return Err(ProofError::RootMismatch { computed: *old_root, expected: *new_root });
        }
        return Ok(());
    }
    if old == 0 {
        // Every tree extends the empty tree; the proof must be empty.
        if !proof.is_empty() {
            return Err(ProofError::WrongLength { expected: 0, got: proof.len() });
        }
        return Ok(());
    }
    let expected = consistency_proof_len(old, new);
    if proof.len() != expected {
        return Err(ProofError::WrongLength { expected, got: proof.len() });
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let mut fr = path[0];
    let mut sr = path[0];
    for c in &path[1..] {
        if s == 0 {
            return Err(ProofError::WrongLength { expected, got: proof.len() });
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength { expected, got: proof.len() });
    }
    if &fr != old_root {
        return Err(ProofError::OldRootMismatch { computed: fr, expected: *old_root });
    }
    if &sr != new_root {
        return Err(ProofError::RootMismatch { computed: sr, expected: *new_root });
    }
    Ok(())
}

/// The expected length of a consistency proof between two sizes (0 < old < new).
pub fn consistency_proof_len(old: u64, new: u64) -> usize {
    if old == 0 || old >= new {
        return 0;
    }
    let (inner, border) = decompose_inclusion(old - 1, new);
    let shift = (old - 1).trailing_ones().min(inner);
    let start = if old.is_power_of_two() { 0 } else { 1 };
    (inner - shift + border) as usize + start
}

/// A whole tree in memory, every level kept. Useful for tests and small logs.
#[derive(Debug, Clone, Default)]
pub struct MemoryTree {
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self { levels: vec![Vec::new()] }
    }

    /// Appends an entry (hashing it as a leaf) and returns its index.
    pub fn push_entry(&mut self, entry: &[u8]) -> u64 {
        self.push_leaf_hash(leaf_hash(entry))
    }

    /// Appends an already computed leaf hash and returns its index.
    pub fn push_leaf_hash(&mut self, leaf: Hash) -> u64 {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        let index = self.levels[0].len() as u64;
        self.levels[0].push(leaf);
        let mut level = 0;
        while self.levels[level].len().is_multiple_of(2) {
            let n = self.levels[level].len();
            let h = node_hash(&self.levels[level][n - 2], &self.levels[level][n - 1]);
            if self.levels.len() == level + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[level + 1].push(h);
            level += 1;
        }
        index
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Root hash at the current size.
    pub fn root(&self) -> Hash {
        self.root_at(self.size()).unwrap_or_else(|_| Hash::empty_root())
    }

    /// Root hash at an earlier size.
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofError> {
        if size > self.size() {
            return Err(ProofError::IndexOutOfRange { index: size, size: self.size() });
        }
        tree_root(self, size)
    }

    /// Leaf hash at `index`.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.levels.first()?.get(usize::try_from(index).ok()?).copied()
    }
}

impl NodeSource for MemoryTree {
    type Error = ProofError;
    fn node(&self, level: u32, index: u64) -> Result<Hash, ProofError> {
        self.levels
            .get(level as usize)
            .and_then(|l| l.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or(ProofError::MissingNode { level, index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proof_lengths_match_generated_proofs() {
        let mut t = MemoryTree::new();
        for i in 0..70u32 {
            t.push_entry(&i.to_be_bytes());
        }
        for size in 1..=70 {
            for index in 0..size {
                let p = inclusion_proof(&t, index, size).unwrap();
                assert_eq!(p.len(), inclusion_proof_len(index, size), "inclusion {index} {size}");
            }
            for old in 1..size {
                let p = consistency_proof(&t, old, size).unwrap();
                assert_eq!(p.len(), consistency_proof_len(old, size), "consistency {old} {size}");
            }
        }
    }
}
