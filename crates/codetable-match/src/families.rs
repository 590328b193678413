//! From exact classes and verified edges to deterministic families, and their nesting.
//!
//! **Star clustering.** Classes are taken in order of how many fragments they reach
//! (their own members plus their neighbours'), largest first; an untaken class becomes a
//! family's centre and takes its untaken neighbours, unless a neighbour has a still-untaken
//! better match (by more than [`MatchConfig::best_match_margin`]), which it then stays for. Every member
//! is verified against the centre's representative, so families never chain; a swarm of
//! near copies that all verify against one another comes out as one family however large;
//! and a function and its new version stay together rather than each joining a
//! look-alike's family.
//!
//! **Nesting.** A family whose instances each sit inside a distinct instance of another
//! family is linked to it (`within`), and marked `subsumed` unless it is an exact copy
//! (Type-1 or Type-2) inside a near-miss family: that one stays visible.

use codetable_fingerprint::hash::family_id;

use codetable_fingerprint::{FragmentId, FragmentTable, Hash128, IdIndex, KeySet, NO_PARENT};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{Edge, ExactClasses, MatchConfig};

/// How alike the instances of a family are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CloneType {
    /// Identical but for layout and comments.
    #[serde(rename = "T1")]
    Type1,
    /// Identical once identifiers and literals are abstracted.
    #[serde(rename = "T2")]
    Type2,
    /// Near-miss: statements added, removed or changed.
    #[serde(rename = "T3")]
    Type3,
}

/// A clone family: fragments that are copies of one another.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Family {
    /// Stable: derived from the members' ids.
    pub id: u64,
    /// Member fragments, in table row order.
    pub members: Vec<FragmentId>,
    /// The member every other was verified against.
    pub representative: FragmentId,
    pub clone_type: CloneType,
    /// Lowest and highest Dice similarity (thousandths) of a member to the representative
    /// (1000 for exact copies).
    pub similarity_min: u32,
    pub similarity_max: u32,
    /// Lowest containment (thousandths of the shorter found in the longer) of a member and
    /// the representative.
    pub containment_min: u32,
    /// The family (index into the returned list) whose instances hold this family's, one
    /// each.
    pub within: Option<u32>,
    /// Nested in another family and adding nothing to it: anything nested in an exact
    /// family, and near-miss copies nested in a near-miss family.
    pub subsumed: bool,
}

const UNTAKEN: u32 = u32::MAX;

/// Stage 5: families from classes and edges, ordered by their first member's row.
pub fn families(
    table: &FragmentTable,
    classes: &ExactClasses,
    edges: &[Edge],
    config: &MatchConfig,
) -> Vec<Family> {
    let index = table.id_index();
    let mut families = stars(table, &index, classes, edges, config);
    families.par_sort_by_cached_key(|f| index.row(f.members[0]));
    link_nesting(table, &index, &mut families);
    families
}

/// What the families of an earlier run of the same tree tell about this one.
#[derive(Debug)]
pub struct Previous<'a> {
    /// (group, Type-2 key) of every fragment (statement runs included) added or removed
    /// since, and of every fragment of a file analysed again: the classes that may have
    /// changed.
    pub changed_keys: &'a KeySet<(u16, Hash128)>,
    /// The earlier representatives (sorted) and edges between them.
    pub representatives: &'a [FragmentId],
    pub edges: &'a [Edge],
    /// The earlier families (`within` and `subsumed` are recomputed).
    pub families: Vec<Family>,
}

