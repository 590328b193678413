//! Copied runs of sibling statements: a run of statements repeated inside otherwise
//! different functions, as token-window tools such as jscpd find them.
//!
//! Every statement window (from each statement, the fewest following siblings that reach
//! the minimum size) is keyed by the Type-2 hashes of its statements. Windows with equal
//! keys seed pairs, which extend forward while statements keep agreeing; a seed whose
//! previous statements agree too is not a run's start and is skipped. Each run is verified
//! symbol for symbol (Type-2 equality of the two streams) and becomes a row of the table,
//! so that exact classes group it with the other copies of the same run and nesting links
//! it to the family of the functions that hold it.

use std::collections::HashMap;

use codetable_fingerprint::hash::{TYPE1_SEED, TYPE2_SEED, key_of_u32s};
use codetable_fingerprint::{FragmentKind, FragmentTable, NO_PARENT, RunRow, Span, symbol};
use codetable_syntax::Category;
use rayon::prelude::*;

/// The minimum size of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunConfig {
    pub min_tokens: u32,
    pub min_lines: u32,
}

/// Finds copied statement runs among `table.statements` and appends one row per copy.
/// `files[i]` names file `i`: its path, comparison group, where its symbols start in the
/// arena and its rows. Returns how many rows were added.
pub fn statement_runs(table: &mut FragmentTable, files: &[RunFile], config: &RunConfig) -> usize {
    let statements = &table.statements;
    // Bodies: ranges of statements sharing (file, body).
    let bodies: Vec<(usize, usize)> = {
        let mut out = Vec::new();
        let mut start = 0;
        for k in 1..=statements.len() {
            if k == statements.len()
                || (statements[k].span.file, statements[k].body)
                    != (statements[start].span.file, statements[start].body)
            {
                out.push((start, k));
                start = k;
            }
        }
        out
    };
    // Windows: (key, first statement, last statement), keyed with the file's group.
    let mut windows: Vec<(u64, u32, u32)> = bodies
        .par_iter()
        .flat_map_iter(|&(from, to)| {
            let group = files[statements[from].span.file as usize].group;
            (from..to).filter_map(move |i| {
                let mut tokens = 0;
                for j in i..to {
                    tokens += statements[j].span.tokens();
                    let lines = statements[j].span.end_line - statements[i].span.start_line + 1;
                    if tokens >= config.min_tokens && lines >= config.min_lines {
                        let key = statements[i..=j]
                            .iter()
                            .fold(group as u64 + 1, |acc, s| mix(acc, s.renamed as u64));
                        return Some((key, i as u32, j as u32));
                    }
                }
                None
            })
        })
        .collect();
    windows.par_sort_unstable();
    // Per statement, its body's range of statements.
    let mut body_start = vec![0u32; statements.len()];
    let mut body_end = vec![0u32; statements.len()];
    for &(from, to) in &bodies {
        body_start[from..to].fill(from as u32);
        body_end[from..to].fill(to as u32);
    }

    // Seeds: pairs of windows of one key (every pair in a small group; in a large one, each
    // window with the next window of another body) where a run starts: their previous
    // statements differ.
    let body_of = |w: &(u64, u32, u32)| {
        let s = &statements[w.1 as usize];
        (s.span.file, s.body)
    };
    let seeds: Vec<(u32, u32)> = windows
        .chunk_by(|x, y| x.0 == y.0)
        .flat_map(|group| {
            let mut pairs = Vec::new();
            if group.len() <= ALL_PAIRS_UP_TO {
                for (k, x) in group.iter().enumerate() {
                    pairs.extend(group[k + 1..].iter().map(|y| (x.1, y.1)));
                }
            } else {
                // next[k]: the first window after k in another body.
                let mut next = vec![usize::MAX; group.len()];
                for k in (0..group.len().saturating_sub(1)).rev() {
                    next[k] = if body_of(&group[k + 1]) != body_of(&group[k]) {
                        k + 1
                    } else {
                        next[k + 1]
                    };
                }
                pairs.extend(
                    (0..group.len())
                        .filter(|&k| next[k] != usize::MAX)
                        .map(|k| (group[k].1, group[next[k]].1)),
                );
            }
            pairs
        })
        .filter(|&(a, b)| {
            let (a, b) = (a as usize, b as usize);
            let previous_agree = a > body_start[a] as usize
                && b > body_start[b] as usize
                && statements[a - 1].renamed == statements[b - 1].renamed;
            !previous_agree
        })
        .collect();
    let pairs: Vec<((u32, u32), (u32, u32))> = seeds
        .par_iter()
        .filter_map(|&(a, b)| {
            let (mut ea, mut eb) = (a, b);
            while ea + 1 < body_end[a as usize]
                && eb + 1 < body_end[b as usize]
                && statements[ea as usize + 1].renamed == statements[eb as usize + 1].renamed
            {
                ea += 1;
                eb += 1;
            }
            let span = |first: u32, last: u32| {
                let (s, e) = (
                    &statements[first as usize].span,
                    &statements[last as usize].span,
                );
                Span {
                    end_token: e.end_token,
                    end_byte: e.end_byte,
                    end_line: e.end_line,
                    end_col: e.end_col,
                    ..*s
                }
            };
            let (sa, sb) = (span(a, ea), span(b, eb));
            let stream = |s: &Span| {
                let at = files[s.file as usize].symbols_at as usize;
                let mut out = Vec::new();
                symbol::relative_to_fragment(
                    &table.symbols[at + s.first_token as usize..at + s.end_token as usize],
                    &mut out,
                );
                out
            };
            let verified = !sa.overlaps(&sb) && stream(&sa) == stream(&sb);
            verified.then_some(((a, ea), (b, eb)))
        })
        .collect();
    let runs = maximal(pairs, statements);

    let mut rows = Vec::with_capacity(runs.len());
    for (first, last) in runs {
        let s = &statements[first as usize].span;
        let e = &statements[last as usize].span;
        let file = &files[s.file as usize];
        let run = &statements[first as usize..=last as usize];
        let span = Span {
            end_token: e.end_token,
            end_byte: e.end_byte,
            end_line: e.end_line,
            end_col: e.end_col,
            ..*s
        };
        // The innermost fragment of the file that holds the run.
        let parent = (file.rows.0..file.rows.1)
            .rev()
            .find(|&r| table.spans[r as usize].contains(&span))
            .unwrap_or(NO_PARENT);
        rows.push(RunRow {
            span,
            exact: key_of_u32s(run.iter().map(|s| s.exact), TYPE1_SEED),
            renamed: key_of_u32s(run.iter().map(|s| s.renamed), TYPE2_SEED),
            group: file.group,
            category: Category::Block as u8,
            parent,
            symbols_at: file.symbols_at,
        });
    }
    let added = rows.len();
    let mut ordinals: HashMap<(u32, codetable_fingerprint::Hash128), u32> = HashMap::new();
    for row in rows {
        let ordinal = ordinals.entry((row.span.file, row.exact)).or_default();
        table.push_run(&files[row.span.file as usize].path, row, *ordinal);
        *ordinal += 1;
    }
    debug_assert!(
        table.kinds[table.len() - added..]
            .iter()
            .all(|k| k.is(FragmentKind::STATEMENT_RUN))
    );
    added
}

