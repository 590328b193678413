//! Near-miss pairs: LSH banding over sketches, then verification on token streams.

use codetable_fingerprint::{SKETCH_BINS, Verifier};
use rayon::prelude::*;

use crate::{Entry, MatchConfig};

/// A verified near-miss pair of entries (`a < b`) and their similarity in [0, 1].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Edge {
    pub a: u32,
    pub b: u32,
    pub similarity: f64,
}

/// Counters of the near-miss stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct NearStats {
    pub candidates: u64,
    pub verified: u64,
}

/// Verified near-miss edges among `representatives` (indices into `entries`), sorted.
pub(crate) fn near_miss_edges(
    entries: &[Entry],
    representatives: &[u32],
    config: &MatchConfig,
) -> (Vec<Edge>, NearStats) {
    let rows = config.rows_per_band.clamp(1, SKETCH_BINS);
    let bands = SKETCH_BINS / rows;

    // (band key, length, entry) for every representative and band.
    let mut keyed: Vec<(u64, u32, u32)> = representatives
        .par_iter()
        .flat_map_iter(|&i| {
            let e = &entries[i as usize];
            (0..bands).map(move |band| {
                let bins = &e.sketch.0[band * rows..(band + 1) * rows];
                let seed = (e.group as u64) << 32 | (band as u64 + 1);
                let key = bins.iter().fold(seed, |acc, &v| {
                    (acc ^ v as u64)
                        .wrapping_mul(0x9fb2_1c65_1e98_df25)
                        .rotate_left(29)
                });
                (key, e.tokens.len() as u32, i)
            })
        })
        .collect();
    keyed.par_sort_unstable();

    // Pairs inside each bucket, partners nearest in length first, within the length bound.
    let max_ratio = (2.0 - config.min_similarity) / config.min_similarity;
    let fanout = config.bucket_fanout.max(1);
    // Only pairs whose sketches agree enough are kept, before deduplication, so that
    // memory stays bounded on large trees.
    let agree = |a: u32, b: u32| {
        let (ea, eb) = (&entries[a as usize], &entries[b as usize]);
        ea.sketch.agreement(eb.sketch) >= config.min_agreement && !ea.overlaps(eb)
    };
    let mut pairs: Vec<(u32, u32)> = keyed
        .par_chunk_by(|x, y| x.0 == y.0)
        .filter(|bucket| bucket.len() > 1)
        .flat_map_iter(|bucket| {
            bucket
                .iter()
                .enumerate()
                .flat_map(move |(k, &(_, len, i))| {
                    bucket[k + 1..]
                        .iter()
                        .take_while(move |&&(_, other, _)| other as f64 <= len as f64 * max_ratio)
                        .take(fanout)
                        .map(move |&(_, _, j)| (i.min(j), i.max(j)))
                        .filter(move |&(a, b)| agree(a, b))
                })
        })
        .collect();
    pairs.par_sort_unstable();
    pairs.dedup();

    let candidates = pairs.len() as u64;
    // Pairs are sorted, so consecutive pairs mostly share their first fragment: each
    // worker's verifier keeps that fragment's bit masks.
    let edges: Vec<Edge> = pairs
        .into_par_iter()
        .map_init(Verifier::default, |verifier, (a, b)| {
            let (ea, eb) = (&entries[a as usize], &entries[b as usize]);
            let threshold = config.threshold(ea.tokens.len().min(eb.tokens.len()));
            verifier
                .similarity_at_least(ea.tokens, eb.tokens, threshold)
                .map(|similarity| Edge { a, b, similarity })
        })
        .flatten()
        .collect();
    let stats = NearStats {
        candidates,
        verified: edges.len() as u64,
    };
    (edges, stats)
}