/// [`families`], recomputing only what an edit can have changed. Star clustering and the
/// best-match pass only follow edges, so the families of a connected component of classes
/// (over edges) depend on that component alone. A component none of whose classes
/// changed (nor any class of the earlier component it was) keeps its earlier families; the
/// others are clustered again; nesting is linked again for all. The result is what
/// [`families`] gives, provided `changed_keys` holds the key of every fragment (statement
/// runs included) that is new, gone, or in a file analysed again.
pub fn families_since(
    table: &FragmentTable,
    classes: &ExactClasses,
    edges: &[Edge],
    config: &MatchConfig,
    previous: Previous,
) -> Vec<Family> {
    let index = table.id_index();
    let n = classes.len();
    let mut class_of_row = vec![UNTAKEN; table.len()];
    for c in 0..n {
        for &id in classes.class(c) {
            if let Some(r) = index.row(id) {
                class_of_row[r as usize] = c as u32;
            }
        }
    }
    let key_of_row = |r: u32| (table.kinds[r as usize].group, table.renamed[r as usize]);
    let first_row = |c: usize| {
        index
            .row(classes.class(c)[0])
            .expect("class members are rows")
    };
    let mut dirty: Vec<bool> = (0..n)
        .map(|c| previous.changed_keys.contains(&key_of_row(first_row(c))))
        .collect();
    // An earlier component with a changed class: all of its classes are clustered again.
    let old = &previous.representatives;
    let mut old_sets = UnionFind::new(old.len());
    for e in previous.edges {
        if let (Ok(a), Ok(b)) = (old.binary_search(&e.a), old.binary_search(&e.b)) {
            old_sets.union(a, b);
        }
    }
    let old_class = |k: usize| index.row(old[k]).map(|r| class_of_row[r as usize]);
    let mut old_dirty = vec![false; old.len()];
    for k in 0..old.len() {
        let changed = match old_class(k) {
            Some(c) if c != UNTAKEN => dirty[c as usize],
            _ => true,
        };
        if changed {
            old_dirty[old_sets.find(k)] = true;
        }
    }
    for k in 0..old.len() {
        if old_dirty[old_sets.find(k)]
            && let Some(c) = old_class(k).filter(|&c| c != UNTAKEN)
        {
            dirty[c as usize] = true;
        }
    }
    // Components now: one with a changed class is clustered again.
    let mut sets = UnionFind::new(n);
    let class_of_id = |id: FragmentId| index.row(id).map(|r| class_of_row[r as usize]);
    // Each edge's two classes (UNTAKEN when an end is not a row).
    let edge_classes: Vec<(u32, u32)> = edges
        .par_iter()
        .map(|e| match (class_of_id(e.a), class_of_id(e.b)) {
            (Some(a), Some(b)) => (a, b),
            _ => (UNTAKEN, UNTAKEN),
        })
        .collect();
    for &(a, b) in &edge_classes {
        if a != UNTAKEN {
            sets.union(a as usize, b as usize);
        }
    }
    let mut component_dirty = vec![false; n];
    for c in 0..n {
        if dirty[c] {
            component_dirty[sets.find(c)] = true;
        }
    }
    let redo: Vec<bool> = (0..n).map(|c| component_dirty[sets.find(c)]).collect();
    let mut kept: Vec<Family> = previous
        .families
        .into_par_iter()
        .filter(|f| {
            f.members
                .iter()
                .all(|&m| class_of_id(m).is_some_and(|c| c != UNTAKEN && !redo[c as usize]))
        })
        .map(|f| Family {
            within: None,
            subsumed: false,
            ..f
        })
        .collect();
    let mut subset = ExactClasses {
        members: Vec::new(),
        starts: vec![0],
    };
    for c in (0..n).filter(|&c| redo[c]) {
        subset.members.extend_from_slice(classes.class(c));
        subset.starts.push(subset.members.len() as u32);
    }
    let subset_edges: Vec<Edge> = edges
        .iter()
        .zip(&edge_classes)
        .filter(|(_, (a, _))| *a != UNTAKEN && redo[*a as usize])
        .map(|(e, _)| *e)
        .collect();
    kept.extend(stars(table, &index, &subset, &subset_edges, config));
    kept.par_sort_by_cached_key(|f| index.row(f.members[0]));
    link_nesting(table, &index, &mut kept);
    kept
}