/// Window groups up to this size pair every two windows; larger ones (a statement shape
/// repeated all over a tree, or one run whose statements all look alike) pair each window
/// with the next one elsewhere only.
const ALL_PAIRS_UP_TO: usize = 16;

/// The statement ranges of runs, without the pairs that only repeat a longer pair shifted
/// (statements that all look alike align at every offset): a pair is dropped when another
/// pair of the same two bodies holds both its sides.
fn maximal(
    mut pairs: Vec<((u32, u32), (u32, u32))>,
    statements: &[codetable_fingerprint::StatementRecord],
) -> Vec<(u32, u32)> {
    let body = |s: u32| {
        let r = &statements[s as usize];
        (r.span.file, r.body)
    };
    // Same bodies together, longest first.
    pairs.sort_unstable_by_key(|&((a, ea), (b, _))| {
        (body(a), body(b), std::cmp::Reverse(ea - a), a, b)
    });
    let mut kept: Vec<((u32, u32), (u32, u32))> = Vec::new();
    let mut group_start = 0;
    for pair in pairs {
        let ((a, ea), (b, eb)) = pair;
        if kept
            .get(group_start)
            .is_some_and(|&((x, _), (y, _))| (body(x), body(y)) != (body(a), body(b)))
        {
            group_start = kept.len();
        }
        let inside = kept[group_start..]
            .iter()
            .any(|&((x, ex), (y, ey))| x <= a && ea <= ex && y <= b && eb <= ey);
        if !inside {
            kept.push(pair);
        }
    }
    let mut runs: Vec<(u32, u32)> = kept.into_iter().flat_map(|(p, q)| [p, q]).collect();
    runs.sort_unstable();
    runs.dedup();
    runs
}

/// What [`statement_runs`] needs to know of a file.
#[derive(Clone, Debug)]
pub struct RunFile {
    pub path: Vec<u8>,
    pub group: u16,
    /// Where the file's symbols start in the table's arena.
    pub symbols_at: u32,
    /// The file's rows, `first..end`.
    pub rows: (u32, u32),
}

fn mix(a: u64, b: u64) -> u64 {
    let x = (a ^ b.rotate_left(23)).wrapping_mul(0x9fb2_1c65_1e98_df25);
    x ^ (x >> 29)
}
