//! The baseline for `benches/kernel.sh`: tree-sitter parsing alone, of the same files
//! codetable analyses (same walker settings, same size cap), on all cores, trees dropped.
//!
//! `bare-parse DIR` prints files, bytes and seconds.

use std::time::Instant;

use rayon::prelude::*;

fn main() {
    let root = std::env::args().nth(1).expect("usage: bare-parse DIR");
    let started = Instant::now();
    let files = codetable_benches::source_files(root.as_ref());
    let bytes: u64 = files
        .par_iter()
        .map_init(tree_sitter::Parser::new, |parser, (path, detection)| {
            let Ok(source) = std::fs::read(path) else {
                return 0;
            };
            if source.len() > 4 << 20 {
                return 0;
            }
            // `.h` headers are C or C++ by content, as codetable reads them.
            let language = detection.resolve(&source);
            parser.set_language(&language.grammar()).unwrap();
            let tree = parser.parse(&source, None);
            drop(tree);
            source.len() as u64
        })
        .sum();
    println!(
        "files {} bytes {} seconds {:.3}",
        files.len(),
        bytes,
        started.elapsed().as_secs_f64()
    );
}
