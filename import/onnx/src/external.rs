//! Tensor data stored outside the model file (`data_location: EXTERNAL`):
//! only relative paths that stay inside the model's folder are read, and the
//! sizes are checked against the data file's length before reading.

use crate::error::OnnxError;
use crate::proto::StringStringEntryProto;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path};

/// Where external tensor data may be read from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DataSource<'a> {
    /// The model's folder; `None` refuses all external data.
    pub model_dir: Option<&'a Path>,
}

/// Checks that `location` is a plain relative path without `..`, a root or a
/// drive prefix.
pub(crate) fn check_location(tensor: &str, location: &str) -> Result<(), OnnxError> {
    if location.is_empty() {
        return Err(OnnxError::external(tensor, "empty location"));
    }
    if location.contains('\0') || location.contains(':') || location.starts_with(['/', '\\']) {
        return Err(OnnxError::external(
            tensor,
            format!("location `{location}` is not a relative path inside the model's folder"),
        ));
    }
    for part in location.split(['/', '\\']) {
        if part == ".." {
            return Err(OnnxError::external(
                tensor,
                format!("location `{location}` leaves the model's folder (`..`)"),
            ));
        }
    }
    if Path::new(location)
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(OnnxError::external(
            tensor,
            format!("location `{location}` is not a relative path inside the model's folder"),
        ));
    }
    Ok(())
}

/// Reads `need` bytes of external data described by `entries`.
pub(crate) fn read(
    tensor: &str,
    entries: &[StringStringEntryProto],
    need: usize,
    source: &DataSource<'_>,
) -> Result<Vec<u8>, OnnxError> {
    let mut location = None;
    let mut offset: u64 = 0;
    let mut length: Option<u64> = None;
    for e in entries {
        let key = e.key.as_deref().unwrap_or("");
        let value = e.value.as_deref().unwrap_or("");
        let number = || {
            value.parse::<u64>().map_err(|_| {
                OnnxError::external(tensor, format!("`{key}` is `{value}`, not a byte count"))
            })
        };
        match key {
            "location" => location = Some(value),
            "offset" => offset = number()?,
            "length" => length = Some(number()?),
            _ => {}
        }
    }
    let location = location.ok_or_else(|| OnnxError::external(tensor, "no `location` entry"))?;
    check_location(tensor, location)?;
    let dir = source.model_dir.ok_or_else(|| {
        OnnxError::external(
            tensor,
            format!("`{location}` cannot be read: the model was given as bytes without its folder"),
        )
    })?;
    if let Some(len) = length
        && len != need as u64
    {
        return Err(OnnxError::external(
            tensor,
            format!("`length` is {len} bytes but the dims need {need}"),
        ));
    }
    let io = |e: std::io::Error| OnnxError::external(tensor, format!("`{location}`: {e}"));
    let root = dir.canonicalize().map_err(io)?;
    let path = root.join(location).canonicalize().map_err(io)?;
    if !path.starts_with(&root) {
        return Err(OnnxError::external(
            tensor,
            format!("`{location}` resolves outside the model's folder"),
        ));
    }
    let mut file = std::fs::File::open(&path).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    let end = offset
        .checked_add(need as u64)
        .filter(|&end| end <= file_len)
        .ok_or_else(|| {
            OnnxError::external(
                tensor,
                format!("`{location}` holds {file_len} bytes, fewer than offset {offset} + {need}"),
            )
        })?;
    debug_assert!(end <= file_len);
    file.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut buf = vec![0u8; need];
    file.read_exact(&mut buf).map_err(io)?;
    Ok(buf)
}
