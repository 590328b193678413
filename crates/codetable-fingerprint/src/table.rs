//! The record model: every fragment of a run in one columnar table whose columns are
//! contiguous `Pod` slices, so they can be written to a file, mapped back or uploaded to a
//! GPU buffer as they are, and a symbol arena holding every verification stream.
//!
//! Row `r` of every column describes the same fragment; rows are a run's working order
//! (files by path, fragments by position), while [`FragmentTable::ids`] names fragments
//! across runs. Invariants:
//! - `parents[r]` is a row before `r` whose span contains `r`'s, or [`NO_PARENT`];
//! - `streams[r]` lies inside `symbols` and has `span.end_token - span.first_token`
//!   symbols;
//! - ids are unique within a table.

use bytemuck::{Pod, Zeroable};
use serde::{Deserialize, Serialize};

use crate::hash::{FragmentId, Hash128, fragment_id};
use crate::{FileFingerprint, Sketch};

/// `parents[r]` of a fragment that nothing encloses.
pub const NO_PARENT: u32 = u32::MAX;

/// Where a fragment is: its file (an index the caller keeps) and its token, byte, line
/// and column range. Lines and columns are 1-based; columns count bytes; `end_col` is the
/// column just past the last byte, `end_line` the line of the last byte.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod, Zeroable, Serialize, Deserialize,
)]
#[repr(C)]
pub struct Span {
    pub file: u32,
    pub first_token: u32,
    pub end_token: u32,
    pub start_byte: u32,
    pub end_byte: u32,
    pub start_line: u32,
    pub end_line: u32,
    pub start_col: u32,
    pub end_col: u32,
}

impl Span {
    pub fn tokens(&self) -> u32 {
        self.end_token - self.first_token
    }

    pub fn lines(&self) -> u32 {
        self.end_line - self.start_line + 1
    }

    /// Whether the two spans share a token of one file.
    pub fn overlaps(&self, other: &Span) -> bool {
        self.file == other.file
            && self.first_token < other.end_token
            && other.first_token < self.end_token
    }

    /// Whether `other` lies inside this span.
    pub fn contains(&self, other: &Span) -> bool {
        self.file == other.file
            && self.first_token <= other.first_token
            && other.end_token <= self.end_token
    }
}

/// A fragment's verification stream: `symbols[offset..offset + len]` of the table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable, Serialize, Deserialize)]
#[repr(C)]
pub struct StreamRange {
    pub offset: u32,
    pub len: u32,
}

/// What a fragment is, in 32 bits: the comparison group (only fragments of one group are
/// matched: a language, or C and C++ together), the category and flags.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Pod, Zeroable, Serialize, Deserialize,
)]
#[repr(C)]
pub struct FragmentKind {
    pub group: u16,
    /// [`codetable_syntax::Category`] as its index in `Category::ALL`.
    pub category: u8,
    pub flags: u8,
}

impl FragmentKind {
    /// Compared by content (see [`Fragment::is_declarative`](crate::Fragment::is_declarative)).
    pub const DECLARATIVE: u8 = 1;
    /// A run of sibling statements found in several places, not a syntax node: it has no
    /// sketch and is matched exactly only.
    pub const STATEMENT_RUN: u8 = 2;

    pub fn is(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// One statement of a statement body (see
/// [`Node::statement_of`](codetable_syntax::Node::statement_of)), for finding copied runs
/// of statements.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct StatementRecord {
    pub span: Span,
    /// Statements of one body share this number within their file, ascending.
    pub body: u32,
    /// The low 32 bits of the statement's Type-1 and Type-2 keys.
    pub exact: u32,
    pub renamed: u32,
}

/// One row of a table, but for its sketch (zero), as one record: for storing the rows a
/// run adds after the files' own, copied statement runs, which have no sketch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct RowRecord {
    pub id: FragmentId,
    pub exact: Hash128,
    pub renamed: Hash128,
    pub span: Span,
    pub stream: StreamRange,
    pub parent: u32,
    pub kind: FragmentKind,
    pub reserved: u32,
}

