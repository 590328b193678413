//! The pipeline: walk, then read + decode + parse + fingerprint in parallel (one bad file
//! never stops the run), then match, then report.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Read;
use std::sync::Arc;
use std::time::Instant;

use codetable_fingerprint::{FileFingerprint, Fingerprinter, FragmentKind, FragmentTable};
use codetable_match::{CloneType, RunFile};
use codetable_report::{
    Family, Instance, LanguageStats, Report, Settings, SimilarityRange, SkipReason, Skipped,
    SyntaxErrors, Work, report_path,
};
use codetable_store::db::ANALYZED;
use codetable_store::{Commit, Database, FilePart, FileStats, FileUpdate, Segment, StoredFile};
use codetable_syntax::{Category, Language, SyntaxParser};
use rayon::prelude::*;

use crate::matching::{Changes, Matched, Selected, clone_type_name, match_tree, stored_matching};
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
    /// The file as read, when a database tracks it.
    seen: Option<Seen>,
    /// Where the database held the file's records before (segment, slot).
    previous: Option<(i64, u32)>,
}

/// A file's size, modification time and content hash when this run read it.
#[derive(Clone, Copy, Debug)]
struct Seen {
    size: u64,
    /// Zero when the file changed too recently to trust its time (it is then hashed again
    /// next time).
    mtime_ns: i64,
    hash: [u8; 16],
}

