//! Near-miss candidates: LSH banding over class representatives' sketches.
//!
//! A pair `(a, b)` is a candidate exactly when
//! - both are in one group and neither is a statement run;
//! - their sketches agree on every bin of at least one band;
//! - the longer has at most [`MatchConfig::max_length`] of the shorter's tokens;
//! - their sketches agree on at least [`MatchConfig::agreement_needed`] bins;
//! - they do not overlap in one file.
//!
//! Nothing else (no cap per bucket, no order) decides, so the set is symmetric and the
//! partners of a fragment do not depend on which other fragments exist. Bands are scanned
//! one at a time, and a pair is emitted only from the first band it shares, so no pair is
//! produced twice and memory stays at one band's keys.

use codetable_fingerprint::{FragmentId, FragmentKind, FragmentTable, SKETCH_BINS};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::verify::{Histograms, verify_on_cpu, verify_rows};
use crate::{Backend, Edge, ExactClasses, GpuError, MatchConfig, Strategy, Verifier, exhaustive};

/// A pair of fragments to verify, `a < b`.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    bytemuck::Pod,
    bytemuck::Zeroable,
    Serialize,
    Deserialize,
)]
#[repr(C)]
pub struct Candidate {
    pub a: FragmentId,
    pub b: FragmentId,
}

/// The candidate pairs among the classes' representatives, sorted.
pub fn candidates(
    table: &FragmentTable,
    classes: &ExactClasses,
    config: &MatchConfig,
) -> Vec<Candidate> {
    let representatives = representatives(table, classes);
    let mut pairs: Vec<Candidate> = (0..bands(config))
        .into_par_iter()
        .flat_map_iter(|band| {
            band_pairs(table, &representatives, config, band)
                .into_iter()
                .map(|(a, b)| {
                    let (ia, ib) = (table.ids[a as usize], table.ids[b as usize]);
                    Candidate {
                        a: ia.min(ib),
                        b: ia.max(ib),
                    }
                })
        })
        .collect();
    pairs.par_sort_unstable();
    pairs
}

/// Candidates (by `config.candidates`) and their verification on `backend`: the number
/// of candidates and the edges, sorted. The same on every backend; only a GPU failure is
/// an error.
pub fn near_edges(
    table: &FragmentTable,
    classes: &ExactClasses,
    config: &MatchConfig,
    backend: &Backend,
) -> Result<(u64, Vec<Edge>), GpuError> {
    edges_of(
        table,
        &representatives(table, classes),
        None,
        config,
        backend,
    )
}

/// The part of [`near_edges`] that touches the rows marked in `touched` (indexed by row):
/// every candidate and edge with at least one marked representative, and no other. As
/// candidates depend on the pair alone, the edges of an earlier run between unmarked
/// representatives, together with these, are exactly what [`near_edges`] gives.
pub fn near_edges_touching(
    table: &FragmentTable,
    representatives: &[u32],
    touched: &[bool],
    config: &MatchConfig,
    backend: &Backend,
) -> Result<(u64, Vec<Edge>), GpuError> {
    edges_of(table, representatives, Some(touched), config, backend)
}

fn edges_of(
    table: &FragmentTable,
    representatives: &[u32],
    touched: Option<&[bool]>,
    config: &MatchConfig,
    backend: &Backend,
) -> Result<(u64, Vec<Edge>), GpuError> {
    let (count, mut edges) = match (config.candidates, backend, touched) {
        // LSH on the CPU, all pairs: band by band, verified as found, so that candidates
        // are never all held at once.
        (Strategy::Lsh, Backend::Cpu, None) => {
            let histograms = Histograms::of(table, representatives);
            let (counts, edges): (Vec<u64>, Vec<Vec<Edge>>) = (0..bands(config))
                .into_par_iter()
                .map_init(Verifier::default, |verifier, band| {
                    let pairs = band_pairs(table, representatives, config, band);
                    (
                        pairs.len() as u64,
                        verify_on_cpu(table, &histograms, verifier, &pairs, config),
                    )
                })
                .unzip();
            (counts.iter().sum(), edges.into_iter().flatten().collect())
        }
        _ => {
            let pairs = match config.candidates {
                Strategy::Lsh => lsh_pairs(table, representatives, touched, config),
                Strategy::Exhaustive => {
                    exhaustive::pairs(table, representatives, touched, config, backend)?
                }
            };
            (
                pairs.len() as u64,
                verify_rows(table, &pairs, config, backend)?,
            )
        }
    };
    edges.par_sort_unstable();
    Ok((count, edges))
}

