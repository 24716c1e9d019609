//! The C ABI of cannonade: a handful of coarse calls, JSON in and out.
//!
//! Every export is written out in full so cbindgen sees it, returns a [`CnStatus`]
//! (or nothing, for the free functions), and runs inside a panic guard. Pointer
//! conversions live in `handle.rs`. The header is `python/cannonade/cannonade.h`.
//!
//! Threads: every export may be called from any thread. Calls on one `CnRun` may run
//! at the same time from several threads (a `cn_run_wait` in one while another polls
//! or stops it), except `cn_run_free`, which must not overlap any other call on the
//! same handle: the caller makes sure every other call on it has returned first (the
//! Python backends do). `cn_last_error` reads the calling thread's own message, set by
//! the last failed call on that thread; every other export clears it when it starts,
//! so a message is never stale.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod handle;
mod status;

use std::ffi::c_char;
use std::time::Duration;

pub use handle::{CnBuf, CnRun};
pub use status::CnStatus;

use handle::{
    buf_free, buf_from_vec, bytes_out, out_arg, run_free, run_into_raw, run_ref, str_arg,
};
use status::{copy_last_error, guard};

/// The ABI version of this library; the Python package checks it at import.
pub const CN_ABI_VERSION: u32 = 2;

// The plan format and the C ABI are versioned together.
const _: () = assert!(CN_ABI_VERSION == cannonade_core::ABI_VERSION);

static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The ABI version of this library (`CN_ABI_VERSION`).
#[no_mangle]
pub extern "C" fn cn_abi_version() -> u32 {
    CN_ABI_VERSION
}

/// The library's version as a static NUL-terminated string. Never free it.
#[no_mangle]
pub extern "C" fn cn_version() -> *const c_char {
    VERSION.as_ptr().cast()
}

/// Checks a plan (JSON text) exactly as `cn_run_start` would, without connecting or
/// starting anything: `CN_OK`, or `CN_INVALID_PLAN` / `CN_ABI_MISMATCH` with the
/// message naming the field.
///
/// # Safety
/// `plan_json` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn cn_plan_validate(plan_json: *const c_char) -> CnStatus {
    guard(|| {
        // SAFETY: the caller passes NULL or a NUL-terminated string alive for the call.
        let text = unsafe { str_arg(plan_json, "plan_json") }?;
        cannonade_binding::validate(text)?;
        Ok(CnStatus::CN_OK)
    })
}

/// Validates a plan (JSON text), checks the target accepts a connection, and starts
/// the run. On success `*out_run` owns a handle to free with `cn_run_free`.
///
/// # Safety
/// `plan_json` is a NUL-terminated string; `out_run` is valid for one write.
#[no_mangle]
pub unsafe extern "C" fn cn_run_start(
    plan_json: *const c_char,
    out_run: *mut *mut CnRun,
) -> CnStatus {
    guard(|| {
        // SAFETY: the caller passes NULL or a pointer valid for one write (see # Safety).
        let out = unsafe { out_arg(out_run, "out_run") }?;
        *out = std::ptr::null_mut();
        // SAFETY: the caller passes NULL or a NUL-terminated string alive for the call.
        let text = unsafe { str_arg(plan_json, "plan_json") }?;
        *out = run_into_raw(cannonade_binding::start(text)?);
        Ok(CnStatus::CN_OK)
    })
}

/// Waits at most `timeout_ms` for the run to finish: `CN_OK` once it has,
/// `CN_TIMEOUT` while it goes on.
///
/// # Safety
/// `run` is a live handle from `cn_run_start`.
#[no_mangle]
pub unsafe extern "C" fn cn_run_wait(run: *const CnRun, timeout_ms: u64) -> CnStatus {
    guard(|| {
        // SAFETY: the caller passes NULL or a live handle, not freed during the call.
        let run = unsafe { run_ref(run) }?;
        Ok(if run.run.wait(Some(Duration::from_millis(timeout_ms))) {
            CnStatus::CN_OK
        } else {
            CnStatus::CN_TIMEOUT
        })
    })
}

/// Starts a new phase named `name` (UTF-8, 1 to 64 bytes, no control characters)
/// with the next interval to finish, and writes that interval's index to
/// `*out_first_interval`. Intervals finished before the call keep their phase.
/// `CN_INVALID_ARGUMENT` for a bad name, `CN_RUNTIME_ERROR` once the run has finished.
///
/// # Safety
/// `run` is a live handle; `name` is a NUL-terminated string; `out_first_interval`
/// is valid for one write.
#[no_mangle]
pub unsafe extern "C" fn cn_run_mark_phase(
    run: *const CnRun,
    name: *const c_char,
    out_first_interval: *mut u64,
) -> CnStatus {
    guard(|| {
        // SAFETY: the caller passes NULL or a pointer valid for one write (see # Safety).
        let out = unsafe { out_arg(out_first_interval, "out_first_interval") }?;
        // SAFETY: the caller passes NULL or a live handle, not freed during the call.
        let run = unsafe { run_ref(run) }?;
        // SAFETY: the caller passes NULL or a NUL-terminated string alive for the call.
        let name = unsafe { str_arg(name, "name") }?;
        *out = run
            .run
            .mark_phase(name)
            .map_err(cannonade_binding::phase_failure)?;
        Ok(CnStatus::CN_OK)
    })
}

