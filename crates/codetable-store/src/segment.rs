//! Immutable segment files: the fragment records of a batch of files, column by column,
//! exactly as [`FragmentTable`] holds them, read back through a memory map.
//!
//! Layout (all integers little-endian; `docs/format.md` has the byte diagrams):
//! a 64-byte header (magic, format version, counts, the checksums of itself and of the
//! section table), a section table of 32-byte entries (kind, item size, offset, items,
//! XXH3-64 checksum), then the sections, each starting on a 64-byte boundary so that every
//! column can be cast in place. A segment is written under a temporary name, fsynced and
//! renamed: readers see a whole segment or none. Opening one checks its header, every
//! section's bounds and checksum, and every reference between columns, so a truncated,
//! bit-flipped or foreign file is an error naming what is wrong, never a wrong answer.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use bytemuck::{Pod, Zeroable};
use codetable_fingerprint::{
    FragmentId, FragmentKind, FragmentTable, Hash128, NO_PARENT, SKETCH_BINS, Sketch, Span,
    StatementRecord, StreamRange,
};
use growable_bloom_filter::GrowableBloom;
use memmap2::Mmap;
use xxhash_rust::xxh3::{Xxh3, xxh3_64};

use crate::StoreError;

/// The first 8 bytes of every segment file.
pub const MAGIC: [u8; 8] = *b"CTBLSEG\0";
/// The segment format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Bins per LSH band of the band index (the matcher's default).
pub const ROWS_PER_BAND: usize = 2;
/// Bands of the band index.
pub const BANDS: usize = SKETCH_BINS / ROWS_PER_BAND;
/// The Bloom filter's target false-positive rate.
pub const BLOOM_FP_RATE: f64 = 0.01;

const HEADER_LEN: usize = 64;
const ENTRY_LEN: usize = 32;
const ALIGN: u64 = 64;

/// One file's records in a segment: its rows, symbols and statements.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct FileEntry {
    pub first_row: u32,
    pub rows: u32,
    pub first_symbol: u32,
    pub symbols: u32,
    pub first_statement: u32,
    pub statements: u32,
}

impl FileEntry {
    pub fn rows(&self) -> Range<u32> {
        self.first_row..self.first_row + self.rows
    }
    pub fn symbols(&self) -> Range<u32> {
        self.first_symbol..self.first_symbol + self.symbols
    }
    pub fn statements(&self) -> Range<u32> {
        self.first_statement..self.first_statement + self.statements
    }
}

/// The sections, in file order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
enum Kind {
    Files = 1,
    Ids,
    Exact,
    Renamed,
    Sketches,
    Spans,
    Streams,
    Parents,
    Kinds,
    Symbols,
    Statements,
    /// Rows sorted by (group, Type-2 key).
    RenamedOrder,
    /// `BANDS + 1` offsets into `BandRows`.
    BandStarts,
    /// Per band, the rows whose band takes part in LSH, sorted by (group, band bins).
    BandRows,
    /// The Bloom filter over Type-1 and Type-2 keys (postcard bytes).
    Bloom,
}

const KINDS: [(Kind, usize, &str); 15] = [
    (Kind::Files, size_of::<FileEntry>(), "files"),
    (Kind::Ids, 8, "ids"),
    (Kind::Exact, 16, "exact keys"),
    (Kind::Renamed, 16, "renamed keys"),
    (Kind::Sketches, size_of::<Sketch>(), "sketches"),
    (Kind::Spans, size_of::<Span>(), "spans"),
    (Kind::Streams, size_of::<StreamRange>(), "streams"),
    (Kind::Parents, 4, "parents"),
    (Kind::Kinds, size_of::<FragmentKind>(), "kinds"),
    (Kind::Symbols, 2, "symbols"),
    (Kind::Statements, size_of::<StatementRecord>(), "statements"),
    (Kind::RenamedOrder, 4, "renamed order"),
    (Kind::BandStarts, 4, "band starts"),
    (Kind::BandRows, 4, "band rows"),
    (Kind::Bloom, 1, "bloom filter"),
];

/// The position of `kind` in [`KINDS`] (and in a segment's section table).
fn section_index(kind: Kind) -> usize {
    KINDS
        .iter()
        .position(|&(x, ..)| x == kind)
        .expect("every kind is listed")
}