/// Disjoint sets with path halving.
struct UnionFind(Vec<usize>);

impl UnionFind {
    fn new(n: usize) -> UnionFind {
        UnionFind((0..n).collect())
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.0[x] != x {
            self.0[x] = self.0[self.0[x]];
            x = self.0[x];
        }
        x
    }

    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.0[a.max(b)] = a.min(b);
        }
    }
}

/// Star clustering and the best-match pass over `classes`: the families, unordered and
/// not yet nested.
fn stars(
    table: &FragmentTable,
    index: &IdIndex,
    classes: &ExactClasses,
    edges: &[Edge],
    config: &MatchConfig,
) -> Vec<Family> {
    let class_rows: Vec<Vec<u32>> = (0..classes.len())
        .into_par_iter()
        .map(|c| {
            let mut rows: Vec<u32> = classes
                .class(c)
                .iter()
                .filter_map(|&id| index.row(id))
                .collect();
            // Copies never overlap: of overlapping members (a statement shape repeated
            // along one body aligns with itself shifted), the representative (listed
            // first) and then the earliest stay.
            rows[1..].sort_unstable();
            let mut occupied = Occupied::default();
            rows.retain(|&r| {
                let free = !occupied.overlaps(table, &[r]);
                if free {
                    occupied.add(table, &[r]);
                }
                free
            });
            rows.sort_unstable();
            rows
        })
        .collect();
    let mut class_of = vec![UNTAKEN; table.len()];
    for (c, rows) in class_rows.iter().enumerate() {
        for &r in rows {
            class_of[r as usize] = c as u32;
        }
    }
    let representatives: Vec<u32> = (0..classes.len())
        .map(|c| {
            index
                .row(classes.class(c)[0])
                .expect("class members are rows")
        })
        .collect();
    let representative = |c: u32| representatives[c as usize];

    // Neighbours of each class: (class, similarity, containment), best first.
    let mut neighbors: Vec<Vec<(u32, u32, u32)>> = vec![Vec::new(); classes.len()];
    for e in edges {
        let (Some(a), Some(b)) = (index.row(e.a), index.row(e.b)) else {
            continue;
        };
        let (ca, cb) = (class_of[a as usize], class_of[b as usize]);
        let (la, lb) = (
            table.spans[a as usize].tokens(),
            table.spans[b as usize].tokens(),
        );
        let containment = crate::containment_milli(e.lcs, la, lb);
        neighbors[ca as usize].push((cb, e.similarity, containment));
        neighbors[cb as usize].push((ca, e.similarity, containment));
    }
    for list in &mut neighbors {
        list.sort_unstable_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    }

    let size = |c: u32| class_rows[c as usize].len() as u64;
    let reach: Vec<u64> = (0..classes.len() as u32)
        .map(|c| {
            size(c)
                + neighbors[c as usize]
                    .iter()
                    .map(|&(n, ..)| size(n))
                    .sum::<u64>()
        })
        .collect();
    let mut keyed: Vec<_> = (0..classes.len() as u32)
        .map(|c| {
            let r = representative(c) as usize;
            (
                std::cmp::Reverse(reach[c as usize]),
                std::cmp::Reverse(table.spans[r].tokens()),
                table.ids[r],
                c,
            )
        })
        .collect();
    keyed.par_sort_unstable();
    let order: Vec<u32> = keyed.into_iter().map(|k| k.3).collect();

    // Stars: each class's cluster, each cluster's centre and rows, and each class's
    // similarity and containment to its centre (1000 for the centre).
    let mut cluster_of = vec![UNTAKEN; classes.len()];
    let mut centres: Vec<u32> = Vec::new();
    let mut rows: Vec<Vec<u32>> = Vec::new();
    let mut to_centre = vec![(1000u32, 1000u32); classes.len()];
    let mut occupancy: Vec<Occupied> = Vec::new();
    for &centre in &order {
        if cluster_of[centre as usize] != UNTAKEN {
            continue;
        }
        let id = centres.len() as u32;
        cluster_of[centre as usize] = id;
        let mut members = class_rows[centre as usize].clone();
        let mut occupied = Occupied::default();
        occupied.add(table, &members);
        for &(n, similarity, containment) in &neighbors[centre as usize] {
            if cluster_of[n as usize] != UNTAKEN {
                continue;
            }
            // A fragment and one nested in it are never copies of each other.
            if occupied.overlaps(table, &class_rows[n as usize]) {
                continue;
            }
            cluster_of[n as usize] = id;
            to_centre[n as usize] = (similarity, containment);
            members.extend_from_slice(&class_rows[n as usize]);
            occupied.add(table, &class_rows[n as usize]);
        }
        centres.push(centre);
        rows.push(members);
        occupancy.push(occupied);
    }
    let mut joined: Vec<usize> = rows.iter().map(|_| 0).collect();
    for (c, &k) in cluster_of.iter().enumerate() {
        joined[k as usize] += (centres[k as usize] != c as u32) as usize;
    }

    // Best matches brought together: a class that is not a centre of others joins the
    // family of its best match when it verifies against that family's centre and is more
    // alike its best match than its own centre. A second pass lets classes follow best
    // matches that moved in the first.
    let mut verifier = crate::Verifier::default();
    for &x in order.iter().chain(order.iter()) {
        let own = cluster_of[x as usize] as usize;
        if centres[own] == x && joined[own] > 0 {
            continue;
        }
        let Some(&(y, best, _)) = neighbors[x as usize].first() else {
            continue;
        };
        let target = cluster_of[y as usize] as usize;
        let own_similarity = if centres[own] == x {
            0
        } else {
            to_centre[x as usize].0
        };
        if target == own || best <= own_similarity {
            continue;
        }
        let centre = centres[target];
        let link = match neighbors[x as usize].iter().find(|&&(n, ..)| n == centre) {
            Some(&(_, s, c)) => Some((s, c)),
            None => {
                let (a, b) = (representative(centre), representative(x));
                let (sa, sb) = (table.stream(a), table.stream(b));
                let (la, lb) = (sa.len() as u32, sb.len() as u32);
                verifier
                    .lcs_at_least(a, sa, sb, crate::needed_lcs(la, lb, config))
                    .map(|lcs| {
                        (
                            crate::similarity_milli(lcs, la, lb),
                            crate::containment_milli(lcs, la, lb),
                        )
                    })
            }
        };
        let Some(link) = link else {
            continue;
        };
        if occupancy[target].overlaps(table, &class_rows[x as usize]) {
            continue;
        }
        rows[own].retain(|r| class_of[*r as usize] != x);
        occupancy[own].remove(table, &class_rows[x as usize]);
        occupancy[target].add(table, &class_rows[x as usize]);
        if centres[own] != x {
            joined[own] -= 1;
        }
        rows[target].extend_from_slice(&class_rows[x as usize]);
        joined[target] += 1;
        cluster_of[x as usize] = target as u32;
        to_centre[x as usize] = link;
    }

    let mut families: Vec<Family> = Vec::new();
    for (k, mut members) in rows.into_iter().enumerate() {
        if members.len() < 2 {
            continue;
        }
        members.sort_unstable();
        let centre = centres[k];
        let mut member_classes: Vec<u32> = members.iter().map(|&r| class_of[r as usize]).collect();
        member_classes.sort_unstable();
        member_classes.dedup();
        let others = member_classes.iter().filter(|&&c| c != centre);
        let (mut low, mut high, mut contained) = (1000u32, 0u32, 1000u32);
        for &c in others.clone() {
            let (s, k) = to_centre[c as usize];
            low = low.min(s);
            high = high.max(s);
            contained = contained.min(k);
        }
        let near = others.count() > 0;
        let clone_type = if near {
            CloneType::Type3
        } else if members
            .iter()
            .all(|&m| table.exact[m as usize] == table.exact[members[0] as usize])
        {
            CloneType::Type1
        } else {
            CloneType::Type2
        };
        let exact_pair = class_rows[centre as usize].len() > 1;
        let (similarity_min, similarity_max, containment_min) = if near {
            (low, if exact_pair { 1000 } else { high }, contained)
        } else {
            (1000, 1000, 1000)
        };
        families.push(Family {
            id: family_id(members.iter().map(|&m| table.ids[m as usize])),
            members: members.iter().map(|&m| table.ids[m as usize]).collect(),
            representative: table.ids[representative(centre) as usize],
            clone_type,
            similarity_min,
            similarity_max,
            containment_min,
            within: None,
            subsumed: false,
        });
    }
    families
}

