//! From exact classes and near-miss edges to deterministic, subsumption-free families.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::near::near_miss_edges;
use crate::{Entry, MatchConfig};

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

/// A clone class: fragments that are copies of one another.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    /// Indices into the matched entries, ascending.
    pub members: Vec<u32>,
    pub clone_type: CloneType,
    /// Lowest and highest verified pairwise similarity (1.0 for exact classes).
    pub similarity_min: f64,
    pub similarity_max: f64,
}

/// Counters of one matching run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchStats {
    /// Fragments matched.
    pub fragments: u64,
    /// Distinct abstracted token streams (exact classes).
    pub exact_classes: u64,
    /// Near-miss candidate pairs produced by LSH.
    pub candidate_pairs: u64,
    /// Candidate pairs that passed verification.
    pub verified_pairs: u64,
    /// Families dropped because a larger family holds all their instances.
    pub subsumed_families: u64,
}

const NONE: u32 = u32::MAX;

/// Groups `entries` into clone families. Same input, same output.
pub fn find_families(entries: &[Entry], config: &MatchConfig) -> (Vec<Family>, MatchStats) {
    let mut stats = MatchStats {
        fragments: entries.len() as u64,
        ..MatchStats::default()
    };

    // 1. Exact classes by abstracted hash; members ascending.
    let mut order: Vec<u32> = (0..entries.len() as u32).collect();
    order.par_sort_unstable_by_key(|&i| {
        let e = &entries[i as usize];
        (e.group, e.renamed_hash, i)
    });
    let classes: Vec<&[u32]> = order
        .chunk_by(|&a, &b| {
            let (a, b) = (&entries[a as usize], &entries[b as usize]);
            (a.group, a.renamed_hash) == (b.group, b.renamed_hash)
        })
        .collect();
    stats.exact_classes = classes.len() as u64;
    let mut class_of = vec![NONE; entries.len()];
    for (c, members) in classes.iter().enumerate() {
        for &m in *members {
            class_of[m as usize] = c as u32;
        }
    }

    // 2. Near-miss edges between class representatives.
    let edges = if config.near_miss {
        let representatives: Vec<u32> = classes.iter().map(|c| c[0]).collect();
        let (edges, near) = near_miss_edges(entries, &representatives, config);
        stats.candidate_pairs = near.candidates;
        stats.verified_pairs = near.verified;
        edges
    } else {
        Vec::new()
    };

    // 3. Leader clustering of classes: the largest class not yet taken leads a family of its
    //    untaken neighbours, most similar first. Every member is verified against its
    //    leader (or, for a class left alone, against its best match inside the family), so
    //    families never chain unrelated code through intermediaries; a nested fragment
    //    never joins the family of its enclosing one.
    let mut neighbors: Vec<Vec<(u32, f64)>> = vec![Vec::new(); classes.len()];
    for e in &edges {
        let (a, b) = (class_of[e.a as usize], class_of[e.b as usize]);
        neighbors[a as usize].push((b, e.similarity));
        neighbors[b as usize].push((a, e.similarity));
    }
    for list in &mut neighbors {
        list.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
    }
    let size = |c: u32| entries[classes[c as usize][0] as usize].tokens.len();
    let mut order: Vec<u32> = (0..classes.len() as u32).collect();
    order.sort_by_key(|&c| (std::cmp::Reverse(size(c)), c));
    // A cluster in the making: its classes, their members, and the similarity range of
    // the edges that brought classes in.
    struct Cluster {
        classes: Vec<u32>,
        members: Vec<u32>,
        low: f64,
        high: f64,
    }
    let overlaps = |members: &[u32], joining: &[u32]| {
        joining.iter().any(|&j| {
            members
                .iter()
                .any(|&m| entries[j as usize].overlaps(&entries[m as usize]))
        })
    };
    const UNTAKEN: u32 = u32::MAX;
    let mut cluster_of = vec![UNTAKEN; classes.len()];
    let mut clusters: Vec<Cluster> = Vec::new();
    for &leader in &order {
        if cluster_of[leader as usize] != UNTAKEN {
            continue;
        }
        let id = clusters.len() as u32;
        cluster_of[leader as usize] = id;
        let mut cluster = Cluster {
            classes: vec![leader],
            members: classes[leader as usize].to_vec(),
            low: f64::INFINITY,
            high: f64::NEG_INFINITY,
        };
        for &(n, similarity) in &neighbors[leader as usize] {
            let joining = classes[n as usize];
            // A fragment and one nested in it are never copies of each other.
            if cluster_of[n as usize] == UNTAKEN && !overlaps(&cluster.members, joining) {
                cluster_of[n as usize] = id;
                cluster.classes.push(n);
                cluster.members.extend_from_slice(joining);
                cluster.low = cluster.low.min(similarity);
                cluster.high = cluster.high.max(similarity);
            }
        }
        clusters.push(cluster);
    }
    // A class left alone whose best match was taken into a family of several classes joins
    // that family: one hop past a member verified against the leader, never more.
    let leader_pass_size: Vec<usize> = clusters.iter().map(|c| c.classes.len()).collect();
    for &c in &order {
        let own = cluster_of[c as usize] as usize;
        if leader_pass_size[own] != 1 {
            continue;
        }
        let Some(&(n, similarity)) = neighbors[c as usize].first() else {
            continue;
        };
        let target = cluster_of[n as usize] as usize;
        if leader_pass_size[target] < 2 || overlaps(&clusters[target].members, classes[c as usize])
        {
            continue;
        }
        clusters[own].classes.clear();
        clusters[own].members.clear();
        let cluster = &mut clusters[target];
        cluster.classes.push(c);
        cluster.members.extend_from_slice(classes[c as usize]);
        cluster.low = cluster.low.min(similarity);
        cluster.high = cluster.high.max(similarity);
    }

    let mut families = Vec::new();
    for mut cluster in clusters {
        if cluster.classes.is_empty() || cluster.members.len() < 2 {
            continue;
        }
        cluster.members.sort_unstable();
        let family = if cluster.classes.len() == 1 {
            let first = entries[cluster.members[0] as usize].exact_hash;
            let verbatim = cluster
                .members
                .iter()
                .all(|&m| entries[m as usize].exact_hash == first);
            Family {
                members: cluster.members,
                clone_type: if verbatim {
                    CloneType::Type1
                } else {
                    CloneType::Type2
                },
                similarity_min: 1.0,
                similarity_max: 1.0,
            }
        } else {
            let exact_pair = cluster
                .classes
                .iter()
                .any(|&c| classes[c as usize].len() > 1);
            Family {
                members: cluster.members,
                clone_type: CloneType::Type3,
                similarity_min: cluster.low,
                similarity_max: if exact_pair { 1.0 } else { cluster.high },
            }
        };
        families.push(family);
    }
    families.sort_by_key(|f| f.members[0]);

    // 4. Subsumption.
    let before = families.len();
    let families = drop_subsumed(entries, families);
    stats.subsumed_families = (before - families.len()) as u64;
    (families, stats)
}