/// One file of a [`FragmentTable`] to write: its rows, symbols and statements there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilePart {
    pub rows: Range<u32>,
    pub symbols: Range<u32>,
    pub statements: Range<u32>,
}

/// Writes the `parts` of `table` as the segment file `path` (through a temporary file,
/// fsynced, then renamed). Spans name a file by its index in `parts`; stream offsets and
/// parents are rebased to the segment. Columns are streamed part by part (a placeholder
/// header first, the real one once every checksum is known), so writing costs little
/// memory beside the table: the key orders and one band's order at a time.
pub fn write(path: &Path, table: &FragmentTable, parts: &[FilePart]) -> Result<u64, StoreError> {
    let io = |e: std::io::Error| StoreError::io(path, e);
    let mut files = Vec::with_capacity(parts.len());
    let (mut row, mut symbol, mut statement) = (0u32, 0u32, 0u32);
    for part in parts {
        files.push(FileEntry {
            first_row: row,
            rows: part.rows.len() as u32,
            first_symbol: symbol,
            symbols: part.symbols.len() as u32,
            first_statement: statement,
            statements: part.statements.len() as u32,
        });
        row += part.rows.len() as u32;
        symbol += part.symbols.len() as u32;
        statement += part.statements.len() as u32;
    }
    let rows = row as usize;
    // Segment row -> table row.
    let table_rows: Vec<u32> = parts.iter().flat_map(|p| p.rows.clone()).collect();
    let key_order = |keys: &[Hash128]| {
        let mut order: Vec<u32> = (0..rows as u32).collect();
        order.sort_unstable_by_key(|&r| {
            let t = table_rows[r as usize] as usize;
            (table.kinds[t].group, keys[t], r)
        });
        order
    };
    let renamed_order = key_order(&table.renamed);
    let mut band_starts = vec![0u32];
    for band in 0..BANDS {
        let banded = table_rows
            .iter()
            .filter(|&&t| table.sketches[t as usize].is_banded(band, ROWS_PER_BAND))
            .count() as u32;
        band_starts.push(band_starts[band] + banded);
    }
    let band_order = |band: usize| {
        let mut order: Vec<u32> = (0..rows as u32)
            .filter(|&r| {
                table.sketches[table_rows[r as usize] as usize].is_banded(band, ROWS_PER_BAND)
            })
            .collect();
        order.sort_unstable_by_key(|&r| {
            let t = table_rows[r as usize] as usize;
            band_key(&table.kinds[t], &table.sketches[t], band)
        });
        order
    };
    let mut bloom = GrowableBloom::new(BLOOM_FP_RATE, (2 * rows).max(1));
    for &t in &table_rows {
        bloom.insert(bloom_key(&table.exact[t as usize]));
        bloom.insert(bloom_key(&table.renamed[t as usize]));
    }
    let bloom = postcard::to_allocvec(&bloom).expect("a Bloom filter serialises");

    // Section sizes, so the layout is known before anything is written.
    let per_part = |size: usize, count: &dyn Fn(&FilePart) -> usize| -> u64 {
        parts.iter().map(|p| (count(p) * size) as u64).sum()
    };
    let bytes_of = |kind: Kind, size: usize| -> u64 {
        match kind {
            Kind::Files => (files.len() * size) as u64,
            Kind::Symbols => per_part(size, &|p| p.symbols.len()),
            Kind::Statements => per_part(size, &|p| p.statements.len()),
            Kind::BandStarts => (band_starts.len() * size) as u64,
            Kind::BandRows => *band_starts.last().unwrap() as u64 * size as u64,
            Kind::Bloom => bloom.len() as u64,
            _ => (rows * size) as u64,
        }
    };
    let mut layout = Vec::with_capacity(KINDS.len());
    let mut offset = align(HEADER_LEN as u64 + (KINDS.len() * ENTRY_LEN) as u64);
    for &(kind, size, _) in &KINDS {
        let bytes = bytes_of(kind, size);
        layout.push((offset, bytes));
        offset = align(offset + bytes);
    }
    let file_len = offset;

    let temporary = temporary_name(path);
    let file = File::create(&temporary).map_err(io)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    out.write_all(&vec![0u8; layout[0].0 as usize])
        .map_err(io)?;
    let mut checksums = Vec::with_capacity(KINDS.len());
    let mut at = layout[0].0;
    let ranged = |p: &FilePart| p.rows.start as usize..p.rows.end as usize;
    for (k, &(kind, ..)) in KINDS.iter().enumerate() {
        let (start, bytes) = layout[k];
        out.write_all(&vec![0u8; (start - at) as usize])
            .map_err(io)?;
        let mut section = Section {
            out: &mut out,
            hash: Xxh3::new(),
            written: 0,
        };
        match kind {
            Kind::Files => section.put(&files),
            Kind::Ids => section.put_rows(parts, &table.ids),
            Kind::Exact => section.put_rows(parts, &table.exact),
            Kind::Renamed => section.put_rows(parts, &table.renamed),
            Kind::Sketches => section.put_rows(parts, &table.sketches),
            Kind::Kinds => section.put_rows(parts, &table.kinds),
            Kind::Spans => parts.iter().enumerate().try_for_each(|(slot, p)| {
                let spans: Vec<Span> = table.spans[ranged(p)]
                    .iter()
                    .map(|s| Span {
                        file: slot as u32,
                        ..*s
                    })
                    .collect();
                section.put(&spans)
            }),
            Kind::Streams => parts.iter().zip(&files).try_for_each(|(p, f)| {
                let streams: Vec<StreamRange> = table.streams[ranged(p)]
                    .iter()
                    .map(|s| StreamRange {
                        offset: s.offset - p.symbols.start + f.first_symbol,
                        len: s.len,
                    })
                    .collect();
                section.put(&streams)
            }),
            Kind::Parents => parts.iter().zip(&files).try_for_each(|(p, f)| {
                let parents: Vec<u32> = table.parents[ranged(p)]
                    .iter()
                    .map(|&x| {
                        if x == NO_PARENT {
                            NO_PARENT
                        } else {
                            x - p.rows.start + f.first_row
                        }
                    })
                    .collect();
                section.put(&parents)
            }),
            Kind::Symbols => parts.iter().try_for_each(|p| {
                section.put(&table.symbols[p.symbols.start as usize..p.symbols.end as usize])
            }),
            Kind::Statements => parts.iter().enumerate().try_for_each(|(slot, p)| {
                let statements: Vec<StatementRecord> = table.statements
                    [p.statements.start as usize..p.statements.end as usize]
                    .iter()
                    .map(|s| StatementRecord {
                        span: Span {
                            file: slot as u32,
                            ..s.span
                        },
                        ..*s
                    })
                    .collect();
                section.put(&statements)
            }),
            Kind::RenamedOrder => section.put(&renamed_order),
            Kind::BandStarts => section.put(&band_starts),
            Kind::BandRows => (0..BANDS).try_for_each(|band| section.put(&band_order(band))),
            Kind::Bloom => section.put(&bloom),
        }
        .map_err(io)?;
        debug_assert_eq!(section.written, bytes);
        checksums.push(section.hash.digest());
        at = start + bytes;
    }
    out.write_all(&vec![0u8; (file_len - at) as usize])
        .map_err(io)?;

    let mut table_bytes = Vec::with_capacity(KINDS.len() * ENTRY_LEN);
    for (k, &(kind, size, _)) in KINDS.iter().enumerate() {
        let (start, bytes) = layout[k];
        table_bytes.extend_from_slice(&(kind as u32).to_le_bytes());
        table_bytes.extend_from_slice(&(size as u32).to_le_bytes());
        table_bytes.extend_from_slice(&start.to_le_bytes());
        table_bytes.extend_from_slice(&(bytes / size as u64).to_le_bytes());
        table_bytes.extend_from_slice(&checksums[k].to_le_bytes());
    }
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(&MAGIC);
    header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    header.extend_from_slice(&(KINDS.len() as u32).to_le_bytes());
    header.extend_from_slice(&file_len.to_le_bytes());
    header.extend_from_slice(&(rows as u32).to_le_bytes());
    header.extend_from_slice(&(parts.len() as u32).to_le_bytes());
    header.extend_from_slice(&(ROWS_PER_BAND as u32).to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&xxh3_64(&table_bytes).to_le_bytes());
    let header_sum = xxh3_64(&header);
    header.extend_from_slice(&header_sum.to_le_bytes());
    header.resize(HEADER_LEN, 0);
    let mut file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.write_all(&header).map_err(io)?;
    file.write_all(&table_bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&temporary, path).map_err(io)?;
    if let Some(dir) = path.parent() {
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(file_len)
}

/// One section being written: its bytes go out and into its checksum.
struct Section<'a, W: Write> {
    out: &'a mut W,
    hash: Xxh3,
    written: u64,
}

