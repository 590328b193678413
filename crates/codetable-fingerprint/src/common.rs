//! Grams too common to tell code apart: the abstracted 4-grams (`return ID ; }`,
//! `if ( ! ID`) that occur in a large share of the files of real code in some language.
//! Sketches leave them out (see [`Sketch::of_strong`](crate::Sketch::of_strong)): when
//! such a gram holds a bin's minimum, the bin says only "this is C", yet it would put
//! thousands of unrelated functions into one LSH bucket.
//!
//! The list is fixed, built into the binary, so whether two fragments are candidates never
//! depends on what else is analysed. `common-grams.txt` is made by
//! `benches/src/bin/common-grams.rs` (see benches/README.md) and must be remade when the
//! token or gram hashes change.

use std::sync::OnceLock;

static LIST: &str = include_str!("common-grams.txt");

/// The list, sorted, and a bitmap of its grams' top 16 bits that rules most grams out
/// before a search.
struct Common {
    sorted: Vec<u64>,
    prefixes: Vec<u64>,
}

/// Whether `gram` (as [`file_grams`](crate::file_grams) computes it) is a common gram.
pub fn is_common(gram: u64) -> bool {
    static COMMON: OnceLock<Common> = OnceLock::new();
    let common = COMMON.get_or_init(|| {
        let mut sorted: Vec<u64> = LIST
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| u64::from_str_radix(l.trim(), 16).expect("common-grams.txt holds hex"))
            .collect();
        sorted.sort_unstable();
        let mut prefixes = vec![0u64; 1 << 10];
        for g in &sorted {
            let p = (g >> 48) as usize;
            prefixes[p / 64] |= 1 << (p % 64);
        }
        Common { sorted, prefixes }
    });
    let p = (gram >> 48) as usize;
    common.prefixes[p / 64] & (1 << (p % 64)) != 0 && common.sorted.binary_search(&gram).is_ok()
}
