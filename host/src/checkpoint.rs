//! Atomic file writes and training checkpoints.
//!
//! A checkpoint file holds everything `--resume` needs in one atomically
//! written file: `MYELINCK`, a `u32` version, a JSON metadata block, the
//! current model (a model file), the best model so far (a model file, or
//! empty), the optimizer state (little-endian `f32`s), and a CRC-32 of all
//! preceding bytes. Lengths are little-endian `u64`s before each block.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use myelin_core::model::crc32;
use serde::{Deserialize, Serialize};

use crate::net::Hyper;

/// Magic bytes of a checkpoint file.
pub const MAGIC: [u8; 8] = *b"MYELINCK";
/// Checkpoint format version.
pub const VERSION: u32 = 1;

/// Writes `bytes` to `path` so that a crash at any moment leaves either the
/// old file or the new one: a temporary file in the same directory, fsync,
/// rename, then fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .with_context(|| format!("{}: not a file path", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(&dir) {
            // Directory fsync makes the rename durable; not all platforms allow it.
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("{}: cannot write", path.display()));
    }
    remove_stale_temps(&dir, &name.to_string_lossy());
    Ok(())
}

/// Removes the temporary files that a killed writer of `dir/name` left
/// behind (`.NAME.tmp-PID` whose process no longer runs). Only where
/// `/proc` tells which processes run; best effort, errors are ignored.
fn remove_stale_temps(dir: &Path, name: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let prefix = format!(".{name}.tmp-");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let Some(pid) = file
            .to_str()
            .and_then(|f| f.strip_prefix(&prefix))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let alive = pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists();
        if !alive {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Checks that a file can be created in `path`'s directory, before a long run.
pub fn check_writable(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if path.is_dir() {
        bail!("{}: is a directory", path.display());
    }
    let probe = dir.join(format!(".myelin-probe-{}", std::process::id()));
    std::fs::File::create(&probe)
        .and_then(|_| std::fs::remove_file(&probe))
        .with_context(|| format!("{}: cannot write in {}", path.display(), dir.display()))
}

/// One epoch's figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// 1-based epoch.
    pub epoch: usize,
    /// Learning rate used.
    pub lr: f32,
    /// Mean training loss.
    pub train_loss: f64,
    /// Training accuracy (while the weights were changing).
    pub train_accuracy: f64,
    /// Validation loss (NaN without a validation set).
    #[serde(deserialize_with = "f64_or_nan")]
    pub val_loss: f64,
    /// Validation accuracy (NaN without a validation set).
    #[serde(deserialize_with = "f64_or_nan")]
    pub val_accuracy: f64,
    /// Seconds spent in training steps (not validation).
    pub seconds: f64,
    /// Training samples per second.
    pub samples_per_second: f64,
}

/// A number, or `null` read back as NaN: JSON has no NaN, and serde_json
/// writes NaN (no validation set) as `null`.
fn f64_or_nan<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// The metadata block of a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Name of the recipe (preset or config file).
    pub recipe: String,
    /// Hyper-parameters of the run.
    pub hyper: Hyper,
    /// Seed of the run.
    pub seed: u64,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Optimizer steps taken.
    pub steps: u32,
    /// Per-epoch figures so far.
    pub history: Vec<EpochStats>,
    /// Best validation accuracy so far, and its epoch.
    pub best: Option<(f64, usize)>,
    /// Dropout of each layer (model files do not store it); empty in
    /// checkpoints written before dropout existed: none.
    #[serde(default)]
    pub dropout: Vec<f32>,
}

impl Meta {
    /// Sets the dropout of `net`'s layers to the checkpoint's.
    pub fn restore_dropout(&self, net: &mut crate::net::Network) -> Result<()> {
        if self.dropout.is_empty() {
            return Ok(());
        }
        if self.dropout.len() != net.layers.len() {
            bail!(
                "metadata lists dropout for {} layers but the model has {}",
                self.dropout.len(),
                net.layers.len()
            );
        }
        for (l, &p) in net.layers.iter_mut().zip(&self.dropout) {
            if !(p.is_finite() && (0.0..1.0).contains(&p)) {
                bail!("metadata gives a dropout of {p}, outside [0, 1)");
            }
            l.dropout = p;
        }
        Ok(())
    }
}

/// A decoded checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// Run metadata.
    pub meta: Meta,
    /// The model after `meta.epochs_done` epochs (a model file).
    pub model: Vec<u8>,
    /// The model with the best validation accuracy (a model file), if any.
    pub best_model: Vec<u8>,
    /// Optimizer state, tensor after tensor.
    pub optimizer: Vec<f32>,
}

impl Checkpoint {
    /// Serializes the checkpoint.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let meta = serde_json::to_vec(&self.meta)?;
        let mut out = Vec::with_capacity(
            64 + meta.len() + self.model.len() + self.best_model.len() + 4 * self.optimizer.len(),
        );
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        for block in [&meta[..], &self.model[..], &self.best_model[..]] {
            out.extend_from_slice(&(block.len() as u64).to_le_bytes());
            out.extend_from_slice(block);
        }
        out.extend_from_slice(&(4 * self.optimizer.len() as u64).to_le_bytes());
        for v in &self.optimizer {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let c = crc32(&out);
        out.extend_from_slice(&c.to_le_bytes());
        Ok(out)
    }