/// Every fragment of a run, column by column, and the symbols their streams point into.
#[derive(Clone, Debug, Default)]
pub struct FragmentTable {
    pub ids: Vec<FragmentId>,
    /// Type-1 keys (verbatim tokens).
    pub exact: Vec<Hash128>,
    /// Type-2 keys (identifiers and literals abstracted; Type-1 for declarative
    /// fragments).
    pub renamed: Vec<Hash128>,
    pub sketches: Vec<Sketch>,
    pub spans: Vec<Span>,
    pub streams: Vec<StreamRange>,
    pub parents: Vec<u32>,
    pub kinds: Vec<FragmentKind>,
    /// Every verification symbol of the run (see [`symbol`](crate::symbol)).
    pub symbols: Vec<u16>,
    /// Statements of every file, in file and position order (not rows: they become rows
    /// only as parts of a copied run).
    pub statements: Vec<StatementRecord>,
}

/// The arena outgrew 32-bit offsets (more than 4 G symbols).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the run holds more than 4 G tokens of fragments; analyse a smaller tree")]
pub struct TableFull;

impl FragmentTable {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The verification stream of row `r`.
    pub fn stream(&self, r: u32) -> &[u16] {
        let s = self.streams[r as usize];
        &self.symbols[s.offset as usize..(s.offset + s.len) as usize]
    }

    /// Appends one file's fragments as rows (and its statements), with `file` as the span's
    /// file index; returns the first row. The file's symbols move into the arena.
    pub fn push_file(
        &mut self,
        file: u32,
        path: &[u8],
        group: u16,
        fingerprint: &FileFingerprint,
    ) -> Result<u32, TableFull> {
        let base = self.len() as u32;
        let symbols_at =
            self.arena_offset(fingerprint.symbols.len() + fingerprint.content.len())?;
        self.symbols.extend_from_slice(&fingerprint.symbols);
        let content_at = symbols_at + fingerprint.symbols.len() as u32;
        self.symbols.extend_from_slice(&fingerprint.content);
        let mut ordinals: std::collections::HashMap<(Hash128, u8), u32> = Default::default();
        for fragment in &fingerprint.fragments {
            let flags = if fragment.is_declarative() {
                FragmentKind::DECLARATIVE
            } else {
                0
            };
            let ordinal = ordinals.entry((fragment.exact_hash, flags)).or_default();
            self.ids.push(fragment_id(
                path,
                fragment.exact_hash,
                flags as u32,
                *ordinal,
            ));
            *ordinal += 1;
            self.exact.push(fragment.exact_hash);
            self.renamed.push(fragment.renamed_hash);
            self.sketches.push(fragment.sketch);
            let mut span = fragment.span;
            span.file = file;
            self.spans.push(span);
            self.streams.push(StreamRange {
                offset: match fragment.content_start {
                    Some(start) => content_at + start,
                    None => symbols_at + span.first_token,
                },
                len: span.tokens(),
            });
            self.parents
                .push(fragment.parent.map_or(NO_PARENT, |p| base + p));
            self.kinds.push(FragmentKind {
                group,
                category: fragment.category as u8,
                flags,
            });
        }
        self.statements
            .extend(fingerprint.statements.iter().map(|s| StatementRecord {
                span: Span { file, ..s.span },
                ..*s
            }));
        Ok(base)
    }

    /// Appends a row for a copied run of statements (see [`RunRow`]); `ordinal` counts the
    /// runs with the same Type-1 key before it in its file.
    pub fn push_run(&mut self, path: &[u8], run: RunRow, ordinal: u32) {
        self.ids.push(fragment_id(
            path,
            run.exact,
            FragmentKind::STATEMENT_RUN as u32,
            ordinal,
        ));
        self.exact.push(run.exact);
        self.renamed.push(run.renamed);
        self.sketches.push(Sketch::zeroed());
        self.spans.push(run.span);
        self.streams.push(StreamRange {
            offset: run.symbols_at + run.span.first_token,
            len: run.span.tokens(),
        });
        self.parents.push(run.parent);
        self.kinds.push(FragmentKind {
            group: run.group,
            category: run.category,
            flags: FragmentKind::STATEMENT_RUN,
        });
    }