impl<W: Write> Section<'_, W> {
    /// The parts' rows of one table column, as they are.
    fn put_rows<T: Pod>(&mut self, parts: &[FilePart], column: &[T]) -> std::io::Result<()> {
        parts
            .iter()
            .try_for_each(|p| self.put(&column[p.rows.start as usize..p.rows.end as usize]))
    }

    fn put<T: Pod>(&mut self, items: &[T]) -> std::io::Result<()> {
        let bytes: &[u8] = bytemuck::cast_slice(items);
        self.hash.update(bytes);
        self.written += bytes.len() as u64;
        self.out.write_all(bytes)
    }
}

/// The temporary name a segment is written under before it is renamed into place.
pub fn temporary_name(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

fn align(x: u64) -> u64 {
    x.div_ceil(ALIGN) * ALIGN
}

/// The Bloom filter's item for a Type-1 or Type-2 key.
pub fn bloom_key(key: &Hash128) -> u128 {
    (key.hi as u128) << 64 | key.lo as u128
}

/// A row's sort key in a band's index: its group, then the band's bins.
pub fn band_key(kind: &FragmentKind, sketch: &Sketch, band: usize) -> (u16, [u32; ROWS_PER_BAND]) {
    let mut bins = [0u32; ROWS_PER_BAND];
    bins.copy_from_slice(sketch.band(band, ROWS_PER_BAND));
    (kind.group, bins)
}

/// An open, checked segment file.
#[derive(Debug)]
pub struct Segment {
    path: PathBuf,
    map: Mmap,
    /// Byte range of each section, by its index in `KINDS`.
    sections: Vec<Range<usize>>,
    bloom: std::sync::OnceLock<GrowableBloom>,
}

/// A segment's columns, borrowed from its memory map.
#[derive(Clone, Copy, Debug)]
pub struct Columns<'a> {
    pub files: &'a [FileEntry],
    pub ids: &'a [FragmentId],
    pub exact: &'a [Hash128],
    pub renamed: &'a [Hash128],
    pub sketches: &'a [Sketch],
    pub spans: &'a [Span],
    pub streams: &'a [StreamRange],
    pub parents: &'a [u32],
    pub kinds: &'a [FragmentKind],
    pub symbols: &'a [u16],
    pub statements: &'a [StatementRecord],
    pub renamed_order: &'a [u32],
    pub band_starts: &'a [u32],
    pub band_rows: &'a [u32],
}

