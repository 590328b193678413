//! The pipeline: walk, then read + parse + fingerprint in parallel, then match, then report.

use std::collections::BTreeSet;
use std::io::Read;
use std::time::Instant;

use codetable_fingerprint::{FileFingerprint, Fingerprinter};
use codetable_match::{CloneType, Entry, find_families};
use codetable_report::{
    Family, Instance, LanguageStats, Report, Settings, SimilarityRange, Skipped,
};
use codetable_syntax::{Language, SyntaxParser};
use rayon::prelude::*;

use crate::walk::{SourceFile, walk};
use crate::{AnalyzeError, AnalyzeOptions};

/// One file after parsing and fingerprinting.
struct Analyzed {
    relative: String,
    language: Language,
    lines: u64,
    bytes: u64,
    tokens: u64,
    has_errors: bool,
    not_utf8: bool,
    fingerprint: FileFingerprint,
}

/// Analyses the tree at `options.root`.
pub fn analyze(options: &AnalyzeOptions) -> Result<Report, AnalyzeError> {
    let started = Instant::now();
    let root = &options.root;
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(AnalyzeError::Root(root.clone(), "not a directory".into())),
        Err(e) => return Err(AnalyzeError::Root(root.clone(), e.to_string())),
    }

    let (files, mut skipped) = walk(options)?;
    let walked = Instant::now();

    let results: Vec<Result<Analyzed, Skipped>> = files
        .par_iter()
        .map_init(
            || {
                (
                    SyntaxParser::with_timeout(options.parse_timeout),
                    Fingerprinter::default(),
                )
            },
            |(parser, fingerprinter), file| analyze_file(parser, fingerprinter, file, options),
        )
        .collect();
    let mut analyzed = Vec::with_capacity(results.len());
    for result in results {
        match result {
            Ok(file) => analyzed.push(file),
            Err(skip) => skipped.push(skip),
        }
    }
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    let parsed = Instant::now();

    // Every fragment of every file, in (path, position) order.
    let mut owners: Vec<(u32, u32)> = Vec::new();
    let mut entries: Vec<Entry> = Vec::new();
    for (f, file) in analyzed.iter().enumerate() {
        let base = entries.len() as u32;
        for (i, fragment) in file.fingerprint.fragments.iter().enumerate() {
            owners.push((f as u32, i as u32));
            entries.push(Entry {
                exact_hash: fragment.exact_hash,
                renamed_hash: fragment.renamed_hash,
                group: file.language.family() as u32,
                sketch: &fragment.sketch,
                tokens: &file.fingerprint.symbols
                    [fragment.first_token as usize..fragment.end_token as usize],
                file: f as u32,
                first_token: fragment.first_token,
                parent: fragment.parent.map(|p| base + p),
                lines: fragment.line_count(),
            });
        }
    }
    let (families, match_stats) = find_families(&entries, &options.matching);
    let matched = Instant::now();

    let mut report = Report {
        root: root.display().to_string(),
        settings: Settings {
            min_tokens: options.fingerprint.min_tokens,
            min_lines: options.fingerprint.min_lines,
            min_similarity: options.matching.min_similarity,
            near_miss: options.matching.near_miss,
            languages: if options.languages.is_empty() {
                Language::ALL.iter().map(|l| l.name().to_string()).collect()
            } else {
                options
                    .languages
                    .iter()
                    .map(|l| l.name().to_string())
                    .collect()
            },
            include_generated: options.include_generated,
            max_file_size: options.max_file_size,
        },
        ..Report::default()
    };
    report.families = families
        .iter()
        .map(|family| {
            let instances: Vec<Instance> = family
                .members
                .iter()
                .map(|&m| {
                    let (f, i) = owners[m as usize];
                    let file = &analyzed[f as usize];
                    let fragment = &file.fingerprint.fragments[i as usize];
                    Instance {
                        path: file.relative.clone(),
                        start_line: fragment.start_line,
                        end_line: fragment.end_line,
                        tokens: fragment.token_count(),
                        category: fragment.category.name().into(),
                    }
                })
                .collect();
            let files: BTreeSet<&str> = family
                .members
                .iter()
                .map(|&m| analyzed[owners[m as usize].0 as usize].relative.as_str())
                .collect();
            let languages: BTreeSet<&str> = family
                .members
                .iter()
                .map(|&m| analyzed[owners[m as usize].0 as usize].language.name())
                .collect();
            let lines: Vec<u64> = instances
                .iter()
                .map(|i| (i.end_line - i.start_line + 1) as u64)
                .collect();
            Family {
                id: 0,
                clone_type: match family.clone_type {
                    CloneType::Type1 => "T1",
                    CloneType::Type2 => "T2",
                    CloneType::Type3 => "T3",
                }
                .into(),
                similarity: SimilarityRange {
                    min: round3(family.similarity_min),
                    max: round3(family.similarity_max),
                },
                category: most_common(instances.iter().map(|i| i.category.as_str())),
                language: languages.into_iter().collect::<Vec<_>>().join(","),
                duplicated_lines: lines.iter().sum::<u64>() - lines.iter().max().unwrap_or(&0),
                files: files.len() as u32,
                instances,
            }
        })
        .collect();
    report.families.sort_by(|a, b| {
        b.duplicated_lines
            .cmp(&a.duplicated_lines)
            .then(b.instances.len().cmp(&a.instances.len()))
            .then_with(|| {
                let key = |f: &Family| (f.instances[0].path.clone(), f.instances[0].start_line);
                key(a).cmp(&key(b))
            })
    });
    for (rank, family) in report.families.iter_mut().enumerate() {
        family.id = rank as u32 + 1;
    }

    let stats = &mut report.stats;
    for file in &analyzed {
        stats.files += 1;
        stats.lines += file.lines;
        stats.bytes += file.bytes;
        stats.tokens += file.tokens;
        stats.fragments += file.fingerprint.fragments.len() as u64;
        stats.files_with_syntax_errors += file.has_errors as u64;
        stats.files_not_utf8 += file.not_utf8 as u64;
        let language: &mut LanguageStats = stats
            .languages
            .entry(file.language.name().to_string())
            .or_default();
        language.files += 1;
        language.lines += file.lines;
        language.bytes += file.bytes;
    }
    stats.families = report.families.len() as u64;
    stats.duplicated_lines = report.families.iter().map(|f| f.duplicated_lines).sum();
    stats.skipped_files = skipped.len() as u64;
    stats.exact_classes = match_stats.exact_classes;
    stats.candidate_pairs = match_stats.candidate_pairs;
    stats.verified_pairs = match_stats.verified_pairs;
    stats.subsumed_families = match_stats.subsumed_families;
    report.skipped = skipped;

    let done = Instant::now();
    let ms = |a: Instant, b: Instant| round3((b - a).as_secs_f64() * 1e3);
    report.stats.timings_ms = codetable_report::Timings {
        walk: ms(started, walked),
        parse: ms(walked, parsed),
        matching: ms(parsed, matched),
        report: ms(matched, done),
        total: ms(started, done),
    };
    Ok(report)
}

