//! Labelled data sets: MNIST-style IDX pairs or NumPy `.npy` arrays,
//! normalization, shuffling and a validation split.

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

/// The four files of a data directory: MNIST-layout IDX files, or NumPy
/// arrays `x_train.npy`, `y_train.npy`, `x_test.npy`, `y_test.npy`.
#[derive(Debug, Clone)]
pub struct MnistFiles {
    /// Training inputs.
    pub train_images: PathBuf,
    /// Training labels.
    pub train_labels: PathBuf,
    /// Test inputs.
    pub test_images: PathBuf,
    /// Test labels.
    pub test_labels: PathBuf,
    /// Whether the files are `.npy` arrays rather than IDX.
    pub npy: bool,
}

/// The NumPy files of a data directory, in the order of [`MnistFiles`]' fields.
pub const NPY_FILES: [&str; 4] = ["x_train.npy", "y_train.npy", "x_test.npy", "y_test.npy"];

impl MnistFiles {
    /// Finds the NumPy files ([`NPY_FILES`]) in `dir`, or else
    /// `{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`.
    pub fn locate(dir: &Path) -> Result<MnistFiles> {
        if !dir.is_dir() {
            bail!("{}: not a directory", dir.display());
        }
        let npy: Vec<PathBuf> = NPY_FILES.iter().map(|f| dir.join(f)).collect();
        let present = npy.iter().filter(|p| p.is_file()).count();
        if present == 4 {
            let [a, b, c, d] = <[PathBuf; 4]>::try_from(npy).expect("four paths");
            return Ok(MnistFiles {
                train_images: a,
                train_labels: b,
                test_images: c,
                test_labels: d,
                npy: true,
            });
        }
        if present > 0 {
            let missing: Vec<&str> = NPY_FILES
                .iter()
                .zip(&npy)
                .filter(|(_, p)| !p.is_file())
                .map(|(f, _)| *f)
                .collect();
            bail!(
                "{}: a NumPy data directory needs {}; missing {}",
                dir.display(),
                NPY_FILES.join(", "),
                missing.join(", ")
            );
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
            npy: false,
        })
    }

    /// Loads the training set.
    pub fn train(&self) -> Result<Dataset> {
        self.load(&self.train_images, &self.train_labels)
    }

    /// Loads the test set.
    pub fn test(&self) -> Result<Dataset> {
        self.load(&self.test_images, &self.test_labels)
    }

    fn load(&self, inputs: &Path, labels: &Path) -> Result<Dataset> {
        if self.npy {
            load_npy_pair(inputs, labels)
        } else {
            load_pair(inputs, labels)
        }
    }
}

/// Loads NumPy inputs (`N x sample dims`, float32 as they are, or uint8
/// scaled to `[0, 1]` as IDX images are) and integer labels (`N`, each in
/// `0..=255`) into a data set.
pub fn load_npy_pair(inputs: &Path, labels: &Path) -> Result<Dataset> {
    use crate::npy::{NpyData, read_npy};
    let mut set = load_npy_inputs(inputs)?;
    let y = read_npy(labels)?;
    let (xp, yp) = (inputs.display(), labels.display());
    if y.shape.len() != 1 {
        bail!(
            "{yp}: labels need rank 1 (one per sample), found shape {:?}",
            y.shape
        );
    }
    if set.len() != y.shape[0] {
        bail!(
            "{yp}: {} labels, but {xp} has {} samples",
            y.shape[0],
            set.len()
        );
    }
    let wide: Vec<i64> = match y.data {
        NpyData::U8(v) => v.into_iter().map(i64::from).collect(),
        NpyData::I8(v) => v.into_iter().map(i64::from).collect(),
        NpyData::I32(v) => v.into_iter().map(i64::from).collect(),
        NpyData::I64(v) => v,
        other => bail!(
            "{yp}: labels are {}; they must be integers (uint8, int8, int32 or int64)",
            other.dtype_name()
        ),
    };
    let mut labels = Vec::with_capacity(wide.len());
    for (i, &l) in wide.iter().enumerate() {
        let Ok(l) = u8::try_from(l) else {
            bail!("{yp}: label {l} of sample {i} is not a class index in 0..=255");
        };
        labels.push(l);
    }
    set.labels = labels;
    Ok(set)
}