impl<'a> Columns<'a> {
    /// The verification stream of row `r`.
    pub fn stream(&self, r: u32) -> &'a [u16] {
        let s = self.streams[r as usize];
        &self.symbols[s.offset as usize..(s.offset + s.len) as usize]
    }

    /// The rows of one band's index.
    pub fn band(&self, band: usize) -> &'a [u32] {
        &self.band_rows[self.band_starts[band] as usize..self.band_starts[band + 1] as usize]
    }
}

impl Segment {
    /// Maps and checks the segment file at `path`.
    pub fn open(path: &Path) -> Result<Segment, StoreError> {
        let file = File::open(path).map_err(|e| StoreError::io(path, e))?;
        // SAFETY: segment files are immutable once renamed into place: codetable never
        // writes to a segment after its rename, only deletes it (which leaves existing
        // mappings intact), and every byte is checked below before it is trusted.
        #[allow(unsafe_code)]
        let map = unsafe { Mmap::map(&file) }.map_err(|e| StoreError::io(path, e))?;
        let mut segment = Segment {
            path: path.to_path_buf(),
            map,
            sections: Vec::new(),
            bloom: Default::default(),
        };
        segment.check_layout()?;
        segment.check_references()?;
        Ok(segment)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the file in bytes.
    pub fn bytes(&self) -> u64 {
        self.map.len() as u64
    }

    fn corrupt(&self, what: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            what: what.into(),
        }
    }

