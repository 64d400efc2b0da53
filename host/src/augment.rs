//! Training-time data augmentation: random translations of image samples.
//!
//! Each training sample is moved by a whole number of pixels along height
//! and width, drawn uniformly from `-max..=max`, with the pixels that come
//! in set to 0 (the background of MNIST-style data scaled to `[0, 1]`).
//! The offset of a sample depends only on the run's seed, the epoch and the
//! sample's index, so runs are repeatable whatever the thread count, and a
//! resumed run draws what an uninterrupted one would.

use anyhow::{Result, bail};
use myelin_core::train::Rng;

/// Random shifts of up to `max` pixels of samples whose last two dimensions
/// are an image (`[H, W]` or `[C, H, W]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shift {
    max: usize,
    h: usize,
    w: usize,
}

impl Shift {
    /// Shifts of up to `max` pixels for samples of shape `dims`; `None` when
    /// `max` is 0 (no augmentation).
    ///
    /// # Errors
    /// If `dims` has fewer than two dimensions, or `max` is not smaller than
    /// the image's height and width.
    pub fn new(max: usize, dims: &[usize]) -> Result<Option<Shift>> {
        if max == 0 {
            return Ok(None);
        }
        let [.., h, w] = dims else {
            bail!(
                "shift augmentation needs image samples ([H, W] or [C, H, W]); these have shape {dims:?}"
            );
        };
        let (h, w) = (*h, *w);
        if max >= h || max >= w {
            bail!(
                "shift augmentation of {max} pixels does not fit {h}x{w} images (at most {})",
                h.min(w).saturating_sub(1)
            );
        }
        Ok(Some(Shift { max, h, w }))
    }

    /// Shifts each sample of `x` (one per entry of `rows`, laid out one
    /// after another) by its own offset, drawn from `seed` and its row.
    /// `scratch` is grown to one image plane on first use and reused.
    pub fn apply(&self, x: &mut [f32], rows: &[u32], seed: u64, scratch: &mut Vec<f32>) {
        if rows.is_empty() {
            return;
        }
        let plane = self.h * self.w;
        let len = x.len() / rows.len();
        scratch.resize(plane, 0.0);
        let span = 2 * self.max as u64 + 1;
        for (sample, &row) in x.chunks_exact_mut(len).zip(rows) {
            let mut rng = Rng::new(seed ^ u64::from(row).wrapping_mul(0xd1b5_4a32_d192_ed03));
            let dy = (rng.next_u64() % span) as isize - self.max as isize;
            let dx = (rng.next_u64() % span) as isize - self.max as isize;
            for image in sample.chunks_exact_mut(plane) {
                translate(image, scratch, self.h, self.w, dy, dx);
            }
        }
    }
}

/// Moves the `h x w` image by `dy` rows and `dx` columns (positive: down and
/// right), filling the uncovered pixels with 0. `scratch` holds `h * w` values.
pub fn translate(image: &mut [f32], scratch: &mut [f32], h: usize, w: usize, dy: isize, dx: isize) {
    scratch.copy_from_slice(image);
    image.fill(0.0);
    let shift = |i: usize, d: isize, n: usize| {
        let j = i as isize + d;
        (0..n as isize).contains(&j).then_some(j as usize)
    };
    for y in 0..h {
        let Some(ty) = shift(y, dy, h) else { continue };
        for x in 0..w {
            if let Some(tx) = shift(x, dx, w) {
                image[ty * w + tx] = scratch[y * w + x];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translate_moves_and_zero_fills() {
        let img: Vec<f32> = (1..=12).map(|v| v as f32).collect(); // 3 x 4
        let mut scratch = vec![0.0; 12];
        let mut a = img.clone();
        translate(&mut a, &mut scratch, 3, 4, 1, -1);
        #[rustfmt::skip]
        let want = [
            0.0, 0.0, 0.0, 0.0,
            2.0, 3.0, 4.0, 0.0,
            6.0, 7.0, 8.0, 0.0,
        ];
        assert_eq!(a, want);
        let mut b = img.clone();
        translate(&mut b, &mut scratch, 3, 4, 0, 0);
        assert_eq!(b, img);
    }

    #[test]
    fn offsets_depend_on_seed_and_row_only() {
        let shift = Shift::new(2, &[5, 5]).unwrap().unwrap();
        let sample: Vec<f32> = (0..25).map(|v| v as f32 + 1.0).collect();
        let batch = |rows: &[u32], seed| {
            let mut x: Vec<f32> = rows.iter().flat_map(|_| sample.clone()).collect();
            shift.apply(&mut x, rows, seed, &mut Vec::new());
            x
        };
        // The same row gets the same offset in any batch and position.
        let one = batch(&[7], 3);
        let two = batch(&[1, 7], 3);
        assert_eq!(one[..], two[25..]);
        // Over many rows, nearly every sample moves (1 in 25 draws (0, 0)).
        let rows: Vec<u32> = (0..200).collect();
        let x = batch(&rows, 3);
        let moved = x.chunks(25).filter(|s| *s != &sample[..]).count();
        assert!(moved > 150, "{moved} of 200 samples moved");
        assert_ne!(batch(&rows, 4), x, "another seed draws other offsets");
    }

    #[test]
    fn rejects_what_is_not_an_image() {
        assert!(Shift::new(0, &[10]).unwrap().is_none());
        let e = Shift::new(2, &[784]).unwrap_err().to_string();
        assert!(e.contains("image samples"), "{e}");
        let e = Shift::new(28, &[28, 28]).unwrap_err().to_string();
        assert!(e.contains("at most 27"), "{e}");
        assert!(Shift::new(2, &[3, 28, 28]).unwrap().is_some());
    }
}
