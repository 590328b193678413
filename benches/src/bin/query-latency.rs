//! Query latency: opens a pattern database once, then looks up the functions of sampled
//! files one fragment at a time and prints the latency percentiles.
//!
//! `query-latency DB SOURCE_DIR [QUERIES]`: every fragment of up to QUERIES (default
//! 2,000) functions taken from evenly spaced files under SOURCE_DIR is queried on its own
//! (fingerprinting the file is not counted; the lookup, the Bloom prescreen, the band
//! search and the LCS verification are).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use codetable::{PatternIndex, QueryInput, QueryOptions, fingerprint_input};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: query-latency DB SOURCE_DIR [QUERIES]");
        std::process::exit(2);
    }
    let db = PathBuf::from(&args[1]);
    let queries: usize = args.get(3).and_then(|q| q.parse().ok()).unwrap_or(2000);
    let opened = Instant::now();
    let index = PatternIndex::open(&db, Duration::from_secs(30)).expect("the database opens");
    println!(
        "opened {} ({} live fragments) in {:.0} ms",
        db.display(),
        index.fragments(),
        opened.elapsed().as_secs_f64() * 1e3
    );
    let files = codetable_benches::source_files(std::path::Path::new(&args[2]));
    let step = (files.len() / queries.max(1)).max(1);
    let options = QueryOptions::new(&db);
    let mut latencies = Vec::new();
    let mut found = 0usize;
    for (path, _) in files.iter().step_by(step) {
        if latencies.len() >= queries {
            break;
        }
        let Ok((table, _)) = fingerprint_input(&QueryInput::Path(path.clone()), &options) else {
            continue;
        };
        // One function per file: the first fragment with no parent (a top-level one).
        let Some(q) = (0..table.len() as u32)
            .find(|&r| table.parents[r as usize] == codetable_fingerprint::NO_PARENT)
        else {
            continue;
        };
        let started = Instant::now();
        let matches = index.matches(&table, q, options.min_similarity, options.top);
        latencies.push(started.elapsed());
        found += !matches.is_empty() as usize;
    }
    latencies.sort_unstable();
    let at = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{} queries ({} with a match): p50 {:.3} ms, p95 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        latencies.len(),
        found,
        ms(at(0.5)),
        ms(at(0.95)),
        ms(at(0.99)),
        ms(*latencies.last().unwrap())
    );
}