/// The token ranges a cluster holds, by file, for telling whether a class joining it
/// overlaps a member (a fragment and one nested in it are never copies of each other).
#[derive(Default)]
struct Occupied(Vec<(u32, u32, u32)>);

impl Occupied {
    fn add(&mut self, table: &FragmentTable, rows: &[u32]) {
        let spans = rows.iter().map(|&r| {
            let s = &table.spans[r as usize];
            (s.file, s.first_token, s.end_token)
        });
        if rows.len() > 8 {
            self.0.extend(spans);
            self.0.sort_unstable();
        } else {
            for span in spans {
                let at = self.0.partition_point(|&x| x < span);
                self.0.insert(at, span);
            }
        }
    }

    fn remove(&mut self, table: &FragmentTable, rows: &[u32]) {
        for &r in rows {
            let s = &table.spans[r as usize];
            let span = (s.file, s.first_token, s.end_token);
            if let Ok(at) = self.0.binary_search(&span) {
                self.0.remove(at);
            }
        }
    }

    fn overlaps(&self, table: &FragmentTable, rows: &[u32]) -> bool {
        rows.iter().any(|&r| {
            let s = &table.spans[r as usize];
            let at = self.0.partition_point(|&(f, ..)| f < s.file);
            self.0[at..]
                .iter()
                .take_while(|&&(f, ..)| f == s.file)
                .any(|&(_, first, end)| first < s.end_token && s.first_token < end)
        })
    }
}

