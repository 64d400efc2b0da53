//! A minimal on-target test harness: count checks, log each one, and exit
//! with the verdict.

use crate::{exit_failure, exit_success};

/// Passed and failed check counters.
#[derive(Debug, Default)]
pub struct Checks {
    passed: u32,
    failed: u32,
}

/// Records a boolean check in a [`Checks`]: `check!(checks, a == b)` logs the
/// condition's text with `pass` or `FAIL`.
#[macro_export]
macro_rules! check {
    ($checks:expr, $cond:expr) => {
        $checks.record($cond, ::core::stringify!($cond))
    };
}

impl Checks {
    /// No checks yet.
    pub const fn new() -> Self {
        Self {
            passed: 0,
            failed: 0,
        }
    }

    /// Counts and logs one check named `what`; returns `ok`.
    pub fn record(&mut self, ok: bool, what: &str) -> bool {
        if ok {
            self.passed += 1;
            defmt::info!("pass: {=str}", what);
        } else {
            self.failed += 1;
            defmt::error!("FAIL: {=str}", what);
        }
        ok
    }

    /// Checks `got == want` bit for bit (so `-0.0 != 0.0` and NaN never
    /// matches), logging the first mismatch.
    pub fn same_f32(&mut self, what: &str, got: &[f32], want: &[f32]) -> bool {
        let ok = got.len() == want.len()
            && got
                .iter()
                .zip(want)
                .all(|(g, w)| g.to_bits() == w.to_bits());
        if !ok {
            if got.len() != want.len() {
                defmt::error!("{=str}: length {} != {}", what, got.len(), want.len());
            } else if let Some(i) = (0..got.len()).find(|&i| got[i].to_bits() != want[i].to_bits())
            {
                defmt::error!("{=str}[{}]: got {} want {}", what, i, got[i], want[i]);
            }
        }
        self.record(ok, what)
    }

    /// Number of checks that passed.
    pub fn passed(&self) -> u32 {
        self.passed
    }

    /// Number of checks that failed.
    pub fn failed(&self) -> u32 {
        self.failed
    }

    /// Logs `N passed, N failed` and exits: success only if no check failed
    /// and at least one ran.
    pub fn finish(self) -> ! {
        defmt::info!("{} passed, {} failed", self.passed, self.failed);
        if self.failed == 0 && self.passed > 0 {
            exit_success()
        } else {
            exit_failure()
        }
    }
}