/// Drops every family whose instances each sit inside a distinct instance of one other
/// family: the nested copy is part of the larger one.
fn drop_subsumed(entries: &[Entry], families: Vec<Family>) -> Vec<Family> {
    let mut family_of = vec![NONE; entries.len()];
    for (f, family) in families.iter().enumerate() {
        for &m in &family.members {
            family_of[m as usize] = f as u32;
        }
    }
    let ancestors = |mut i: u32| {
        std::iter::from_fn(move || {
            i = entries[i as usize].parent?;
            Some(i)
        })
    };
    let subsumed: Vec<bool> = families
        .par_iter()
        .enumerate()
        .map(|(f, family)| {
            let candidates = ancestors(family.members[0])
                .map(|a| family_of[a as usize])
                .filter(|&g| g != NONE && g != f as u32);
            candidates.into_iter().any(|g| {
                let mut containers: Vec<u32> = Vec::with_capacity(family.members.len());
                for &m in &family.members {
                    match ancestors(m).find(|&a| family_of[a as usize] == g) {
                        Some(a) => containers.push(a),
                        None => return false,
                    }
                }
                containers.sort_unstable();
                containers.windows(2).all(|w| w[0] != w[1])
            })
        })
        .collect();
    families
        .into_iter()
        .zip(subsumed)
        .filter_map(|(family, gone)| (!gone).then_some(family))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use codetable_fingerprint::Sketch;

    struct Spec {
        exact: u64,
        renamed: u64,
        tokens: Vec<u16>,
        file: u32,
        first: u32,
        parent: Option<u32>,
    }

    fn spec(exact: u64, renamed: u64, tokens: Vec<u16>, file: u32) -> Spec {
        Spec {
            exact,
            renamed,
            tokens,
            file,
            first: 0,
            parent: None,
        }
    }

    fn run(specs: &[Spec], sketches: &[Sketch]) -> Vec<Family> {
        let entries: Vec<Entry> = specs
            .iter()
            .zip(sketches)
            .map(|(s, sketch)| Entry {
                exact_hash: s.exact,
                renamed_hash: s.renamed,
                group: 0,
                sketch,
                tokens: &s.tokens,
                file: s.file,
                first_token: s.first,
                parent: s.parent,
                lines: s.tokens.len() as u32 / 5,
            })
            .collect();
        find_families(&entries, &MatchConfig::default()).0
    }

    fn stream(seed: u16, len: u16) -> Vec<u16> {
        (0..len)
            .map(|i| i.wrapping_mul(31).wrapping_add(seed) % 97)
            .collect()
    }

    #[test]
    fn exact_classes_are_typed() {
        let s = Sketch([1; 64]);
        let t = stream(0, 60);
        let families = run(
            &[
                spec(1, 10, t.clone(), 0),
                spec(1, 10, t.clone(), 1),
                spec(2, 20, stream(5, 60), 2),
                spec(3, 20, stream(5, 60), 3),
            ],
            &[s, s, Sketch([2; 64]), Sketch([2; 64])],
        );
        let types: Vec<_> = families
            .iter()
            .map(|f| (f.members.clone(), f.clone_type))
            .collect();
        assert_eq!(
            types,
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
        let families = run(
            &[
                spec(1, 1, base, 0),
                spec(2, 2, edited, 1),
                spec(3, 3, unrelated, 2),
            ],
            &[s, s, s],
        );
        assert_eq!(families.len(), 1);
        assert_eq!(families[0].members, [0, 1]);
        assert_eq!(families[0].clone_type, CloneType::Type3);
        assert!(families[0].similarity_min > 0.85 && families[0].similarity_min < 1.0);
    }

    #[test]
    fn a_class_left_alone_joins_its_best_match_but_chains_stop_there() {
        let base = stream(3, 200);
        let substitute = |from: &[u16], range: std::ops::Range<usize>| {
            let mut out = from.to_vec();
            for i in range {
                out[i] = 500 + i as u16;
            }
            out
        };
        let a = substitute(&base, 0..30); // 0.85 to the leader
        let c = substitute(&a, 100..140); // 0.80 to `a`, 0.65 to the leader
        let s = Sketch([9; 64]);
        let specs = [
            spec(1, 1, base.clone(), 0),
            spec(2, 2, a.clone(), 1),
            spec(3, 3, c.clone(), 2),
        ];
        let families = run(&specs, &[s; 3]);
        assert_eq!(families.len(), 1);
        assert_eq!(families[0].members, [0, 1, 2]);
        assert!((families[0].similarity_min - 0.80).abs() < 0.01);

        // A fourth stream like `c` but not `a` stays out: it would be two hops away.
        let d = substitute(&c, 150..190);
        let specs = [
            spec(1, 1, base, 0),
            spec(2, 2, a, 1),
            spec(3, 3, c, 2),
            spec(4, 4, d, 3),
        ];
        let families = run(&specs, &[s; 4]);
        let members: Vec<_> = families.iter().map(|f| f.members.clone()).collect();
        assert_eq!(members, [vec![0, 1], vec![2, 3]]);
    }

    #[test]
    fn nested_copies_are_subsumed_by_their_enclosing_family() {
        // Two copied functions (0 and 2), each holding a copied loop (1 and 3).
        let s = Sketch([4; 64]);
        let mut specs = vec![
            spec(1, 1, stream(1, 80), 0),
            spec(2, 2, stream(2, 60), 0),
            spec(1, 1, stream(1, 80), 1),
            spec(2, 2, stream(2, 60), 1),
        ];
        specs[1].parent = Some(0);
        specs[3].parent = Some(2);
        specs[1].first = 10;
        specs[3].first = 10;
        let families = run(&specs, &[s; 4]);
        assert_eq!(families.len(), 1);
        assert_eq!(families[0].members, [0, 2]);

        // A third copy of the loop alone keeps the loop family alive.
        specs.push(spec(2, 2, stream(2, 60), 2));
        let families = run(&specs, &[s; 5]);
        assert_eq!(families.len(), 2);
    }
}
