//! The pipeline: walk, then read + decode + parse + fingerprint in parallel (one bad file
//! never stops the run), then match, then report.

use std::collections::BTreeSet;
use std::io::Read;
use std::time::Instant;

use codetable_fingerprint::{FileFingerprint, Fingerprinter, FragmentKind, FragmentTable};
use codetable_match::{CloneType, RunConfig, RunFile, find_families, statement_runs};
use codetable_report::{
    Family, Instance, LanguageStats, Report, Settings, SimilarityRange, SkipReason, Skipped,
    SyntaxErrors, report_path,
};
use codetable_syntax::{Category, Language, SyntaxParser};
use rayon::prelude::*;

use crate::source;
use crate::walk::{SourceFile, walk};
use crate::{AnalyzeError, AnalyzeOptions};

/// One file after parsing and fingerprinting.
struct Analyzed {
    relative: Vec<u8>,
    language: Language,
    lines: u64,
    bytes: u64,
    tokens: u64,
    error_nodes: u32,
    first_error_line: u32,
    not_utf8: bool,
    utf16: bool,
    /// Fragments found in it (before its fingerprint moved into the table).
    fragments: u32,
    fingerprint: FileFingerprint,
}

/// What became of one file.
enum Outcome {
    Analyzed(Box<Analyzed>),
    Skipped(Skipped),
    /// A `.h` header whose content put it in a language left out by `--lang`.
    Filtered,
}