/// What became of one file.
enum Outcome<'a> {
    Analyzed(Box<Analyzed>),
    /// A skip; with `Seen`, one that holds until the file changes (and is stored).
    Skipped(Skipped, Option<Seen>),
    /// A `.h` header whose content put it in a language left out by `--lang`.
    Filtered,
    /// Unchanged since the database saw it; with `Seen`, its time moved but not its content.
    Reused(&'a StoredFile, Option<Seen>),
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
    let mut backend = Selected::new(options)?;

    let mut database = match &options.database {
        Some(dir) => Some(Database::open_writer_with(
            dir,
            options.lock_wait,
            options.rebuild,
        )?),
        None => None,
    };
    let tree_name = options.tree_name();
    let fingerprint_settings = options.fingerprint_settings();
    let match_settings = options.match_settings();
    // Every file the database holds for the tree (those the walk no longer finds, or that
    // are no longer analysed, are removed); their records are reused only when they were
    // made under the same fingerprint settings.
    let (tree, stored_files, segments, same_settings) = match &mut database {
        Some(db) => {
            let tree = db.tree(&tree_name)?;
            let files = match &tree {
                Some(t) => db.files(t.id)?,
                None => Vec::new(),
            };
            let same = tree
                .as_ref()
                .is_some_and(|t| t.fingerprint_settings == fingerprint_settings);
            let mut segments = HashMap::new();
            for id in files.iter().filter_map(|f| f.segment).filter(|_| same) {
                if let std::collections::hash_map::Entry::Vacant(e) = segments.entry(id) {
                    e.insert(db.segment(id)?);
                }
            }
            (tree, files, segments, same)
        }
        None => (None, Vec::new(), HashMap::new(), false),
    };
    let stored: HashMap<&[u8], &StoredFile> = stored_files
        .iter()
        .filter(|_| same_settings)
        .map(|f| (f.path.as_slice(), f))
        .collect();
    let tracking = database.is_some();

    let (files, mut skipped) = walk(options)?;
    let walked = Instant::now();

    // Files are analysed in parallel a chunk at a time and their fingerprints moved into
    // one table in path order, so the fingerprints of all files are never held beside it.
    // A chunk joins the table while the next one is analysed.
    let mut joined = Joined {
        analyzed: Vec::new(),
        table: FragmentTable::default(),
        run_files: Vec::new(),
        segments: &segments,
        parts: Vec::new(),
        updates: Vec::new(),
        kept: HashSet::new(),
        reused_analyzed: HashSet::new(),
        parsed_files: Vec::new(),
        parsed_previous: Vec::new(),
        reused: 0,
    };
    let mut pending: Vec<Outcome> = Vec::new();
    for chunk in files.chunks(FILES_PER_CHUNK).chain([&[][..]]) {
        let (done, outcomes) = rayon::join(
            || joined.push(std::mem::take(&mut pending), &mut skipped),
            || {
                chunk
                    .par_iter()
                    .map_init(
                        || FileWorker::new(options),
                        |worker, file| {
                            let previous = stored.get(file.relative.as_slice()).copied();
                            worker.analyze_guarded(file, options, previous, tracking)
                        },
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
        parts,
        updates,
        kept,
        reused,
        reused_analyzed,
        parsed_files,
        parsed_previous,
        ..
    } = joined;
    skipped.sort_by(|a, b| a.path.cmp(&b.path));
    let parsed = Instant::now();
    let previous = match &tree {
        Some(t)
            if options.find_families
                && same_settings
                && t.match_settings.as_deref() == Some(match_settings.as_str()) =>
        {
            Some(t)
        }
        _ => None,
    };
    let changes = Changes {
        parts: &parts,
        parsed_files: &parsed_files,
        parsed_previous: &parsed_previous,
        stored_files: &stored_files,
        reused_analyzed: &reused_analyzed,
        segments: &segments,
    };
    let stored = match (&database, previous) {
        (Some(db), Some(previous)) if changes.nothing_changed() => {
            stored_matching(&mut table, analyzed.len(), db, previous)?
        }
        _ => None,
    };
    let matched = match stored {
        Some(matched) => matched,
        None => match_tree(
            &mut table,
            &run_files,
            options,
            &mut backend,
            database.as_ref().zip(previous),
            &changes,
        )?,
    };
    let Matched {
        families,
        counts,
        state,
    } = matched;
    let matched_at = Instant::now();

    let files_parsed = parts.len() as u64;
    let fragments_matched = counts.fragments_matched;
    if let Some(db) = &mut database {
        let removed = stored_files
            .iter()
            .filter(|f| !kept.contains(f.path.as_slice()))
            .map(|f| f.path.clone())
            .collect();
        db.commit(Commit {
            tree: tree_name.clone(),
            root: root.display().to_string(),
            command: if options.find_families {
                "analyze"
            } else {
                "index"
            }
            .into(),
            fingerprint_settings: fingerprint_settings.clone(),
            parts,
            table: Some(&table),
            categories: &CATEGORY_NAMES,
            files: updates,
            removed,
            matching: state,
            started: Some(started),
            files_reused: reused,
            fragments_rematched: fragments_matched,
        })?;
    }
    drop(database);
    table.statements = Vec::new();
    let stored_at = Instant::now();
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
            candidates: options.matching.candidates.name().into(),
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
                clone_type: clone_type_name(family.clone_type).into(),
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
    stats.statement_runs = counts.statement_runs;
    stats.skipped_files = skipped.len() as u64;
    stats.exact_classes = counts.exact_classes;
    stats.verified_pairs = counts.verified_pairs;
    stats.subsumed_families = report.families.iter().filter(|f| f.subsumed).count() as u64;
    stats.work = Work {
        files_parsed: if tracking {
            files_parsed
        } else {
            analyzed.len() as u64
        },
        files_reused: reused,
        fragments_matched,
        candidate_pairs: counts.candidate_pairs,
    };
    report.skipped = skipped;
    stats.backend = codetable_report::BackendInfo {
        name: backend.backend.name().into(),
        requested: options.backend.name().into(),
        adapter: backend.backend.adapter().map(|a| a.to_string()),
        fallback: backend.fallback,
    };

    let done = Instant::now();
    let ms = |a: Instant, b: Instant| round3((b - a).as_secs_f64() * 1e3);
    report.stats.timings_ms = codetable_report::Timings {
        walk: ms(started, walked),
        parse: ms(walked, parsed),
        matching: ms(parsed, matched_at),
        store: ms(matched_at, stored_at),
        report: ms(stored_at, done),
        total: ms(started, done),
    };
    Ok(report)
}

/// Category names by index, for the database's `fragments` table.
const CATEGORY_NAMES: [&str; Category::ALL.len()] = {
    let mut names = [""; Category::ALL.len()];
    let mut k = 0;
    while k < names.len() {
        names[k] = Category::ALL[k].name();
        k += 1;
    }
    names
};

/// Files analysed in parallel before their fingerprints join the table.
const FILES_PER_CHUNK: usize = 512;

/// The files analysed so far, their fragments in one table, and what the database needs
/// to know of them.
struct Joined<'a> {
    analyzed: Vec<Analyzed>,
    table: FragmentTable,
    run_files: Vec<RunFile>,
    /// The live segments the database named at the start.
    segments: &'a HashMap<i64, Arc<Segment>>,
    /// Where each file analysed now lies in the table (one part of the new segment each).
    parts: Vec<FilePart>,
    /// Files the database learns of or must update.
    updates: Vec<FileUpdate>,
    /// Paths the database keeps (all others it held are removed).
    kept: HashSet<Vec<u8>>,
    /// Paths whose records came from the database as they were.
    reused_analyzed: HashSet<Vec<u8>>,
    /// File numbers of the files analysed now (one per part), and where their records were
    /// before.
    parsed_files: Vec<u32>,
    parsed_previous: Vec<Option<(i64, u32)>>,
    reused: u64,
}

impl Joined<'_> {
    /// Moves the outcomes' fingerprints into the table, in order; skips go to `skipped`.
    fn push(
        &mut self,
        outcomes: Vec<Outcome>,
        skipped: &mut Vec<Skipped>,
    ) -> Result<(), AnalyzeError> {
        for outcome in outcomes {
            match outcome {
                Outcome::Analyzed(file) => self.push_analyzed(*file)?,
                Outcome::Reused(stored, seen) => self.push_reused(stored, seen, skipped)?,
                Outcome::Skipped(skip, seen) => {
                    if let Some(seen) = seen {
                        let path = skip_path(&skip);
                        let file = stored_file(
                            path,
                            seen,
                            None,
                            skip.reason.name(),
                            Some(skip.detail.clone()),
                        );
                        self.remember(file, None);
                    }
                    skipped.push(skip);
                }
                Outcome::Filtered => {}
            }
        }
        Ok(())
    }

    fn push_analyzed(&mut self, mut file: Analyzed) -> Result<(), AnalyzeError> {
        let f = self.analyzed.len() as u32;
        let symbols_at = self.table.symbols.len() as u32;
        let statements_at = self.table.statements.len() as u32;
        let group = file.language.family() as u16;
        let first = self
            .table
            .push_file(f, &file.relative, group, &file.fingerprint)
            .map_err(|e| AnalyzeError::TooLarge(e.to_string()))?;
        let rows = first..self.table.len() as u32;
        self.run_files.push(RunFile {
            path: file.relative.clone(),
            group,
            symbols_at,
            rows: (rows.start, rows.end),
        });
        if let Some(seen) = file.seen {
            self.parsed_files.push(f);
            self.parsed_previous.push(file.previous);
            self.parts.push(FilePart {
                rows,
                symbols: symbols_at..self.table.symbols.len() as u32,
                statements: statements_at..self.table.statements.len() as u32,
            });
            let mut stored = stored_file(
                &file.relative,
                seen,
                Some(file.language.name().into()),
                ANALYZED,
                None,
            );
            stored.stats = FileStats {
                lines: file.lines,
                bytes: file.bytes,
                tokens: file.tokens,
                error_nodes: file.error_nodes,
                first_error_line: file.first_error_line,
                not_utf8: file.not_utf8,
                utf16: file.utf16,
                fragments: file.fragments,
            };
            self.remember(stored, Some(self.parts.len() - 1));
        }
        // The table holds what matching needs.
        file.fingerprint = FileFingerprint::default();
        self.analyzed.push(file);
        Ok(())
    }

    fn push_reused(
        &mut self,
        stored: &StoredFile,
        seen: Option<Seen>,
        skipped: &mut Vec<Skipped>,
    ) -> Result<(), AnalyzeError> {
        self.reused += 1;
        self.kept.insert(stored.path.clone());
        if let Some(seen) = seen {
            let mut moved = stored.clone();
            moved.mtime_ns = seen.mtime_ns;
            self.updates.push(FileUpdate {
                file: moved,
                part: None,
            });
        }
        if stored.status != ANALYZED {
            if let Some(reason) = SkipReason::from_name(&stored.status) {
                skipped.push(crate::walk::skipped(
                    &stored.path,
                    reason,
                    stored.detail.clone().unwrap_or_default(),
                ));
            }
            return Ok(());
        }
        let language = stored
            .language
            .as_deref()
            .and_then(Language::from_name)
            .expect("reusable files have a known language");
        let (segment, slot) = (
            stored.segment.expect("analysed files have a segment"),
            stored.slot.unwrap_or(u32::MAX),
        );
        let segment = &self.segments[&segment];
        let columns = segment.columns();
        let entry = columns.files.get(slot as usize).ok_or_else(|| {
            AnalyzeError::Database(codetable_store::StoreError::Corrupt {
                path: segment.path().to_path_buf(),
                what: format!("slot {slot} named by the index is not in it"),
            })
        })?;
        let f = self.analyzed.len() as u32;
        let FilePart { rows, symbols, .. } =
            codetable_store::append_file(&mut self.table, &columns, entry, f)?;
        self.reused_analyzed.insert(stored.path.clone());
        self.run_files.push(RunFile {
            path: stored.path.clone(),
            group: language.family() as u16,
            symbols_at: symbols.start,
            rows: (rows.start, rows.end),
        });
        let s = stored.stats;
        self.analyzed.push(Analyzed {
            relative: stored.path.clone(),
            language,
            lines: s.lines,
            bytes: s.bytes,
            tokens: s.tokens,
            error_nodes: s.error_nodes,
            first_error_line: s.first_error_line,
            not_utf8: s.not_utf8,
            utf16: s.utf16,
            fragments: s.fragments,
            fingerprint: FileFingerprint::default(),
            seen: None,
            previous: None,
        });
        Ok(())
    }

    fn remember(&mut self, file: StoredFile, part: Option<usize>) {
        self.kept.insert(file.path.clone());
        self.updates.push(FileUpdate { file, part });
    }
}

fn skip_path(skip: &Skipped) -> &[u8] {
    skip.path_bytes.as_deref().unwrap_or(skip.path.as_bytes())
}

fn stored_file(
    path: &[u8],
    seen: Seen,
    language: Option<String>,
    status: &str,
    detail: Option<String>,
) -> StoredFile {
    StoredFile {
        path: path.to_vec(),
        size: seen.size,
        mtime_ns: seen.mtime_ns,
        content_hash: Some(seen.hash),
        language,
        status: status.into(),
        detail,
        ..StoredFile::default()
    }
}

/// Whether a stored file's outcome holds for as long as its content is unchanged.
fn reusable(stored: &StoredFile) -> bool {
    match stored.status.as_str() {
        ANALYZED => {
            stored.segment.is_some()
                && stored
                    .language
                    .as_deref()
                    .and_then(Language::from_name)
                    .is_some()
        }
        status => matches!(
            SkipReason::from_name(status),
            Some(SkipReason::Binary | SkipReason::Generated | SkipReason::Minified)
        ),
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
    fn analyze_guarded<'a>(
        &mut self,
        file: &SourceFile,
        options: &AnalyzeOptions,
        stored: Option<&'a StoredFile>,
        tracking: bool,
    ) -> Outcome<'a> {
        guard(file, || self.analyze(file, options, stored, tracking)).unwrap_or_else(|skip| {
            *self = FileWorker::new(options);
            Outcome::Skipped(skip, None)
        })
    }

    /// Reads, parses and fingerprints one file, or takes it from the database when its
    /// size and time, or else its content, are what the database last saw.
    fn analyze<'a>(
        &mut self,
        file: &SourceFile,
        options: &AnalyzeOptions,
        stored: Option<&'a StoredFile>,
        tracking: bool,
    ) -> Outcome<'a> {
        let stored = stored.filter(|s| reusable(s));
        if let Some(s) = stored
            && let Ok(meta) = std::fs::metadata(&file.path)
            && s.mtime_ns != 0
            && s.size == meta.len()
            && s.mtime_ns == mtime_ns(&meta)
        {
            return Outcome::Reused(s, None);
        }
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
        let (raw, modified) = match read_capped(file, options.max_file_size) {
            Ok(read) => read,
            Err(ReadError::TooLarge(size)) => {
                return Outcome::Skipped(
                    file.skip(
                        SkipReason::TooLarge,
                        format!(
                            "{size} bytes is over the {} byte limit (--max-file-size)",
                            options.max_file_size
                        ),
                    ),
                    None,
                );
            }
            Err(ReadError::Io(e)) => {
                return Outcome::Skipped(file.skip(SkipReason::Unreadable, e.to_string()), None);
            }
        };
        let seen = tracking.then(|| Seen {
            size: raw.len() as u64,
            mtime_ns: modified,
            hash: xxhash_rust::xxh3::xxh3_128(&raw).to_le_bytes(),
        });
        if let (Some(s), Some(seen)) = (stored, seen)
            && s.content_hash == Some(seen.hash)
        {
            return Outcome::Reused(s, Some(seen));
        }
        let text = match source::decode(raw) {
            Ok(text) => text,
            Err(why) => {
                return Outcome::Skipped(file.skip(SkipReason::Binary, why.into()), seen);
            }
        };
        let source = &text.bytes;
        let language = file.detection.resolve(source);
        if !options.languages.is_empty() && !options.languages.contains(&language) {
            return Outcome::Filtered;
        }
        if !options.include_generated {
            if let Some(marker) = source::generated_marker(source, language) {
                return Outcome::Skipped(
                    file.skip(
                        SkipReason::Generated,
                        format!("marked {marker:?} (--include-generated analyses it)"),
                    ),
                    seen,
                );
            }
            if let Some(why) = source::minified(source) {
                return Outcome::Skipped(
                    file.skip(
                        SkipReason::Minified,
                        format!("{why} (--include-generated analyses it)"),
                    ),
                    seen,
                );
            }
        }
        let Ok(tree) = self.parser.parse_until(language, source, deadline) else {
            return Outcome::Skipped(timed_out(), None);
        };
        let Ok(mut fingerprint) = self.fingerprinter.fingerprint_until(
            tree,
            source,
            &options.fingerprint,
            Some(deadline),
        ) else {
            return Outcome::Skipped(timed_out(), None);
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
            seen,
            previous: stored.and_then(|s| Some((s.segment?, s.slot?))),
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

/// A file's modification time in nanoseconds, or 0 (not to be trusted) when it is within
/// two seconds of now: a change in the same clock tick would not move it.
fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    let Ok(modified) = meta.modified() else {
        return 0;
    };
    let since_epoch = |t: std::time::SystemTime| {
        t.duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i64)
            .unwrap_or(0)
    };
    let (m, now) = (
        since_epoch(modified),
        since_epoch(std::time::SystemTime::now()),
    );
    if now - m < 2_000_000_000 { 0 } else { m }
}

/// Reads a file, refusing to read more than `max` bytes; with its modification time
/// ([`mtime_ns`]).
fn read_capped(file: &SourceFile, max: u64) -> Result<(Vec<u8>, i64), ReadError> {
    let handle = std::fs::File::open(&file.path).map_err(ReadError::Io)?;
    let meta = handle.metadata().map_err(ReadError::Io)?;
    let size = meta.len();
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
    Ok((source, mtime_ns(&meta)))
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
