//! The database directory: a lock, SQLite metadata (`index.sqlite`) and the segment files
//! it names (`segments/`).
//!
//! One writer at a time holds an exclusive lock on `lock`; readers hold a shared lock
//! while they read SQLite and map the segments they need, so they never see a segment
//! being deleted. Every change is one SQLite transaction that commits after the segments it
//! names are fsynced and renamed into place, so a process killed at any point leaves the
//! last committed state (segments written but not committed are removed by the next
//! writer).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use codetable_fingerprint::{FragmentId, FragmentTable, RowRecord};
use codetable_match::Edge;
use rusqlite::{Connection, OptionalExtension, params};

use crate::StoreError;
use crate::segment::{self, FilePart, Segment};

/// `PRAGMA application_id` of a codetable database ("CTBL").
pub const APPLICATION_ID: i32 = 0x4354_424c;
/// The SQLite schema this build writes (`PRAGMA user_version`); older ones are migrated.
pub const SCHEMA_VERSION: i32 = 2;
/// More live segments than this are merged.
pub const MAX_SEGMENTS: usize = 8;

const SCHEMA_V1: &str = "
CREATE TABLE trees(
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    root TEXT NOT NULL,
    fingerprint_settings TEXT NOT NULL,
    match_settings TEXT,
    representatives BLOB,
    updated_at INTEGER NOT NULL
);
CREATE TABLE segments(
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    files INTEGER NOT NULL,
    rows INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE files(
    id INTEGER PRIMARY KEY,
    tree INTEGER NOT NULL REFERENCES trees(id) ON DELETE CASCADE,
    path BLOB NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    content_hash BLOB,
    language TEXT,
    status TEXT NOT NULL,
    detail TEXT,
    segment INTEGER REFERENCES segments(id),
    slot INTEGER,
    lines INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    tokens INTEGER NOT NULL DEFAULT 0,
    error_nodes INTEGER NOT NULL DEFAULT 0,
    first_error_line INTEGER NOT NULL DEFAULT 0,
    not_utf8 INTEGER NOT NULL DEFAULT 0,
    utf16 INTEGER NOT NULL DEFAULT 0,
    fragments INTEGER NOT NULL DEFAULT 0,
    UNIQUE(tree, path)
);
CREATE INDEX files_by_segment ON files(segment);
CREATE TABLE fragments(
    file INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    id INTEGER NOT NULL,
    category TEXT NOT NULL,
    start_line INTEGER NOT NULL,
    end_line INTEGER NOT NULL,
    start_byte INTEGER NOT NULL,
    end_byte INTEGER NOT NULL,
    tokens INTEGER NOT NULL,
    PRIMARY KEY(file, ordinal)
) WITHOUT ROWID;
CREATE TABLE edges(
    tree INTEGER NOT NULL REFERENCES trees(id) ON DELETE CASCADE,
    a INTEGER NOT NULL,
    b INTEGER NOT NULL,
    lcs INTEGER NOT NULL,
    similarity INTEGER NOT NULL,
    PRIMARY KEY(tree, a, b)
) WITHOUT ROWID;
CREATE TABLE families(
    tree INTEGER NOT NULL REFERENCES trees(id) ON DELETE CASCADE,
    id INTEGER NOT NULL,
    clone_type TEXT NOT NULL,
    representative INTEGER NOT NULL,
    similarity_min INTEGER NOT NULL,
    similarity_max INTEGER NOT NULL,
    containment_min INTEGER NOT NULL,
    within INTEGER,
    subsumed INTEGER NOT NULL,
    members BLOB NOT NULL,
    PRIMARY KEY(tree, id)
) WITHOUT ROWID;
CREATE TABLE runs(
    id INTEGER PRIMARY KEY,
    tree INTEGER NOT NULL REFERENCES trees(id) ON DELETE CASCADE,
    command TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    milliseconds INTEGER NOT NULL,
    files_parsed INTEGER NOT NULL,
    files_reused INTEGER NOT NULL,
    files_removed INTEGER NOT NULL,
    fragments_rematched INTEGER NOT NULL
);
";

/// Version 2: what the last matching found beside families, so an unchanged tree is a
/// read of the database.
const SCHEMA_V2: &str = "
ALTER TABLE trees ADD COLUMN exact_classes INTEGER;
ALTER TABLE trees ADD COLUMN statement_runs BLOB;
";

/// `files.status` of a file whose fragments are stored (any other status is a skip reason).
pub const ANALYZED: &str = "analyzed";

/// How long a writer waits for another by default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// An open database directory.
#[derive(Debug)]
pub struct Database {
    dir: PathBuf,
    conn: Connection,
    /// Held locked while this handle lives (exclusively for a writer).
    _lock: File,
    writer: bool,
    segments: HashMap<i64, Arc<Segment>>,
}

/// A live segment as SQLite lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    pub id: i64,
    pub name: String,
    pub files: u64,
    pub rows: u64,
    pub bytes: u64,
}

/// What the database knows of one tree.
#[derive(Clone, Debug, Default)]
pub struct TreeState {
    pub id: i64,
    pub root: String,
    pub fingerprint_settings: String,
    pub match_settings: Option<String>,
    /// Ids of the class representatives of the last matching, sorted.
    pub representatives: Vec<FragmentId>,
    /// What the last matching found beside families: its exact classes and the rows of its
    /// copied statement runs (`None` when nothing was matched).
    pub exact_classes: Option<u64>,
    pub statement_runs: Option<Vec<RowRecord>>,
}

/// One file as the database last saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredFile {
    pub id: i64,
    pub path: Vec<u8>,
    pub size: u64,
    pub mtime_ns: i64,
    pub content_hash: Option<[u8; 16]>,
    pub language: Option<String>,
    /// `analyzed`, or why the file was left out.
    pub status: String,
    pub detail: Option<String>,
    /// Where its records are (analysed files).
    pub segment: Option<i64>,
    pub slot: Option<u32>,
    pub stats: FileStats,
}

/// Counts kept per analysed file (for the report).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileStats {
    pub lines: u64,
    pub bytes: u64,
    pub tokens: u64,
    pub error_nodes: u32,
    pub first_error_line: u32,
    pub not_utf8: bool,
    pub utf16: bool,
    pub fragments: u32,
}

