//! "Where else does this code live?": the fragments of a file, a directory or a snippet,
//! matched against every tree of a pattern database.
//!
//! Exact matches go through each segment's Bloom filter, then a binary search of its
//! Type-2 key index; near-miss matches through its LSH band index (or, with
//! [`Strategy::Exhaustive`], a scan of every stored sketch on the CPU or the GPU), the
//! pair rule of the matcher (lengths, sketch agreement) and the same integer LCS
//! verification.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use codetable_fingerprint::{FingerprintConfig, Fingerprinter, FragmentKind, FragmentTable};
use codetable_match::{
    Backend, BackendChoice, MatchConfig, Probe, StoredSketches, Strategy, Verifier, needed_lcs,
    similarity_milli,
};
use codetable_store::segment::{BANDS, ROWS_PER_BAND, bloom_key};
use codetable_store::{Database, Segment, StoreError};
use codetable_syntax::{Category, Detection, Language, SyntaxParser};
use serde::Serialize;

use crate::{AnalyzeError, AnalyzeOptions, source};

/// What to look for.
#[derive(Clone, Debug)]
pub enum QueryInput {
    /// A source file, or a directory walked as `analyze` walks it.
    Path(PathBuf),
    /// Source text (a snippet), in the language given by [`QueryOptions::language`].
    Text(Vec<u8>),
}

/// How to query.
#[derive(Clone, Debug)]
pub struct QueryOptions {
    pub database: PathBuf,
    /// The language of a snippet, or of files whose name does not tell it.
    pub language: Option<Language>,
    /// Matches below this Dice similarity (thousandths) are not listed (default 700).
    pub min_similarity: u32,
    /// At most this many matches per fragment, best first.
    pub top: usize,
    pub fingerprint: FingerprintConfig,
    pub lock_wait: Duration,
    /// Near-miss candidates from the LSH band index (default) or from every stored sketch.
    pub candidates: Strategy,
    /// Where an exhaustive scan runs (the band index is read on the CPU).
    pub backend: BackendChoice,
    /// Let `auto` and `gpu` use a software GPU adapter.
    pub allow_software_gpu: bool,
}

impl QueryOptions {
    pub fn new(database: impl Into<PathBuf>) -> QueryOptions {
        QueryOptions {
            database: database.into(),
            language: None,
            min_similarity: 700,
            top: 10,
            fingerprint: FingerprintConfig::default(),
            lock_wait: codetable_store::db::DEFAULT_WAIT,
            candidates: Strategy::Lsh,
            backend: BackendChoice::Auto,
            allow_software_gpu: crate::allow_software_gpu(),
        }
    }
}

/// The answer to a query (its JSON form is versioned by `schema_version`).
#[derive(Clone, Debug, Default, Serialize)]
pub struct QueryReport {
    pub schema_version: u32,
    /// Fragments of the input that matched something, in input order.
    pub fragments: Vec<QueryFragment>,
    /// Fragments of the input that were looked up.
    pub fragments_queried: u64,
    /// `lsh` or `exhaustive`.
    pub candidates: String,
    /// Where the exhaustive scan ran: `cpu` or `gpu` (`cpu` for `lsh`).
    pub backend: String,
    pub milliseconds: f64,
}

/// One fragment of the input and where it occurs.
#[derive(Clone, Debug, Serialize)]
pub struct QueryFragment {
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    pub tokens: u32,
    pub category: String,
    pub matches: Vec<QueryMatch>,
}

/// One place a fragment occurs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueryMatch {
    pub tree: String,
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    pub start_byte: u32,
    pub end_byte: u32,
    pub tokens: u32,
    /// Dice similarity of the token streams (1 for exact and renamed copies).
    pub similarity: f64,
    /// `T1` (identical), `T2` (renamed) or `T3` (near-miss).
    pub clone_type: String,
}

/// A database opened for queries: its live segments and what each file slot is.
#[derive(Debug)]
pub struct PatternIndex {
    segments: Vec<(i64, Arc<Segment>)>,
    /// (segment, slot) → (tree name index, path) of every live file.
    live: HashMap<(i64, u32), (u32, Vec<u8>)>,
    trees: Vec<String>,
    matching: MatchConfig,
    /// Every live near-miss-matchable row's sketch, for exhaustive scans (built on first
    /// use); keys are `segment index << 32 | row`.
    stored: std::sync::OnceLock<StoredSketches>,
}

