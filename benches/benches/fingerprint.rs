//! Parse and parse+fingerprint throughput per language, on real code: the recall corpus
//! (`scripts/recall-corpus.sh`: crates from cargo's registry, Python's standard library,
//! npm, the JDK) for Rust, C, Python, JavaScript and Java.
//!
//! `cargo bench -p codetable-benches`

use std::path::Path;

use codetable_fingerprint::{FingerprintConfig, Fingerprinter};
use codetable_syntax::{Language, SyntaxParser};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

/// About this many bytes of real code per language.
const SAMPLE_BYTES: usize = 1 << 20;

fn sample(dir: &Path, language: Language) -> Vec<Vec<u8>> {
    let mut paths = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .and_then(Language::from_extension)
                == Some(language)
            {
                paths.push(path);
            }
        }
    }
    paths.sort();
    let mut total = 0;
    paths
        .into_iter()
        .map_while(|p| {
            (total < SAMPLE_BYTES).then(|| {
                let bytes = std::fs::read(p).unwrap();
                total += bytes.len();
                bytes
            })
        })
        .collect()
}

fn stages(c: &mut Criterion) {
    let corpus = codetable_benches::recall_corpus();
    let config = FingerprintConfig::default();
    for language in [
        Language::Rust,
        Language::C,
        Language::Python,
        Language::JavaScript,
        Language::Java,
    ] {
        let files = sample(&corpus.join(language.name()), language);
        let bytes: usize = files.iter().map(Vec::len).sum();
        let mut group = c.benchmark_group(language.name());
        group.throughput(Throughput::Bytes(bytes as u64));
        group.sample_size(10);
        let mut parser = SyntaxParser::default();
        group.bench_function(BenchmarkId::new("parse", bytes), |b| {
            b.iter(|| {
                for source in &files {
                    std::hint::black_box(parser.parse(language, source).unwrap());
                }
            })
        });
        let mut fingerprinter = Fingerprinter::default();
        group.bench_function(BenchmarkId::new("parse+fingerprint", bytes), |b| {
            b.iter(|| {
                for source in &files {
                    let tree = parser.parse(language, source).unwrap();
                    std::hint::black_box(fingerprinter.fingerprint(tree, source, &config));
                }
            })
        });
        group.finish();
    }
}

criterion_group!(benches, stages);
criterion_main!(benches);