    /// Parses a checkpoint; errors say what is wrong (the caller adds the file name).
    pub fn decode(bytes: &[u8]) -> Result<Checkpoint> {
        if bytes.len() < 16 || bytes[..8] != MAGIC {
            bail!("not a myelin checkpoint (wrong magic or too short)");
        }
        let body = bytes.len() - 4;
        let stored = u32::from_le_bytes([
            bytes[body],
            bytes[body + 1],
            bytes[body + 2],
            bytes[body + 3],
        ]);
        if crc32(&bytes[..body]) != stored {
            bail!("checkpoint checksum mismatch: the file is corrupt or truncated");
        }
        let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if version != VERSION {
            bail!("unsupported checkpoint version {version}");
        }
        let mut pos = 12;
        let mut blocks: Vec<&[u8]> = Vec::with_capacity(4);
        for _ in 0..4 {
            let len_bytes = bytes
                .get(pos..pos + 8)
                .context("checkpoint truncated in a block length")?;
            let mut a = [0u8; 8];
            a.copy_from_slice(len_bytes);
            let len = usize::try_from(u64::from_le_bytes(a)).context("block too large")?;
            pos += 8;
            let end = pos
                .checked_add(len)
                .filter(|&e| e <= body)
                .context("checkpoint block runs past the end")?;
            blocks.push(&bytes[pos..end]);
            pos = end;
        }
        if pos != body {
            bail!("checkpoint has bytes after its last block");
        }
        let meta: Meta =
            serde_json::from_slice(blocks[0]).context("checkpoint metadata is not valid")?;
        if !blocks[3].len().is_multiple_of(4) {
            bail!("checkpoint optimizer state is not whole f32s");
        }
        let optimizer = blocks[3]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok(Checkpoint {
            meta,
            model: blocks[1].to_vec(),
            best_model: blocks[2].to_vec(),
            optimizer,
        })
    }
}

/// Whether `bytes` start like a checkpoint file.
pub fn is_checkpoint(bytes: &[u8]) -> bool {
    bytes.starts_with(&MAGIC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::preset;

    #[test]
    fn write_atomic_removes_temp_files_of_dead_writers() {
        let dir = std::env::temp_dir().join(format!("myelin-stale-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("m.myl");
        // Above Linux's largest pid: no such process can run.
        let dead = dir.join(".m.myl.tmp-999999999");
        let live = dir.join(format!(".m.myl.tmp-{}", std::process::id()));
        let other = dir.join(".other.myl.tmp-999999999");
        for f in [&dead, &other] {
            std::fs::write(f, b"partial").unwrap();
        }
        write_atomic(&target, b"model").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"model");
        assert!(!live.exists(), "the writer's own temp file was renamed");
        if Path::new("/proc/self").exists() {
            assert!(!dead.exists(), "a dead writer's temp file is removed");
        }
        assert!(other.exists(), "another file's temp file is left alone");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn sample() -> Checkpoint {
        Checkpoint {
            meta: Meta {
                recipe: "mnist-mlp".into(),
                hyper: preset("mnist-mlp").unwrap().hyper,
                seed: 3,
                epochs_done: 2,
                steps: 100,
                history: vec![],
                best: Some((0.5, 1)),
                dropout: vec![0.0, 0.5],
            },
            model: vec![1, 2, 3],
            best_model: vec![],
            optimizer: vec![0.5, -1.0],
        }
    }

    #[test]
    fn round_trip_and_corruption() {
        let c = sample();
        let bytes = c.encode().unwrap();
        assert_eq!(Checkpoint::decode(&bytes).unwrap(), c);
        for cut in 0..bytes.len() {
            assert!(Checkpoint::decode(&bytes[..cut]).is_err());
        }
        let mut bad = bytes.clone();
        bad[20] ^= 4;
        assert!(Checkpoint::decode(&bad).is_err());
    }

    #[test]
    fn a_run_without_validation_set_round_trips() {
        // NaN validation figures are written as JSON null and must read back.
        let mut c = sample();
        c.meta.history.push(EpochStats {
            epoch: 1,
            lr: 0.1,
            train_loss: 2.0,
            train_accuracy: 0.1,
            val_loss: f64::NAN,
            val_accuracy: f64::NAN,
            seconds: 1.0,
            samples_per_second: 10.0,
        });
        let back = Checkpoint::decode(&c.encode().unwrap()).unwrap();
        let stats = back.meta.history[0];
        assert!(stats.val_loss.is_nan() && stats.val_accuracy.is_nan());
        assert_eq!(stats.train_loss, 2.0);
    }

    #[test]
    fn atomic_write_replaces_whole_file() {
        let dir = std::env::temp_dir().join(format!("myelin-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("m.bin");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        let leftovers = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1);
        assert!(write_atomic(&dir.join("no/such/dir/x"), b"x").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
