//! Grams too common to tell code apart: the abstracted 4-grams (`return ID ; }`,
//! `if ( ! ID`) that occur in a large share of the files of real code in some language.
//! Sketches leave them out (see [`Sketch::of_marked`](crate::Sketch::of_marked)): when
//! such a gram holds a bin's minimum, the bin says only "this is C", yet it would put
//! thousands of unrelated functions into one LSH bucket.
//!
//! The list is fixed, built into the binary, so whether two fragments are candidates never
//! depends on what else is analysed. `common-grams.txt` is made by
//! `benches/src/bin/common-grams.rs` (see benches/README.md) and must be remade when the
//! token or gram hashes change.

use std::sync::OnceLock;

static LIST: &str = include_str!("common-grams.txt");

/// The list as an open-addressing set of `SLOTS` grams (0 is empty; grams are hashes, so
/// their low bits place them), a quarter full: most lookups read one slot.
pub(crate) struct Common {
    slots: Vec<u64>,
}

const SLOTS: usize = 4096;

/// The grams of `common-grams.txt`.
fn listed() -> impl Iterator<Item = u64> {
    LIST.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| u64::from_str_radix(l.trim(), 16).expect("common-grams.txt holds hex"))
}

impl Common {
    /// The built-in list.
    pub(crate) fn get() -> &'static Common {
        static COMMON: OnceLock<Common> = OnceLock::new();
        COMMON.get_or_init(|| {
            let mut slots = vec![0u64; SLOTS];
            for gram in listed() {
                let mut s = gram as usize % SLOTS;
                while slots[s] != 0 && slots[s] != gram {
                    s = (s + 1) % SLOTS;
                }
                slots[s] = gram;
            }
            assert!(
                slots.iter().filter(|&&g| g != 0).count() <= SLOTS / 2,
                "common-grams.txt is too long for its table"
            );
            Common { slots }
        })
    }

    /// Whether `gram` (as [`file_grams`](crate::file_grams) computes it) is a common gram.
    pub(crate) fn contains(&self, gram: u64) -> bool {
        let mut s = gram as usize % SLOTS;
        loop {
            match self.slots[s] {
                0 => return false,
                g if g == gram => return gram != 0,
                _ => s = (s + 1) % SLOTS,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_gram_is_found_and_others_are_not() {
        let common = Common::get();
        let listed: Vec<u64> = listed().collect();
        assert!(listed.len() > 500);
        assert!(listed.iter().all(|&g| common.contains(g)));
        let others = (0..10_000u64)
            .map(|i| crate::mix(i, 99))
            .filter(|g| !listed.contains(g));
        assert!(others.into_iter().all(|g| !common.contains(g)));
        assert!(!common.contains(0));
    }
}