fn analyze_file(
    parser: &mut SyntaxParser,
    fingerprinter: &mut Fingerprinter,
    file: &SourceFile,
    options: &AnalyzeOptions,
) -> Result<Analyzed, Skipped> {
    let skip = |reason: &str, detail: String| Skipped {
        path: file.relative.clone(),
        reason: reason.into(),
        detail,
    };
    let source = read_capped(file, options.max_file_size).map_err(|e| match e {
        ReadError::TooLarge(size) => skip(
            "too-large",
            format!(
                "{size} bytes is over the {} byte limit (--max-file-size)",
                options.max_file_size
            ),
        ),
        ReadError::Io(e) => skip("unreadable", e.to_string()),
    })?;
    if source[..source.len().min(8192)].contains(&0) {
        return Err(skip("binary", "contains NUL bytes".into()));
    }
    if !options.include_generated {
        if let Some(marker) = generated_marker(&source) {
            return Err(skip(
                "generated",
                format!("marked {marker:?} (--include-generated analyses it)"),
            ));
        }
        if let Some(why) = minified(&source) {
            return Err(skip(
                "minified",
                format!("{why} (--include-generated analyses it)"),
            ));
        }
    }
    let tree = parser
        .parse(file.language, &source)
        .map_err(|e| skip("parse-timeout", e.to_string()))?;
    let mut fingerprint = fingerprinter.fingerprint(tree, &source, &options.fingerprint);
    if fingerprint.fragments.is_empty() {
        fingerprint.symbols = Vec::new();
    }
    let lines = bytecount_lines(&source);
    Ok(Analyzed {
        relative: file.relative.clone(),
        language: file.language,
        lines,
        bytes: source.len() as u64,
        tokens: tree.tokens.len() as u64,
        has_errors: tree.has_errors,
        not_utf8: std::str::from_utf8(&source).is_err(),
        fingerprint,
    })
}

enum ReadError {
    TooLarge(u64),
    Io(std::io::Error),
}

/// Reads a file, refusing to read more than `max` bytes.
fn read_capped(file: &SourceFile, max: u64) -> Result<Vec<u8>, ReadError> {
    let handle = std::fs::File::open(&file.path).map_err(ReadError::Io)?;
    let size = handle.metadata().map_err(ReadError::Io)?.len();
    if size > max {
        return Err(ReadError::TooLarge(size));
    }
    let mut source = Vec::with_capacity(size as usize);
    handle
        .take(max + 1)
        .read_to_end(&mut source)
        .map_err(ReadError::Io)?;
    if source.len() as u64 > max {
        return Err(ReadError::TooLarge(source.len() as u64));
    }
    Ok(source)
}

/// The marker of a generated file, searched in its first 2 KiB. A marker in quotes or
/// backticks is a mention (as in documentation of this very check), not a marker.
fn generated_marker(source: &[u8]) -> Option<&'static str> {
    let head = &source[..source.len().min(2048)];
    let quote = |b: Option<&u8>| matches!(b, Some(b'`' | b'"' | b'\''));
    ["@generated", "DO NOT EDIT", "Code generated by"]
        .into_iter()
        .find(|marker| {
            let m = marker.len();
            head.windows(m).enumerate().any(|(i, w)| {
                w == marker.as_bytes()
                    && !quote(i.checked_sub(1).and_then(|j| head.get(j)))
                    && !quote(head.get(i + m))
            })
        })
}

/// Why a file looks minified: a line over 10,000 bytes, or lines over 250 bytes on average.
fn minified(source: &[u8]) -> Option<String> {
    let longest = source.split(|&b| b == b'\n').map(<[u8]>::len).max()?;
    if longest > 10_000 {
        return Some(format!("has a line of {longest} bytes"));
    }
    let lines = bytecount_lines(source).max(1);
    let average = source.len() as u64 / lines;
    (source.len() >= 2048 && average > 250)
        .then(|| format!("lines are {average} bytes long on average"))
}

fn bytecount_lines(source: &[u8]) -> u64 {
    let newlines = source.iter().filter(|&&b| b == b'\n').count() as u64;
    newlines + (!source.is_empty() && !source.ends_with(b"\n")) as u64
}

fn most_common<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for item in items {
        *counts.entry(item).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
        .map(|(k, _)| k.to_string())
        .unwrap_or_default()
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
