//! Status codes, the calling thread's last error message, and the panic guard every
//! export runs its body in.

use std::any::Any;
use std::cell::RefCell;
use std::ffi::CString;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What every fallible export returns. `CN_OK` is success; anything else but
/// `CN_TIMEOUT` comes with a message from `cn_last_error`.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CnStatus {
    /// Success.
    CN_OK = 0,
    /// `cn_run_wait` timed out: the run is still going.
    CN_TIMEOUT = 1,
    /// A NULL pointer or a string that is not UTF-8 was passed.
    CN_INVALID_ARGUMENT = 2,
    /// The plan cannot run; the message names the field.
    CN_INVALID_PLAN = 3,
    /// The plan was written for another ABI version.
    CN_ABI_MISMATCH = 4,
    /// The target did not accept a first connection.
    CN_CONNECT_FAILED = 5,
    /// The run has not finished yet; wait for it first.
    CN_NOT_FINISHED = 6,
    /// The run could not be carried out (threads, event loops).
    CN_RUNTIME_ERROR = 7,
    /// A bug: the library panicked. The message says where.
    CN_PANIC = 8,
}

/// A failed call: its status and the message for `cn_last_error`.
pub(crate) type Failure = (CnStatus, String);

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

pub(crate) fn set_last_error(message: String) {
    // A NUL inside the message would cut it short in C; replace it.
    let message = CString::new(message.replace('\0', "\u{fffd}")).expect("NUL bytes were replaced");
    LAST_ERROR.with(|slot| *slot.borrow_mut() = Some(message));
}

/// Copies the last error message into `buf`; returns its full length in bytes.
pub(crate) fn copy_last_error(buf: &mut [u8]) -> usize {
    LAST_ERROR.with(|slot| {
        let slot = slot.borrow();
        let Some(message) = slot.as_ref() else {
            if let Some(first) = buf.first_mut() {
                *first = 0;
            }
            return 0;
        };
        let bytes = message.as_bytes();
        if let Some(room) = buf.len().checked_sub(1) {
            let n = bytes.len().min(room);
            buf[..n].copy_from_slice(&bytes[..n]);
            buf[n] = 0;
        }
        bytes.len()
    })
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("unknown panic")
}

/// Runs an export's body: failures set the last error, panics never cross into C.
///
/// Unwind safety is asserted: after a panic the caller only gets `CN_PANIC`, and the
/// shared state a body can reach (a run's outcome) is behind locks that tolerate poison.
pub(crate) fn guard(body: impl FnOnce() -> Result<CnStatus, Failure>) -> CnStatus {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(status)) => status,
        Ok(Err((status, message))) => {
            set_last_error(message);
            status
        }
        Err(payload) => {
            set_last_error(format!(
                "internal error in cannonade (please report it): {}",
                panic_message(payload.as_ref())
            ));
            CnStatus::CN_PANIC
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_status_and_message() {
        let status = guard(|| panic!("boom {}", 42));
        assert_eq!(status, CnStatus::CN_PANIC);
        let mut buf = [0u8; 128];
        let len = copy_last_error(&mut buf);
        let text = std::str::from_utf8(&buf[..len]).unwrap();
        assert!(text.contains("boom 42"), "{text}");
    }

    #[test]
    fn message_is_truncated_and_terminated() {
        set_last_error("abcdef".into());
        let mut buf = [0xffu8; 4];
        assert_eq!(copy_last_error(&mut buf), 6);
        assert_eq!(&buf, b"abc\0");
        assert_eq!(copy_last_error(&mut []), 6);
    }
}
