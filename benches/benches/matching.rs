//! Near-miss matching throughput of each backend and candidate strategy: fragment pairs
//! per second at 10 k, 100 k and 1 M fragments.
//!
//! The fragments are real: every file of the recall corpus (`scripts/recall-corpus.sh`:
//! Rust, C, Python, JavaScript, Java) fingerprinted, all in one comparison group. Past the
//! corpus's own fragments, copies are added whose Type-2 keys differ and whose sketches
//! have 40 of 64 bins replaced, so each copy is its own class, rarely a candidate, and
//! the scan (not verification) is what grows. Throughput counts all pairs, `n·(n−1)/2`.
//!
//! The CPU runs 10 k and 100 k; the GPU runs all three sizes on a hardware adapter, and
//! 10 k on a software one (with `CODETABLE_ALLOW_SOFTWARE_GPU=1`), which proves
//! correctness, not speed.
//!
//! `cargo bench -p codetable-benches --bench matching`

use codetable::{Backend, BackendChoice, MatchConfig, Strategy, allow_software_gpu};
use codetable_fingerprint::{
    FileFingerprint, FingerprintConfig, Fingerprinter, FragmentTable, Hash128,
};
use codetable_match::{exact_classes, near_edges};
use codetable_syntax::SyntaxParser;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// The corpus's files, fingerprinted.
fn fingerprints() -> Vec<FileFingerprint> {
    let mut paths = codetable_benches::source_files(&codetable_benches::recall_corpus());
    paths.sort_by(|a, b| a.0.cmp(&b.0));
    let (mut parser, mut fingerprinter) = (SyntaxParser::default(), Fingerprinter::default());
    let config = FingerprintConfig::default();
    paths
        .iter()
        .filter_map(|(path, detection)| {
            let source = std::fs::read(path).ok()?;
            let language = detection.resolve(&source);
            let tree = parser.parse(language, &source).ok()?;
            Some(fingerprinter.fingerprint(tree, &source, &config))
        })
        .filter(|f| !f.fragments.is_empty())
        .collect()
}

/// A table of at least `n` fragments: the corpus, then edited copies of it.
fn table(files: &[FileFingerprint], n: usize) -> FragmentTable {
    let mut table = FragmentTable::default();
    for copy in 0u64.. {
        for (k, file) in files.iter().enumerate() {
            if table.len() >= n {
                return table;
            }
            let mut file = file.clone();
            if copy > 0 {
                for (f, fragment) in file.fragments.iter_mut().enumerate() {
                    let salt = copy << 40 | (k as u64) << 20 | f as u64;
                    fragment.renamed_hash = Hash128 {
                        lo: fragment.renamed_hash.lo ^ salt,
                        hi: fragment.renamed_hash.hi ^ copy,
                    };
                    fragment.exact_hash = fragment.renamed_hash;
                    for bin in 0..40 {
                        let at = (bin * 3 + copy as usize) % 64;
                        fragment.sketch.0[at] = (fragment.sketch.0[at] ^ salt as u32) & 0x7fff_ffff;
                    }
                }
            }
            let index = table.len() as u32;
            let path = format!("copy{copy}/file{k}");
            if table.push_file(index, path.as_bytes(), 0, &file).is_err() {
                return table;
            }
        }
    }
    table
}

fn matching(c: &mut Criterion) {
    let files = fingerprints();
    let gpu = Backend::select(BackendChoice::Gpu, allow_software_gpu()).ok();
    let hardware = gpu
        .as_ref()
        .and_then(Backend::adapter)
        .is_some_and(|a| !a.software);
    let mut group = c.benchmark_group("near-miss matching");
    group.sample_size(10);
    for n in [10_000usize, 100_000, 1_000_000] {
        let table = table(&files, n);
        let classes = exact_classes(&table);
        let pairs = (table.len() as u64) * (table.len() as u64 - 1) / 2;
        group.throughput(Throughput::Elements(pairs));
        let mut backends = Vec::new();
        if n <= 100_000 {
            backends.push(Backend::Cpu);
        }
        if let Some(gpu) = &gpu
            && (hardware || n <= 10_000)
        {
            backends.push(gpu.clone());
        }
        for backend in &backends {
            for candidates in [Strategy::Lsh, Strategy::Exhaustive] {
                let config = MatchConfig {
                    candidates,
                    ..MatchConfig::default()
                };
                let name = format!("{}/{}", backend.name(), candidates.name());
                group.bench_function(BenchmarkId::new(name, table.len()), |b| {
                    b.iter(|| near_edges(&table, &classes, &config, backend).unwrap())
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, matching);
criterion_main!(benches);
