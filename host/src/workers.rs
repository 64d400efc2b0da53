//! A fixed set of scoped helper threads that run tasks in rounds: the
//! calling thread hands one task to each of the first helpers, does its own
//! share meanwhile, then waits for every result. The threads live as long as
//! the set (within a [`std::thread::scope`]), so a round costs two channel
//! messages per helper and no thread start or allocation.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::Scope;

/// Helper threads taking tasks `T` and answering `R`; thread 0 is the
/// caller, helpers are 1, 2, ...
#[derive(Debug)]
pub struct Workers<T, R> {
    helpers: Vec<(SyncSender<T>, Receiver<R>)>,
}

impl<T: Send, R: Send> Workers<T, R> {
    /// Starts `helpers` threads on `scope`; helper `k` answers each task
    /// with `work(k, task)` until the set is dropped.
    pub fn spawn<'scope, 'env, F>(
        scope: &'scope Scope<'scope, 'env>,
        helpers: usize,
        work: &'scope F,
    ) -> Workers<T, R>
    where
        F: Fn(usize, T) -> R + Sync,
        T: 'scope,
        R: 'scope,
    {
        let helpers = (1..=helpers)
            .map(|k| {
                let (task_tx, task_rx) = sync_channel::<T>(1);
                let (done_tx, done_rx) = sync_channel::<R>(1);
                scope.spawn(move || {
                    for task in task_rx {
                        if done_tx.send(work(k, task)).is_err() {
                            break;
                        }
                    }
                });
                (task_tx, done_rx)
            })
            .collect();
        Workers { helpers }
    }

    /// Threads of the set, the caller included.
    pub fn threads(&self) -> usize {
        self.helpers.len() + 1
    }

    /// One round: `tasks` go to helpers 1, 2, ... in order (helpers beyond
    /// the last task stay idle), `own` runs on this thread meanwhile, then
    /// `each(k, result)` receives the results in thread order, `own`'s as 0.
    ///
    /// # Panics
    /// If there are more tasks than helpers, or a helper panicked.
    pub fn round(
        &self,
        tasks: impl IntoIterator<Item = T>,
        own: impl FnOnce() -> R,
        mut each: impl FnMut(usize, R),
    ) {
        let mut sent = 0;
        for task in tasks {
            let (tx, _) = self.helpers.get(sent).expect("a task per helper at most");
            tx.send(task).expect("a worker thread stopped");
            sent += 1;
        }
        each(0, own());
        for (k, (_, rx)) in self.helpers[..sent].iter().enumerate() {
            each(k + 1, rx.recv().expect("a worker thread stopped"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_reach_the_same_threads_and_return_in_order() {
        let work = |k: usize, x: u64| (k, x * 10, std::thread::current().id());
        std::thread::scope(|s| {
            let w = Workers::spawn(s, 3, &work);
            assert_eq!(w.threads(), 4);
            let mut first = Vec::new();
            w.round(
                [1, 2, 3],
                || (0, 0, std::thread::current().id()),
                |k, r| first.push((k, r)),
            );
            let ids: Vec<_> = first.iter().map(|(_, r)| r.2).collect();
            assert_eq!(
                first
                    .iter()
                    .map(|&(k, r)| (k, r.0, r.1))
                    .collect::<Vec<_>>(),
                [(0, 0, 0), (1, 1, 10), (2, 2, 20), (3, 3, 30)]
            );
            assert_eq!(ids[0], std::thread::current().id());
            for round in 0..5u64 {
                let mut got = Vec::new();
                // Fewer tasks than helpers: the others stay idle.
                w.round(
                    [round],
                    || (0, 0, std::thread::current().id()),
                    |k, r| got.push((k, r)),
                );
                assert_eq!(got.len(), 2);
                assert_eq!(got[1].1, (1, round * 10, ids[1]), "helper 1 is one thread");
            }
        });
    }

    #[test]
    #[should_panic(expected = "a worker thread stopped")]
    fn a_panicking_helper_stops_the_round() {
        let work = |_: usize, x: u32| {
            assert!(x < 5, "task too large");
            x
        };
        std::thread::scope(|s| {
            let w = Workers::spawn(s, 1, &work);
            w.round([9], || 0, |_, _| {});
        });
    }
}