/// The LSH candidate pairs (rows, `a < b`), all of them or those touching marked rows.
fn lsh_pairs(
    table: &FragmentTable,
    representatives: &[u32],
    touched: Option<&[bool]>,
    config: &MatchConfig,
) -> Vec<(u32, u32)> {
    let mut pairs: Vec<(u32, u32)> = match touched {
        None => (0..bands(config))
            .into_par_iter()
            .flat_map_iter(|band| band_pairs(table, representatives, config, band))
            .collect(),
        Some(marked) => touched_buckets(table, representatives, config, marked)
            .into_par_iter()
            .enumerate()
            .flat_map_iter(|(band, keyed)| bucket_pairs(table, config, band, keyed, touched))
            .collect(),
    };
    pairs.par_sort_unstable();
    pairs
}

fn bands(config: &MatchConfig) -> usize {
    SKETCH_BINS / config.rows_per_band.clamp(1, SKETCH_BINS)
}

/// The rows that represent classes in near-miss matching, ascending by class.
pub fn representatives(table: &FragmentTable, classes: &ExactClasses) -> Vec<u32> {
    let index = table.id_index();
    (0..classes.len())
        .filter_map(|c| index.row(classes.class(c)[0]))
        .filter(|&r| !table.kinds[r as usize].is(FragmentKind::STATEMENT_RUN))
        .collect()
}

/// A row's bucket in `band`: its group and the band's bins, hashed to 32 bits.
fn bucket_of(table: &FragmentTable, r: u32, band: usize, rows: usize) -> u32 {
    let bins = table.sketches[r as usize].band(band, rows);
    let seed = (table.kinds[r as usize].group as u64) << 32 | band as u64;
    let key = bins.iter().fold(seed, |acc, &v| {
        (acc ^ v as u64)
            .wrapping_mul(0x9fb2_1c65_1e98_df25)
            .rotate_left(29)
    });
    key as u32 ^ (key >> 32) as u32
}

/// Per band, the (bucket, length, row) of every representative in a bucket that holds a
/// marked one: one pass over the sketches for all bands.
fn touched_buckets(
    table: &FragmentTable,
    representatives: &[u32],
    config: &MatchConfig,
    touched: &[bool],
) -> Vec<Vec<(u32, u32, u32)>> {
    let rows = config.rows_per_band.clamp(1, SKETCH_BINS);
    let bands = bands(config);
    let wanted: Vec<codetable_fingerprint::KeySet<u32>> = (0..bands)
        .map(|band| {
            representatives
                .iter()
                .filter(|&&r| touched[r as usize])
                .filter(|&&r| table.sketches[r as usize].is_banded(band, rows))
                .map(|&r| bucket_of(table, r, band, rows))
                .collect()
        })
        .collect();
    representatives
        .par_chunks(4096)
        .map(|chunk| {
            let mut out: Vec<Vec<(u32, u32, u32)>> = vec![Vec::new(); bands];
            for &r in chunk {
                for (band, wanted) in wanted.iter().enumerate() {
                    if wanted.is_empty() || !table.sketches[r as usize].is_banded(band, rows) {
                        continue;
                    }
                    let key = bucket_of(table, r, band, rows);
                    if wanted.contains(&key) {
                        out[band].push((key, table.spans[r as usize].tokens(), r));
                    }
                }
            }
            out
        })
        .reduce(
            || vec![Vec::new(); bands],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    x.extend(y);
                }
                a
            },
        )
}