/// One family as stored: its members' ids and the family's measures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredFamily {
    pub id: u64,
    pub clone_type: String,
    pub representative: FragmentId,
    pub similarity_min: u32,
    pub similarity_max: u32,
    pub containment_min: u32,
    pub within: Option<u64>,
    pub subsumed: bool,
    pub members: Vec<FragmentId>,
}

/// A file written or confirmed by this run.
#[derive(Clone, Debug)]
pub struct FileUpdate {
    pub file: StoredFile,
    /// Index into the run's new segment parts, for files analysed now (their rows in
    /// `fragments` are replaced by the part's).
    pub part: Option<usize>,
}

/// Everything one run commits, in one transaction.
#[derive(Debug, Default)]
pub struct Commit<'a> {
    pub tree: String,
    pub root: String,
    pub command: String,
    pub fingerprint_settings: String,
    /// Rows of `table` to write as a new segment, one part per file.
    pub parts: Vec<FilePart>,
    pub table: Option<&'a FragmentTable>,
    /// The name of each fragment category (by its index in a row's kind).
    pub categories: &'a [&'a str],
    /// Files to insert or update (the others keep their rows).
    pub files: Vec<FileUpdate>,
    /// Paths no longer in the tree.
    pub removed: Vec<Vec<u8>>,
    /// What becomes of the stored matching.
    pub matching: Matching,
    pub started: Option<Instant>,
    pub files_reused: u64,
    pub fragments_rematched: u64,
}

/// What a run does to the stored matching of its tree.
#[derive(Debug, Default)]
pub enum Matching {
    /// Files changed and were not matched (`index`): the stored matching is dropped.
    #[default]
    Cleared,
    /// Nothing changed: it stays.
    Unchanged,
    /// This run matched: its state replaces the stored one.
    Replaced(MatchState),
}

/// The state a later run needs to match incrementally, and the families for readers.
#[derive(Debug, Default)]
pub struct MatchState {
    pub settings: String,
    pub representatives: Vec<FragmentId>,
    pub exact_classes: u64,
    /// The rows the run added after the files' own (copied statement runs).
    pub statement_runs: Vec<RowRecord>,
    /// The stored edges before this run, sorted, when the run read them (only the
    /// difference is then written); `None` replaces them all.
    pub old_edges: Option<Vec<Edge>>,
    pub edges: Vec<Edge>,
    pub families: Vec<StoredFamily>,
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

impl Database {
    /// Opens (creating it if needed) the database at `dir` for writing, waiting up to
    /// `wait` for another writer or reader to finish.
    pub fn open_writer(dir: &Path, wait: Duration) -> Result<Database, StoreError> {
        Database::open_writer_with(dir, wait, false)
    }

    /// [`Database::open_writer`]; with `rebuild`, first deletes the database's files
    /// (whatever state they are in) once the lock is held.
    pub fn open_writer_with(
        dir: &Path,
        wait: Duration,
        rebuild: bool,
    ) -> Result<Database, StoreError> {
        let io = |e| StoreError::io(dir, e);
        if dir.exists() && !dir.is_dir() {
            return Err(StoreError::NotADatabase {
                path: dir.to_path_buf(),
                why: "it is a file, not a database directory".into(),
            });
        }
        std::fs::create_dir_all(dir.join("segments")).map_err(io)?;
        let ignore = dir.join(".gitignore");
        if !ignore.exists() {
            std::fs::write(
                &ignore,
                "# A codetable pattern database: never committed.\n*\n",
            )
            .map_err(io)?;
        }
        let lock = lock(dir, true, wait)?;
        if rebuild {
            // The journal first: an old WAL beside a new database would be replayed into it.
            for name in ["index.sqlite-wal", "index.sqlite-shm", "index.sqlite"] {
                match std::fs::remove_file(dir.join(name)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
                    _ => {}
                }
            }
            for entry in std::fs::read_dir(dir.join("segments")).map_err(io)? {
                let path = entry.map_err(io)?.path();
                if path.extension().is_some_and(|e| e == "ctseg" || e == "tmp") {
                    std::fs::remove_file(&path).map_err(io)?;
                }
            }
        }
        let conn = open_sqlite(dir, true)?;
        let mut db = Database {
            dir: dir.to_path_buf(),
            conn,
            _lock: lock,
            writer: true,
            segments: HashMap::new(),
        };
        db.remove_orphans()?;
        Ok(db)
    }

    /// Opens the database at `dir` for reading; it must exist.
    pub fn open_reader(dir: &Path, wait: Duration) -> Result<Database, StoreError> {
        if dir.is_file() {
            return Err(StoreError::NotADatabase {
                path: dir.to_path_buf(),
                why: "it is a file, not a database directory".into(),
            });
        }
        if !dir.join("index.sqlite").is_file() {
            return Err(StoreError::NotADatabase {
                path: dir.to_path_buf(),
                why: "no index.sqlite in it (create one with `codetable index` or `analyze`)"
                    .into(),
            });
        }
        let lock = lock(dir, false, wait)?;
        let conn = open_sqlite(dir, false)?;
        Ok(Database {
            dir: dir.to_path_buf(),
            conn,
            _lock: lock,
            writer: false,
            segments: HashMap::new(),
        })
    }

    fn sql(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |e| StoreError::sqlite(&self.dir.join("index.sqlite"), e)
    }

