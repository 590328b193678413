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

/// Whether `gram` (as [`file_grams`](crate::file_grams) computes it) is a common gram.
pub fn is_common(gram: u64) -> bool {
    static SORTED: OnceLock<Vec<u64>> = OnceLock::new();
    let sorted = SORTED.get_or_init(|| {
        let mut grams: Vec<u64> = LIST
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| u64::from_str_radix(l.trim(), 16).expect("common-grams.txt holds hex"))
            .collect();
        grams.sort_unstable();
        grams
    });
    sorted.binary_search(&gram).is_ok()
}
