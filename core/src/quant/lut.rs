//! Int8 table lookup: an element-wise function of one int8 input as 256
//! output codes, the form TFLite's int8 reference `LOGISTIC` and `TANH`
//! take. The table is computed in float once, when the model is made (the
//! TFLite importer does it); inference only indexes it.

use crate::Error;

/// Entries of a lookup table: one per int8 input code.
pub const TABLE_LEN: usize = 256;

/// `y[i] = table[x[i] + 128]`: entry `k` is the output code of input code
/// `k - 128`.
///
/// # Errors
/// [`Error::ShapeMismatch`] unless `x` and `y` have one length and `table`
/// [`TABLE_LEN`] entries.
pub fn lookup(table: &[i8], x: &[i8], y: &mut [i8]) -> Result<(), Error> {
    let table: &[i8; TABLE_LEN] = table.try_into().map_err(|_| Error::ShapeMismatch {
        expected: TABLE_LEN,
        found: table.len(),
    })?;
    if x.len() != y.len() {
        return Err(Error::ShapeMismatch {
            expected: y.len(),
            found: x.len(),
        });
    }
    for (y, &x) in y.iter_mut().zip(x) {
        *y = table[(i16::from(x) + 128) as usize];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_indexes_by_code_plus_128() {
        let mut table = [0i8; TABLE_LEN];
        for (k, t) in table.iter_mut().enumerate() {
            *t = (k as i16 - 128).wrapping_neg().clamp(-128, 127) as i8;
        }
        let x = [-128i8, -1, 0, 1, 127];
        let mut y = [0i8; 5];
        lookup(&table, &x, &mut y).unwrap();
        assert_eq!(y, [127, 1, 0, -1, -127]);
        assert!(lookup(&table[..255], &x, &mut y).is_err());
        assert!(lookup(&table, &x[..4], &mut y).is_err());
    }
}
