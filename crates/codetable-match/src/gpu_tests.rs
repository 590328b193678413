//! Each kernel against its CPU twin, on the software Vulkan device when there is no
//! GPU (the test command installs it): these tests fail, never skip, without one.

use super::*;
use crate::exhaustive::cpu_pairs;
use crate::testing::{Spec, spec, table, xorshift};
use crate::{
    Backend, MatchConfig, Strategy, Verifier, exact_classes, near_edges, near_edges_touching,
    representatives,
};
use codetable_fingerprint::{Sketch, UNBANDED};

fn gpu() -> Arc<Gpu> {
    Gpu::shared(true).expect(
        "no GPU adapter, not even a software one: install mesa-vulkan-drivers and \
         libvulkan1 (the test command does)",
    )
}

/// Chunks so small that every path runs: many blocks, many dispatches, an append
/// buffer that overflows at once and runs split when they outgrow 50 records,
/// verification in runs of 7 pairs.
const TINY: Chunking = Chunking {
    block_fragments: 37,
    listed_per_dispatch: 50,
    initial_pairs: 1,
    max_records: 50,
    pairs_per_dispatch: 7,
    loop_budget: 6_000,
};

/// `n` fragments, one or two per file (the second nested in the first, so spans
/// overlap): sketches from 4 prototypes with noise, streams from 4 prototypes with
/// edits, lengths from 10 to 400 tokens and names at varied distances.
fn generated(seed: u64, n: usize) -> FragmentTable {
    let mut next = xorshift(seed | 1);
    let mut files: Vec<Vec<Spec>> = Vec::new();
    let mut made = 0;
    while made < n {
        let mut file = Vec::new();
        let nested = made + 1 < n && next().is_multiple_of(5);
        for k in 0..1 + nested as usize {
            let prototype = (next() % 4) as u32;
            let noise = next() % 60;
            let mut bins = [0u32; 64];
            for (b, bin) in bins.iter_mut().enumerate() {
                *bin = if next() % 100 >= noise {
                    prototype * 1000 + b as u32
                } else {
                    (next() as u32) & !UNBANDED
                };
            }
            let len = if k == 1 {
                10 + next() % 40
            } else {
                50 + next() % 350
            };
            let stream: Vec<u16> = (0..len)
                .map(|i| match next() % 20 {
                    0 => (next() % 50) as u16,
                    1 => symbol::IDENTIFIER | (next() % 40) as u16,
                    _ => ((i * 7 + prototype as u64) % 31) as u16,
                })
                .collect();
            let mut s = spec(next(), next(), stream, Sketch(bins));
            s.parent = (k == 1).then_some(0);
            file.push(s);
        }
        made += file.len();
        files.push(file);
    }
    table(&files)
}

fn sorted(mut pairs: Vec<(u32, u32)>) -> Vec<(u32, u32)> {
    pairs.sort_unstable();
    pairs
}

