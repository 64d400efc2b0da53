//! Checked conversions from C pointers and lengths to Rust references.

use core::mem::{align_of, size_of};

use myelin_core::model::Model;

use crate::status::{myelin_status, myelin_status::*, status_of};

/// A byte range `[start, start + len)` of memory, for overlap checks.
#[derive(Debug, Clone, Copy)]
pub struct Span(usize, usize);

impl Span {
    /// The bytes of `len` elements of `T` at `p`.
    pub fn of<T>(p: *const T, len: usize) -> Span {
        Span(p as usize, len.saturating_mul(size_of::<T>()))
    }

    /// Whether the two ranges share a byte (empty ranges share none).
    pub fn overlaps(self, o: Span) -> bool {
        self.1 != 0
            && o.1 != 0
            && self.0 < o.0.saturating_add(o.1)
            && o.0 < self.0.saturating_add(self.1)
    }
}

/// Checks that `len` elements of `T` at `p` can be a slice: not null,
/// aligned, at most `isize::MAX` bytes, not wrapping the address space.
fn check<T>(p: *const T, len: usize) -> Result<(), myelin_status> {
    if p.is_null() {
        return Err(MYELIN_NULL_POINTER);
    }
    if !(p as usize).is_multiple_of(align_of::<T>()) {
        return Err(MYELIN_MISALIGNED);
    }
    let bytes = len
        .checked_mul(size_of::<T>())
        .ok_or(MYELIN_BUFFER_LENGTH)?;
    if bytes > isize::MAX as usize || (p as usize).checked_add(bytes).is_none() {
        return Err(MYELIN_BUFFER_LENGTH);
    }
    Ok(())
}

/// `len` elements at `p` as a slice, after [`check`].
///
/// # Safety
/// If `p` is not null, it points at `len` initialized `T`s that nothing
/// writes while the slice lives.
pub unsafe fn slice<'a, T>(p: *const T, len: usize) -> Result<&'a [T], myelin_status> {
    check(p, len)?;
    // SAFETY: `check` proved the pointer non-null, aligned and the size in
    // range; the caller promises the memory is valid and not written.
    Ok(unsafe { core::slice::from_raw_parts(p, len) })
}

/// `len` elements at `p` as a mutable slice, after [`check`].
///
/// # Safety
/// If `p` is not null, it points at `len` writable `T`s that nothing else
/// reads or writes while the slice lives.
pub unsafe fn slice_mut<'a, T>(p: *mut T, len: usize) -> Result<&'a mut [T], myelin_status> {
    check(p, len)?;
    // SAFETY: as in `slice`, with exclusive access promised by the caller
    // and overlap with the call's other buffers ruled out by its callers.
    Ok(unsafe { core::slice::from_raw_parts_mut(p, len) })
}

/// Writes `v` through the out-pointer `p`.
///
/// # Safety
/// If `p` is not null, it points at a writable `T`.
pub unsafe fn put<T>(p: *mut T, v: T) -> Result<(), myelin_status> {
    check(p, 1)?;
    // SAFETY: checked non-null and aligned; the caller promises it is writable.
    unsafe { p.write(v) };
    Ok(())
}

/// The model file of `len` bytes at `blob`, validated.
///
/// # Safety
/// As [`slice`] for `blob`.
pub unsafe fn model<'a>(blob: *const u8, len: usize) -> Result<Model<'a>, myelin_status> {
    // SAFETY: forwarded to the caller.
    let bytes = unsafe { slice(blob, len) }?;
    Model::parse(bytes).map_err(status_of)
}

/// `Ok(())` as `MYELIN_OK`, an error as its code.
pub fn code(r: Result<(), myelin_status>) -> myelin_status {
    r.err().unwrap_or(MYELIN_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_overlap_only_when_they_share_a_byte() {
        assert!(Span(10, 5).overlaps(Span(14, 1)));
        assert!(!Span(10, 5).overlaps(Span(15, 1)));
        assert!(!Span(10, 5).overlaps(Span(5, 5)));
        assert!(Span(10, 5).overlaps(Span(5, 6)));
        assert!(!Span(10, 0).overlaps(Span(10, 5)));
        assert!(Span(usize::MAX - 1, 4).overlaps(Span(usize::MAX - 1, 1)));
    }

    #[test]
    fn checks_null_alignment_and_size() {
        let x = [0u32; 4];
        assert_eq!(check(core::ptr::null::<u32>(), 1), Err(MYELIN_NULL_POINTER));
        let odd = (x.as_ptr() as *const u8).wrapping_add(1) as *const u32;
        assert_eq!(check(odd, 1), Err(MYELIN_MISALIGNED));
        assert_eq!(check(x.as_ptr(), usize::MAX / 2), Err(MYELIN_BUFFER_LENGTH));
        assert_eq!(check(x.as_ptr(), 4), Ok(()));
    }
}
