//! The hash functions of the record model, defined byte for byte so that a database file, a
//! GPU buffer or another implementation computes the same values.
//!
//! Every hash is XXH3 (`xxh3_64` or `xxh3_128`, as specified by the xxHash project) of a
//! byte string, with the seed named here. Sequences of integers are hashed as their
//! little-endian bytes, whatever the machine.
//!
//! | value | definition |
//! |---|---|
//! | token hash | `xxh3_64(token bytes, seed 0)` |
//! | Type-1 key | `xxh3_128(LE u64 token hashes, TYPE1_SEED)` |
//! | Type-2 key | `xxh3_128(LE u64 abstracted token hashes, TYPE2_SEED)`; identifiers hash to [`IDENTIFIER`], literals to [`LITERAL`] |
//! | statement-run key | `xxh3_128(LE u32 statement hashes, TYPE1_SEED / TYPE2_SEED)` |
//! | fragment id | `xxh3_64(path bytes ‖ LE Type-1 key lo, hi ‖ LE u32 kind ‖ LE u32 ordinal, ID_SEED)` |
//! | family id | `xxh3_64(LE u64 member ids, ascending, FAMILY_SEED)` |

use bytemuck::{Pod, Zeroable};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::{xxh3_64_with_seed, xxh3_128_with_seed};

/// Seed of Type-1 (verbatim) keys.
pub const TYPE1_SEED: u64 = 0x636f_6465_7461_0001;
/// Seed of Type-2 (abstracted) keys.
pub const TYPE2_SEED: u64 = 0x636f_6465_7461_0002;
/// Seed of fragment ids.
pub const ID_SEED: u64 = 0x636f_6465_7461_0003;
/// Seed of family ids.
pub const FAMILY_SEED: u64 = 0x636f_6465_7461_0004;

/// The abstracted token hash of every identifier.
pub const IDENTIFIER: u64 = 0x9e37_79b9_7f4a_7c15;
/// The abstracted token hash of every literal.
pub const LITERAL: u64 = 0xc2b2_ae3d_27d4_eb4f;

/// A 128-bit key: two fragments with equal Type-1 (or Type-2) keys are taken to be equal
/// token for token (a chance collision needs about 2⁶⁴ fragments).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Pod,
    Zeroable,
    Serialize,
    Deserialize,
)]
#[repr(C)]
pub struct Hash128 {
    pub lo: u64,
    pub hi: u64,
}

impl Hash128 {
    fn from_u128(v: u128) -> Hash128 {
        Hash128 {
            lo: v as u64,
            hi: (v >> 64) as u64,
        }
    }
}

/// A fragment's stable id: derived from its file's path, its Type-1 key and how many
/// fragments of the same key and kind precede it in the file, so it survives edits
/// elsewhere in the file and runs over other trees. 64 bits: a chance collision among a
/// million fragments has odds of about 1 in 3·10⁷.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Pod,
    Zeroable,
    Serialize,
    Deserialize,
)]
#[repr(transparent)]
#[serde(transparent)]
pub struct FragmentId(pub u64);

/// XXH3-64 of one token's bytes.
pub fn token_hash(bytes: &[u8]) -> u64 {
    xxh3_64_with_seed(bytes, 0)
}

/// XXH3-128 of a sequence of 64-bit values, as little-endian bytes.
pub fn key_of_u64s(values: &[u64], seed: u64) -> Hash128 {
    Hash128::from_u128(if cfg!(target_endian = "little") {
        xxh3_128_with_seed(bytemuck::cast_slice(values), seed)
    } else {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        xxh3_128_with_seed(&bytes, seed)
    })
}

/// XXH3-128 of a sequence of 32-bit values, as little-endian bytes.
pub fn key_of_u32s(values: impl Iterator<Item = u32>, seed: u64) -> Hash128 {
    let bytes: Vec<u8> = values.flat_map(|v| v.to_le_bytes()).collect();
    Hash128::from_u128(xxh3_128_with_seed(&bytes, seed))
}

/// The id of the `ordinal`-th fragment (0-based) of `kind` with Type-1 key `exact` in the
/// file at `path`.
pub fn fragment_id(path: &[u8], exact: Hash128, kind: u32, ordinal: u32) -> FragmentId {
    let mut bytes = Vec::with_capacity(path.len() + 24);
    bytes.extend_from_slice(path);
    bytes.extend_from_slice(&exact.lo.to_le_bytes());
    bytes.extend_from_slice(&exact.hi.to_le_bytes());
    bytes.extend_from_slice(&kind.to_le_bytes());
    bytes.extend_from_slice(&ordinal.to_le_bytes());
    FragmentId(xxh3_64_with_seed(&bytes, ID_SEED))
}

/// A family's stable id: the hash of its members' ids in ascending order.
pub fn family_id(members: impl Iterator<Item = FragmentId>) -> u64 {
    let mut ids: Vec<u64> = members.map(|m| m.0).collect();
    ids.sort_unstable();
    let bytes: Vec<u8> = ids.iter().flat_map(|v| v.to_le_bytes()).collect();
    xxh3_64_with_seed(&bytes, FAMILY_SEED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_documented_xxh3_of_little_endian_bytes() {
        let values = [1u64, 0x0102_0304_0506_0708];
        let mut bytes = Vec::new();
        for v in values {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let expected = xxh3_128_with_seed(&bytes, TYPE1_SEED);
        let key = key_of_u64s(&values, TYPE1_SEED);
        assert_eq!((key.lo, key.hi), (expected as u64, (expected >> 64) as u64));
        assert_eq!(
            key_of_u32s([7u32, 9].into_iter(), TYPE2_SEED),
            Hash128::from_u128(xxh3_128_with_seed(&[7, 0, 0, 0, 9, 0, 0, 0], TYPE2_SEED))
        );
    }

    #[test]
    fn ids_depend_on_path_key_kind_and_ordinal_and_families_on_members_only() {
        let key = key_of_u64s(&[1, 2, 3], TYPE1_SEED);
        let id = fragment_id(b"a.rs", key, 0, 0);
        assert_ne!(id, fragment_id(b"b.rs", key, 0, 0));
        assert_ne!(id, fragment_id(b"a.rs", key, 1, 0));
        assert_ne!(id, fragment_id(b"a.rs", key, 0, 1));
        let (a, b) = (FragmentId(5), FragmentId(9));
        assert_eq!(family_id([a, b].into_iter()), family_id([b, a].into_iter()));
    }
}