    /// Drops every row from `len` on (their symbols stay in the arena).
    pub fn truncate(&mut self, len: usize) {
        self.ids.truncate(len);
        self.exact.truncate(len);
        self.renamed.truncate(len);
        self.sketches.truncate(len);
        self.spans.truncate(len);
        self.streams.truncate(len);
        self.parents.truncate(len);
        self.kinds.truncate(len);
    }

    /// Row `r` as a record (its sketch left out).
    pub fn row_record(&self, r: u32) -> RowRecord {
        let r = r as usize;
        RowRecord {
            id: self.ids[r],
            exact: self.exact[r],
            renamed: self.renamed[r],
            span: self.spans[r],
            stream: self.streams[r],
            parent: self.parents[r],
            kind: self.kinds[r],
            reserved: 0,
        }
    }

    /// Appends a row from a record of [`FragmentTable::row_record`], with a zero sketch.
    pub fn push_record(&mut self, record: &RowRecord) {
        self.ids.push(record.id);
        self.exact.push(record.exact);
        self.renamed.push(record.renamed);
        self.sketches.push(Sketch::zeroed());
        self.spans.push(record.span);
        self.streams.push(record.stream);
        self.parents.push(record.parent);
        self.kinds.push(record.kind);
    }

    fn arena_offset(&self, adding: usize) -> Result<u32, TableFull> {
        u32::try_from(self.symbols.len() + adding)
            .map(|_| self.symbols.len() as u32)
            .map_err(|_| TableFull)
    }

    /// The row of every id, sorted by id, for looking rows up by id.
    pub fn id_index(&self) -> IdIndex {
        let mut entries: Vec<(FragmentId, u32)> = self
            .ids
            .iter()
            .enumerate()
            .map(|(r, &id)| (id, r as u32))
            .collect();
        entries.sort_unstable();
        // Ids are uniform hashes: their top bits spread them evenly over the buckets.
        let bits = entries.len().max(1).next_power_of_two().trailing_zeros();
        let shift = 64 - bits;
        let mut starts = vec![0u32; (1usize << bits) + 1];
        for &(id, _) in &entries {
            starts[(id.0.checked_shr(shift).unwrap_or(0)) as usize + 1] += 1;
        }
        for b in 1..starts.len() {
            starts[b] += starts[b - 1];
        }
        IdIndex {
            entries,
            starts,
            shift,
        }
    }
}

/// A copied statement run about to become a row (see [`FragmentTable::push_run`]).
#[derive(Clone, Copy, Debug)]
pub struct RunRow {
    pub span: Span,
    pub exact: Hash128,
    pub renamed: Hash128,
    pub group: u16,
    pub category: u8,
    pub parent: u32,
    /// Where the run's file's symbols start in the arena.
    pub symbols_at: u32,
}

/// Rows by id (see [`FragmentTable::id_index`]): `(id, row)` sorted by id, and where each
/// bucket of ids (by their top bits) starts, so a lookup searches a bucket of about one.
#[derive(Clone, Debug)]
pub struct IdIndex {
    entries: Vec<(FragmentId, u32)>,
    starts: Vec<u32>,
    shift: u32,
}

impl IdIndex {
    pub fn row(&self, id: FragmentId) -> Option<u32> {
        let bucket = id.0.checked_shr(self.shift).unwrap_or(0) as usize;
        let range = self.starts[bucket] as usize..self.starts[bucket + 1] as usize;
        let entries = &self.entries[range];
        entries
            .binary_search_by_key(&id, |&(i, _)| i)
            .ok()
            .map(|k| entries[k].1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_index_finds_every_row_and_nothing_else() {
        for n in [0usize, 1, 2, 3, 1000, 4097] {
            let table = FragmentTable {
                ids: (0..n as u64)
                    .map(|i| FragmentId(crate::mix(i, 11)))
                    .collect(),
                ..FragmentTable::default()
            };
            let index = table.id_index();
            for (r, &id) in table.ids.iter().enumerate() {
                assert_eq!(index.row(id), Some(r as u32));
            }
            for i in n as u64..n as u64 + 100 {
                assert_eq!(index.row(FragmentId(crate::mix(i, 11))), None);
            }
            assert_eq!(index.row(FragmentId(u64::MAX)), None);
            assert_eq!(index.row(FragmentId(0)), None);
        }
    }
}
