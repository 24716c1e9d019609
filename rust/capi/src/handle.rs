//! Every raw pointer the C ABI touches is converted here, and only here.
//!
//! Ownership: a `CnRun` is a `Box` owned by C from `cn_run_start` until `cn_run_free`;
//! a `CnBuf` is a boxed byte slice owned by C until `cn_buf_free`; strings passed in
//! are borrowed for the duration of the call.

use std::ffi::{c_char, CStr};

use cannonade_core::Run;

use crate::status::{CnStatus, Failure};

/// An opaque run handle. Freed by `cn_run_free`.
///
/// Threads: any export may be called from any thread, and calls on one handle may run
/// at the same time (a `cn_run_wait` in one thread while another polls or stops it),
/// except `cn_run_free`, which must not overlap any other call on the same handle:
/// make sure every other call on it has returned first. `cn_last_error` reads the
/// calling thread's own message; every other export clears it when it starts.
pub struct CnRun {
    pub(crate) run: Run,
}

/// Bytes handed to C. Freed by `cn_buf_free`; `{NULL, 0}` is empty.
#[repr(C)]
#[derive(Debug)]
pub struct CnBuf {
    /// First byte, or NULL when empty.
    pub ptr: *mut u8,
    /// Number of bytes.
    pub len: usize,
}

fn null(name: &str) -> Failure {
    (
        CnStatus::CN_INVALID_ARGUMENT,
        format!("{name} is NULL; pass a valid pointer"),
    )
}

/// Borrows a NUL-terminated UTF-8 string argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string alive for the call.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(null(name));
    }
    // SAFETY: not NULL (checked above), and NUL-terminated and alive per the contract.
    unsafe { CStr::from_ptr(ptr) }.to_str().map_err(|e| {
        (
            CnStatus::CN_INVALID_ARGUMENT,
            format!("{name} is not UTF-8 text: {e}"),
        )
    })
}

/// Borrows a run handle.
///
/// # Safety
/// `ptr` is NULL or a handle from `cn_run_start` not yet freed.
pub(crate) unsafe fn run_ref<'a>(ptr: *const CnRun) -> Result<&'a CnRun, Failure> {
    // SAFETY: NULL or a live `Box<CnRun>` from `run_into_raw`, per the contract.
    unsafe { ptr.as_ref() }.ok_or_else(|| null("run"))
}

/// Borrows an out-parameter.
///
/// # Safety
/// `ptr` is NULL or valid for writes of one `T`.
pub(crate) unsafe fn out_arg<'a, T>(ptr: *mut T, name: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: NULL or valid for one write of `T`, per the contract.
    unsafe { ptr.as_mut() }.ok_or_else(|| null(name))
}

/// Hands a run to C.
pub(crate) fn run_into_raw(run: Run) -> *mut CnRun {
    Box::into_raw(Box::new(CnRun { run }))
}

/// Takes a run back from C and drops it (stopping it). NULL is a no-op.
///
/// # Safety
/// `ptr` is NULL or a handle from `cn_run_start` not yet freed; it is invalid after.
pub(crate) unsafe fn run_free(ptr: *mut CnRun) {
    if !ptr.is_null() {
        // SAFETY: made by `Box::into_raw` in `run_into_raw` and not freed yet.
        drop(unsafe { Box::from_raw(ptr) });
    }
}

/// Hands bytes to C.
pub(crate) fn buf_from_vec(bytes: Vec<u8>) -> CnBuf {
    let len = bytes.len();
    let ptr = Box::into_raw(bytes.into_boxed_slice()) as *mut u8;
    CnBuf { ptr, len }
}

/// Takes bytes back from C and frees them. `{NULL, _}` is a no-op.
///
/// # Safety
/// `buf` came from `buf_from_vec` and was not freed yet.
pub(crate) unsafe fn buf_free(buf: CnBuf) {
    if !buf.ptr.is_null() {
        // SAFETY: `ptr` and `len` are those of a boxed slice leaked by `buf_from_vec`.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(buf.ptr, buf.len)) });
    }
}

/// Borrows a caller's byte buffer for writing. NULL or zero length gives an empty slice.
///
/// # Safety
/// `ptr` is NULL or valid for writes of `len` bytes.
pub(crate) unsafe fn bytes_out<'a>(ptr: *mut c_char, len: usize) -> &'a mut [u8] {
    if ptr.is_null() || len == 0 {
        &mut []
    } else {
        // SAFETY: not NULL, and valid for writes of `len` bytes per the contract.
        unsafe { std::slice::from_raw_parts_mut(ptr.cast::<u8>(), len) }
    }
}
