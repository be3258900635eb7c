//! Per-request work accounting, for tests only: every matcher reports the bytes it hashes or scans, so a
//! test can prove that a decision costs work linear in the request's size and independent of the number
//! of rules. In other builds the calls compile to nothing.

#[cfg(test)]
thread_local! {
    static BYTES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Records `bytes` of request data hashed or scanned by a matcher.
#[inline(always)]
pub(crate) fn add(bytes: usize) {
    #[cfg(test)]
    BYTES.with(|b| b.set(b.get().saturating_add(bytes)));
    #[cfg(not(test))]
    let _ = bytes;
}

/// The bytes recorded on this thread since the last call, resetting the count.
#[cfg(test)]
pub(crate) fn take() -> usize {
    BYTES.with(|b| b.replace(0))
}
