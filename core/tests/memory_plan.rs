//! The static memory planner (`model::plan`) on random schedules: no two
//! values live at once share a byte (unless one may write over the other at
//! the same offset), every value lies inside the arena, the arena is never
//! below the lower bound without aliasing (nor below the in-place bound with
//! it) and never above the sum of all values; a free plan shares bytes only
//! where that costs nothing; and `check` accepts exactly such plans.

use myelin_core::model::plan::{
    Lifetime, Placement, Schedule, check, in_place_bound, lower_bound, plan, plan_for,
};
use proptest::prelude::*;

/// A random DAG: value `v > 0` is written at step `v` from `reads[v]`.
#[derive(Debug, Clone)]
struct Dag {
    lens: Vec<usize>,
    reads: Vec<Vec<usize>>,
    /// Values that may be written over their only input.
    in_place: Vec<bool>,
    /// Of those, the ones whose write costs nothing.
    free: Vec<bool>,
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

    fn free_alias(&self, u: usize, v: usize) -> bool {
        self.may_alias(u, v) && self.free[v]
    }
}

fn dag() -> impl Strategy<Value = Dag> {
    (2usize..24)
        .prop_flat_map(|n| {
            (
                proptest::collection::vec(0usize..200, n),
                proptest::collection::vec((any::<u32>(), any::<u32>(), any::<bool>()), n),
                proptest::collection::vec(any::<bool>(), n),
                proptest::collection::vec(any::<bool>(), n),
            )
        })
        .prop_map(|(lens, picks, in_place, free)| {
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
                free,
            }
        })
}

/// Brute force, independent of `check`: whether the plan is valid.
fn valid(d: &Dag, offsets: &[usize], arena: usize) -> bool {
    valid_with(d, offsets, arena, |u, v| d.may_alias(u, v))
}

/// [`valid`] with only the shared bytes `alias` allows.
fn valid_with(
    d: &Dag,
    offsets: &[usize],
    arena: usize,
    alias: impl Fn(usize, usize) -> bool,
) -> bool {
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
                !(live_together && share) || (alias(u, v) && offsets[u] == offsets[v])
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
        let aliasing = (1..n).any(|v| (0..v).any(|u| d.free_alias(u, v)));
        if !aliasing {
            prop_assert!(arena >= lower_bound(&d));
        }
        // A free plan shares bytes only through free writes.
        prop_assert!(valid_with(&d, &offsets, arena, |u, v| d.free_alias(u, v)));
        prop_assert!(arena >= in_place_bound(&d));
    }

    #[test]
    fn smallest_plans_stay_within_the_in_place_bound(d in dag()) {
        let n = d.values();
        let (mut free, mut order) = (vec![0; n], vec![0; n]);
        let free_arena = plan(&d, &mut free, &mut order).unwrap();
        let mut offsets = vec![0; n];
        let arena = plan_for(&d, Placement::Smallest, &mut offsets, &mut order).unwrap();
        prop_assert!(valid(&d, &offsets, arena), "{d:?} {offsets:?} {arena}");
        prop_assert!(check(&d, |v| offsets.get(v).copied(), arena));
        prop_assert!(in_place_bound(&d) <= arena);
        prop_assert!(in_place_bound(&d) <= lower_bound(&d));
        prop_assert!(arena <= d.lens.iter().sum::<usize>());
        // A chain of in-place writes packs at least as tight as a free plan.
        let chain = (1..n).all(|v| d.reads[v] == [v - 1]);
        if chain && d.in_place.iter().all(|&b| b) {
            prop_assert!(arena <= free_arena);
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
        free: vec![true; 6],
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
    assert_eq!((lower_bound(&d), in_place_bound(&d)), (200, 100));
    // Writes that cost: a free plan ping-pongs, the smallest shares.
    let d = Dag {
        free: vec![false; 6],
        ..d
    };
    assert_eq!(plan(&d, &mut offsets, &mut order), Some(200));
    let smallest = plan_for(&d, Placement::Smallest, &mut offsets, &mut order);
    assert_eq!(smallest, Some(100));
}
