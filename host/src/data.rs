//! Labelled data sets: MNIST-style IDX pairs, normalization, shuffling and a
//! validation split.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::idx;

/// Samples with their labels, stored flat: sample `i` is
/// `inputs[i * sample_len()..(i + 1) * sample_len()]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// Dimensions of one sample from the IDX header (for MNIST images: `[28, 28]`).
    pub sample_dims: Vec<usize>,
    /// All inputs, normalized, sample after sample.
    pub inputs: Vec<f32>,
    /// One class index per sample.
    pub labels: Vec<u8>,
}

impl Dataset {
    /// A set with no samples of the given shape.
    pub fn empty(sample_dims: &[usize]) -> Dataset {
        Dataset {
            sample_dims: sample_dims.to_vec(),
            inputs: Vec::new(),
            labels: Vec::new(),
        }
    }

    /// Number of `f32`s in one sample.
    pub fn sample_len(&self) -> usize {
        self.sample_dims.iter().product()
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The inputs of sample `i`.
    pub fn sample(&self, i: usize) -> &[f32] {
        let n = self.sample_len();
        &self.inputs[i * n..(i + 1) * n]
    }

    /// Builds a data set from an image IDX (`count x dims...`) and a label
    /// IDX (`count`), scaling bytes to `[0, 1]`. `images` and `labels` name
    /// the files in errors.
    pub fn from_idx(images: (&Path, idx::Idx), labels: (&Path, idx::Idx)) -> Result<Dataset> {
        let (ipath, img) = images;
        let (lpath, lab) = labels;
        if img.dims.len() < 2 {
            bail!(
                "{}: an image set needs rank 2 or more (count, sample dims), found rank {}",
                ipath.display(),
                img.dims.len()
            );
        }
        if lab.dims.len() != 1 {
            bail!(
                "{}: a label set needs rank 1, found rank {}",
                lpath.display(),
                lab.dims.len()
            );
        }
        if img.dims[0] != lab.dims[0] {
            bail!(
                "{}: {} labels, but {} has {} images",
                lpath.display(),
                lab.dims[0],
                ipath.display(),
                img.dims[0]
            );
        }
        let inputs = img.data.iter().map(|&b| f32::from(b) / 255.0).collect();
        Ok(Dataset {
            sample_dims: img.dims[1..].to_vec(),
            inputs,
            labels: lab.data,
        })
    }

    /// Checks every label is below `classes`; the error names `source`.
    pub fn check_labels(&self, classes: usize, source: &Path) -> Result<()> {
        if let Some((i, &l)) = self
            .labels
            .iter()
            .enumerate()
            .find(|&(_, &l)| usize::from(l) >= classes)
        {
            bail!(
                "{}: label {l} of sample {i} is not below the model's {classes} classes",
                source.display()
            );
        }
        Ok(())
    }

    /// Splits off the last `n` samples as a second set (the validation split).
    pub fn split_off(&mut self, n: usize) -> Dataset {
        let n = n.min(self.len());
        let keep = self.len() - n;
        let inputs = self.inputs.split_off(keep * self.sample_len());
        let labels = self.labels.split_off(keep);
        Dataset {
            sample_dims: self.sample_dims.clone(),
            inputs,
            labels,
        }
    }

    /// Reorders the samples by `order` (a permutation of `0..len`).
    pub fn permute(&mut self, order: &[u32]) {
        let n = self.sample_len();
        let mut inputs = Vec::with_capacity(self.inputs.len());
        let mut labels = Vec::with_capacity(self.labels.len());
        for &i in order {
            let i = i as usize;
            inputs.extend_from_slice(&self.inputs[i * n..(i + 1) * n]);
            labels.push(self.labels[i]);
        }
        self.inputs = inputs;
        self.labels = labels;
    }

    /// Keeps only the first `n` samples.
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.labels.truncate(n);
            self.inputs.truncate(n * self.sample_len());
        }
    }
}

/// The four files of an MNIST-layout directory.
#[derive(Debug, Clone)]
pub struct MnistFiles {
    /// Training images.
    pub train_images: PathBuf,
    /// Training labels.
    pub train_labels: PathBuf,
    /// Test images.
    pub test_images: PathBuf,
    /// Test labels.
    pub test_labels: PathBuf,
}

impl MnistFiles {
    /// Finds `{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]` in `dir`.
    pub fn locate(dir: &Path) -> Result<MnistFiles> {
        if !dir.is_dir() {
            bail!("{}: not a directory", dir.display());
        }
        let find = |stem: &str| -> Result<PathBuf> {
            for name in [format!("{stem}.gz"), stem.to_string()] {
                let p = dir.join(&name);
                if p.is_file() {
                    return Ok(p);
                }
            }
            bail!("{}: missing {stem}.gz (or {stem})", dir.display())
        };
        Ok(MnistFiles {
            train_images: find("train-images-idx3-ubyte")?,
            train_labels: find("train-labels-idx1-ubyte")?,
            test_images: find("t10k-images-idx3-ubyte")?,
            test_labels: find("t10k-labels-idx1-ubyte")?,
        })
    }

    /// Loads the training set.
    pub fn train(&self) -> Result<Dataset> {
        load_pair(&self.train_images, &self.train_labels)
    }

    /// Loads the test set.
    pub fn test(&self) -> Result<Dataset> {
        load_pair(&self.test_images, &self.test_labels)
    }
}

/// Loads an image IDX and a label IDX into a data set.
pub fn load_pair(images: &Path, labels: &Path) -> Result<Dataset> {
    let img = idx::read(images)?;
    let lab = idx::read(labels)?;
    Dataset::from_idx((images, img), (labels, lab))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Dataset {
        let img = idx::Idx {
            dims: vec![4, 1, 2],
            data: vec![0, 255, 1, 2, 3, 4, 5, 6],
        };
        let lab = idx::Idx {
            dims: vec![4],
            data: vec![0, 1, 2, 3],
        };
        Dataset::from_idx((Path::new("i"), img), (Path::new("l"), lab)).unwrap()
    }

    #[test]
    fn normalizes_and_splits() {
        let mut d = tiny();
        assert_eq!(d.sample_len(), 2);
        assert_eq!(d.sample(0), &[0.0, 1.0]);
        let v = d.split_off(1);
        assert_eq!(d.len(), 3);
        assert_eq!(v.labels, vec![3]);
        assert_eq!(v.sample(0), &[5.0 / 255.0, 6.0 / 255.0]);
    }

    #[test]
    fn permute_moves_inputs_with_labels() {
        let mut d = tiny();
        d.permute(&[3, 2, 1, 0]);
        assert_eq!(d.labels, vec![3, 2, 1, 0]);
        assert_eq!(d.sample(3), &[0.0, 1.0]);
    }

    #[test]
    fn count_mismatch_names_both_files() {
        let img = idx::Idx {
            dims: vec![2, 1],
            data: vec![0, 0],
        };
        let lab = idx::Idx {
            dims: vec![3],
            data: vec![0, 0, 0],
        };
        let e = Dataset::from_idx((Path::new("imgs"), img), (Path::new("labs"), lab)).unwrap_err();
        let e = e.to_string();
        assert!(e.contains("imgs") && e.contains("labs"), "{e}");
    }

    #[test]
    fn labels_beyond_classes_are_refused() {
        let d = tiny();
        assert!(d.check_labels(4, Path::new("l")).is_ok());
        let e = d.check_labels(3, Path::new("l")).unwrap_err().to_string();
        assert!(e.contains("label 3"), "{e}");
    }
}
