//! The matching stage of a run: statement runs, exact classes, near-miss edges and
//! families, done again only where the files changed since the database's last run of the
//! tree, or read from the database when nothing changed. Whatever the path, the families
//! are those of a cold run (see ARCHITECTURE.md, "An incremental run is a cold run").

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use codetable_fingerprint::{FragmentId, FragmentTable, Hash128, KeySet, symbol};
use codetable_match::{
    Backend, BackendChoice, CloneType, Edge, Family, Previous, RunConfig, RunFile, exact_classes,
    families, families_since, near_edges, near_edges_touching, representatives, statement_runs,
};
use codetable_store::{
    Database, FilePart, MatchState, Matching, Segment, StoredFamily, StoredFile, TreeState,
};
use rayon::prelude::*;

use crate::{AnalyzeError, AnalyzeOptions};

/// What changed since the database's last run of the tree.
pub(crate) struct Changes<'a> {
    /// The files analysed now, as rows of the table, and their file numbers.
    pub(crate) parts: &'a [FilePart],
    pub(crate) parsed_files: &'a [u32],
    /// Where each of those files' records were before (segment, slot), if anywhere.
    pub(crate) parsed_previous: &'a [Option<(i64, u32)>],
    pub(crate) stored_files: &'a [StoredFile],
    /// Paths whose stored records were reused as they were.
    pub(crate) reused_analyzed: &'a HashSet<Vec<u8>>,
    pub(crate) segments: &'a HashMap<i64, Arc<Segment>>,
}

impl Changes<'_> {
    /// Whether the table holds exactly the fragments the database last matched.
    pub(crate) fn nothing_changed(&self) -> bool {
        self.parts.is_empty()
            && self
                .stored_files
                .iter()
                .all(|f| f.segment.is_none() || self.reused_analyzed.contains(&f.path))
    }

    /// The fragments an edit touched, by row (those of files analysed now that are new or
    /// moved: same content id but another place counts as moved), and the (group, Type-2
    /// key) of every fragment added, moved or gone: the classes an edit can have changed.
    /// A fragment of an edited file with the same id, place and kind as before (and at most
    /// `symbol::MAX_DISTANCE` tokens, so that its stream depends on its own tokens alone)
    /// is not touched: its pairs with other untouched fragments are what they were.
    fn diff(&self, table: &FragmentTable) -> (Vec<bool>, KeySet<(u16, Hash128)>) {
        let mut touched = vec![false; table.len()];
        let mut keys: KeySet<(u16, Hash128)> = KeySet::default();
        let mut diffed: HashSet<(i64, u32)> = HashSet::new();
        let place = |s: &codetable_fingerprint::Span| {
            (
                s.first_token,
                s.end_token,
                s.start_byte,
                s.end_byte,
                s.start_line,
                s.end_line,
            )
        };
        for (part, previous) in self.parts.iter().zip(self.parsed_previous) {
            let old = previous.and_then(|(segment, slot)| {
                let columns = self.segments.get(&segment)?.columns();
                let entry = *columns.files.get(slot as usize)?;
                diffed.insert((segment, slot));
                Some((columns, entry))
            });
            let mut before: KeySet<_> = KeySet::default();
            if let Some((columns, entry)) = &old {
                before.extend(entry.rows().map(|r| {
                    let r = r as usize;
                    (columns.ids[r], place(&columns.spans[r]), columns.kinds[r])
                }));
            }
            let mut now: KeySet<_> = KeySet::default();
            for r in part.rows.clone() {
                let r = r as usize;
                let this = (table.ids[r], place(&table.spans[r]), table.kinds[r]);
                // Past MAX_DISTANCE tokens a stream's symbols can depend on names before
                // the fragment (distances are capped), so a long fragment is touched too.
                let long = table.spans[r].tokens() > symbol::MAX_DISTANCE as u32;
                if long || !before.contains(&this) {
                    touched[r] = true;
                    keys.insert((table.kinds[r].group, table.renamed[r]));
                }
                now.insert(this);
            }
            if let Some((columns, entry)) = &old {
                for r in entry.rows() {
                    let r = r as usize;
                    if !now.contains(&(columns.ids[r], place(&columns.spans[r]), columns.kinds[r]))
                    {
                        keys.insert((columns.kinds[r].group, columns.renamed[r]));
                    }
                }
            }
        }
        // Files removed, or no longer analysed: all their fragments are gone.
        for file in self.stored_files {
            let (Some(segment), Some(slot)) = (file.segment, file.slot) else {
                continue;
            };
            if self.reused_analyzed.contains(&file.path) || diffed.contains(&(segment, slot)) {
                continue;
            }
            let columns = self.segments[&segment].columns();
            if let Some(entry) = columns.files.get(slot as usize) {
                keys.extend(
                    entry
                        .rows()
                        .map(|r| (columns.kinds[r as usize].group, columns.renamed[r as usize])),
                );
            }
        }
        (touched, keys)
    }
}