impl PatternIndex {
    /// Opens the database at `dir` and maps its segments (holding its shared lock only
    /// while doing so).
    pub fn open(dir: &Path, wait: Duration) -> Result<PatternIndex, StoreError> {
        let mut db = Database::open_reader(dir, wait)?;
        let trees = db.trees()?;
        let mut names = Vec::new();
        let mut live = HashMap::new();
        for (id, name, _) in &trees {
            names.push(name.clone());
            for file in db.files(*id)? {
                if let (Some(segment), Some(slot)) = (file.segment, file.slot) {
                    live.insert((segment, slot), (names.len() as u32 - 1, file.path));
                }
            }
        }
        let mut segments = Vec::new();
        for info in db.segments()? {
            segments.push((info.id, db.segment(info.id)?));
        }
        Ok(PatternIndex {
            segments,
            live,
            trees: names,
            matching: MatchConfig::default(),
            stored: Default::default(),
        })
    }

    /// Live fragments in the database.
    pub fn fragments(&self) -> u64 {
        self.segments
            .iter()
            .map(|(id, s)| {
                let files = s.columns().files;
                files
                    .iter()
                    .enumerate()
                    .filter(|(slot, _)| self.live.contains_key(&(*id, *slot as u32)))
                    .map(|(_, f)| f.rows as u64)
                    .sum::<u64>()
            })
            .sum()
    }

    /// The near-miss candidates of `rows` of `table` from a scan of all stored sketches
    /// (the pair rule at `min_similarity`), by row: (segment id, row) each.
    pub fn scan(
        &self,
        table: &FragmentTable,
        rows: &[u32],
        min_similarity: u32,
        backend: &Backend,
    ) -> Result<HashMap<u32, Vec<(i64, u32)>>, codetable_match::GpuError> {
        let stored = self.stored.get_or_init(|| {
            let mut all = Vec::new();
            for (k, (id, segment)) in self.segments.iter().enumerate() {
                let columns = segment.columns();
                for row in 0..columns.ids.len() {
                    let live = self.live.contains_key(&(*id, columns.spans[row].file));
                    if live && !columns.kinds[row].is(FragmentKind::STATEMENT_RUN) {
                        let key = (k as u64) << 32 | row as u64;
                        let tokens = columns.spans[row].tokens();
                        all.push((key, columns.kinds[row].group, tokens, columns.sketches[row]));
                    }
                }
            }
            StoredSketches::new(all)
        });
        let rows: Vec<u32> = rows
            .iter()
            .copied()
            .filter(|&r| !table.kinds[r as usize].is(FragmentKind::STATEMENT_RUN))
            .collect();
        let probes: Vec<Probe> = rows
            .iter()
            .map(|&r| Probe {
                group: table.kinds[r as usize].group,
                tokens: table.spans[r as usize].tokens(),
                sketch: table.sketches[r as usize],
            })
            .collect();
        let config = MatchConfig {
            min_similarity,
            ..self.matching.clone()
        };
        let mut by_row: HashMap<u32, Vec<(i64, u32)>> = HashMap::new();
        for hit in codetable_match::hits(stored, &probes, &config, backend)? {
            let segment = self.segments[(hit.key >> 32) as usize].0;
            by_row
                .entry(rows[hit.probe as usize])
                .or_default()
                .push((segment, hit.key as u32));
        }
        Ok(by_row)
    }

