//! Calibration of activation ranges: min/max, or percentiles from a
//! fixed-size histogram. Host-side (f32), no allocation.

use super::params::ActQuant;
use crate::Error;

/// How a calibrated range becomes quantization parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Calibration {
    /// The smallest and largest value seen.
    MinMax,
    /// Clip to the `(100 - p)`-th and `p`-th percentiles, e.g. `99.99`.
    /// Outliers then saturate instead of coarsening every other step.
    Percentile(f32),
}

/// Running range of an activation tensor over calibration samples.
///
/// Keeps the exact min/max and a histogram of `BINS` bins (a multiple of 4)
/// over `[-R, R)`, where `R` is a power of two that doubles (merging bin
/// pairs, so counts stay exact) whenever a larger value arrives. Percentile
/// bounds are therefore accurate to one bin, `2R / BINS <= 4 max|x| / BINS`.
#[derive(Debug, Clone)]
pub struct Calibrator<const BINS: usize = 2048> {
    min: f32,
    max: f32,
    count: u64,
    non_finite: u64,
    range_log2: i32,
    hist: [u64; BINS],
}

impl<const BINS: usize> Default for Calibrator<BINS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const BINS: usize> Calibrator<BINS> {
    const CHECK: () = assert!(
        BINS >= 4 && BINS.is_multiple_of(4),
        "Calibrator: BINS must be a positive multiple of 4"
    );
    /// The histogram starts at `R = 2^-16` and grows as needed.
    const START_LOG2: i32 = -16;

    /// An empty calibrator.
    pub const fn new() -> Self {
        let () = Self::CHECK;
        Self {
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            count: 0,
            non_finite: 0,
            range_log2: Self::START_LOG2,
            hist: [0; BINS],
        }
    }

    /// Adds values; NaN and infinities are counted apart and otherwise
    /// ignored.
    pub fn observe(&mut self, values: &[f32]) {
        for &v in values {
            if !v.is_finite() {
                self.non_finite += 1;
                continue;
            }
            self.min = self.min.min(v);
            self.max = self.max.max(v);
            self.count += 1;
            while libm::fabs(f64::from(v)) >= self.range() {
                self.grow();
            }
            let r = self.range();
            let bin = ((f64::from(v) + r) * (BINS as f64 / (2.0 * r))) as usize;
            self.hist[bin.min(BINS - 1)] += 1;
        }
    }

    /// Finite values observed.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// NaN or infinite values observed (and ignored).
    pub fn non_finite(&self) -> u64 {
        self.non_finite
    }

    /// Smallest and largest finite value, or `None` before any.
    pub fn min_max(&self) -> Option<(f32, f32)> {
        (self.count > 0).then_some((self.min, self.max))
    }

    /// The `(100 - percent)`-th and `percent`-th percentiles (bin edges,
    /// within the observed min/max), or `None` before any value.
    /// `percent` is clamped to `[50, 100]`; 100 gives [`min_max`](Self::min_max).
    pub fn percentile_range(&self, percent: f32) -> Option<(f32, f32)> {
        let (min, max) = self.min_max()?;
        let p = f64::from(percent).clamp(50.0, 100.0) / 100.0;
        if p >= 1.0 {
            return Some((min, max));
        }
        let total = self.count as f64;
        let low_target = (1.0 - p) * total;
        let high_target = p * total;
        let r = self.range();
        let width = 2.0 * r / BINS as f64;
        let (mut lo, mut hi) = (f64::from(min), f64::from(max));
        let mut seen = 0u64;
        let mut low_done = false;
        for (k, &n) in self.hist.iter().enumerate() {
            seen += n;
            if !low_done && seen as f64 > low_target {
                lo = -r + k as f64 * width;
                low_done = true;
            }
            if seen as f64 >= high_target {
                hi = -r + (k + 1) as f64 * width;
                break;
            }
        }
        let lo = lo.max(f64::from(min)) as f32;
        let hi = hi.min(f64::from(max)) as f32;
        Some((lo, hi.max(lo)))
    }

    /// Activation parameters for the calibrated range.
    ///
    /// # Errors
    /// [`Error::ShapeMismatch`] (`expected: 1, found: 0`) if no finite value
    /// was observed.
    pub fn act_quant(&self, method: Calibration) -> Result<ActQuant, Error> {
        let range = match method {
            Calibration::MinMax => self.min_max(),
            Calibration::Percentile(p) => self.percentile_range(p),
        };
        let (lo, hi) = range.ok_or(Error::ShapeMismatch {
            expected: 1,
            found: 0,
        })?;
        ActQuant::from_range(lo, hi)
    }

    fn range(&self) -> f64 {
        libm::exp2(f64::from(self.range_log2))
    }

    /// Doubles `R`: bin pairs `(2m, 2m+1)` merge into bin `BINS/4 + m`.
    fn grow(&mut self) {
        let q = BINS / 4;
        // Upper half upward, then lower half downward: each read happens
        // before its slot is overwritten.
        for j in 2 * q..3 * q {
            let i = 2 * (j - q);
            self.hist[j] = self.hist[i] + self.hist[i + 1];
        }
        for j in (q..2 * q).rev() {
            let i = 2 * (j - q);
            self.hist[j] = self.hist[i] + self.hist[i + 1];
        }
        self.hist[..q].fill(0);
        self.hist[3 * q..].fill(0);
        self.range_log2 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growing_keeps_counts_in_the_right_bins() {
        let mut c = Calibrator::<16>::new();
        let values = [0.25f32, -0.75, 3.0, -3.5, 0.0, 1e-6, 7.9, -8.0];
        c.observe(&values);
        assert_eq!(c.count(), 8);
        let r = c.range();
        assert_eq!(r, 16.0);
        // Recount from scratch at the final range.
        let mut direct = [0u64; 16];
        for &v in &values {
            direct[((f64::from(v) + r) * (16.0 / (2.0 * r))) as usize] += 1;
        }
        assert_eq!(c.hist, direct);
    }

    #[test]
    fn percentile_clips_outliers() {
        let mut c = Calibrator::<2048>::new();
        let mut v = [0.0f32; 10_000];
        for (k, v) in v.iter_mut().enumerate() {
            *v = (k % 100) as f32 / 100.0; // 0 .. 0.99
        }
        v[0] = 1000.0;
        v[1] = -500.0;
        c.observe(&v);
        c.observe(&[f32::NAN]);
        assert_eq!(c.non_finite(), 1);
        assert_eq!(c.min_max(), Some((-500.0, 1000.0)));
        let (lo, hi) = c.percentile_range(99.9).unwrap();
        // One bin is 2 * 1024 / 2048 = 1.0 wide.
        assert!((-1.0..=0.0).contains(&lo), "{lo}");
        assert!((0.99..=1.0).contains(&hi), "{hi}");
        let q = c.act_quant(Calibration::Percentile(99.9)).unwrap();
        assert!(q.scale < 0.01);
        assert!(
            Calibrator::<4>::new()
                .act_quant(Calibration::MinMax)
                .is_err()
        );
    }
}