/// The counts of a matching, for the report.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct MatchCounts {
    pub(crate) statement_runs: u64,
    pub(crate) exact_classes: u64,
    pub(crate) verified_pairs: u64,
    /// Candidate pairs this run examined.
    pub(crate) candidate_pairs: u64,
    /// Representatives this run matched against the others.
    pub(crate) fragments_matched: u64,
}

/// The outcome of matching, and what the database keeps of it.
pub(crate) struct Matched {
    pub(crate) families: Vec<Family>,
    pub(crate) counts: MatchCounts,
    pub(crate) state: Matching,
}

/// The stored matching of a tree whose fragments are exactly those last matched: its
/// statement-run rows join the table and its families are the answer (`None` if they do
/// not fit the table, which then is matched again).
pub(crate) fn stored_matching(
    table: &mut FragmentTable,
    files: usize,
    db: &Database,
    previous: &TreeState,
) -> Result<Option<Matched>, AnalyzeError> {
    let (Some(runs), Some(exact_classes)) = (&previous.statement_runs, previous.exact_classes)
    else {
        return Ok(None);
    };
    let file_rows = table.len();
    // SQLite has no checksums: rows that do not fit the table mean matching again.
    let fits = |k: usize, r: &codetable_fingerprint::RowRecord| {
        let span = r.span;
        (span.file as usize) < files
            && span.first_token <= span.end_token
            && (r.kind.category as usize) < codetable_syntax::Category::ALL.len()
            && (r.parent == codetable_fingerprint::NO_PARENT || (r.parent as usize) < file_rows + k)
            && (r.stream.offset as u64 + r.stream.len as u64) <= table.symbols.len() as u64
    };
    if !runs.iter().enumerate().all(|(k, r)| fits(k, r)) {
        return Ok(None);
    }
    for record in runs {
        table.push_record(record);
    }
    let index = table.id_index();
    let mut families: Vec<(u32, Family)> = Vec::new();
    let mut nesting: Vec<(Option<u64>, bool)> = Vec::new();
    for stored in db.families(previous.id)? {
        let (within, subsumed) = (stored.within, stored.subsumed);
        let row = stored.members.first().and_then(|&m| index.row(m));
        let family = family_of(stored);
        match (row, family) {
            (Some(row), Some(family)) if family.members.iter().all(|&m| index.row(m).is_some()) => {
                families.push((row, family));
                nesting.push((within, subsumed));
            }
            _ => {
                table.truncate(file_rows);
                return Ok(None);
            }
        }
    }
    let mut order: Vec<usize> = (0..families.len()).collect();
    order.sort_unstable_by_key(|&k| families[k].0);
    let position: HashMap<u64, u32> = order
        .iter()
        .enumerate()
        .map(|(p, &k)| (families[k].1.id, p as u32))
        .collect();
    let mut slots: Vec<Option<Family>> = families.into_iter().map(|(_, f)| Some(f)).collect();
    let families: Vec<Family> = order
        .iter()
        .map(|&k| {
            let (within, subsumed) = nesting[k];
            Family {
                within: within.and_then(|w| position.get(&w).copied()),
                subsumed,
                ..slots[k].take().expect("each family once")
            }
        })
        .collect();
    Ok(Some(Matched {
        families,
        counts: MatchCounts {
            statement_runs: runs.len() as u64,
            exact_classes,
            verified_pairs: db.edge_count(previous.id)?,
            ..MatchCounts::default()
        },
        state: Matching::Unchanged,
    }))
}

