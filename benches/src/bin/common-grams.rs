//! Makes `crates/codetable-fingerprint/src/common-grams.txt`: the abstracted 4-grams found
//! in at least `PERCENT`% of the files of some language, over the trees given.
//!
//! `common-grams PERCENT DIR...` prints the list (hex, sorted) with a header saying how it
//! was made.

use std::collections::{BTreeMap, HashMap, HashSet};

use codetable_syntax::SyntaxParser;
use rayon::prelude::*;

/// Per language: files seen, and in how many files each gram occurs.
type Counts = HashMap<&'static str, (u64, HashMap<u64, u64>)>;

fn main() {
    let mut args = std::env::args().skip(1);
    let percent: f64 = args
        .next()
        .and_then(|p| p.parse().ok())
        .expect("usage: common-grams PERCENT DIR...");
    let roots: Vec<String> = args.collect();
    let files: Vec<_> = roots
        .iter()
        .flat_map(|root| codetable_benches::source_files(root.as_ref()))
        .collect();
    let counts: Counts = files
        .par_iter()
        .fold(
            || (SyntaxParser::default(), HashMap::new()),
            |(mut parser, mut acc): (SyntaxParser, Counts), (path, detection)| {
                let Ok(source) = std::fs::read(path) else {
                    return (parser, acc);
                };
                if source.len() > 1 << 20 {
                    return (parser, acc);
                }
                let language = detection.resolve(&source);
                if let Ok(tree) = parser.parse(language, &source) {
                    let grams: HashSet<u64> = codetable_fingerprint::file_grams(tree, &source)
                        .into_iter()
                        .collect();
                    let entry = acc.entry(language.name()).or_default();
                    entry.0 += 1;
                    for g in grams {
                        *entry.1.entry(g).or_default() += 1;
                    }
                }
                (parser, acc)
            },
        )
        .map(|(_, acc)| acc)
        .reduce(Counts::new, |mut a, b| {
            for (language, (files, grams)) in b {
                let entry = a.entry(language).or_default();
                entry.0 += files;
                for (g, n) in grams {
                    *entry.1.entry(g).or_default() += n;
                }
            }
            a
        });
    let mut common: BTreeMap<u64, ()> = BTreeMap::new();
    let mut summary = Vec::new();
    for (language, (files, grams)) in &counts {
        let bar = (*files as f64 * percent / 100.0).ceil() as u64;
        let mut n = 0;
        for (&g, &c) in grams {
            if c >= bar.max(20) {
                common.insert(g, ());
                n += 1;
            }
        }
        summary.push(format!("{language}: {files} files, {n} grams"));
    }
    summary.sort();
    println!("# Abstracted 4-grams in at least {percent}% of the files of a language.");
    println!(
        "# Made by `common-grams {percent} <trees>` from: {}",
        summary.join("; ")
    );
    for g in common.keys() {
        println!("{g:016x}");
    }
}