    /// Removes segment files that no committed state names (left by a killed writer).
    fn remove_orphans(&mut self) -> Result<(), StoreError> {
        let names: std::collections::HashSet<String> = self
            .conn
            .prepare("SELECT name FROM segments")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(self.sql())?;
        let dir = self.dir.join("segments");
        for entry in std::fs::read_dir(&dir).map_err(|e| StoreError::io(&dir, e))? {
            let entry = entry.map_err(|e| StoreError::io(&dir, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !names.contains(&name) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
        Ok(())
    }

    /// The state of the tree named `name`, if it was stored.
    pub fn tree(&self, name: &str) -> Result<Option<TreeState>, StoreError> {
        self.conn
            .query_row(
                "SELECT id, root, fingerprint_settings, match_settings, representatives,
                        exact_classes, statement_runs
                 FROM trees WHERE name = ?1",
                [name],
                |r| {
                    let blob: Option<Vec<u8>> = r.get(4)?;
                    let runs: Option<Vec<u8>> = r.get(6)?;
                    Ok(TreeState {
                        id: r.get(0)?,
                        root: r.get(1)?,
                        fingerprint_settings: r.get(2)?,
                        match_settings: r.get(3)?,
                        representatives: blob
                            .map(|b| {
                                let mut ids = ids_of(&b);
                                ids.sort_unstable();
                                ids
                            })
                            .unwrap_or_default(),
                        exact_classes: r.get::<_, Option<i64>>(5)?.map(|n| n as u64),
                        statement_runs: runs.and_then(|b| {
                            (b.len() % size_of::<RowRecord>() == 0).then(|| {
                                b.chunks_exact(size_of::<RowRecord>())
                                    .map(bytemuck::pod_read_unaligned)
                                    .collect()
                            })
                        }),
                    })
                },
            )
            .optional()
            .map_err(self.sql())
    }

    /// Every tree: (id, name, root).
    pub fn trees(&self) -> Result<Vec<(i64, String, String)>, StoreError> {
        self.conn
            .prepare("SELECT id, name, root FROM trees ORDER BY name")
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect()
            })
            .map_err(self.sql())
    }

    /// The files of tree `tree`, by path.
    pub fn files(&self, tree: i64) -> Result<Vec<StoredFile>, StoreError> {
        let mut statement = self
            .conn
            .prepare(
                "SELECT id, path, size, mtime_ns, content_hash, language, status, detail,
                        segment, slot, lines, bytes, tokens, error_nodes, first_error_line,
                        not_utf8, utf16, fragments
                 FROM files WHERE tree = ?1 ORDER BY path",
            )
            .map_err(self.sql())?;
        let rows = statement
            .query_map([tree], |r| {
                let hash: Option<Vec<u8>> = r.get(4)?;
                Ok(StoredFile {
                    id: r.get(0)?,
                    path: r.get(1)?,
                    size: r.get::<_, i64>(2)? as u64,
                    mtime_ns: r.get(3)?,
                    content_hash: hash.and_then(|h| h.try_into().ok()),
                    language: r.get(5)?,
                    status: r.get(6)?,
                    detail: r.get(7)?,
                    segment: r.get(8)?,
                    slot: r.get::<_, Option<i64>>(9)?.map(|s| s as u32),
                    stats: FileStats {
                        lines: r.get::<_, i64>(10)? as u64,
                        bytes: r.get::<_, i64>(11)? as u64,
                        tokens: r.get::<_, i64>(12)? as u64,
                        error_nodes: r.get(13)?,
                        first_error_line: r.get(14)?,
                        not_utf8: r.get(15)?,
                        utf16: r.get(16)?,
                        fragments: r.get(17)?,
                    },
                })
            })
            .map_err(self.sql())?;
        rows.collect::<Result<_, _>>().map_err(self.sql())
    }

    /// The stored edges of tree `tree`, sorted.
    pub fn edges(&self, tree: i64) -> Result<Vec<Edge>, StoreError> {
        let mut statement = self
            .conn
            .prepare("SELECT a, b, lcs, similarity FROM edges WHERE tree = ?1 ORDER BY a, b")
            .map_err(self.sql())?;
        let rows = statement
            .query_map([tree], |r| {
                Ok(Edge {
                    a: FragmentId(r.get::<_, i64>(0)? as u64),
                    b: FragmentId(r.get::<_, i64>(1)? as u64),
                    lcs: r.get(2)?,
                    similarity: r.get(3)?,
                })
            })
            .map_err(self.sql())?;
        let mut edges: Vec<Edge> = rows.collect::<Result<_, _>>().map_err(self.sql())?;
        edges.sort_unstable();
        Ok(edges)
    }

    /// How many edges tree `tree` has.
    pub fn edge_count(&self, tree: i64) -> Result<u64, StoreError> {
        self.conn
            .query_row("SELECT count(*) FROM edges WHERE tree = ?1", [tree], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(self.sql())
    }

    /// The stored families of tree `tree` (in no particular order).
    pub fn families(&self, tree: i64) -> Result<Vec<StoredFamily>, StoreError> {
        read_families(&self.conn, tree).map_err(self.sql())
    }

    /// The live segment `id`, mapped and checked on first use.
    pub fn segment(&mut self, id: i64) -> Result<Arc<Segment>, StoreError> {
        if let Some(s) = self.segments.get(&id) {
            return Ok(s.clone());
        }
        let name: String = self
            .conn
            .query_row("SELECT name FROM segments WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.sql())?
            .ok_or_else(|| StoreError::Corrupt {
                path: self.dir.join("index.sqlite"),
                what: format!("a file names segment {id}, which is not listed"),
            })?;
        let segment = Arc::new(Segment::open(&self.dir.join("segments").join(name))?);
        self.segments.insert(id, segment.clone());
        Ok(segment)
    }

    /// Every live segment.
    pub fn segments(&self) -> Result<Vec<SegmentInfo>, StoreError> {
        self.conn
            .prepare("SELECT id, name, files, rows, bytes FROM segments ORDER BY id")
            .and_then(|mut s| {
                s.query_map([], |r| {
                    Ok(SegmentInfo {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        files: r.get::<_, i64>(2)? as u64,
                        rows: r.get::<_, i64>(3)? as u64,
                        bytes: r.get::<_, i64>(4)? as u64,
                    })
                })?
                .collect()
            })
            .map_err(self.sql())
    }

    /// Writes the run's new segment, then commits everything in one transaction, then
    /// removes segments nothing names any more and merges segments if there are too many.
    pub fn commit(&mut self, commit: Commit) -> Result<(), StoreError> {
        assert!(self.writer, "commit needs a writer");
        let new_segment = match (commit.table, commit.parts.is_empty()) {
            (Some(table), false) => {
                let name = format!("{:016x}-{}.ctseg", now_ns(), std::process::id());
                let path = self.dir.join("segments").join(&name);
                let bytes = segment::write(&path, table, &commit.parts)?;
                let rows: u64 = commit.parts.iter().map(|p| p.rows.len() as u64).sum();
                Some((name, commit.parts.len() as u64, rows, bytes))
            }
            _ => None,
        };
        let index = self.dir.join("index.sqlite");
        let sql = |e| StoreError::sqlite(&index, e);
        let tx = self.conn.transaction().map_err(sql)?;
        let now = now_ns();
        tx.execute(
            "INSERT INTO trees(name, root, fingerprint_settings, updated_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(name) DO UPDATE SET root = ?2, fingerprint_settings = ?3,
                updated_at = ?4",
            params![commit.tree, commit.root, commit.fingerprint_settings, now],
        )
        .map_err(sql)?;
        let tree: i64 = tx
            .query_row(
                "SELECT id FROM trees WHERE name = ?1",
                [&commit.tree],
                |r| r.get(0),
            )
            .map_err(sql)?;
        let segment_id = match &new_segment {
            Some((name, files, rows, bytes)) => {
                tx.execute(
                    "INSERT INTO segments(name, files, rows, bytes, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![name, *files as i64, *rows as i64, *bytes as i64, now],
                )
                .map_err(sql)?;
                Some(tx.last_insert_rowid())
            }
            None => None,
        };
        {
            let mut remove = tx
                .prepare_cached("DELETE FROM files WHERE tree = ?1 AND path = ?2")
                .map_err(sql)?;
            for path in &commit.removed {
                remove.execute(params![tree, path]).map_err(sql)?;
            }
            let mut upsert = tx
                .prepare_cached(
                    "INSERT INTO files(tree, path, size, mtime_ns, content_hash, language, status,
                        detail, segment, slot, lines, bytes, tokens, error_nodes,
                        first_error_line, not_utf8, utf16, fragments)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                        ?16, ?17, ?18)
                     ON CONFLICT(tree, path) DO UPDATE SET size = ?3, mtime_ns = ?4,
                        content_hash = ?5, language = ?6, status = ?7, detail = ?8,
                        segment = ?9, slot = ?10, lines = ?11, bytes = ?12, tokens = ?13,
                        error_nodes = ?14, first_error_line = ?15, not_utf8 = ?16,
                        utf16 = ?17, fragments = ?18
                     RETURNING id",
                )
                .map_err(sql)?;
            let mut clear = tx
                .prepare_cached("DELETE FROM fragments WHERE file = ?1")
                .map_err(sql)?;
            let mut fragment = tx
                .prepare_cached(
                    "INSERT INTO fragments(file, ordinal, id, category, start_line, end_line,
                        start_byte, end_byte, tokens)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(sql)?;
            for update in &commit.files {
                let f = &update.file;
                let (segment, slot) = match update.part {
                    Some(part) => (segment_id, Some(part as i64)),
                    None => (f.segment, f.slot.map(|s| s as i64)),
                };
                let s = &f.stats;
                let id: i64 = upsert
                    .query_row(
                        params![
                            tree,
                            f.path,
                            f.size as i64,
                            f.mtime_ns,
                            f.content_hash.map(|h| h.to_vec()),
                            f.language,
                            f.status,
                            f.detail,
                            segment,
                            slot,
                            s.lines as i64,
                            s.bytes as i64,
                            s.tokens as i64,
                            s.error_nodes,
                            s.first_error_line,
                            s.not_utf8,
                            s.utf16,
                            s.fragments
                        ],
                        |r| r.get(0),
                    )
                    .map_err(sql)?;
                if update.part.is_none() && f.status != ANALYZED {
                    // No longer analysed: its fragments are gone.
                    clear.execute([id]).map_err(sql)?;
                }
                if let (Some(part), Some(table)) = (update.part, commit.table) {
                    clear.execute([id]).map_err(sql)?;
                    let rows = commit.parts[part].rows.clone();
                    for (k, r) in rows.enumerate() {
                        let (span, kind) = (table.spans[r as usize], table.kinds[r as usize]);
                        let category = commit.categories.get(kind.category as usize);
                        fragment
                            .execute(params![
                                id,
                                k as i64,
                                table.ids[r as usize].0 as i64,
                                category.copied().unwrap_or("unknown"),
                                span.start_line,
                                span.end_line,
                                span.start_byte,
                                span.end_byte,
                                span.tokens()
                            ])
                            .map_err(sql)?;
                    }
                }
            }
        }
        match &commit.matching {
            Matching::Replaced(state) => {
                tx.execute(
                    "UPDATE trees SET match_settings = ?2, representatives = ?3,
                        exact_classes = ?4, statement_runs = ?5
                     WHERE id = ?1",
                    params![
                        tree,
                        state.settings,
                        blob_of(&state.representatives),
                        state.exact_classes as i64,
                        bytemuck::cast_slice::<RowRecord, u8>(&state.statement_runs)
                    ],
                )
                .map_err(sql)?;
                match &state.old_edges {
                    Some(old) => write_edges(&tx, tree, old, &state.edges),
                    None => tx
                        .execute("DELETE FROM edges WHERE tree = ?1", [tree])
                        .and_then(|_| write_edges(&tx, tree, &[], &state.edges)),
                }
                .map_err(sql)?;
                write_families(&tx, tree, &state.families).map_err(sql)?;
            }
            Matching::Unchanged => {}
            Matching::Cleared => {
                tx.execute(
                    "UPDATE trees SET match_settings = NULL, representatives = NULL,
                        exact_classes = NULL, statement_runs = NULL
                     WHERE id = ?1",
                    [tree],
                )
                .map_err(sql)?;
                tx.execute("DELETE FROM edges WHERE tree = ?1", [tree])
                    .map_err(sql)?;
                tx.execute("DELETE FROM families WHERE tree = ?1", [tree])
                    .map_err(sql)?;
            }
        }
        let ms = commit
            .started
            .map(|s| s.elapsed().as_millis() as i64)
            .unwrap_or(0);
        tx.execute(
            "INSERT INTO runs(tree, command, started_at, milliseconds, files_parsed,
                files_reused, files_removed, fragments_rematched)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                tree,
                commit.command,
                now,
                ms,
                commit.parts.len() as i64,
                commit.files_reused as i64,
                commit.removed.len() as i64,
                commit.fragments_rematched as i64
            ],
        )
        .map_err(sql)?;
        let dead = drop_dead_segments(&tx).map_err(sql)?;
        tx.commit().map_err(sql)?;
        self.unlink(dead);
        // The run is committed: merging segments is housekeeping, and a failure leaves them
        // for the next writer.
        if self.segments()?.len() > MAX_SEGMENTS
            && let Err(e) = self.compact()
        {
            tracing::warn!("segments were not merged: {e}");
        }
        Ok(())
    }

