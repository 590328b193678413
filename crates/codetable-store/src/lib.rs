//! The pattern database: immutable, memory-mapped segment files holding the record model's
//! columns ([`segment`]), a Bloom filter per segment over the Type-1 and Type-2 keys as the
//! "does this exist anywhere?" prescreen, and SQLite metadata (files, fragments, edges,
//! families, runs) in one directory ([`db`]). The on-disk format is in `docs/format.md`.

pub mod db;
pub mod segment;

use std::path::{Path, PathBuf};
use std::time::Duration;

use codetable_fingerprint::{FragmentTable, NO_PARENT, Span, StatementRecord, StreamRange};

pub use db::{
    Commit, Database, DatabaseStats, FileStats, FileUpdate, MatchState, Matching, SegmentInfo,
    StoredFamily, StoredFile, TreeState, TreeStats,
};
pub use segment::{Columns, FileEntry, FilePart, Segment};

/// Why the database could not be read or written. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {cause}")]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}: {cause}")]
    Sqlite {
        path: PathBuf,
        cause: rusqlite::Error,
    },
    #[error(
        "{path} is corrupt: {what} (codetable db check lists every problem; --rebuild recreates the database)"
    )]
    Corrupt { path: PathBuf, what: String },
    #[error(
        "{path} has segment format version {found}; this codetable reads version {expected} (--rebuild recreates the database)"
    )]
    Version {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error(
        "{path} has schema version {found}; this codetable reads version {expected} (--rebuild recreates the database)"
    )]
    Schema {
        path: PathBuf,
        found: i32,
        expected: i32,
    },
    #[error("{path} is not a codetable database: {why}")]
    NotADatabase { path: PathBuf, why: String },
    #[error(
        "the database {path} is in use by another codetable process ({holder}); gave up after waiting {waited:?}"
    )]
    Busy {
        path: PathBuf,
        waited: Duration,
        holder: String,
    },
    #[error("the run holds more than 4 G tokens of fragments; analyse a smaller tree")]
    TooLarge,
}

impl StoreError {
    pub(crate) fn io(path: &Path, cause: std::io::Error) -> StoreError {
        StoreError::Io {
            path: path.to_path_buf(),
            cause,
        }
    }

    pub(crate) fn sqlite(path: &Path, source: rusqlite::Error) -> StoreError {
        match source {
            rusqlite::Error::SqliteFailure(ref e, _)
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt
                ) =>
            {
                StoreError::Corrupt {
                    path: path.to_path_buf(),
                    what: source.to_string(),
                }
            }
            rusqlite::Error::SqliteFailure(ref e, _)
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                StoreError::Busy {
                    path: path.to_path_buf(),
                    waited: Duration::from_secs(5),
                    holder: format!("unknown; SQLite says: {source}"),
                }
            }
            cause => StoreError::Sqlite {
                path: path.to_path_buf(),
                cause,
            },
        }
    }
}

/// Appends one file's records from a segment to `table` as file number `file`: the rows,
/// symbols and statements it now has there.
pub fn append_file(
    table: &mut FragmentTable,
    columns: &Columns,
    entry: &FileEntry,
    file: u32,
) -> Result<FilePart, StoreError> {
    let base = table.len() as u32;
    let symbols_at = table.symbols.len() as u32;
    let statements_at = table.statements.len() as u32;
    if u32::try_from(table.symbols.len() + entry.symbols as usize).is_err() {
        return Err(StoreError::TooLarge);
    }
    let rows = entry.rows();
    let range = rows.start as usize..rows.end as usize;
    table.symbols.extend_from_slice(
        &columns.symbols[entry.first_symbol as usize..entry.symbols().end as usize],
    );
    table.ids.extend_from_slice(&columns.ids[range.clone()]);
    table.exact.extend_from_slice(&columns.exact[range.clone()]);
    table
        .renamed
        .extend_from_slice(&columns.renamed[range.clone()]);
    table
        .sketches
        .extend_from_slice(&columns.sketches[range.clone()]);
    table.kinds.extend_from_slice(&columns.kinds[range.clone()]);
    table.spans.extend(
        columns.spans[range.clone()]
            .iter()
            .map(|s| Span { file, ..*s }),
    );
    table
        .streams
        .extend(columns.streams[range.clone()].iter().map(|s| StreamRange {
            offset: s.offset - entry.first_symbol + symbols_at,
            len: s.len,
        }));
    table
        .parents
        .extend(columns.parents[range].iter().map(|&p| {
            if p == NO_PARENT {
                NO_PARENT
            } else {
                p - rows.start + base
            }
        }));
    let statements = entry.statements();
    table.statements.extend(
        columns.statements[statements.start as usize..statements.end as usize]
            .iter()
            .map(|s| StatementRecord {
                span: Span { file, ..s.span },
                ..*s
            }),
    );
    Ok(FilePart {
        rows: base..table.len() as u32,
        symbols: symbols_at..table.symbols.len() as u32,
        statements: statements_at..table.statements.len() as u32,
    })
}
