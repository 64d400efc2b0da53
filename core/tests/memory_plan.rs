//! The static memory planner (`model::plan`) on random schedules: no two
//! values live at once share a byte (unless one may write over the other at
//! the same offset), every value lies inside the arena, the arena is never
//! below the lower bound without aliasing and never above the sum of all
//! values; and `check` accepts exactly such plans.

use myelin_core::model::plan::{Lifetime, Schedule, check, lower_bound, plan};
use proptest::prelude::*;

/// A random DAG: value `v > 0` is written at step `v` from `reads[v]`.
#[derive(Debug, Clone)]
struct Dag {
    lens: Vec<usize>,
    reads: Vec<Vec<usize>>,
    /// Values that may be written over their only input.
    in_place: Vec<bool>,
}

impl Dag {
    fn death(&self, v: usize) -> usize {
        let last = self.lens.len() - 1;
        if v == last {
            return last;
        }
        (v + 1..self.lens.len())
            .filter(|&w| self.reads[w].contains(&v))
            .max()
            .unwrap_or(v)
    }
}

impl Schedule for Dag {
    fn values(&self) -> usize {
        self.lens.len()
    }

    fn lifetime(&self, v: usize) -> Option<Lifetime> {
        Some(Lifetime {
            len: *self.lens.get(v)?,
            birth: v,
            death: self.death(v),
        })
    }

    fn may_alias(&self, u: usize, v: usize) -> bool {
        self.in_place[v] && self.reads[v] == [u] && self.death(u) == v
    }
}

fn dag() -> impl Strategy<Value = Dag> {
    (2usize..24)
        .prop_flat_map(|n| {
            (
                proptest::collection::vec(0usize..200, n),
                proptest::collection::vec((any::<u32>(), any::<u32>(), any::<bool>()), n),
                proptest::collection::vec(any::<bool>(), n),
            )
        })
        .prop_map(|(lens, picks, in_place)| {
            let reads = picks
                .iter()
                .enumerate()
                .map(|(v, &(a, b, two))| match v {
                    0 => Vec::new(),
                    _ => {
                        let a = a as usize % v;
                        let b = b as usize % v;
                        if two && a != b { vec![a, b] } else { vec![a] }
                    }
                })
                .collect();
            Dag {
                lens,
                reads,
                in_place,
            }
        })
}

/// Brute force, independent of `check`: whether the plan is valid.
fn valid(d: &Dag, offsets: &[usize], arena: usize) -> bool {
    let n = d.values();
    (0..n).all(|v| {
        let t = d.lifetime(v).unwrap();
        offsets[v] + t.len <= arena
            && (0..v).all(|u| {
                let tu = d.lifetime(u).unwrap();
                let live_together = tu.birth <= t.death && t.birth <= tu.death;
                let share = offsets[u] < offsets[v] + t.len
                    && offsets[v] < offsets[u] + tu.len
                    && t.len > 0
                    && tu.len > 0;
                !(live_together && share) || (d.may_alias(u, v) && offsets[u] == offsets[v])
            })
    })
}

proptest! {
    #[test]
    fn plans_never_overlap_live_values(d in dag()) {
        let n = d.values();
        let (mut offsets, mut order) = (vec![0; n], vec![0; n]);
        let arena = plan(&d, &mut offsets, &mut order).unwrap();
        prop_assert!(valid(&d, &offsets, arena), "{d:?} {offsets:?} {arena}");
        prop_assert!(check(&d, |v| offsets.get(v).copied(), arena));
        prop_assert!(arena <= d.lens.iter().sum::<usize>());
        let aliasing = (1..n).any(|v| (0..v).any(|u| d.may_alias(u, v)));
        if !aliasing {
            prop_assert!(arena >= lower_bound(&d));
        }
    }

    #[test]
    fn check_refuses_overlapping_plans(d in dag(), shift in 0usize..200) {
        let n = d.values();
        let (mut offsets, mut order) = (vec![0; n], vec![0; n]);
        let arena = plan(&d, &mut offsets, &mut order).unwrap();
        // Move one value anywhere: `check` agrees with the brute force.
        let v = shift % n;
        offsets[v] = shift;
        let arena = arena.max(shift + d.lens[v]);
        prop_assert_eq!(check(&d, |v| offsets.get(v).copied(), arena), valid(&d, &offsets, arena));
        // A value past the arena's end is refused.
        if d.lens[v] > 0 {
            prop_assert!(!check(&d, |u| offsets.get(u).copied(), shift + d.lens[v] - 1));
        }
    }
}

/// A chain of equal values: two buffers, the lower bound exactly.
#[test]
fn chain_plans_ping_pong() {
    let d = Dag {
        lens: vec![100; 6],
        reads: (0..6)
            .map(|v| if v == 0 { vec![] } else { vec![v - 1] })
            .collect(),
        in_place: vec![false; 6],
    };
    let (mut offsets, mut order) = (vec![0; 6], vec![0; 6]);
    assert_eq!(plan(&d, &mut offsets, &mut order), Some(200));
    assert_eq!(lower_bound(&d), 200);
    // In place everywhere: one buffer.
    let d = Dag {
        in_place: vec![true; 6],
        ..d
    };
    assert_eq!(plan(&d, &mut offsets, &mut order), Some(100));
    assert!(offsets.iter().all(|&o| o == 0));
}