/// Analyses the tree at `options.root`.
pub fn analyze(options: &AnalyzeOptions) -> Result<Report, AnalyzeError> {
    let started = Instant::now();
    options.validate()?;
    let root = &options.root;
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(AnalyzeError::Root(root.clone(), "not a directory".into())),
        Err(e) => return Err(AnalyzeError::Root(root.clone(), e.to_string())),
    }

    let (files, mut skipped) = walk(options)?;
    let walked = Instant::now();

    // Files are analysed in parallel a chunk at a time and their fingerprints moved into
    // one table in path order, so the fingerprints of all files are never held beside it.
    // A chunk joins the table while the next one is analysed.
    let mut joined = Joined::default();
    let mut pending: Vec<Outcome> = Vec::new();
    for chunk in files.chunks(FILES_PER_CHUNK).chain([&[][..]]) {
        let (done, outcomes) = rayon::join(
            || joined.push(std::mem::take(&mut pending), &mut skipped),
            || {
                chunk
                    .par_iter()
                    .map_init(
                        || FileWorker::new(options),
                        |worker, file| worker.analyze_guarded(file, options),
                    )
                    .collect()
            },
        );
        done?;
        pending = outcomes;
    }
    let Joined {
        analyzed,
        mut table,
        run_files,
    } = joined;
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    let parsed = Instant::now();
    let runs = if options.statement_runs {
        let config = RunConfig {
            min_tokens: options.fingerprint.min_tokens,
            min_lines: options.fingerprint.min_lines,
        };
        statement_runs(&mut table, &run_files, &config)
    } else {
        0
    };
    table.statements = Vec::new();
    let (families, match_stats) = find_families(&table, &options.matching);
    let matched = Instant::now();
    let index = table.id_index();

    let mut report = Report {
        root: root.display().to_string(),
        settings: Settings {
            min_tokens: options.fingerprint.min_tokens,
            min_lines: options.fingerprint.min_lines,
            min_similarity: options.matching.min_similarity as f64 / 1000.0,
            near_miss: options.matching.near_miss,
            languages: if options.languages.is_empty() {
                Language::ALL.iter().map(|l| l.name().to_string()).collect()
            } else {
                let chosen: BTreeSet<Language> = options.languages.iter().copied().collect();
                chosen.iter().map(|l| l.name().to_string()).collect()
            },
            include_generated: options.include_generated,
            max_file_size: options.max_file_size,
        },
        ..Report::default()
    };
    let row = |id| index.row(id).expect("family members are rows") as usize;
    report.families = families
        .par_iter()
        .map(|family| {
            let instances: Vec<Instance> = family
                .members
                .iter()
                .map(|&m| {
                    let r = row(m);
                    let span = &table.spans[r];
                    let file = &analyzed[span.file as usize];
                    let kind = table.kinds[r];
                    let (path, path_bytes) = report_path(&file.relative);
                    Instance {
                        path,
                        path_bytes,
                        start_line: span.start_line,
                        end_line: span.end_line,
                        start_col: span.start_col,
                        end_col: span.end_col,
                        start_byte: span.start_byte,
                        end_byte: span.end_byte,
                        tokens: span.tokens(),
                        category: if kind.is(FragmentKind::STATEMENT_RUN) {
                            "statements".into()
                        } else {
                            Category::ALL[kind.category as usize].name().into()
                        },
                        fragment: format!("{:016x}", m.0),
                    }
                })
                .collect();
            let files: BTreeSet<u32> = family
                .members
                .iter()
                .map(|&m| table.spans[row(m)].file)
                .collect();
            let languages: BTreeSet<&str> = files
                .iter()
                .map(|&f| analyzed[f as usize].language.name())
                .collect();
            let lines: Vec<u64> = instances
                .iter()
                .map(|i| (i.end_line - i.start_line + 1) as u64)
                .collect();
            let t3 = family.clone_type == CloneType::Type3;
            Family {
                id: 0,
                key: format!("{:016x}", family.id),
                clone_type: match family.clone_type {
                    CloneType::Type1 => "T1",
                    CloneType::Type2 => "T2",
                    CloneType::Type3 => "T3",
                }
                .into(),
                similarity: SimilarityRange {
                    min: family.similarity_min as f64 / 1000.0,
                    max: family.similarity_max as f64 / 1000.0,
                },
                category: most_common(instances.iter().map(|i| i.category.as_str())),
                language: languages.into_iter().collect::<Vec<_>>().join(","),
                duplicated_lines: lines.iter().sum::<u64>() - lines.iter().max().unwrap_or(&0),
                files: files.len() as u32,
                containment: t3.then_some(family.containment_min as f64 / 1000.0),
                representative: family
                    .members
                    .iter()
                    .position(|&m| m == family.representative)
                    .unwrap_or(0) as u32,
                // Set to the container's rank below.
                within: family.within,
                subsumed: family.subsumed,
                instances,
            }
        })
        .collect();
    // Rank: families that stand alone first, by duplicated lines, then instances, then
    // place; `within` turns from an index into the container's rank.
    let mut order: Vec<usize> = (0..report.families.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&report.families[a], &report.families[b]);
        a.subsumed
            .cmp(&b.subsumed)
            .then(b.duplicated_lines.cmp(&a.duplicated_lines))
            .then(b.instances.len().cmp(&a.instances.len()))
            .then_with(|| {
                fn key(f: &Family) -> (&str, u32, u32) {
                    let first = &f.instances[0];
                    (&first.path, first.start_byte, first.end_byte)
                }
                key(a).cmp(&key(b))
            })
    });
    let mut rank = vec![0u32; order.len()];
    for (k, &f) in order.iter().enumerate() {
        rank[f] = k as u32 + 1;
    }
    let mut ranked: Vec<Option<Family>> = report.families.drain(..).map(Some).collect();
    report.families = order
        .iter()
        .map(|&f| {
            let mut family = ranked[f].take().expect("each family ranked once");
            family.id = rank[f];
            family.within = family.within.map(|g| rank[g as usize]);
            family
        })
        .collect();

    let stats = &mut report.stats;
    for file in &analyzed {
        stats.files += 1;
        stats.lines += file.lines;
        stats.bytes += file.bytes;
        stats.tokens += file.tokens;
        stats.fragments += file.fragments as u64;
        let has_errors = file.error_nodes > 0;
        stats.files_with_syntax_errors += has_errors as u64;
        stats.files_not_utf8 += file.not_utf8 as u64;
        stats.files_utf16 += file.utf16 as u64;
        let language: &mut LanguageStats = stats
            .languages
            .entry(file.language.name().to_string())
            .or_default();
        language.files += 1;
        language.lines += file.lines;
        language.bytes += file.bytes;
        language.files_with_syntax_errors += has_errors as u64;
        if has_errors {
            let (path, path_bytes) = report_path(&file.relative);
            report.syntax_errors.push(SyntaxErrors {
                path,
                path_bytes,
                language: file.language.name().into(),
                error_nodes: file.error_nodes,
                first_error_line: file.first_error_line,
            });
        }
    }
    let standing: Vec<&Family> = report.families.iter().filter(|f| !f.subsumed).collect();
    stats.families = standing.len() as u64;
    stats.duplicated_lines = standing.iter().map(|f| f.duplicated_lines).sum();
    stats.statement_runs = runs as u64;
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

/// Files analysed in parallel before their fingerprints join the table.
const FILES_PER_CHUNK: usize = 512;

/// The files analysed so far, their fragments in one table.
#[derive(Default)]
struct Joined {
    analyzed: Vec<Analyzed>,
    table: FragmentTable,
    run_files: Vec<RunFile>,
}

impl Joined {
    /// Moves the outcomes' fingerprints into the table, in order; skips go to `skipped`.
    fn push(
        &mut self,
        outcomes: Vec<Outcome>,
        skipped: &mut Vec<Skipped>,
    ) -> Result<(), AnalyzeError> {
        for outcome in outcomes {
            let mut file = match outcome {
                Outcome::Analyzed(file) => file,
                Outcome::Skipped(skip) => {
                    skipped.push(skip);
                    continue;
                }
                Outcome::Filtered => continue,
            };
            let f = self.analyzed.len() as u32;
            let symbols_at = self.table.symbols.len() as u32;
            let group = file.language.family() as u16;
            let first = self
                .table
                .push_file(f, &file.relative, group, &file.fingerprint)
                .map_err(|e| AnalyzeError::TooLarge(e.to_string()))?;
            self.run_files.push(RunFile {
                path: file.relative.clone(),
                group,
                symbols_at,
                rows: (first, self.table.len() as u32),
            });
            // The table holds what matching needs.
            file.fingerprint = FileFingerprint::default();
            self.analyzed.push(*file);
        }
        Ok(())
    }
}