    /// Where row `q` of `table` occurs, best first. Near-miss candidates come from each
    /// segment's band index, or from `scanned` (a [`PatternIndex::scan`]'s) when given.
    pub fn matches(
        &self,
        table: &FragmentTable,
        q: u32,
        min_similarity: u32,
        top: usize,
        scanned: Option<&[(i64, u32)]>,
    ) -> Vec<QueryMatch> {
        let mut verifier = Verifier::default();
        let r = q as usize;
        let (group, length) = (table.kinds[r].group, table.spans[r].tokens());
        let config = MatchConfig {
            min_similarity,
            ..self.matching.clone()
        };
        let stream = table.stream(q);
        let mut found: Vec<(u32, String, i64, u32)> = Vec::new();
        let mut seen: HashSet<(i64, u32)> = HashSet::new();
        for (id, segment) in &self.segments {
            let columns = segment.columns();
            let is_live = |row: u32| {
                self.live
                    .contains_key(&(*id, columns.spans[row as usize].file))
            };
            // Exact and renamed copies: the Bloom filter rules most segments out.
            let renamed = table.renamed[r];
            if segment
                .bloom()
                .map(|b| b.contains(bloom_key(&renamed)))
                .unwrap_or(true)
            {
                for row in segment.rows_with_renamed_key(group, &renamed) {
                    let exact = columns.exact[row as usize] == table.exact[r];
                    if is_live(row) && seen.insert((*id, row)) {
                        let clone_type = if exact { "T1" } else { "T2" };
                        found.push((1000, clone_type.into(), *id, row));
                    }
                }
            }
            // Near-miss copies: rows sharing a band, the matcher's pair rule, then the LCS.
            if table.kinds[r].is(FragmentKind::STATEMENT_RUN) {
                continue;
            }
            let sketch = &table.sketches[r];
            let mut candidates: Vec<u32> = match scanned {
                Some(scanned) => scanned
                    .iter()
                    .filter(|(segment, _)| segment == id)
                    .map(|&(_, row)| row)
                    .collect(),
                None => (0..BANDS)
                    .filter(|&band| sketch.is_banded(band, ROWS_PER_BAND))
                    .flat_map(|band| segment.rows_in_band(group, sketch, band).iter().copied())
                    .collect(),
            };
            candidates.sort_unstable();
            candidates.dedup();
            for row in candidates {
                let other = columns.spans[row as usize].tokens();
                let (short, long) = (length.min(other), length.max(other));
                if long > config.max_length(short)
                    || sketch.agreement(&columns.sketches[row as usize])
                        < config.agreement_needed(short, long)
                    || seen.contains(&(*id, row))
                    || !is_live(row)
                {
                    continue;
                }
                let needed = needed_lcs(length, other, &config);
                if let Some(lcs) = verifier.lcs_at_least(q, stream, columns.stream(row), needed) {
                    seen.insert((*id, row));
                    found.push((similarity_milli(lcs, length, other), "T3".into(), *id, row));
                }
            }
        }
        found.sort_by(|a, b| b.0.cmp(&a.0).then((a.2, a.3).cmp(&(b.2, b.3))));
        // A place nested in (or overlapping) a better match of the same fragment is the
        // same occurrence seen again: only the better one is listed.
        let span_of = |id: i64, row: u32| {
            let segment = &self.segments.iter().find(|s| s.0 == id).unwrap().1;
            let span = segment.columns().spans[row as usize];
            (
                self.live[&(id, span.file)].clone(),
                span.start_byte,
                span.end_byte,
            )
        };
        let mut listed: Vec<((u32, Vec<u8>), u32, u32)> = Vec::new();
        found.retain(|&(_, _, id, row)| {
            if listed.len() >= top {
                return false;
            }
            let (file, start, end) = span_of(id, row);
            if listed
                .iter()
                .any(|(f, s, e)| *f == file && *s < end && start < *e)
            {
                return false;
            }
            listed.push((file, start, end));
            true
        });
        found
            .into_iter()
            .map(|(similarity, clone_type, id, row)| {
                let segment = &self.segments.iter().find(|s| s.0 == id).unwrap().1;
                let columns = segment.columns();
                let span = columns.spans[row as usize];
                let (tree, path) = &self.live[&(id, span.file)];
                QueryMatch {
                    tree: self.trees[*tree as usize].clone(),
                    path: codetable_report::report_path(path).0,
                    start_line: span.start_line,
                    end_line: span.end_line,
                    start_byte: span.start_byte,
                    end_byte: span.end_byte,
                    tokens: span.tokens(),
                    similarity: similarity as f64 / 1000.0,
                    clone_type,
                }
            })
            .collect()
    }
}

