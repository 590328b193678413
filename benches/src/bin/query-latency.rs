//! Query latency: opens a pattern database once, then looks up the functions of sampled
//! files one fragment at a time and prints the latency percentiles.
//!
//! `query-latency DB SOURCE_DIR [QUERIES] [lsh|exhaustive] [auto|gpu|cpu]`: the first
//! top-level fragment of up to QUERIES (default 2,000) evenly spaced files under
//! SOURCE_DIR is queried on its own (fingerprinting the file is not counted; the lookup,
//! the Bloom prescreen, the band search or the exhaustive scan of every stored sketch on
//! the chosen backend, and the LCS verification are; the first scan, which uploads the
//! stored sketches, is timed apart).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use codetable::{
    Backend, BackendChoice, PatternIndex, QueryInput, QueryOptions, allow_software_gpu,
    fingerprint_input,
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: query-latency DB SOURCE_DIR [QUERIES] [lsh|exhaustive] [auto|gpu|cpu]");
        std::process::exit(2);
    }
    let db = PathBuf::from(&args[1]);
    let queries: usize = args.get(3).and_then(|q| q.parse().ok()).unwrap_or(2000);
    let exhaustive = args.get(4).is_some_and(|s| s == "exhaustive");
    let choice = match args.get(5).map(String::as_str) {
        Some("gpu") => BackendChoice::Gpu,
        Some("cpu") => BackendChoice::Cpu,
        _ => BackendChoice::Auto,
    };
    let backend = Backend::select(choice, allow_software_gpu()).expect("the backend opens");
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
    let mut first_scan = None;
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
        let scanned = exhaustive.then(|| {
            let mut by_row = index
                .scan(&table, &[q], options.min_similarity, &backend)
                .expect("the scan runs");
            by_row.remove(&q).unwrap_or_default()
        });
        let matches = index.matches(
            &table,
            q,
            options.min_similarity,
            options.top,
            scanned.as_deref(),
        );
        if exhaustive && first_scan.is_none() {
            first_scan = Some(started.elapsed());
            continue;
        }
        latencies.push(started.elapsed());
        found += !matches.is_empty() as usize;
    }
    latencies.sort_unstable();
    let at = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    if let Some(first) = first_scan {
        println!(
            "exhaustive scans on {}{}: the first (uploading the sketches) took {:.0} ms",
            backend.name(),
            backend
                .adapter()
                .map(|a| format!(" ({a})"))
                .unwrap_or_default(),
            first.as_secs_f64() * 1e3
        );
    }
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