#[test]
fn the_candidate_kernel_finds_what_its_cpu_twin_finds() {
    let gpu = gpu();
    let config = MatchConfig::default();
    for (seed, n) in [
        (1, 0),
        (2, 1),
        (3, 2),
        (4, 63),
        (5, 64),
        (6, 65),
        (7, 130),
        (8, 700),
    ] {
        let table = generated(seed, n);
        let order = Order::new(
            &table,
            &representatives(&table, &exact_classes(&table)),
            &config,
        );
        let mut next = xorshift(seed);
        let marks: Vec<bool> = (0..table.len()).map(|_| next().is_multiple_of(4)).collect();
        let (touching, bits) = order.touching(&marks);
        let none = vec![0; order.len().div_ceil(32).max(1)];
        for (listed, marked) in [(order.all(), &none), (touching, &bits)] {
            let cpu = sorted(cpu_pairs(&order, &listed, marked, &config));
            for chunking in [Chunking::for_adapter(gpu.adapter()), TINY] {
                let found = gpu
                    .candidate_pairs(&order, &listed, marked, config.min_agreement, &chunking)
                    .unwrap();
                assert_eq!(sorted(found), cpu, "{n} fragments, {chunking:?}");
            }
            if n >= 130 {
                assert!(cpu.len() > n, "the test needs candidates: {}", cpu.len());
            }
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
    /// Any size (not a multiple of the workgroup, larger than a block or a run) and any
    /// chunking: the GPU's near-miss edges are the CPU's, cold and touched.
    #[test]
    fn generated_tables_match_on_both_backends(
        seed in proptest::prelude::any::<u64>(),
        n in 0usize..260,
        block in 1u32..100,
        listed in 1u32..100,
        records in 1u32..200,
        exhaustive in proptest::prelude::any::<bool>(),
    ) {
        let gpu = gpu();
        let table = generated(seed, n);
        let classes = exact_classes(&table);
        let config = MatchConfig {
            candidates: if exhaustive { Strategy::Exhaustive } else { Strategy::Lsh },
            ..MatchConfig::default()
        };
        let chunking = Chunking {
            block_fragments: block,
            listed_per_dispatch: listed,
            initial_pairs: 1,
            max_records: records.max(block),
            pairs_per_dispatch: listed,
            loop_budget: Chunking::SOFTWARE_LOOP_LIMIT,
        };
        let backend = Backend::Gpu { gpu, chunking };
        let cpu = near_edges(&table, &classes, &config, &Backend::Cpu).unwrap();
        proptest::prop_assert_eq!(near_edges(&table, &classes, &config, &backend).unwrap(), cpu);
        let reps = representatives(&table, &classes);
        let mut next = xorshift(seed);
        let touched: Vec<bool> = (0..table.len()).map(|_| next().is_multiple_of(3)).collect();
        proptest::prop_assert_eq!(
            near_edges_touching(&table, &reps, &touched, &config, &backend).unwrap(),
            near_edges_touching(&table, &reps, &touched, &config, &Backend::Cpu).unwrap()
        );
    }
}

#[test]
fn the_lcs_kernel_computes_what_the_cpu_verifier_computes() {
    let gpu = gpu();
    let table = generated(42, 300);
    let mut next = xorshift(9);
    let mut pairs: Vec<(u32, u32)> = (0..600)
        .map(|_| (next() as u32 % 300, next() as u32 % 300))
        .collect();
    pairs.sort_unstable();
    let mut verifier = Verifier::default();
    let mut needed = Vec::new();
    let mut expected = Vec::new();
    for &(a, b) in &pairs {
        let (sa, sb) = (table.stream(a), table.stream(b));
        let lcs = crate::fragment_lcs(sa, sb);
        // Bars below, at and above the LCS, and past the shorter stream.
        let bar = match next() % 4 {
            0 => 0,
            1 => lcs,
            2 => lcs + 1,
            _ => (next() % 500) as u32,
        };
        needed.push(bar);
        expected.push(verifier.lcs_at_least(a, sa, sb, bar));
    }
    assert!(expected.iter().filter(|e| e.is_some()).count() > 100);
    // The last budget is too small for texts of over 114 symbols: those pairs are
    // verified on the CPU.
    let starved = Chunking {
        loop_budget: 3_000,
        ..TINY
    };
    for chunking in [Chunking::for_adapter(gpu.adapter()), TINY, starved] {
        let found = gpu.lcs(&table, &pairs, &needed, &chunking).unwrap();
        for (k, (f, e)) in found.iter().zip(&expected).enumerate() {
            let (a, b) = pairs[k];
            assert_eq!(
                f,
                e,
                "pair {k}: gpu {f:?}, cpu {e:?}, lengths {} and {}, needed {}, {chunking:?}",
                table.stream(a).len(),
                table.stream(b).len(),
                needed[k]
            );
        }
    }
}

#[test]
fn the_lcs_kernel_handles_word_edges_and_empty_streams() {
    let gpu = gpu();
    let lengths = [0u16, 1, 31, 32, 33, 63, 64, 65, 96, 200];
    let specs: Vec<Vec<Spec>> = lengths
        .iter()
        .map(|&len| {
            let stream = (0..len).map(|i| i * 5 % 7).collect();
            vec![spec(len as u64, 0, stream, Sketch([0; 64]))]
        })
        .collect();
    let table = table(&specs);
    let rows = table.len() as u32;
    let pairs: Vec<(u32, u32)> = (0..rows)
        .flat_map(|a| (0..rows).map(move |b| (a, b)))
        .collect();
    let needed = vec![0; pairs.len()];
    let expected: Vec<Option<u32>> = pairs
        .iter()
        .map(|&(a, b)| Some(crate::fragment_lcs(table.stream(a), table.stream(b))))
        .collect();
    let chunking = Chunking::for_adapter(gpu.adapter());
    assert_eq!(
        gpu.lcs(&table, &pairs, &needed, &chunking).unwrap(),
        expected
    );
}

#[test]
fn near_edges_are_the_same_on_both_backends() {
    let gpu = gpu();
    for seed in [3, 17] {
        let table = generated(seed, 400);
        let classes = exact_classes(&table);
        let reps = representatives(&table, &classes);
        let mut next = xorshift(seed);
        let touched: Vec<bool> = (0..table.len())
            .map(|_| next().is_multiple_of(10))
            .collect();
        for candidates in [Strategy::Lsh, Strategy::Exhaustive] {
            let config = MatchConfig {
                candidates,
                ..MatchConfig::default()
            };
            let cpu = near_edges(&table, &classes, &config, &Backend::Cpu).unwrap();
            let cpu_touching =
                near_edges_touching(&table, &reps, &touched, &config, &Backend::Cpu).unwrap();
            assert!(cpu.1.len() > 20, "the test needs edges: {}", cpu.1.len());
            for chunking in [Chunking::for_adapter(gpu.adapter()), TINY] {
                let backend = Backend::Gpu {
                    gpu: gpu.clone(),
                    chunking,
                };
                let on_gpu = near_edges(&table, &classes, &config, &backend).unwrap();
                assert_eq!(on_gpu, cpu, "{candidates:?}, {chunking:?}");
                let touching =
                    near_edges_touching(&table, &reps, &touched, &config, &backend).unwrap();
                assert_eq!(touching, cpu_touching, "{candidates:?}, {chunking:?}");
            }
        }
    }
}

#[test]
fn the_query_kernel_finds_what_its_cpu_twin_finds() {
    let gpu = gpu();
    let config = MatchConfig::default();
    let mut next = xorshift(77);
    let sketch = |next: &mut dyn FnMut() -> u64| {
        let prototype = (next() % 5) as u32;
        let noise = next() % 70;
        let mut bins = [0u32; 64];
        for (b, bin) in bins.iter_mut().enumerate() {
            *bin = if next() % 100 >= noise {
                prototype * 1000 + b as u32
            } else {
                next() as u32 & !UNBANDED
            };
        }
        Sketch(bins)
    };
    let stored = crate::StoredSketches::new(
        (0..1500u64)
            .map(|k| {
                (
                    k,
                    (next() % 2) as u16,
                    20 + (next() % 600) as u32,
                    sketch(&mut next),
                )
            })
            .collect(),
    );
    let probes: Vec<crate::Probe> = (0..90)
        .map(|_| crate::Probe {
            group: (next() % 2) as u16,
            tokens: 20 + (next() % 600) as u32,
            sketch: sketch(&mut next),
        })
        .collect();
    let cpu = crate::hits(&stored, &probes, &config, &Backend::Cpu).unwrap();
    assert!(cpu.len() > 1000, "the test needs hits: {}", cpu.len());
    for chunking in [Chunking::for_adapter(gpu.adapter()), TINY] {
        let backend = Backend::Gpu {
            gpu: gpu.clone(),
            chunking,
        };
        assert_eq!(
            crate::hits(&stored, &probes, &config, &backend).unwrap(),
            cpu,
            "{chunking:?}"
        );
    }
}

#[test]
fn the_agreement_bar_in_32_bit_words_is_the_cpus() {
    // The shader's wide products, replayed in u64, across lengths up to u32::MAX.
    let config = MatchConfig::default();
    let wide = |x: u64, y: u64| x * y;
    let mut next = xorshift(5);
    for _ in 0..100_000 {
        let a = (next() >> (next() % 64)) as u32;
        let b = (next() >> (next() % 64)) as u32;
        let (shorter, longer) = (a.min(b), a.max(b));
        let agreement = (next() % 65) as u32;
        let shader = agreement >= config.min_agreement
            || (agreement >= 12
                && wide(5440, shorter as u64)
                    < wide(100 * (agreement as u64 + 1), longer.max(1) as u64));
        assert_eq!(
            shader,
            agreement >= config.agreement_needed(shorter, longer),
            "{agreement} bins, {shorter} and {longer} tokens"
        );
    }
}