/// One worker thread's parser and fingerprinter, reused from file to file.
struct FileWorker {
    parser: SyntaxParser,
    fingerprinter: Fingerprinter,
}

impl FileWorker {
    fn new(options: &AnalyzeOptions) -> FileWorker {
        FileWorker {
            parser: SyntaxParser::with_timeout(options.parse_timeout),
            fingerprinter: Fingerprinter::default(),
        }
    }

    /// [`FileWorker::analyze`], turning a panic into a skip of this file alone. The
    /// parser and fingerprinter are rebuilt after one: their state is suspect.
    fn analyze_guarded(&mut self, file: &SourceFile, options: &AnalyzeOptions) -> Outcome {
        guard(file, || self.analyze(file, options)).unwrap_or_else(|skip| {
            *self = FileWorker::new(options);
            Outcome::Skipped(skip)
        })
    }

    fn analyze(&mut self, file: &SourceFile, options: &AnalyzeOptions) -> Outcome {
        let deadline = Instant::now() + options.parse_timeout;
        let timed_out = || {
            file.skip(
                SkipReason::ParseTimeout,
                format!(
                    "its analysis took longer than {:?} (--parse-timeout)",
                    options.parse_timeout
                ),
            )
        };
        let raw = match read_capped(file, options.max_file_size) {
            Ok(raw) => raw,
            Err(ReadError::TooLarge(size)) => {
                return Outcome::Skipped(file.skip(
                    SkipReason::TooLarge,
                    format!(
                        "{size} bytes is over the {} byte limit (--max-file-size)",
                        options.max_file_size
                    ),
                ));
            }
            Err(ReadError::Io(e)) => {
                return Outcome::Skipped(file.skip(SkipReason::Unreadable, e.to_string()));
            }
        };
        let text = match source::decode(raw) {
            Ok(text) => text,
            Err(why) => return Outcome::Skipped(file.skip(SkipReason::Binary, why.into())),
        };
        let source = &text.bytes;
        let language = file.detection.resolve(source);
        if !options.languages.is_empty() && !options.languages.contains(&language) {
            return Outcome::Filtered;
        }
        if !options.include_generated {
            if let Some(marker) = source::generated_marker(source, language) {
                return Outcome::Skipped(file.skip(
                    SkipReason::Generated,
                    format!("marked {marker:?} (--include-generated analyses it)"),
                ));
            }
            if let Some(why) = source::minified(source) {
                return Outcome::Skipped(file.skip(
                    SkipReason::Minified,
                    format!("{why} (--include-generated analyses it)"),
                ));
            }
        }
        let Ok(tree) = self.parser.parse_until(language, source, deadline) else {
            return Outcome::Skipped(timed_out());
        };
        let Ok(mut fingerprint) = self.fingerprinter.fingerprint_until(
            tree,
            source,
            &options.fingerprint,
            Some(deadline),
        ) else {
            return Outcome::Skipped(timed_out());
        };
        if fingerprint.fragments.is_empty() && fingerprint.statements.is_empty() {
            fingerprint.symbols = Vec::new();
        }
        Outcome::Analyzed(Box::new(Analyzed {
            relative: file.relative.clone(),
            language,
            lines: source::line_count(source),
            bytes: source.len() as u64,
            tokens: tree.tokens.len() as u64,
            error_nodes: tree.error_nodes.max(tree.has_errors as u32),
            first_error_line: tree.first_error_line,
            not_utf8: std::str::from_utf8(source).is_err(),
            utf16: text.utf16,
            fragments: fingerprint.fragments.len() as u32,
            fingerprint,
        }))
    }
}

/// Runs `work` on one file; a panic becomes an internal-error skip of that file.
fn guard<T>(file: &SourceFile, work: impl FnOnce() -> T) -> Result<T, Skipped> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).map_err(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        file.skip(
            SkipReason::InternalError,
            format!("codetable failed on this file ({message}); please report it"),
        )
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

#[cfg(test)]
mod tests {
    use super::*;
    use codetable_syntax::Detection;

    #[test]
    fn a_panic_on_one_file_becomes_its_skip() {
        let file = SourceFile {
            path: "x.rs".into(),
            relative: b"x.rs".to_vec(),
            detection: Detection::Known(Language::Rust),
        };
        let skip = guard(&file, || -> u32 { panic!("boom") }).unwrap_err();
        assert_eq!(skip.reason, SkipReason::InternalError);
        assert!(skip.detail.contains("boom"), "{}", skip.detail);
        assert_eq!(guard(&file, || 7).unwrap(), 7);
    }
}
