//! Keeps bcrypt (slow on purpose) from becoming a denial of service: a bounded, expiring
//! memory of recent basic-auth outcomes keyed by a per-process keyed hash of the
//! credentials, and a limiter that runs verifications on the blocking pool, a few at a
//! time, with a short bounded queue. A full queue answers "busy" at once.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

/// Entries each outcome cache keeps at most (the oldest is evicted first).
pub const CACHE_CAPACITY: usize = 1024;
/// How long a remembered outcome is trusted.
pub const CACHE_TTL: Duration = Duration::from_secs(300);
/// Verifications allowed to wait for a free slot, per running slot.
pub const QUEUE_PER_SLOT: usize = 4;
/// Longest wait for a verification slot before answering "busy".
pub const MAX_WAIT: Duration = Duration::from_secs(1);

/// Keyed SHA-256 (HMAC) of a credential; never the password itself.
pub type CredentialKey = [u8; 32];

/// The per-process random HMAC key; `None` when the system RNG failed, in which case
/// nothing is cached (every request pays bcrypt) rather than caching under a weak key.
fn process_key() -> Option<&'static ring::hmac::Key> {
    static KEY: OnceLock<Option<ring::hmac::Key>> = OnceLock::new();
    KEY.get_or_init(|| {
        ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &ring::rand::SystemRandom::new()).ok()
    })
    .as_ref()
}

/// HMAC of `parts`, each length-prefixed so that ("ab", "c") and ("a", "bc") differ.
pub fn keyed_hash(domain: &[u8], parts: &[&[u8]]) -> Option<CredentialKey> {
    let key = process_key()?;
    let mut ctx = ring::hmac::Context::with_key(key);
    ctx.update(domain);
    for p in parts {
        ctx.update(&(p.len() as u64).to_be_bytes());
        ctx.update(p);
    }
    let tag = ctx.sign();
    let mut out = [0u8; 32];
    for (o, b) in out.iter_mut().zip(tag.as_ref()) {
        *o = *b;
    }
    Some(out)
}

/// Equality of two keys in time independent of where they differ.
pub fn ct_eq(a: &CredentialKey, b: &CredentialKey) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// A bounded set of credential keys with insertion time: entries expire after `ttl`,
/// and when full the oldest is evicted.
#[derive(Debug)]
pub struct OutcomeCache {
    capacity: usize,
    ttl: Duration,
    seen: HashMap<CredentialKey, Instant>,
    /// Insertion order; an entry whose time differs from `seen` is stale and skipped.
    order: VecDeque<(CredentialKey, Instant)>,
}

impl OutcomeCache {
    /// An empty cache.
    pub fn new(capacity: usize, ttl: Duration) -> OutcomeCache {
        OutcomeCache {
            capacity: capacity.max(1),
            ttl,
            seen: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Whether `key` was inserted less than `ttl` before `now`.
    pub fn contains(&mut self, key: &CredentialKey, now: Instant) -> bool {
        match self.seen.get(key) {
            Some(at) if now.saturating_duration_since(*at) < self.ttl => true,
            Some(_) => {
                self.seen.remove(key);
                false
            }
            None => false,
        }
    }

    /// Remembers `key` as of `now`, dropping expired entries and, past capacity, the oldest.
    pub fn insert(&mut self, key: CredentialKey, now: Instant) {
        self.seen.insert(key, now);
        self.order.push_back((key, now));
        while let Some((k, at)) = self.order.front().copied() {
            let expired = now.saturating_duration_since(at) >= self.ttl;
            if !expired && self.order.len() <= self.capacity {
                break;
            }
            self.order.pop_front();
            if self.seen.get(&k) == Some(&at) {
                self.seen.remove(&k);
            }
        }
    }

    /// Live entries (at most the capacity).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// True when nothing is remembered.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.seen.clear();
        self.order.clear();
    }
}

/// Runs bcrypt verifications on the blocking pool: at most `slots` at once and at most
/// `slots × QUEUE_PER_SLOT` waiting; beyond that, or after `MAX_WAIT`, the caller is told
/// the server is busy.
#[derive(Debug)]
pub struct Limiter {
    running: Arc<Semaphore>,
    admitted: Arc<Semaphore>,
    max_wait: Duration,
}

impl Limiter {
    /// One slot per core (at least one).
    pub fn per_core() -> Limiter {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Limiter::new(cores, cores * QUEUE_PER_SLOT, MAX_WAIT)
    }

    /// `slots` verifications at once, `queue` more waiting at most `max_wait`.
    pub fn new(slots: usize, queue: usize, max_wait: Duration) -> Limiter {
        let slots = slots.max(1);
        Limiter {
            running: Arc::new(Semaphore::new(slots)),
            admitted: Arc::new(Semaphore::new(slots + queue)),
            max_wait,
        }
    }