    /// Merges the smallest live segments into one, as in an LSM tree, until at most
    /// `MAX_SEGMENTS / 2` remain; with `all`, merges every segment into one.
    pub fn compact_segments(&mut self, all: bool) -> Result<usize, StoreError> {
        let mut live = self.segments()?;
        let keep = if all { 1 } else { MAX_SEGMENTS / 2 };
        if live.len() <= keep.max(1) && !(all && live.len() > 1) {
            return Ok(0);
        }
        live.sort_by_key(|s| (s.bytes, s.id));
        let merged: Vec<i64> = live[..live.len() + 1 - keep.max(1)]
            .iter()
            .map(|s| s.id)
            .collect();
        let index = self.dir.join("index.sqlite");
        let sql = |e| StoreError::sqlite(&index, e);
        // Live files of the merged segments, by segment then slot.
        let mut files: Vec<(i64, i64, u32)> = Vec::new();
        for &id in &merged {
            let mut statement = self
                .conn
                .prepare("SELECT id, slot FROM files WHERE segment = ?1 ORDER BY slot")
                .map_err(sql)?;
            let rows: Vec<(i64, i64)> = statement
                .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|r| r.collect())
                .map_err(sql)?;
            files.extend(rows.into_iter().map(|(f, slot)| (f, id, slot as u32)));
        }
        let mut table = FragmentTable::default();
        let mut parts = Vec::new();
        for (k, &(_, segment, slot)) in files.iter().enumerate() {
            let segment = self.segment(segment)?;
            let columns = segment.columns();
            let entry = *columns
                .files
                .get(slot as usize)
                .ok_or_else(|| StoreError::Corrupt {
                    path: segment.path().to_path_buf(),
                    what: format!("slot {slot} named by the index is not in it"),
                })?;
            parts.push(crate::append_file(&mut table, &columns, &entry, k as u32)?);
        }
        let name = format!("{:016x}-{}.ctseg", now_ns(), std::process::id());
        let path = self.dir.join("segments").join(&name);
        let bytes = segment::write(&path, &table, &parts)?;
        let tx = self.conn.transaction().map_err(sql)?;
        tx.execute(
            "INSERT INTO segments(name, files, rows, bytes, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![name, parts.len() as i64, table.len() as i64, bytes as i64, now_ns()],
        )
        .map_err(sql)?;
        let new_id = tx.last_insert_rowid();
        {
            let mut relink = tx
                .prepare_cached("UPDATE files SET segment = ?2, slot = ?3 WHERE id = ?1")
                .map_err(sql)?;
            for (k, &(file, ..)) in files.iter().enumerate() {
                relink
                    .execute(params![file, new_id, k as i64])
                    .map_err(sql)?;
            }
        }
        let dead = drop_dead_segments(&tx).map_err(sql)?;
        tx.commit().map_err(sql)?;
        self.unlink(dead);
        Ok(merged.len())
    }

    /// Removes the files of committed-dead segments (a failure leaves an orphan, which the
    /// next writer removes).
    fn unlink(&mut self, dead: Vec<(i64, String)>) {
        for (id, name) in dead {
            self.segments.remove(&id);
            let _ = std::fs::remove_file(self.dir.join("segments").join(name));
        }
    }

    fn compact(&mut self) -> Result<(), StoreError> {
        self.compact_segments(false).map(|_| ())
    }
}