    fn check_layout(&mut self) -> Result<(), StoreError> {
        let bytes = &self.map[..];
        if bytes.len() < HEADER_LEN {
            return Err(if bytes.len() >= 8 && bytes[..8] != MAGIC {
                self.corrupt("not a codetable segment (bad magic)")
            } else {
                self.corrupt(format!(
                    "truncated: {} bytes, shorter than its header",
                    bytes.len()
                ))
            });
        }
        if bytes[..8] != MAGIC {
            return Err(self.corrupt("not a codetable segment (bad magic)"));
        }
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap());
        let version = u32_at(8);
        // A damaged header is corruption; an intact one of another version is a version.
        if version != FORMAT_VERSION && xxh3_64(&bytes[..48]) == u64_at(48) {
            return Err(StoreError::Version {
                path: self.path.clone(),
                found: version,
                expected: FORMAT_VERSION,
            });
        }
        if xxh3_64(&bytes[..48]) != u64_at(48) {
            return Err(self.corrupt("header checksum mismatch"));
        }
        if bytes[56..HEADER_LEN].iter().any(|&b| b != 0) {
            return Err(self.corrupt("reserved header bytes are not zero"));
        }
        let count = u32_at(12) as usize;
        let file_len = u64_at(16);
        if file_len != bytes.len() as u64 {
            return Err(self.corrupt(format!(
                "truncated or extended: {} bytes, the header says {file_len}",
                bytes.len()
            )));
        }
        if count != KINDS.len() || u32_at(32) as usize != ROWS_PER_BAND {
            return Err(self.corrupt("unexpected section table"));
        }
        let table_end = HEADER_LEN + count * ENTRY_LEN;
        if bytes.len() < table_end {
            return Err(self.corrupt("truncated inside its section table"));
        }
        if xxh3_64(&bytes[HEADER_LEN..table_end]) != u64_at(40) {
            return Err(self.corrupt("section table checksum mismatch"));
        }
        let mut sections = Vec::with_capacity(count);
        for (k, &(kind, size, name)) in KINDS.iter().enumerate() {
            let e = HEADER_LEN + k * ENTRY_LEN;
            let (stored_kind, stored_size) = (u32_at(e), u32_at(e + 4) as usize);
            let (offset, items, checksum) = (u64_at(e + 8), u64_at(e + 16), u64_at(e + 24));
            if stored_kind != kind as u32 || stored_size != size || offset % ALIGN != 0 {
                return Err(self.corrupt(format!("bad section table entry for {name}")));
            }
            let end = items
                .checked_mul(size as u64)
                .and_then(|b| b.checked_add(offset))
                .filter(|&end| end <= file_len && offset >= table_end as u64)
                .ok_or_else(|| self.corrupt(format!("section {name} lies outside the file")))?;
            let range = offset as usize..end as usize;
            if xxh3_64(&bytes[range.clone()]) != checksum {
                return Err(self.corrupt(format!("checksum mismatch in section {name}")));
            }
            sections.push(range);
        }
        self.sections = sections;
        Ok(())
    }

    fn section<T: Pod>(&self, kind: Kind) -> &[T] {
        let k = section_index(kind);
        // Sections start 64-byte aligned in a page-aligned map and hold whole items
        // (checked in `check_layout`), so the cast cannot fail.
        bytemuck::cast_slice(&self.map[self.sections[k].clone()])
    }

    /// The segment's columns.
    pub fn columns(&self) -> Columns<'_> {
        Columns {
            files: self.section(Kind::Files),
            ids: self.section(Kind::Ids),
            exact: self.section(Kind::Exact),
            renamed: self.section(Kind::Renamed),
            sketches: self.section(Kind::Sketches),
            spans: self.section(Kind::Spans),
            streams: self.section(Kind::Streams),
            parents: self.section(Kind::Parents),
            kinds: self.section(Kind::Kinds),
            symbols: self.section(Kind::Symbols),
            statements: self.section(Kind::Statements),
            renamed_order: self.section(Kind::RenamedOrder),
            band_starts: self.section(Kind::BandStarts),
            band_rows: self.section(Kind::BandRows),
        }
    }

    /// Checks every reference between columns, so that no later read can go out of bounds.
    fn check_references(&self) -> Result<(), StoreError> {
        let c = self.columns();
        let rows = c.ids.len();
        for (name, len) in [
            ("exact keys", c.exact.len()),
            ("renamed keys", c.renamed.len()),
            ("sketches", c.sketches.len()),
            ("spans", c.spans.len()),
            ("streams", c.streams.len()),
            ("parents", c.parents.len()),
            ("kinds", c.kinds.len()),
            ("renamed order", c.renamed_order.len()),
        ] {
            if len != rows {
                return Err(self.corrupt(format!("{name} has {len} entries for {rows} rows")));
            }
        }
        let (mut row, mut symbol, mut statement) = (0u32, 0u32, 0u32);
        for (slot, f) in c.files.iter().enumerate() {
            if f.first_row != row || f.first_symbol != symbol || f.first_statement != statement {
                return Err(self.corrupt(format!("file entry {slot} is not contiguous")));
            }
            row = row
                .checked_add(f.rows)
                .ok_or_else(|| self.corrupt("row overflow"))?;
            symbol = symbol
                .checked_add(f.symbols)
                .ok_or_else(|| self.corrupt("symbol overflow"))?;
            statement = statement
                .checked_add(f.statements)
                .ok_or_else(|| self.corrupt("statement overflow"))?;
            if row as usize > rows
                || symbol as usize > c.symbols.len()
                || statement as usize > c.statements.len()
            {
                return Err(self.corrupt(format!("file entry {slot} runs past the columns")));
            }
            for r in f.rows() {
                let r = r as usize;
                let (s, p, span) = (c.streams[r], c.parents[r], c.spans[r]);
                let in_file = s.offset >= f.first_symbol
                    && (s.offset as u64 + s.len as u64) <= f.symbols().end as u64;
                if span.file != slot as u32
                    || !in_file
                    || span.first_token > span.end_token
                    || span.end_token > f.symbols
                    || s.len != span.tokens()
                    || (p != NO_PARENT && (p < f.first_row || p as usize >= r))
                {
                    return Err(self.corrupt(format!("row {r} points outside its file")));
                }
            }
            if c.statements[f.statements().start as usize..]
                .iter()
                .take(f.statements as usize)
                .any(|s| {
                    s.span.file != slot as u32
                        || s.span.first_token > s.span.end_token
                        || s.span.end_token > f.symbols
                })
            {
                return Err(self.corrupt(format!("statement of file {slot} is misplaced")));
            }
        }
        if row as usize != rows
            || symbol as usize != c.symbols.len()
            || statement as usize != c.statements.len()
        {
            return Err(self.corrupt("file entries do not cover the columns"));
        }
        let rows_ok = |order: &[u32]| order.iter().all(|&r| (r as usize) < rows);
        if !rows_ok(c.renamed_order) || !rows_ok(c.band_rows) {
            return Err(self.corrupt("an index names a row that does not exist"));
        }
        if c.band_starts.len() != BANDS + 1
            || c.band_starts.windows(2).any(|w| w[0] > w[1])
            || *c.band_starts.last().unwrap() as usize != c.band_rows.len()
        {
            return Err(self.corrupt("bad band index"));
        }
        Ok(())
    }

    /// The Bloom filter over the segment's Type-1 and Type-2 keys (decoded on first use).
    pub fn bloom(&self) -> Result<&GrowableBloom, StoreError> {
        if let Some(bloom) = self.bloom.get() {
            return Ok(bloom);
        }
        let k = section_index(Kind::Bloom);
        let bloom: GrowableBloom = postcard::from_bytes(&self.map[self.sections[k].clone()])
            .map_err(|e| self.corrupt(format!("unreadable Bloom filter: {e}")))?;
        Ok(self.bloom.get_or_init(|| bloom))
    }

    /// Bytes of the Bloom filter section.
    pub fn bloom_bytes(&self) -> u64 {
        let k = section_index(Kind::Bloom);
        self.sections[k].len() as u64
    }

    /// Rows (ascending) whose Type-2 key is `key` in `group` (Type-1 copies among them are
    /// those whose Type-1 key agrees too).
    pub fn rows_with_renamed_key(&self, group: u16, key: &Hash128) -> Vec<u32> {
        let c = self.columns();
        let at = |r: u32| (c.kinds[r as usize].group, c.renamed[r as usize]);
        let start = c.renamed_order.partition_point(|&r| at(r) < (group, *key));
        let end = c.renamed_order.partition_point(|&r| at(r) <= (group, *key));
        let mut rows = c.renamed_order[start..end].to_vec();
        rows.sort_unstable();
        rows
    }

    /// Rows sharing band `band` of `sketch` in `group`.
    pub fn rows_in_band(&self, group: u16, sketch: &Sketch, band: usize) -> &[u32] {
        let c = self.columns();
        let kind = FragmentKind {
            group,
            ..FragmentKind::default()
        };
        let key = band_key(&kind, sketch, band);
        let rows = c.band(band);
        let at = |r: u32| band_key(&c.kinds[r as usize], &c.sketches[r as usize], band);
        let start = rows.partition_point(|&r| at(r) < key);
        let end = rows.partition_point(|&r| at(r) <= key);
        &rows[start..end]
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use codetable_fingerprint::{FileFingerprint, Fragment};
    use codetable_syntax::Category;

    /// A table of three files with nested fragments, statements and distinct sketches.
    pub fn sample_table() -> (FragmentTable, Vec<FilePart>) {
        let mut table = FragmentTable::default();
        let mut parts = Vec::new();
        for f in 0..3u32 {
            let mut fingerprint = FileFingerprint {
                symbols: (0..200).map(|i| (i * 7 + f as u16) % 50).collect(),
                ..FileFingerprint::default()
            };
            for k in 0..4u32 {
                let first = k * 40;
                fingerprint.fragments.push(Fragment {
                    category: Category::Function,
                    span: Span {
                        first_token: first,
                        end_token: first + 40 - (k % 2) * 10,
                        start_line: k * 5 + 1,
                        end_line: k * 5 + 5,
                        ..Span::default()
                    },
                    exact_hash: Hash128 {
                        lo: (f * 10 + k) as u64,
                        hi: 1,
                    },
                    renamed_hash: Hash128 {
                        lo: k as u64,
                        hi: 2,
                    },
                    subtree_id: 0,
                    sketch: Sketch(std::array::from_fn(|b| {
                        (b as u32 * 31 + k)
                            | if b % 5 == 0 {
                                codetable_fingerprint::UNBANDED
                            } else {
                                0
                            }
                    })),
                    parent: (k % 2 == 1).then_some(k - 1),
                    content_start: None,
                });
            }
            fingerprint.statements.push(StatementRecord {
                span: Span {
                    first_token: 3,
                    end_token: 9,
                    ..Span::default()
                },
                body: 1,
                exact: 5,
                renamed: 6,
            });
            let (rows, symbols, statements) = (
                table.len() as u32,
                table.symbols.len() as u32,
                table.statements.len() as u32,
            );
            table
                .push_file(f, format!("f{f}").as_bytes(), 0, &fingerprint)
                .unwrap();
            parts.push(FilePart {
                rows: rows..table.len() as u32,
                symbols: symbols..table.symbols.len() as u32,
                statements: statements..table.statements.len() as u32,
            });
        }
        (table, parts)
    }

    #[test]
    fn a_written_segment_reads_back_as_the_table_it_came_from() {
        let dir = tempfile::tempdir().unwrap();
        let (table, parts) = sample_table();
        // Files 0 and 2 only: rows, symbols and parents are rebased.
        let chosen = [parts[0].clone(), parts[2].clone()];
        let path = dir.path().join("s.ctseg");
        write(&path, &table, &chosen).unwrap();
        assert!(!temporary_name(&path).exists());
        let segment = Segment::open(&path).unwrap();
        let mut back = FragmentTable::default();
        for (k, entry) in segment.columns().files.iter().enumerate() {
            crate::append_file(&mut back, &segment.columns(), entry, k as u32 * 2).unwrap();
        }
        let rows: Vec<usize> = chosen
            .iter()
            .flat_map(|p| p.rows.clone())
            .map(|r| r as usize)
            .collect();
        assert_eq!(back.len(), rows.len());
        for (b, &r) in rows.iter().enumerate() {
            assert_eq!(back.ids[b], table.ids[r]);
            assert_eq!(back.spans[b], table.spans[r]);
            assert_eq!(back.sketches[b], table.sketches[r]);
            assert_eq!(back.stream(b as u32), table.stream(r as u32));
            let parent = |t: &FragmentTable, x: usize| {
                let p = t.parents[x];
                (p != NO_PARENT).then(|| t.ids[p as usize])
            };
            assert_eq!(parent(&back, b), parent(&table, r));
        }
        assert_eq!(back.statements.len(), 2);
        // The indexes find what they index.
        let c = segment.columns();
        for r in 0..c.ids.len() as u32 {
            assert!(
                segment
                    .rows_with_renamed_key(0, &c.renamed[r as usize])
                    .contains(&r)
            );
            for band in 0..BANDS {
                let found = segment
                    .rows_in_band(0, &c.sketches[r as usize], band)
                    .contains(&r);
                assert_eq!(found, c.sketches[r as usize].is_banded(band, ROWS_PER_BAND));
            }
            assert!(
                segment
                    .bloom()
                    .unwrap()
                    .contains(bloom_key(&c.exact[r as usize]))
            );
        }
        assert!(segment.rows_with_renamed_key(1, &c.renamed[0]).is_empty());
    }

    #[test]
    fn every_damaged_byte_is_an_error_not_a_wrong_answer() {
        let dir = tempfile::tempdir().unwrap();
        let (table, parts) = sample_table();
        let path = dir.path().join("s.ctseg");
        write(&path, &table, &parts).unwrap();
        let good = std::fs::read(&path).unwrap();
        let damaged = dir.path().join("d.ctseg");
        // Every byte of the header and section table, and a spread of the rest.
        let positions =
            (0..HEADER_LEN + KINDS.len() * ENTRY_LEN).chain((0..good.len()).step_by(97));
        for at in positions {
            let mut bytes = good.clone();
            bytes[at] ^= 0x20;
            std::fs::write(&damaged, &bytes).unwrap();
            // Padding between sections is not covered by a checksum and is never read.
            let in_padding = at >= HEADER_LEN + KINDS.len() * ENTRY_LEN
                && !Segment::open(&path)
                    .unwrap()
                    .sections
                    .iter()
                    .any(|r| r.contains(&at));
            match Segment::open(&damaged) {
                Err(StoreError::Corrupt { .. } | StoreError::Version { .. }) => {}
                Ok(_) if in_padding => {}
                other => panic!("byte {at}: {other:?}"),
            }
        }
        for len in [0, 7, 8, 63, 64, 100, good.len() / 2, good.len() - 1] {
            std::fs::write(&damaged, &good[..len]).unwrap();
            let err = Segment::open(&damaged).unwrap_err().to_string();
            assert!(err.contains("d.ctseg"), "{err}");
        }
        let mut foreign = good.clone();
        foreign[..8].copy_from_slice(b"SQLite f");
        std::fs::write(&damaged, &foreign).unwrap();
        assert!(
            Segment::open(&damaged)
                .unwrap_err()
                .to_string()
                .contains("bad magic")
        );
        // A newer segment (with its own valid header) is a version error; the same bytes
        // with a stale header checksum are corruption.
        let mut newer = good.clone();
        newer[8..12].copy_from_slice(&2u32.to_le_bytes());
        std::fs::write(&damaged, &newer).unwrap();
        assert!(matches!(
            Segment::open(&damaged),
            Err(StoreError::Corrupt { .. })
        ));
        let sum = xxh3_64(&newer[..48]).to_le_bytes();
        newer[48..56].copy_from_slice(&sum);
        std::fs::write(&damaged, &newer).unwrap();
        assert!(matches!(
            Segment::open(&damaged),
            Err(StoreError::Version { found: 2, .. })
        ));
    }
}