/// The candidate pairs (rows, `a < b`) first met in `band`, sorted.
fn band_pairs(
    table: &FragmentTable,
    representatives: &[u32],
    config: &MatchConfig,
    band: usize,
) -> Vec<(u32, u32)> {
    let rows = config.rows_per_band.clamp(1, SKETCH_BINS);
    // (bucket key, length, row): a bucket holds one band value of one group.
    let keyed: Vec<(u32, u32, u32)> = representatives
        .iter()
        .filter(|&&r| table.sketches[r as usize].is_banded(band, rows))
        .map(|&r| {
            (
                bucket_of(table, r, band, rows),
                table.spans[r as usize].tokens(),
                r,
            )
        })
        .collect();
    bucket_pairs(table, config, band, keyed, None)
}

/// The candidate pairs (rows, `a < b`) first met in `band` among `keyed` rows; with
/// `touched`, only those with a marked row.
fn bucket_pairs(
    table: &FragmentTable,
    config: &MatchConfig,
    band: usize,
    mut keyed: Vec<(u32, u32, u32)>,
    touched: Option<&[bool]>,
) -> Vec<(u32, u32)> {
    let rows = config.rows_per_band.clamp(1, SKETCH_BINS);
    keyed.sort_unstable();
    let mut out = Vec::new();
    // The low bytes of the bucket's sketches side by side: pairs are scanned from memory in
    // order, and equal bins have equal low bytes, so too few equal bytes rules a pair out
    // at a quarter of the cost of comparing the bins.
    let mut local: Vec<[u8; SKETCH_BINS]> = Vec::new();
    for bucket in keyed.chunk_by(|x, y| x.0 == y.0) {
        if bucket.len() < 2 {
            continue;
        }
        local.clear();
        local.extend(
            bucket
                .iter()
                .map(|&(_, _, r)| table.sketches[r as usize].0.map(|v| v as u8)),
        );
        for (k, &(_, len, a)) in bucket.iter().enumerate() {
            let longest = config.max_length(len);
            let full_bar_until = config.full_agreement_until(len);
            let bytes_a = &local[k];
            let sa = &table.sketches[a as usize];
            for (j, &(_, other, b)) in bucket.iter().enumerate().skip(k + 1) {
                if other > longest {
                    break;
                }
                if touched.is_some_and(|t| !t[a as usize] && !t[b as usize]) {
                    continue;
                }
                let needed = if other <= full_bar_until {
                    config.min_agreement
                } else {
                    config.agreement_needed(len, other)
                };
                if byte_agreement(bytes_a, &local[j]) < needed {
                    continue;
                }
                let sb = &table.sketches[b as usize];
                // The bucket key may collide; the pair must share this band and group, and
                // no earlier band.
                if sa.agreement(sb) < needed
                    || sa.band(band, rows) != sb.band(band, rows)
                    || (0..band).any(|e| {
                        sa.band(e, rows) == sb.band(e, rows)
                            && sa.is_banded(e, rows)
                            && sb.is_banded(e, rows)
                    })
                    || table.kinds[a as usize].group != table.kinds[b as usize].group
                    || table.spans[a as usize].overlaps(&table.spans[b as usize])
                {
                    continue;
                }
                out.push((a.min(b), a.max(b)));
            }
        }
    }
    out.sort_unstable();
    out
}