/// Loads NumPy inputs alone (as [`load_npy_pair`] reads them), every label
/// 0: samples for calibration.
pub fn load_npy_inputs(inputs: &Path) -> Result<Dataset> {
    use crate::npy::{NpyData, read_npy};
    let x = read_npy(inputs)?;
    let xp = inputs.display();
    if x.shape.len() < 2 {
        bail!(
            "{xp}: inputs need rank 2 or more (samples, sample dims), found shape {:?}",
            x.shape
        );
    }
    let values: Vec<f32> = match x.data {
        NpyData::F32(v) => v,
        NpyData::U8(v) => v.iter().map(|&b| f32::from(b) / 255.0).collect(),
        other => bail!(
            "{xp}: inputs are {}; myelin reads float32 or uint8 inputs",
            other.dtype_name()
        ),
    };
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        bail!("{xp}: element {i} is not a finite number");
    }
    Ok(Dataset {
        sample_dims: x.shape[1..].to_vec(),
        labels: vec![0; x.shape[0]],
        inputs: values,
    })
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

    fn npy_dir(tag: &str, files: &[(&str, &[usize], crate::npy::NpyData)]) -> PathBuf {
        let d = std::env::temp_dir().join(format!("myelin-npy-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        for (name, shape, data) in files {
            crate::npy::write_npy(d.join(name), shape, data).unwrap();
        }
        d
    }

    #[test]
    fn numpy_directories_load_and_bad_ones_are_named() {
        use crate::npy::NpyData::{F32, F64, I64, U8};
        let good = npy_dir(
            "good",
            &[
                (
                    "x_train.npy",
                    &[3, 2],
                    F32(vec![0.5, -1.0, 2.0, 3.0, 4.0, 5.0]),
                ),
                ("y_train.npy", &[3], I64(vec![0, 1, 1])),
                ("x_test.npy", &[1, 2], U8(vec![0, 255])),
                ("y_test.npy", &[1], U8(vec![1])),
            ],
        );
        let files = MnistFiles::locate(&good).unwrap();
        assert!(files.npy);
        let train = files.train().unwrap();
        assert_eq!(
            (train.sample_dims.clone(), train.labels.clone()),
            (vec![2], vec![0, 1, 1])
        );
        assert_eq!(train.sample(1), &[2.0, 3.0]);
        assert_eq!(
            files.test().unwrap().sample(0),
            &[0.0, 1.0],
            "uint8 scaled as IDX"
        );

        std::fs::remove_file(good.join("y_test.npy")).unwrap();
        let e = MnistFiles::locate(&good).unwrap_err().to_string();
        assert!(e.contains("missing y_test.npy"), "{e}");

        let bad =
            |tag: &str, x: (&[usize], crate::npy::NpyData), y: (&[usize], crate::npy::NpyData)| {
                let d = npy_dir(
                    tag,
                    &[
                        ("x_train.npy", x.0, x.1),
                        ("y_train.npy", y.0, y.1),
                        ("x_test.npy", &[1, 1], F32(vec![0.0])),
                        ("y_test.npy", &[1], I64(vec![0])),
                    ],
                );
                format!("{:#}", MnistFiles::locate(&d).unwrap().train().unwrap_err())
            };
        let e = bad(
            "count",
            (&[2, 1], F32(vec![0.0; 2])),
            (&[3], I64(vec![0; 3])),
        );
        assert!(
            e.contains("y_train.npy") && e.contains("3 labels") && e.contains("2 samples"),
            "{e}"
        );
        let e = bad("label", (&[1, 1], F32(vec![0.0])), (&[1], I64(vec![300])));
        assert!(e.contains("label 300"), "{e}");
        let e = bad("dtype", (&[1, 1], F64(vec![0.0])), (&[1], I64(vec![0])));
        assert!(
            e.contains("x_train.npy") && e.contains("float32 or uint8"),
            "{e}"
        );
        let e = bad("flabel", (&[1, 1], F32(vec![0.0])), (&[1], F32(vec![0.0])));
        assert!(e.contains("must be integers"), "{e}");
        let e = bad("nan", (&[1, 1], F32(vec![f32::NAN])), (&[1], I64(vec![0])));
        assert!(e.contains("not a finite number"), "{e}");
        let e = bad("rank", (&[2], F32(vec![0.0; 2])), (&[2], I64(vec![0; 2])));
        assert!(e.contains("rank 2 or more"), "{e}");
    }
}
