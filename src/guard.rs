//! A fence around third-party parsing code: a panic inside it (say, an overflow on an absurd
//! header field) becomes an error value, and the binary's panic hook stays quiet about it.
//!
//! Runs on whatever thread reads a file; never used on the audio callback.

use std::cell::Cell;

thread_local! {
    static FENCED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`; a panic inside it comes back as `Err` with its message instead of unwinding on.
///
/// ```
/// let r = spektr::guard::fenced(|| -> u32 { panic!("bad header") });
/// assert_eq!(r.unwrap_err(), "bad header");
/// assert_eq!(spektr::guard::fenced(|| 7).unwrap(), 7);
/// ```
pub fn fenced<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let outer = FENCED.with(|c| c.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    FENCED.with(|c| c.set(outer));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into())
    })
}

/// Whether this thread is inside [`fenced`]: a panic hook should then print nothing, since
/// the panic becomes an ordinary error.
pub fn in_fence() -> bool {
    FENCED.with(Cell::get)
}
