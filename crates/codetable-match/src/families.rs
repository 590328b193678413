//! From exact classes and verified edges to deterministic families, and their nesting.
//!
//! **Star clustering.** Classes are taken in order of how many fragments they reach
//! (their own members plus their neighbours'), largest first; an untaken class becomes a
//! family's centre and takes its untaken neighbours, unless a neighbour has a still-untaken
//! better match (by more than [`BEST_MATCH_MARGIN`]), which it then stays for. Every member
//! is verified against the centre's representative, so families never chain; a swarm of
//! near copies that all verify against one another comes out as one family however large;
//! and a function and its new version stay together rather than each joining a
//! look-alike's family.
//!
//! **Nesting.** A family whose instances each sit inside a distinct instance of another
//! family is linked to it (`within`), and marked `subsumed` when the container is of the
//! same or a stronger clone type: a Type-1 copy inside a near-miss family stays visible.

use codetable_fingerprint::hash::family_id;
use codetable_fingerprint::{FragmentId, FragmentTable, NO_PARENT};
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
    /// Nested in a family of the same or a stronger clone type: part of that copy.
    pub subsumed: bool,
}

/// A class stays for a better untaken match when it beats the centre's by more than this
/// (thousandths).
pub const BEST_MATCH_MARGIN: u32 = 30;

const UNTAKEN: u32 = u32::MAX;

/// Stage 5: families from classes and edges, ordered by their first member's row.
pub fn families(
    table: &FragmentTable,
    classes: &ExactClasses,
    edges: &[Edge],
    _config: &MatchConfig,
) -> Vec<Family> {
    let index = table.id_index();
    let class_rows: Vec<Vec<u32>> = (0..classes.len())
        .map(|c| {
            let mut rows: Vec<u32> = classes
                .class(c)
                .iter()
                .filter_map(|&id| index.row(id))
                .collect();
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
    let representative = |c: u32| -> u32 {
        index
            .row(classes.class(c as usize)[0])
            .expect("class members are rows")
    };

    // Neighbours of each class: (class, similarity, containment), best first.
    let mut neighbors: Vec<Vec<(u32, u32, u32)>> = vec![Vec::new(); classes.len()];
    for e in edges {
        let (Some(a), Some(b)) = (index.row(e.a), index.row(e.b)) else {
            continue;
        };
        let (ca, cb) = (class_of[a as usize], class_of[b as usize]);
        let (la, lb) = (table.spans[a as usize].tokens(), table.spans[b as usize].tokens());
        let containment = crate::containment_milli(e.lcs, la, lb);
        neighbors[ca as usize].push((cb, e.similarity, containment));
        neighbors[cb as usize].push((ca, e.similarity, containment));
    }
    for list in &mut neighbors {
        list.sort_unstable_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    }

    let size = |c: u32| class_rows[c as usize].len() as u64;
    let reach: Vec<u64> = (0..classes.len() as u32)
        .map(|c| size(c) + neighbors[c as usize].iter().map(|&(n, ..)| size(n)).sum::<u64>())
        .collect();
    let mut order: Vec<u32> = (0..classes.len() as u32).collect();
    order.sort_unstable_by_key(|&c| {
        let r = representative(c) as usize;
        (
            std::cmp::Reverse(reach[c as usize]),
            std::cmp::Reverse(table.spans[r].tokens()),
            table.ids[r],
        )
    });

    let overlaps = |members: &[u32], joining: &[u32]| {
        joining.iter().any(|&j| {
            members
                .iter()
                .any(|&m| table.spans[j as usize].overlaps(&table.spans[m as usize]))
        })
    };
    let mut cluster_of = vec![UNTAKEN; classes.len()];
    let mut families = Vec::new();
    for &centre in &order {
        if cluster_of[centre as usize] != UNTAKEN {
            continue;
        }
        let id = families.len() as u32;
        cluster_of[centre as usize] = id;
        let mut members = class_rows[centre as usize].clone();
        let mut joined = 0usize;
        let (mut low, mut high, mut contained) = (1000u32, 0u32, 1000u32);
        for &(n, similarity, containment) in &neighbors[centre as usize] {
            if cluster_of[n as usize] != UNTAKEN {
                continue;
            }
            // A better untaken match elsewhere keeps `n` for it.
            let better = neighbors[n as usize]
                .iter()
                .find(|&&(m, ..)| m != centre && cluster_of[m as usize] == UNTAKEN)
                .is_some_and(|&(_, s, _)| s > similarity + BEST_MATCH_MARGIN);
            // A fragment and one nested in it are never copies of each other.
            if better || overlaps(&members, &class_rows[n as usize]) {
                continue;
            }
            cluster_of[n as usize] = id;
            members.extend_from_slice(&class_rows[n as usize]);
            joined += 1;
            low = low.min(similarity);
            high = high.max(similarity);
            contained = contained.min(containment);
        }
        if members.len() < 2 {
            families.push(None);
            continue;
        }
        members.sort_unstable();
        let exact_pair = class_rows[centre as usize].len() > 1;
        let clone_type = if joined > 0 {
            CloneType::Type3
        } else if members
            .iter()
            .all(|&m| table.exact[m as usize] == table.exact[members[0] as usize])
        {
            CloneType::Type1
        } else {
            CloneType::Type2
        };
        let (similarity_min, similarity_max, containment_min) = if joined == 0 {
            (1000, 1000, 1000)
        } else {
            (low, if exact_pair { 1000 } else { high }, contained)
        };
        families.push(Some((
            members,
            representative(centre),
            clone_type,
            similarity_min,
            similarity_max,
            containment_min,
        )));
    }
    let mut families: Vec<Family> = families
        .into_iter()
        .flatten()
        .map(|(members, rep, clone_type, low, high, contained)| Family {
            id: family_id(members.iter().map(|&m| table.ids[m as usize])),
            members: members.iter().map(|&m| table.ids[m as usize]).collect(),
            representative: table.ids[rep as usize],
            clone_type,
            similarity_min: low,
            similarity_max: high,
            containment_min: contained,
            within: None,
            subsumed: false,
        })
        .collect();
    families.sort_by_key(|f| index.row(f.members[0]));
    link_nesting(table, &index, &mut families);
    families
}

/// Sets `within` and `subsumed`: the nearest family that holds each instance of a family
/// in a distinct instance of its own.
fn link_nesting(
    table: &FragmentTable,
    index: &codetable_fingerprint::IdIndex,
    families: &mut [Family],
) {
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
            families[f].subsumed = families[g as usize].clone_type <= families[f].clone_type;
        }
    }
}