/// Statement runs, exact classes, near-miss edges and families; with the database's
/// last matching of the tree, only what changed is matched again.
pub(crate) fn match_tree(
    table: &mut FragmentTable,
    run_files: &[RunFile],
    options: &AnalyzeOptions,
    backend: &mut Selected,
    previous: Option<(&Database, &TreeState)>,
    changes: &Changes,
) -> Result<Matched, AnalyzeError> {
    let started = Instant::now();
    let file_rows = table.len();
    let runs = if options.statement_runs && options.find_families {
        let config = RunConfig {
            min_tokens: options.fingerprint.min_tokens,
            min_lines: options.fingerprint.min_lines,
        };
        statement_runs(table, run_files, &config)
    } else {
        0
    };
    let runs_found = Instant::now();
    let table = &*table;
    let classes = exact_classes(table);
    let representatives = representatives(table, &classes);
    let classified = Instant::now();
    let previous = match previous {
        // A stored family no matcher makes (a damaged database) means matching afresh.
        Some((db, t)) => {
            let stored: Option<Vec<Family>> =
                db.families(t.id)?.into_iter().map(family_of).collect();
            match stored {
                Some(families) => Some((t, db.edges(t.id)?, families)),
                None => None,
            }
        }
        None => None,
    };
    let loaded = Instant::now();
    let (touched, changed_keys) = match &previous {
        Some((previous, ..)) => {
            let (touched, mut keys) = changes.diff(table);
            // Statement runs are found afresh: those that are new, gone, or in a file
            // analysed now change their classes too.
            let parsed: KeySet<u32> = changes.parsed_files.iter().copied().collect();
            let now: KeySet<FragmentId> = (file_rows..table.len()).map(|r| table.ids[r]).collect();
            let before = previous.statement_runs.as_deref().unwrap_or_default();
            let was: KeySet<FragmentId> = before.iter().map(|r| r.id).collect();
            keys.extend(
                (file_rows..table.len())
                    .filter(|&r| {
                        !was.contains(&table.ids[r]) || parsed.contains(&table.spans[r].file)
                    })
                    .map(|r| (table.kinds[r].group, table.renamed[r])),
            );
            keys.extend(
                before
                    .iter()
                    .filter(|r| !now.contains(&r.id))
                    .map(|r| (r.kind.group, r.renamed)),
            );
            (touched, keys)
        }
        None => (Vec::new(), KeySet::default()),
    };
    let near_miss = options.matching.near_miss && options.find_families;
    let (candidate_pairs, edges, fragments_matched) = match &previous {
        _ if !near_miss => (0, Vec::new(), 0),
        Some((previous, old_edges, _)) => match_changes(
            table,
            &representatives,
            touched,
            previous,
            old_edges,
            options,
            backend,
        )?,
        None => {
            let (candidates, edges) = backend.run(options, representatives.len(), |backend| {
                near_edges(table, &classes, &options.matching, backend)
            })?;
            (candidates, edges, representatives.len() as u64)
        }
    };
    let edges_found = Instant::now();
    let (families, old_edges) = match previous {
        _ if !options.find_families => (Vec::new(), None),
        Some((previous, old_edges, stored)) => {
            let families = families_since(
                table,
                &classes,
                &edges,
                &options.matching,
                Previous {
                    changed_keys: &changed_keys,
                    representatives: &previous.representatives,
                    edges: &old_edges,
                    families: stored,
                },
            );
            (families, Some(old_edges))
        }
        None => (families(table, &classes, &edges, &options.matching), None),
    };
    tracing::debug!(
        statement_runs = ?(runs_found - started),
        classes = ?(classified - runs_found),
        load_stored = ?(loaded - classified),
        edges = ?(edges_found - loaded),
        families = ?edges_found.elapsed(),
        "matching stages"
    );
    let state = if options.find_families {
        let mut representative_ids: Vec<FragmentId> = representatives
            .iter()
            .map(|&r| table.ids[r as usize])
            .collect();
        representative_ids.sort_unstable();
        let stored_families = families
            .iter()
            .map(|f| StoredFamily {
                id: f.id,
                clone_type: clone_type_name(f.clone_type).into(),
                representative: f.representative,
                similarity_min: f.similarity_min,
                similarity_max: f.similarity_max,
                containment_min: f.containment_min,
                within: f.within.map(|w| families[w as usize].id),
                subsumed: f.subsumed,
                members: f.members.clone(),
            })
            .collect();
        Matching::Replaced(MatchState {
            settings: options.match_settings(),
            representatives: representative_ids,
            exact_classes: classes.len() as u64,
            statement_runs: (file_rows..table.len())
                .map(|r| table.row_record(r as u32))
                .collect(),
            old_edges,
            edges: edges.clone(),
            families: stored_families,
        })
    } else {
        Matching::Cleared
    };
    Ok(Matched {
        families,
        counts: MatchCounts {
            statement_runs: runs as u64,
            exact_classes: classes.len() as u64,
            verified_pairs: edges.len() as u64,
            candidate_pairs,
            fragments_matched,
        },
        state,
    })
}