/// Asks the run to stop and returns at once; wait for it to finish. Harmless twice.
///
/// # Safety
/// `run` is a live handle from `cn_run_start`.
#[no_mangle]
pub unsafe extern "C" fn cn_run_stop(run: *const CnRun) -> CnStatus {
    guard(|| {
        // SAFETY: the caller passes NULL or a live handle, not freed during the call.
        unsafe { run_ref(run) }?.run.stop();
        Ok(CnStatus::CN_OK)
    })
}

/// The intervals finished since the last poll, oldest first, as a JSON array (not
/// NUL-terminated) in `*out`, to free with `cn_buf_free`. Works while the run goes on
/// and after it has finished; `[]` when there is nothing new.
///
/// # Safety
/// `run` is a live handle; `out` is valid for one write.
#[no_mangle]
pub unsafe extern "C" fn cn_run_poll(run: *const CnRun, out: *mut CnBuf) -> CnStatus {
    guard(|| {
        // SAFETY: the caller passes NULL or a pointer valid for one write (see # Safety).
        let out = unsafe { out_arg(out, "out") }?;
        // SAFETY: the caller passes NULL or a live handle, not freed during the call.
        *out = buf_from_vec(cannonade_binding::poll_json(&unsafe { run_ref(run) }?.run)?);
        Ok(CnStatus::CN_OK)
    })
}

/// The summary of a finished run as JSON text (not NUL-terminated) in `*out`, to free
/// with `cn_buf_free`. `CN_NOT_FINISHED` while the run goes on.
///
/// # Safety
/// `run` is a live handle; `out` is valid for one write.
#[no_mangle]
pub unsafe extern "C" fn cn_run_result_json(run: *const CnRun, out: *mut CnBuf) -> CnStatus {
    guard(|| {
        // SAFETY: the caller passes NULL or a pointer valid for one write (see # Safety).
        let out = unsafe { out_arg(out, "out") }?;
        // SAFETY: the caller passes NULL or a live handle, not freed during the call.
        *out = buf_from_vec(cannonade_binding::result_json(
            &unsafe { run_ref(run) }?.run,
        )?);
        Ok(CnStatus::CN_OK)
    })
}

/// The merged latency histogram (nanoseconds) of a finished run, in HdrHistogram V2
/// deflate form, in `*out`, to free with `cn_buf_free`.
///
/// # Safety
/// `run` is a live handle; `out` is valid for one write.
#[no_mangle]
pub unsafe extern "C" fn cn_run_histogram(run: *const CnRun, out: *mut CnBuf) -> CnStatus {
    guard(|| {
        // SAFETY: the caller passes NULL or a pointer valid for one write (see # Safety).
        let out = unsafe { out_arg(out, "out") }?;
        // SAFETY: the caller passes NULL or a live handle, not freed during the call.
        *out = buf_from_vec(cannonade_binding::histogram(&unsafe { run_ref(run) }?.run)?);
        Ok(CnStatus::CN_OK)
    })
}

/// Stops the run if it goes on, waits for its threads, and frees the handle.
/// NULL is a no-op.
///
/// # Safety
/// `run` is NULL or a live handle; it is invalid afterwards.
#[no_mangle]
pub unsafe extern "C" fn cn_run_free(run: *mut CnRun) {
    let _ = guard(move || {
        // SAFETY: the caller passes NULL or a live handle that no other call is using; it is not used again.
        unsafe { run_free(run) };
        Ok(CnStatus::CN_OK)
    });
}

/// Frees bytes returned by this library. `{NULL, 0}` is a no-op.
///
/// # Safety
/// `buf` came from this library and was not freed yet.
#[no_mangle]
pub unsafe extern "C" fn cn_buf_free(buf: CnBuf) {
    let _ = guard(move || {
        // SAFETY: the buffer came from this library and is freed once.
        unsafe { buf_free(buf) };
        Ok(CnStatus::CN_OK)
    });
}

/// Copies the calling thread's last error message into `buf` (NUL-terminated,
/// truncated to `buf_len - 1` bytes) and returns its full length in bytes without the
/// NUL; 0 when there is none. `(NULL, 0)` asks for the length only.
///
/// # Safety
/// `buf` is NULL or valid for writes of `buf_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn cn_last_error(buf: *mut c_char, buf_len: usize) -> usize {
    // SAFETY: the caller passes NULL or a buffer valid for `buf_len` bytes.
    let out = unsafe { bytes_out(buf, buf_len) };
    // Not through `guard`, which would clear the very message asked for.
    cannonade_binding::catch(|| Ok(copy_last_error(out))).unwrap_or(0)
}