    /// Runs `verify` off the async workers; `None` when the queue is full or the wait for
    /// a slot ran out. The permits travel with the blocking task, so the bound holds even
    /// when the client hangs up mid-verification. A verification that panicked counts as
    /// a failed one.
    pub async fn run<F>(&self, verify: F) -> Option<bool>
    where
        F: FnOnce() -> bool + Send + 'static,
    {
        let admitted = self.admitted.clone().try_acquire_owned().ok()?;
        let running = tokio::time::timeout(self.max_wait, self.running.clone().acquire_owned())
            .await
            .ok()?
            .ok()?;
        let task = tokio::task::spawn_blocking(move || {
            let _held = (admitted, running);
            verify()
        });
        Some(task.await.unwrap_or(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(n: u8) -> CredentialKey {
        [n; 32]
    }

    #[test]
    fn cache_is_bounded_and_evicts_the_oldest() {
        let mut c = OutcomeCache::new(3, CACHE_TTL);
        let t = Instant::now();
        for n in 0..10u8 {
            c.insert(k(n), t + Duration::from_millis(u64::from(n)));
        }
        assert_eq!(c.len(), 3);
        let now = t + Duration::from_secs(1);
        assert!(!c.contains(&k(6), now));
        for n in 7..10 {
            assert!(c.contains(&k(n), now), "{n} kept");
        }
        // Re-inserting one key many times does not grow the queue past the bound.
        for i in 0..100u64 {
            c.insert(k(9), now + Duration::from_millis(i));
        }
        assert!(c.order.len() <= 3 && c.len() <= 3);
        assert!(c.contains(&k(9), now + Duration::from_secs(1)));
    }

    #[test]
    fn cache_entries_expire() {
        let mut c = OutcomeCache::new(8, Duration::from_secs(300));
        let t = Instant::now();
        c.insert(k(1), t);
        c.insert(k(2), t + Duration::from_secs(200));
        assert!(c.contains(&k(1), t + Duration::from_secs(299)));
        assert!(!c.contains(&k(1), t + Duration::from_secs(300)));
        assert!(c.contains(&k(2), t + Duration::from_secs(300)));
        // Expired entries are dropped on insert, too.
        c.insert(k(3), t + Duration::from_secs(600));
        assert_eq!(c.len(), 1);
        assert_eq!(c.order.len(), 1);
        c.clear();
        assert!(c.is_empty());
    }

    #[test]
    fn keyed_hash_separates_fields_and_compares() {
        let a = keyed_hash(b"cred", &[b"ab", b"c"]).unwrap();
        let b = keyed_hash(b"cred", &[b"a", b"bc"]).unwrap();
        let a2 = keyed_hash(b"cred", &[b"ab", b"c"]).unwrap();
        assert!(!ct_eq(&a, &b));
        assert!(ct_eq(&a, &a2));
        assert!(!ct_eq(&a, &keyed_hash(b"user", &[b"ab", b"c"]).unwrap()));
    }

    /// Starts a verification that holds the limiter's running slot until the returned
    /// sender sends (or 10 s pass), and waits until it holds it.
    async fn occupy_the_running_slot(
        l: &Arc<Limiter>,
    ) -> (
        std::sync::mpsc::Sender<()>,
        tokio::task::JoinHandle<Option<bool>>,
    ) {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let slow = {
            let l = l.clone();
            tokio::spawn(async move {
                l.run(move || rx.recv_timeout(Duration::from_secs(10)).is_ok())
                    .await
            })
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while l.running.available_permits() != 0 {
            assert!(Instant::now() < deadline, "slow verification never started");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        (tx, slow)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn limiter_answers_busy_when_the_queue_is_full() {
        let l = Arc::new(Limiter::new(1, 1, Duration::from_secs(5)));
        let (tx, slow) = occupy_the_running_slot(&l).await;
        let deadline = Instant::now() + Duration::from_secs(5);
        let queued = {
            let l = l.clone();
            tokio::spawn(async move { l.run(|| true).await })
        };
        while l.admitted.available_permits() != 0 {
            assert!(
                Instant::now() < deadline,
                "second verification never queued"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let started = Instant::now();
        assert_eq!(l.run(|| true).await, None, "third is turned away");
        assert!(started.elapsed() < Duration::from_secs(1));
        tx.send(()).unwrap();
        assert_eq!(slow.await.unwrap(), Some(true));
        assert_eq!(queued.await.unwrap(), Some(true));
        assert_eq!(l.run(|| false).await, Some(false));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn limiter_wait_is_bounded() {
        let l = Arc::new(Limiter::new(1, 4, Duration::from_millis(100)));
        let (tx, slow) = occupy_the_running_slot(&l).await;
        let started = Instant::now();
        assert_eq!(l.run(|| true).await, None);
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(100) && waited < Duration::from_secs(3));
        tx.send(()).unwrap();
        assert_eq!(slow.await.unwrap(), Some(true));
    }
}