/// Sets `within` and `subsumed`: the nearest family that holds each instance of a family
/// in a distinct instance of its own.
fn link_nesting(table: &FragmentTable, index: &IdIndex, families: &mut [Family]) {
    let mut family_of = vec![UNTAKEN; table.len()];
    let rows: Vec<Vec<u32>> = families
        .iter()
        .map(|f| f.members.iter().filter_map(|&m| index.row(m)).collect())
        .collect();
    for (f, members) in rows.iter().enumerate() {
        for &m in members {
            family_of[m as usize] = f as u32;
        }
    }
    let ancestors = |mut r: u32| {
        std::iter::from_fn(move || {
            r = table.parents[r as usize];
            (r != NO_PARENT).then_some(r)
        })
    };
    for (f, members) in rows.iter().enumerate() {
        let containers = ancestors(members[0])
            .map(|a| family_of[a as usize])
            .filter(|&g| g != UNTAKEN && g != f as u32);
        let within = containers.into_iter().find(|&g| {
            let mut holders: Vec<u32> = Vec::with_capacity(members.len());
            for &m in members {
                match ancestors(m).find(|&a| family_of[a as usize] == g) {
                    Some(a) => holders.push(a),
                    None => return false,
                }
            }
            holders.sort_unstable();
            holders.windows(2).all(|w| w[0] != w[1])
        });
        if let Some(g) = within {
            families[f].within = Some(g);
            // Only an exact copy inside a near-miss family says more than its container.
            families[f].subsumed = families[g as usize].clone_type != CloneType::Type3
                || families[f].clone_type == CloneType::Type3;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Spec, spec, stream, table};
    use crate::{MatchConfig, find_families};
    use codetable_fingerprint::Sketch;

    fn run(files: &[Vec<Spec>]) -> (FragmentTable, Vec<Family>) {
        let table = table(files);
        let families = find_families(&table, &MatchConfig::default()).0;
        (table, families)
    }

    fn rows(table: &FragmentTable, family: &Family) -> Vec<u32> {
        let index = table.id_index();
        family
            .members
            .iter()
            .map(|&m| index.row(m).unwrap())
            .collect()
    }

    /// Files of near copies: each file holds one fragment made from one of a few
    /// prototypes with some bins and symbols changed, so classes, edges and components of
    /// several sizes form.
    fn swarm_file(seed: u64) -> Vec<Spec> {
        let mut next = crate::testing::xorshift(seed | 1);
        let prototype = next() % 5;
        let exact = next().is_multiple_of(3);
        let mut bins = [0u32; 64];
        for (b, bin) in bins.iter_mut().enumerate() {
            *bin = if exact || next() % 100 < 85 {
                prototype as u32 * 1000 + b as u32
            } else {
                next() as u32 & 0x7fff_ffff
            };
        }
        let mut symbols = stream(prototype as u16, 120);
        if !exact {
            for _ in 0..next() % 12 {
                let at = (next() % 120) as usize;
                symbols[at] = (next() % 97) as u16;
            }
        }
        let key = symbols
            .iter()
            .fold(prototype, |h, &x| h.wrapping_mul(31) ^ x as u64);
        vec![spec(key, key, symbols, Sketch(bins))]
    }

    #[test]
    fn families_since_an_edit_are_the_families_of_a_cold_run() {
        let config = MatchConfig::default();
        let mut next = crate::testing::xorshift(99);
        let mut seeds: Vec<u64> = (0..60).map(|_| next()).collect();
        let mut near = 0;
        let state = |seeds: &[u64]| {
            let table = table(&seeds.iter().map(|&s| swarm_file(s)).collect::<Vec<_>>());
            let classes = crate::exact_classes(&table);
            let (_, edges) =
                crate::near_edges(&table, &classes, &config, &crate::Backend::Cpu).unwrap();
            let families = families(&table, &classes, &edges, &config);
            let mut representatives: Vec<FragmentId> = crate::representatives(&table, &classes)
                .iter()
                .map(|&r| table.ids[r as usize])
                .collect();
            representatives.sort_unstable();
            (table, classes, edges, families, representatives)
        };
        for round in 0..30 {
            let before = seeds.clone();
            // Change, add or remove a few files (files are named by position, so a change
            // at position k renames the files after it too when the count moves).
            for _ in 0..1 + next() % 3 {
                let k = (next() % seeds.len() as u64) as usize;
                match next() % 3 {
                    0 => seeds[k] = next(),
                    1 => seeds.push(next()),
                    _ => {
                        seeds.remove(k);
                    }
                }
            }
            let (old_table, _, old_edges, old_families, old_representatives) = state(&before);
            let (table, classes, edges, cold, _) = state(&seeds);
            // Files whose content or name differ: their keys changed on both sides.
            let key = |t: &FragmentTable, r: usize| (t.kinds[r].group, t.renamed[r]);
            let ids: KeySet<FragmentId> = table.ids.iter().copied().collect();
            let old_ids: KeySet<FragmentId> = old_table.ids.iter().copied().collect();
            let mut changed: KeySet<(u16, Hash128)> = KeySet::default();
            changed.extend(
                (0..table.len())
                    .filter(|&r| !old_ids.contains(&table.ids[r]))
                    .map(|r| key(&table, r)),
            );
            changed.extend(
                (0..old_table.len())
                    .filter(|&r| !ids.contains(&old_table.ids[r]))
                    .map(|r| key(&old_table, r)),
            );
            let since = families_since(
                &table,
                &classes,
                &edges,
                &config,
                Previous {
                    changed_keys: &changed,
                    representatives: &old_representatives,
                    edges: &old_edges,
                    families: old_families,
                },
            );
            assert_eq!(since, cold, "round {round}");
            near += cold
                .iter()
                .filter(|f| f.clone_type == CloneType::Type3)
                .count();
        }
        assert!(near > 30, "{near}");
    }

    #[test]
    fn exact_classes_are_typed() {
        let (s, t) = (Sketch([1; 64]), Sketch([2; 64]));
        let (table, families) = run(&[
            vec![spec(1, 10, stream(0, 60), s)],
            vec![spec(1, 10, stream(0, 60), s)],
            vec![spec(2, 20, stream(5, 60), t)],
            vec![spec(3, 20, stream(5, 60), t)],
        ]);
        let found: Vec<_> = families
            .iter()
            .map(|f| (rows(&table, f), f.clone_type))
            .collect();
        assert_eq!(
            found,
            [
                (vec![0, 1], CloneType::Type1),
                (vec![2, 3], CloneType::Type2)
            ]
        );
    }

    #[test]
    fn near_misses_join_when_verified_and_not_otherwise() {
        let base = stream(0, 100);
        let mut edited = base.clone();
        edited.splice(40..50, [1, 2, 3]);
        let unrelated: Vec<u16> = (0..100).map(|i| 200 + i % 7).collect();
        let s = Sketch([9; 64]);
        let (table, families) = run(&[
            vec![spec(1, 1, base, s)],
            vec![spec(2, 2, edited, s)],
            vec![spec(3, 3, unrelated, s)],
        ]);
        assert_eq!(families.len(), 1);
        assert_eq!(rows(&table, &families[0]), [0, 1]);
        assert_eq!(families[0].clone_type, CloneType::Type3);
        assert!(families[0].similarity_min > 850 && families[0].similarity_min < 1000);
    }

    #[test]
    fn a_swarm_of_near_copies_is_one_family_verified_against_its_centre() {
        let base = stream(3, 200);
        let files: Vec<Vec<Spec>> = (0..40u16)
            .map(|k| {
                let mut copy = base.clone();
                for i in 0..3 {
                    copy[((k * 37 + i * 61) % 200) as usize] = 500 + k;
                }
                vec![spec(k as u64, k as u64, copy, Sketch([9; 64]))]
            })
            .collect();
        let (_, families) = run(&files);
        assert_eq!(families.len(), 1);
        assert_eq!(families[0].members.len(), 40);
        assert!(families[0].similarity_min >= 950);
    }

    #[test]
    fn nested_copies_are_linked_and_hidden_only_inside_an_exact_copy() {
        // Two copied functions, each holding a copied loop at its start.
        let s = Sketch([4; 64]);
        let nested = |function: Vec<u16>, exact: u64, renamed: u64| {
            let mut child = spec(7, 7, function[..60].to_vec(), s);
            child.parent = Some(0);
            vec![spec(exact, renamed, function, s), child]
        };
        let (_, families) = run(&[nested(stream(1, 80), 1, 1), nested(stream(1, 80), 1, 1)]);
        assert_eq!(families.len(), 2);
        let (outer, inner) = (&families[0], &families[1]);
        assert_eq!(outer.within, None);
        assert_eq!(inner.within, Some(0));
        assert!(
            inner.subsumed,
            "an exact copy inside an exact copy adds nothing"
        );

        // The functions differ near their end (a near-miss); the loop is still an exact
        // copy, and stands on its own.
        let mut edited = stream(1, 80);
        edited[70..78].copy_from_slice(&[900; 8]);
        let (_, families) = run(&[nested(stream(1, 80), 1, 1), nested(edited, 2, 2)]);
        let inner = families.iter().find(|f| f.within.is_some()).unwrap();
        assert_eq!(
            families[inner.within.unwrap() as usize].clone_type,
            CloneType::Type3
        );
        assert!(
            !inner.subsumed,
            "an exact copy inside a near-miss family stands alone"
        );
    }
}