/// Deletes the rows of segments no file names any more; returns them (id, name) for
/// [`Database::unlink`] once the transaction has committed.
fn drop_dead_segments(tx: &rusqlite::Transaction) -> rusqlite::Result<Vec<(i64, String)>> {
    let dead: Vec<(i64, String)> = tx
        .prepare(
            "SELECT id, name FROM segments
             WHERE id NOT IN (SELECT segment FROM files WHERE segment IS NOT NULL)",
        )?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, _) in &dead {
        tx.execute("DELETE FROM segments WHERE id = ?1", [id])?;
    }
    Ok(dead)
}

fn write_edges(
    tx: &rusqlite::Transaction,
    tree: i64,
    old: &[Edge],
    new: &[Edge],
) -> rusqlite::Result<()> {
    let mut delete =
        tx.prepare_cached("DELETE FROM edges WHERE tree = ?1 AND a = ?2 AND b = ?3")?;
    let mut upsert = tx.prepare_cached(
        "INSERT OR REPLACE INTO edges(tree, a, b, lcs, similarity) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    // Both lists are sorted by pair (then measures; a pair occurs once in each).
    let (mut i, mut j) = (0, 0);
    while i < old.len() || j < new.len() {
        let order = match (old.get(i), new.get(j)) {
            (Some(o), Some(n)) => (o.a, o.b).cmp(&(n.a, n.b)),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Less => {
                let o = &old[i];
                delete.execute(params![tree, o.a.0 as i64, o.b.0 as i64])?;
                i += 1;
            }
            std::cmp::Ordering::Equal if old[i] == new[j] => {
                i += 1;
                j += 1;
            }
            _ => {
                let n = &new[j];
                upsert.execute(params![
                    tree,
                    n.a.0 as i64,
                    n.b.0 as i64,
                    n.lcs,
                    n.similarity
                ])?;
                if order == std::cmp::Ordering::Equal {
                    i += 1;
                }
                j += 1;
            }
        }
    }
    Ok(())
}

/// Replaces the tree's families by `families`, touching only the rows that changed.
fn write_families(
    tx: &rusqlite::Transaction,
    tree: i64,
    families: &[StoredFamily],
) -> rusqlite::Result<()> {
    let stored: HashMap<u64, StoredFamily> = read_families(tx, tree)?
        .into_iter()
        .map(|f| (f.id, f))
        .collect();
    let mut insert = tx.prepare_cached(
        "INSERT OR REPLACE INTO families(tree, id, clone_type, representative, similarity_min,
            similarity_max, containment_min, within, subsumed, members)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    let mut kept = std::collections::HashSet::new();
    for f in families {
        kept.insert(f.id);
        if stored.get(&f.id) == Some(f) {
            continue;
        }
        insert.execute(params![
            tree,
            f.id as i64,
            f.clone_type,
            f.representative.0 as i64,
            f.similarity_min,
            f.similarity_max,
            f.containment_min,
            f.within.map(|w| w as i64),
            f.subsumed,
            blob_of(&f.members)
        ])?;
    }
    let mut delete = tx.prepare_cached("DELETE FROM families WHERE tree = ?1 AND id = ?2")?;
    for id in stored.keys().filter(|id| !kept.contains(id)) {
        delete.execute(params![tree, *id as i64])?;
    }
    Ok(())
}

fn read_families(conn: &Connection, tree: i64) -> rusqlite::Result<Vec<StoredFamily>> {
    conn.prepare_cached(
        "SELECT id, clone_type, representative, similarity_min, similarity_max,
                containment_min, within, subsumed, members
         FROM families WHERE tree = ?1",
    )?
    .query_map([tree], |r| {
        Ok(StoredFamily {
            id: r.get::<_, i64>(0)? as u64,
            clone_type: r.get(1)?,
            representative: FragmentId(r.get::<_, i64>(2)? as u64),
            similarity_min: r.get(3)?,
            similarity_max: r.get(4)?,
            containment_min: r.get(5)?,
            within: r.get::<_, Option<i64>>(6)?.map(|w| w as u64),
            subsumed: r.get(7)?,
            members: ids_of(&r.get::<_, Vec<u8>>(8)?),
        })
    })?
    .collect()
}

/// Sorted ids as little-endian bytes.
pub fn blob_of(ids: &[FragmentId]) -> Vec<u8> {
    ids.iter().flat_map(|id| id.0.to_le_bytes()).collect()
}

pub fn ids_of(blob: &[u8]) -> Vec<FragmentId> {
    blob.chunks_exact(8)
        .map(|c| FragmentId(u64::from_le_bytes(c.try_into().unwrap())))
        .collect()
}

/// Takes the directory's lock: exclusive for a writer, shared for a reader, waiting up to
/// `wait`.
fn lock(dir: &Path, exclusive: bool, wait: Duration) -> Result<File, StoreError> {
    let path = dir.join("lock");
    let mut file = OpenOptions::new()
        .read(true)
        .write(exclusive)
        .create(exclusive)
        .truncate(false)
        .open(&path)
        .or_else(|e| {
            // A reader of a database whose lock file is missing (never written to).
            if !exclusive && e.kind() == std::io::ErrorKind::NotFound {
                File::open(dir.join("index.sqlite"))
            } else {
                Err(e)
            }
        })
        .map_err(|e| StoreError::io(&path, e))?;
    let started = Instant::now();
    loop {
        let attempt = if exclusive {
            file.try_lock()
        } else {
            file.try_lock_shared()
        };
        match attempt {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < wait => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                return Err(StoreError::Busy {
                    path: dir.to_path_buf(),
                    waited: wait,
                    holder: match holder.trim() {
                        "" => "unknown".into(),
                        holder => holder.to_string(),
                    },
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(StoreError::io(&path, e)),
        }
    }
    if exclusive {
        use std::io::Seek;
        let _ = file.set_len(0);
        let _ = file.seek(std::io::SeekFrom::Start(0));
        let _ = write!(file, "pid {}", std::process::id());
    }
    Ok(file)
}

fn open_sqlite(dir: &Path, writer: bool) -> Result<Connection, StoreError> {
    let path = dir.join("index.sqlite");
    let sql = |e| StoreError::sqlite(&path, e);
    let exists = path.exists();
    let flags = if writer {
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_CREATE
    } else {
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
    };
    let mut conn = Connection::open_with_flags(&path, flags).map_err(sql)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(sql)?;
    // Any read fails on a file that is not SQLite; the application id tells ours apart.
    let id: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(|e| match StoreError::sqlite(&path, e) {
            StoreError::Corrupt { what, .. } => StoreError::NotADatabase {
                path: path.clone(),
                why: format!("not a SQLite database ({what})"),
            },
            other => other,
        })?;
    let version: i32 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(sql)?;
    if exists && !(id == APPLICATION_ID || (id == 0 && version == 0 && is_empty(&conn))) {
        return Err(StoreError::NotADatabase {
            path,
            why: format!("a SQLite database of another application (application_id {id:#x})"),
        });
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::Schema {
            path,
            found: version,
            expected: SCHEMA_VERSION,
        });
    }
    if writer {
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(sql)?;
        migrate(&mut conn, version).map_err(sql)?;
    } else if version < SCHEMA_VERSION {
        return Err(StoreError::NotADatabase {
            path,
            why: format!(
                "schema version {version} is older than this codetable's {SCHEMA_VERSION}; \
                 any `codetable analyze` or `index` with this database upgrades it"
            ),
        });
    }
    Ok(conn)
}

fn is_empty(conn: &Connection) -> bool {
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|n| n == 0)
    .unwrap_or(false)
}

/// Brings the schema from `version` to [`SCHEMA_VERSION`], one step per version, each in
/// one transaction with its `user_version`.
fn migrate(conn: &mut Connection, version: i32) -> rusqlite::Result<()> {
    const STEPS: [&str; 2] = [SCHEMA_V1, SCHEMA_V2];
    for (k, step) in STEPS.iter().enumerate().skip(version as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(step)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.pragma_update(None, "user_version", k as i32 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// What `codetable db stats` shows.
#[derive(Clone, Debug, Default)]
pub struct DatabaseStats {
    pub trees: Vec<TreeStats>,
    pub segments: u64,
    pub segment_bytes: u64,
    pub sqlite_bytes: u64,
    /// Rows in segments, and those that live files still name.
    pub rows: u64,
    pub live_rows: u64,
    pub bloom_bytes: u64,
    /// Keys in the Bloom filters (two per row: Type-1 and Type-2).
    pub bloom_keys: u64,
    /// Measured: the share of absent keys the filters let through.
    pub bloom_false_positive_rate: f64,
}

/// One tree's counts.
#[derive(Clone, Debug, Default)]
pub struct TreeStats {
    pub name: String,
    pub root: String,
    pub files: u64,
    pub analyzed_files: u64,
    pub lines: u64,
    pub fragments: u64,
    pub edges: u64,
    pub families: u64,
}

impl Database {
    /// Checks everything: SQLite's integrity and foreign keys, every segment's checksums
    /// and references, and that every file's fragments in SQLite are its segment's rows.
    /// Returns the problems found (none for a sound database).
    pub fn check(&mut self) -> Result<Vec<String>, StoreError> {
        let sql = self.sql();
        let mut problems = Vec::new();
        let integrity: Vec<String> = self
            .conn
            .prepare("PRAGMA integrity_check")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(&sql)?;
        problems.extend(
            integrity
                .into_iter()
                .filter(|r| r != "ok")
                .map(|r| format!("index.sqlite: {r}")),
        );
        let dangling: i64 = self
            .conn
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .map_err(&sql)?;
        if dangling > 0 {
            problems.push(format!(
                "index.sqlite: {dangling} rows point at missing rows"
            ));
        }
        drop(sql);
        let mut usable = HashMap::new();
        for SegmentInfo {
            id,
            name,
            files,
            rows,
            ..
        } in self.segments()?
        {
            match self.segment(id) {
                Ok(segment) => {
                    let c = segment.columns();
                    if c.files.len() as u64 != files || c.ids.len() as u64 != rows {
                        problems.push(format!(
                            "segments/{name}: holds {} files and {} rows, the index says {files} and {rows}",
                            c.files.len(),
                            c.ids.len()
                        ));
                    }
                    usable.insert(id, segment);
                }
                Err(e) => problems.push(e.to_string()),
            }
        }
        for (tree, name, _) in self.trees()? {
            // Every id the tree's matching may name: its files' rows and its statement runs.
            let mut known: std::collections::HashSet<u64> = self
                .tree(&name)?
                .and_then(|t| t.statement_runs)
                .unwrap_or_default()
                .iter()
                .map(|r| r.id.0)
                .collect();
            for file in self.files(tree)? {
                let path = String::from_utf8_lossy(&file.path).into_owned();
                let (Some(segment), Some(slot)) = (file.segment, file.slot) else {
                    if file.status == ANALYZED {
                        problems.push(format!("{name}: {path} is analysed but has no segment"));
                    }
                    continue;
                };
                let Some(segment) = usable.get(&segment) else {
                    problems.push(format!("{name}: {path} is in an unusable segment"));
                    continue;
                };
                let c = segment.columns();
                let Some(entry) = c.files.get(slot as usize) else {
                    problems.push(format!("{name}: {path} names a slot its segment lacks"));
                    continue;
                };
                let ids: Vec<i64> = self
                    .conn
                    .prepare_cached("SELECT id FROM fragments WHERE file = ?1 ORDER BY ordinal")
                    .and_then(|mut s| s.query_map([file.id], |r| r.get(0))?.collect())
                    .map_err(self.sql())?;
                let rows = &c.ids[entry.first_row as usize..entry.rows().end as usize];
                if ids.len() != rows.len() || ids.iter().zip(rows).any(|(&a, b)| a as u64 != b.0) {
                    problems.push(format!(
                        "{name}: {path}: its fragments in index.sqlite are not its segment's rows"
                    ));
                }
                known.extend(rows.iter().map(|id| id.0));
            }
            let dangling_edges = self
                .edges(tree)?
                .iter()
                .filter(|e| !known.contains(&e.a.0) || !known.contains(&e.b.0))
                .count();
            if dangling_edges > 0 {
                problems.push(format!(
                    "{name}: {dangling_edges} edges name fragments the tree does not hold"
                ));
            }
            let dangling_families = self
                .families(tree)?
                .iter()
                .filter(|f| f.members.iter().any(|m| !known.contains(&m.0)))
                .count();
            if dangling_families > 0 {
                problems.push(format!(
                    "{name}: {dangling_families} families name fragments the tree does not hold"
                ));
            }
        }
        Ok(problems)
    }

    /// Sizes and counts, and the Bloom filters' false-positive rate measured on
    /// `probes` random absent keys per segment.
    pub fn stats(&mut self, probes: u32) -> Result<DatabaseStats, StoreError> {
        let mut stats = DatabaseStats::default();
        for name in ["index.sqlite", "index.sqlite-wal"] {
            stats.sqlite_bytes += std::fs::metadata(self.dir.join(name))
                .map(|m| m.len())
                .unwrap_or(0);
        }
        let live: HashMap<i64, u64> = self
            .conn
            .prepare(
                "SELECT segment, count(*) FROM files WHERE segment IS NOT NULL GROUP BY segment",
            )
            .and_then(|mut s| {
                s.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
                    .collect()
            })
            .map_err(self.sql())?;
        let (mut probed, mut passed) = (0u64, 0u64);
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for SegmentInfo { id, .. } in self.segments()? {
            let segment = self.segment(id)?;
            let c = segment.columns();
            stats.segments += 1;
            stats.segment_bytes += segment.bytes();
            stats.rows += c.ids.len() as u64;
            if live.contains_key(&id) {
                let slots: Vec<u32> = self
                    .conn
                    .prepare_cached("SELECT slot FROM files WHERE segment = ?1")
                    .and_then(|mut s| s.query_map([id], |r| r.get(0))?.collect())
                    .map_err(self.sql())?;
                stats.live_rows += slots
                    .iter()
                    .filter_map(|&s| c.files.get(s as usize))
                    .map(|f| f.rows as u64)
                    .sum::<u64>();
            }
            stats.bloom_bytes += segment.bloom_bytes();
            stats.bloom_keys += 2 * c.ids.len() as u64;
            let bloom = segment.bloom()?;
            let present: std::collections::HashSet<u128> = c
                .exact
                .iter()
                .chain(c.renamed)
                .map(segment::bloom_key)
                .collect();
            for _ in 0..probes {
                let mut next = || {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state
                };
                let key = (next() as u128) << 64 | next() as u128;
                if present.contains(&key) {
                    continue;
                }
                probed += 1;
                passed += bloom.contains(key) as u64;
            }
        }
        stats.bloom_false_positive_rate = passed as f64 / probed.max(1) as f64;
        for (id, name, root) in self.trees()? {
            let count = |q: &str| -> Result<u64, StoreError> {
                self.conn
                    .query_row(q, [id], |r| r.get::<_, i64>(0))
                    .map(|n| n as u64)
                    .map_err(self.sql())
            };
            stats.trees.push(TreeStats {
                name,
                root,
                files: count("SELECT count(*) FROM files WHERE tree = ?1")?,
                analyzed_files: count(
                    "SELECT count(*) FROM files WHERE tree = ?1 AND status = 'analyzed'",
                )?,
                lines: count("SELECT coalesce(sum(lines), 0) FROM files WHERE tree = ?1")?,
                fragments: count("SELECT coalesce(sum(fragments), 0) FROM files WHERE tree = ?1")?,
                edges: count("SELECT count(*) FROM edges WHERE tree = ?1")?,
                families: count("SELECT count(*) FROM families WHERE tree = ?1")?,
            });
        }
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::tests::sample_table;

    fn file(path: &str, part: usize) -> FileUpdate {
        FileUpdate {
            file: StoredFile {
                path: path.as_bytes().to_vec(),
                size: 10,
                mtime_ns: 5,
                content_hash: Some([part as u8; 16]),
                language: Some("rust".into()),
                status: ANALYZED.into(),
                ..StoredFile::default()
            },
            part: Some(part),
        }
    }

    /// Commits each file of the sample table in its own run, so there are three segments.
    fn three_runs(db: &mut Database) -> FragmentTable {
        let (table, parts) = sample_table();
        for (k, part) in parts.iter().enumerate() {
            db.commit(Commit {
                tree: "t".into(),
                fingerprint_settings: "s".into(),
                parts: vec![part.clone()],
                table: Some(&table),
                files: vec![file(&format!("f{k}"), 0)],
                ..Commit::default()
            })
            .unwrap();
        }
        table
    }

    #[test]
    fn committed_files_survive_reopening_and_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Database::open_writer(dir.path(), DEFAULT_WAIT).unwrap();
        let table = three_runs(&mut db);
        assert_eq!(db.segments().unwrap().len(), 3);
        drop(db);
        let mut db = Database::open_writer(dir.path(), DEFAULT_WAIT).unwrap();
        let merged = db.compact_segments(true).unwrap();
        assert_eq!(merged, 3);
        assert_eq!(db.segments().unwrap().len(), 1);
        assert_eq!(
            std::fs::read_dir(dir.path().join("segments"))
                .unwrap()
                .count(),
            1
        );
        let tree = db.tree("t").unwrap().unwrap();
        let files = db.files(tree.id).unwrap();
        let mut back = FragmentTable::default();
        for (k, f) in files.iter().enumerate() {
            let segment = db.segment(f.segment.unwrap()).unwrap();
            let c = segment.columns();
            crate::append_file(&mut back, &c, &c.files[f.slot.unwrap() as usize], k as u32)
                .unwrap();
        }
        assert_eq!(back.ids, table.ids);
        assert_eq!(back.symbols, table.symbols);
        assert_eq!(db.check().unwrap(), Vec::<String>::new());
        // A fragment list that disagrees with the segment is found.
        db.conn
            .execute("DELETE FROM fragments WHERE ordinal = 1", [])
            .unwrap();
        let problems = db.check().unwrap();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems[0].contains("not its segment's rows"),
            "{problems:?}"
        );
    }

    #[test]
    fn replaced_files_leave_dead_segments_that_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = Database::open_writer(dir.path(), DEFAULT_WAIT).unwrap();
        let (table, parts) = sample_table();
        for _ in 0..2 {
            db.commit(Commit {
                tree: "t".into(),
                fingerprint_settings: "s".into(),
                parts: vec![parts[0].clone()],
                table: Some(&table),
                files: vec![file("a", 0)],
                ..Commit::default()
            })
            .unwrap();
        }
        assert_eq!(db.segments().unwrap().len(), 1);
        db.commit(Commit {
            tree: "t".into(),
            fingerprint_settings: "s".into(),
            removed: vec![b"a".to_vec()],
            ..Commit::default()
        })
        .unwrap();
        assert!(db.segments().unwrap().is_empty());
        assert_eq!(
            std::fs::read_dir(dir.path().join("segments"))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn a_second_writer_waits_then_gives_up_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Database::open_writer(dir.path(), DEFAULT_WAIT).unwrap();
        let started = Instant::now();
        let err = Database::open_writer(dir.path(), Duration::from_millis(200)).unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(matches!(err, StoreError::Busy { .. }), "{err}");
        assert!(err.to_string().contains("in use"), "{err}");
        assert!(Database::open_reader(dir.path(), Duration::ZERO).is_err());
    }

    #[test]
    fn foreign_and_newer_files_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.sqlite"), vec![7u8; 4096]).unwrap();
        let err = Database::open_writer(dir.path(), DEFAULT_WAIT).unwrap_err();
        assert!(err.to_string().contains("index.sqlite"), "{err}");
        std::fs::remove_file(dir.path().join("index.sqlite")).unwrap();
        {
            let conn = Connection::open(dir.path().join("index.sqlite")).unwrap();
            conn.execute_batch("CREATE TABLE notes(x); PRAGMA application_id = 1234;")
                .unwrap();
        }
        let err = Database::open_writer(dir.path(), DEFAULT_WAIT).unwrap_err();
        assert!(err.to_string().contains("another application"), "{err}");
        let db = Database::open_writer_with(dir.path(), DEFAULT_WAIT, true).unwrap();
        db.conn
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(db);
        let err = Database::open_writer(dir.path(), DEFAULT_WAIT).unwrap_err();
        assert!(matches!(err, StoreError::Schema { .. }), "{err}");
    }
}