/// Fingerprints the input into a table: (table, path of each file index).
pub fn fingerprint_input(
    input: &QueryInput,
    options: &QueryOptions,
) -> Result<(FragmentTable, Vec<String>), AnalyzeError> {
    let mut sources: Vec<(String, Language, Vec<u8>)> = Vec::new();
    let bad = |why: String| AnalyzeError::InvalidOption(why);
    match input {
        QueryInput::Text(text) => {
            let language = options
                .language
                .ok_or_else(|| bad("a snippet on standard input needs --lang".into()))?;
            sources.push(("<stdin>".into(), language, text.clone()));
        }
        QueryInput::Path(path) if path.is_dir() => {
            let mut walk_options = AnalyzeOptions::new(path);
            walk_options.languages = options.language.into_iter().collect();
            let (files, _) = crate::walk::walk(&walk_options)?;
            for file in files {
                let Ok(raw) = std::fs::read(&file.path) else {
                    continue;
                };
                let Ok(text) = source::decode(raw) else {
                    continue;
                };
                let language = file.detection.resolve(&text.bytes);
                let (name, _) = codetable_report::report_path(&file.relative);
                sources.push((name, language, text.bytes));
            }
        }
        QueryInput::Path(path) => {
            let raw =
                std::fs::read(path).map_err(|e| AnalyzeError::Root(path.clone(), e.to_string()))?;
            let text = source::decode(raw)
                .map_err(|why| AnalyzeError::Root(path.clone(), why.to_string()))?;
            let language = match options.language {
                Some(language) => language,
                None => path
                    .file_name()
                    .and_then(Detection::from_file_name)
                    .map(|d| d.resolve(&text.bytes))
                    .ok_or_else(|| {
                        bad(format!(
                            "cannot tell the language of {} from its name; give --lang",
                            path.display()
                        ))
                    })?,
            };
            sources.push((path.display().to_string(), language, text.bytes));
        }
    }
    let mut parser = SyntaxParser::with_timeout(Duration::from_secs(20));
    let mut fingerprinter = Fingerprinter::default();
    let mut table = FragmentTable::default();
    let mut paths = Vec::new();
    for (path, language, bytes) in sources {
        let deadline = Instant::now() + Duration::from_secs(20);
        let Ok(tree) = parser.parse_until(language, &bytes, deadline) else {
            continue;
        };
        let Ok(fingerprint) =
            fingerprinter.fingerprint_until(tree, &bytes, &options.fingerprint, Some(deadline))
        else {
            continue;
        };
        let file = paths.len() as u32;
        table
            .push_file(
                file,
                path.as_bytes(),
                language.family() as u16,
                &fingerprint,
            )
            .map_err(|e| AnalyzeError::TooLarge(e.to_string()))?;
        paths.push(path);
    }
    Ok((table, paths))
}

/// Matches the input's fragments against the database at `options.database`.
pub fn query(input: &QueryInput, options: &QueryOptions) -> Result<QueryReport, AnalyzeError> {
    let started = Instant::now();
    let index = PatternIndex::open(&options.database, options.lock_wait)?;
    let (table, paths) = fingerprint_input(input, options)?;
    let mut backend = match options.candidates {
        Strategy::Lsh => Backend::Cpu,
        Strategy::Exhaustive => Backend::select(options.backend, options.allow_software_gpu)?,
    };
    let scanned = match options.candidates {
        Strategy::Lsh => None,
        Strategy::Exhaustive => {
            // As `analyze` does: under `auto`, a GPU that fails hands over to the CPU.
            let rows: Vec<u32> = (0..table.len() as u32).collect();
            let fall_back = options.backend == BackendChoice::Auto;
            let (scanned, _) = backend.run(fall_back, |backend| {
                index.scan(&table, &rows, options.min_similarity, backend)
            })?;
            Some(scanned)
        }
    };
    let mut report = QueryReport {
        schema_version: 1,
        fragments_queried: table.len() as u64,
        candidates: options.candidates.name().into(),
        backend: backend.name().into(),
        ..QueryReport::default()
    };
    // A nested fragment whose every place lies inside a place of an enclosing fragment
    // says nothing new: only fragments that occur somewhere of their own are listed.
    let mut listed: HashMap<u32, Vec<QueryMatch>> = HashMap::new();
    let inside = |m: &QueryMatch, outer: &QueryMatch| {
        m.tree == outer.tree
            && m.path == outer.path
            && outer.start_byte <= m.start_byte
            && m.end_byte <= outer.end_byte
    };
    for q in 0..table.len() as u32 {
        let near = scanned
            .as_ref()
            .map(|s| s.get(&q).map_or(&[][..], Vec::as_slice));
        let matches = index.matches(&table, q, options.min_similarity, options.top, near);
        if matches.is_empty() {
            continue;
        }
        let mut ancestor = table.parents[q as usize];
        let mut redundant = false;
        while ancestor != codetable_fingerprint::NO_PARENT && !redundant {
            if let Some(outer) = listed.get(&ancestor) {
                redundant = matches.iter().all(|m| outer.iter().any(|o| inside(m, o)));
            }
            ancestor = table.parents[ancestor as usize];
        }
        if redundant {
            continue;
        }
        listed.insert(q, matches.clone());
        let span = table.spans[q as usize];
        report.fragments.push(QueryFragment {
            path: paths[span.file as usize].clone(),
            start_line: span.start_line,
            end_line: span.end_line,
            tokens: span.tokens(),
            category: Category::ALL[table.kinds[q as usize].category as usize]
                .name()
                .into(),
            matches,
        });
    }
    report.milliseconds = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
    Ok(report)
}
