//! Small helpers every layer shares: locking a mutex whatever happened to its last
//! holder, the time left until a deadline, and an error cut to one line.

use std::time::Duration;

/// Locks a mutex, recovering the data from a poisoned one (a panicked holder leaves
/// only counters, caches and plain values behind, still worth reading).
pub fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The time left until `deadline` (zero once it passed).
pub fn remaining(deadline: tokio::time::Instant) -> Duration {
    deadline.saturating_duration_since(tokio::time::Instant::now())
}

/// The first line of an error text, at most 300 characters.
pub fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_is_one_bounded_line() {
        assert_eq!(first_line("a\nb"), "a");
        assert_eq!(first_line(""), "");
        assert_eq!(first_line(&"x".repeat(400)).len(), 300);
    }

    #[test]
    fn a_poisoned_mutex_still_locks() {
        let m = std::sync::Arc::new(std::sync::Mutex::new(1));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let _g = m2.lock();
            panic!("poison");
        })
        .join();
        assert!(m.is_poisoned());
        assert_eq!(*lock(&m), 1);
    }
}