/// Equal bytes of two sketches' low bytes: at least their [`Sketch::agreement`].
pub(crate) fn byte_agreement(a: &[u8; SKETCH_BINS], b: &[u8; SKETCH_BINS]) -> u32 {
    // A sum of 0/1 bytes (at most 64) vectorises.
    a.iter()
        .zip(b)
        .fold(0u8, |sum, (x, y)| sum + (x == y) as u8) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exact_classes;
    use crate::testing::{spec, stream, table};
    use codetable_fingerprint::{Sketch, UNBANDED};

    #[test]
    fn edges_touching_marked_rows_complete_the_unmarked_ones() {
        let table = table(&specs());
        let classes = exact_classes(&table);
        let representatives = representatives(&table, &classes);
        let mut lsh_edges = Vec::new();
        for candidates in [Strategy::Lsh, Strategy::Exhaustive] {
            let config = MatchConfig {
                candidates,
                ..MatchConfig::default()
            };
            let (_, all) = near_edges(&table, &classes, &config, &Backend::Cpu).unwrap();
            assert!(all.len() > 50, "{}", all.len());
            let mut next = crate::testing::xorshift(7);
            for share in [0, 1, 10, 50, 100] {
                let touched: Vec<bool> = (0..table.len()).map(|_| next() % 100 < share).collect();
                let marked = |id| touched[table.ids.iter().position(|&i| i == id).unwrap()];
                let (_, mut edges) =
                    near_edges_touching(&table, &representatives, &touched, &config, &Backend::Cpu)
                        .unwrap();
                assert!(edges.iter().all(|e| marked(e.a) || marked(e.b)));
                edges.extend(all.iter().filter(|e| !marked(e.a) && !marked(e.b)));
                edges.sort_unstable();
                assert_eq!(edges, all, "{candidates:?}, {share}% marked");
            }
            if candidates == Strategy::Lsh {
                lsh_edges = all;
            } else {
                // Exhaustive holds every LSH edge.
                assert!(lsh_edges.iter().all(|e| all.binary_search(e).is_ok()));
            }
        }
    }

    #[test]
    fn the_full_agreement_bound_agrees_with_agreement_needed() {
        for min_agreement in [0, 1, 12, 28, 40, 64] {
            let config = MatchConfig {
                min_agreement,
                ..MatchConfig::default()
            };
            for len in 1..600 {
                let until = config.full_agreement_until(len);
                for other in len..=config.max_length(len) {
                    let full = config.agreement_needed(len, other) == config.min_agreement;
                    assert!(other > until || full, "{min_agreement} {len} {other}");
                }
            }
        }
    }

    /// 120 fragments whose sketches mix a few prototypes with noise, so that many pairs
    /// share bands and some agree enough.
    fn specs() -> Vec<Vec<crate::testing::Spec>> {
        let mut next = crate::testing::xorshift(0x2545_f491_4f6c_dd1d);
        (0..120)
            .map(|i| {
                let prototype = (i % 4) as u32;
                let mut bins = [0u32; SKETCH_BINS];
                for (b, bin) in bins.iter_mut().enumerate() {
                    *bin = if next() % 100 < 80 {
                        prototype * 1000 + b as u32
                    } else {
                        (next() as u32) & !UNBANDED
                    };
                }
                vec![spec(
                    i,
                    i,
                    stream(i as u16, 100 + (i % 7) as u16),
                    Sketch(bins),
                )]
            })
            .collect()
    }

    #[test]
    fn candidates_depend_on_the_pair_alone() {
        let config = MatchConfig::default();
        let all = table(&specs());
        let everything = candidates(&all, &exact_classes(&all), &config);
        // Buckets of about 30: a cap on partners per bucket would make this fail.
        assert!(everything.len() > 500, "the test needs candidates");
        assert!(
            everything.windows(2).all(|w| w[0] < w[1]),
            "sorted, no repeats"
        );
        for gone in [0, 7, 33] {
            // The same tree without one fragment (its file left empty, so ids stay).
            let mut fewer = specs();
            fewer[gone].clear();
            let fewer = table(&fewer);
            let id = all.ids[gone];
            let expected: Vec<Candidate> = everything
                .iter()
                .copied()
                .filter(|c| c.a != id && c.b != id)
                .collect();
            assert_eq!(
                candidates(&fewer, &exact_classes(&fewer), &config),
                expected
            );
        }
    }
}
