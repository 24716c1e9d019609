//! The calling thread's last error message, and the guard every export runs its body
//! in. The status codes and the panic guard itself are shared with the PyO3 module
//! (`cannonade-binding`).

use std::cell::RefCell;
use std::ffi::CString;

pub use cannonade_binding::{CnStatus, Failure};

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

fn set_last_error(message: Option<String>) {
    // A NUL inside the message would cut it short in C; replace it.
    let message = message
        .map(|m| CString::new(m.replace('\0', "\u{fffd}")).expect("NUL bytes were replaced"));
    LAST_ERROR.with(|slot| *slot.borrow_mut() = message);
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

/// Runs an export's body: the thread's last error is cleared first (so a message read
/// after a call is always that call's), a failure sets it, and panics never cross
/// into C.
pub(crate) fn guard(body: impl FnOnce() -> Result<CnStatus, Failure>) -> CnStatus {
    set_last_error(None);
    match cannonade_binding::catch(body) {
        Ok(status) => status,
        Err((status, message)) => {
            set_last_error(Some(message));
            status
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
        set_last_error(Some("abcdef".into()));
        let mut buf = [0xffu8; 4];
        assert_eq!(copy_last_error(&mut buf), 6);
        assert_eq!(&buf, b"abc\0");
        assert_eq!(copy_last_error(&mut []), 6);
    }

    #[test]
    fn a_successful_call_clears_the_last_error() {
        set_last_error(Some("stale".into()));
        assert_eq!(guard(|| Ok(CnStatus::CN_OK)), CnStatus::CN_OK);
        assert_eq!(copy_last_error(&mut []), 0);
    }
}