/// Incremental near-miss matching: the representatives that are new, or touched by an
/// edit ([`Changes::diff`]), are matched against all; the edges of the last run between the others
/// are kept (candidates depend on the pair alone, so this is what a cold run gives).
/// Returns the candidates examined, the edges (sorted) and the representatives matched.
fn match_changes(
    table: &FragmentTable,
    representatives: &[u32],
    mut touched: Vec<bool>,
    previous: &TreeState,
    old_edges: &[Edge],
    options: &AnalyzeOptions,
    backend: &mut Selected,
) -> Result<(u64, Vec<Edge>, u64), AnalyzeError> {
    let mut now: Vec<(FragmentId, u32)> = representatives
        .iter()
        .map(|&r| (table.ids[r as usize], r))
        .collect();
    now.par_sort_unstable();
    // Representatives that are new mark their row; those that are no longer (or whose file
    // was parsed again) make their stored edges stale. Both lists are sorted: one merge.
    let mut stale: KeySet<FragmentId> = KeySet::default();
    let old = &previous.representatives;
    let (mut i, mut j) = (0, 0);
    while i < now.len() || j < old.len() {
        match (now.get(i), old.get(j)) {
            (Some(&(id, r)), Some(&o)) if id == o => {
                if touched[r as usize] {
                    stale.insert(id);
                }
                i += 1;
                j += 1;
            }
            (Some(&(id, r)), o) if o.is_none_or(|&o| id < o) => {
                touched[r as usize] = true;
                stale.insert(id);
                i += 1;
            }
            (_, Some(&o)) => {
                stale.insert(o);
                j += 1;
            }
            (_, None) => unreachable!("one list is not done"),
        }
    }
    let matched = representatives
        .iter()
        .filter(|&&r| touched[r as usize])
        .count() as u64;
    let (candidates, mut edges) = backend.run(options, representatives.len(), |backend| {
        near_edges_touching(table, representatives, &touched, &options.matching, backend)
    })?;
    edges.par_extend(
        old_edges
            .par_iter()
            .filter(|e| !stale.contains(&e.a) && !stale.contains(&e.b)),
    );
    edges.par_sort_unstable();
    Ok((candidates, edges, matched))
}

/// The backend a run matches on, and why it is not the one asked for, if it is not.
/// `auto` looks for a GPU only when there is near-miss matching to do (a tree too small
/// for it, or unchanged since the database's last run, never starts one).
#[derive(Debug)]
pub(crate) struct Selected {
    pub(crate) backend: Backend,
    pub(crate) fallback: Option<String>,
    /// `auto` has not looked for a GPU yet.
    undecided: bool,
}

impl Selected {
    /// The backend `options` ask for: `gpu` without a usable adapter is an error at once;
    /// `auto` decides when first needed.
    pub(crate) fn new(options: &AnalyzeOptions) -> Result<Selected, AnalyzeError> {
        let near_miss = options.matching.near_miss && options.find_families;
        let backend = match options.backend {
            BackendChoice::Gpu if near_miss => {
                Backend::select(BackendChoice::Gpu, options.allow_software_gpu)?
            }
            _ => Backend::Cpu,
        };
        Ok(Selected {
            backend,
            fallback: None,
            undecided: near_miss && options.backend == BackendChoice::Auto,
        })
    }

    /// `work` on the selected backend (the CPU for fewer than two representatives: there
    /// is nothing to pair); when the GPU fails under `auto`, again on the CPU (logged, and
    /// named in the report).
    fn run<T>(
        &mut self,
        options: &AnalyzeOptions,
        representatives: usize,
        work: impl Fn(&Backend) -> Result<T, codetable_match::GpuError>,
    ) -> Result<T, AnalyzeError> {
        if representatives < 2 {
            return Ok(work(&Backend::Cpu)?);
        }
        if std::mem::take(&mut self.undecided) {
            let (backend, why) = Backend::auto(options.allow_software_gpu);
            self.backend = backend;
            self.fallback = why.map(|why| why.to_string());
        }
        let fall_back = options.backend == BackendChoice::Auto;
        let (found, failed) = self.backend.run(fall_back, work)?;
        if let Some(why) = failed {
            self.fallback = Some(format!("the GPU failed: {why}"));
        }
        Ok(found)
    }
}

/// A stored family as the matcher made it (nesting aside, which is linked again); `None`
/// for a row no matcher makes (fewer than two members, an unknown type).
fn family_of(stored: StoredFamily) -> Option<Family> {
    if stored.members.len() < 2 || !stored.members.contains(&stored.representative) {
        return None;
    }
    let clone_type = [CloneType::Type1, CloneType::Type2, CloneType::Type3]
        .into_iter()
        .find(|&t| clone_type_name(t) == stored.clone_type)?;
    Some(Family {
        id: stored.id,
        members: stored.members,
        representative: stored.representative,
        clone_type,
        similarity_min: stored.similarity_min,
        similarity_max: stored.similarity_max,
        containment_min: stored.containment_min,
        within: None,
        subsumed: false,
    })
}

pub(crate) fn clone_type_name(clone_type: CloneType) -> &'static str {
    match clone_type {
        CloneType::Type1 => "T1",
        CloneType::Type2 => "T2",
        CloneType::Type3 => "T3",
    }
}
