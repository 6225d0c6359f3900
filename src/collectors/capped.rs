//! A byte budget on what a monitored server may send, so a hostile or broken server cannot
//! make the exporter buffer without bound: the Redis and PostgreSQL collectors read through
//! a [`CappedStream`] whose [`ReplyBudget`] is reset before each scrape's round trip; once a
//! scrape has read more than the cap, every further read fails with an I/O error, the
//! client library drops the connection and the collector reports `reason="protocol"`.
//!
//! Decision: the budget counts raw bytes per scrape, under TLS (ciphertext, handshake
//! included), instead of parsing each protocol's framing. It bounds everything one scrape
//! can make the client libraries buffer (one huge reply as well as many large ones, which a
//! per-message limit would let through), works the same for plain TCP, TLS and Unix
//! sockets, and needs no codec of our own. A normal scrape reads far less than the default
//! (Redis: a few KB of `INFO`; PostgreSQL: tens of KB, the setting descriptions read once
//! per connection being the largest part), and TLS adds well under 1 % per record plus a
//! few KB of certificates per new connection.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The default cap (a setting, defined with the configuration).
pub use crate::config::DEFAULT_MAX_REPLY_BYTES;

/// Bytes read from one server since the last [`reset`](ReplyBudget::reset), and whether
/// that went over the cap. Cloning shares the budget.
#[derive(Clone, Debug)]
pub struct ReplyBudget {
    inner: Arc<BudgetInner>,
}

#[derive(Debug)]
struct BudgetInner {
    cap: u64,
    used: AtomicU64,
    exceeded: AtomicBool,
}

impl ReplyBudget {
    /// A fresh budget of `cap` bytes.
    pub fn new(cap: u64) -> ReplyBudget {
        ReplyBudget {
            inner: Arc::new(BudgetInner {
                cap,
                used: AtomicU64::new(0),
                exceeded: AtomicBool::new(false),
            }),
        }
    }

    /// Starts a new scrape's budget. A connection that already went over stays failed:
    /// its stream has been dropped by the client library.
    pub fn reset(&self) {
        self.inner.used.store(0, Ordering::Relaxed);
        self.inner.exceeded.store(false, Ordering::Relaxed);
    }

    /// Whether a read went over the cap since the last reset.
    pub fn exceeded(&self) -> bool {
        self.inner.exceeded.load(Ordering::Relaxed)
    }

    /// The cap in bytes.
    pub fn cap(&self) -> u64 {
        self.inner.cap
    }

    /// Bytes read since the last reset.
    pub fn used(&self) -> u64 {
        self.inner.used.load(Ordering::Relaxed)
    }

    /// The cause text of the collect error when the cap was exceeded.
    pub fn cause(&self) -> String {
        format!(
            "the server sent more than {} bytes in one scrape (--collector.max-reply-bytes); connection dropped",
            self.cap()
        )
    }

    /// Accounts `n` bytes; `false` when that went over the cap.
    fn take(&self, n: usize) -> bool {
        let n = n as u64;
        let before = self.inner.used.fetch_add(n, Ordering::Relaxed);
        if before.saturating_add(n) > self.inner.cap {
            self.inner.exceeded.store(true, Ordering::Relaxed);
            false
        } else {
            true
        }
    }

    /// Bytes left before the cap (0 when over).
    fn left(&self) -> u64 {
        self.inner.cap.saturating_sub(self.used())
    }
}

/// A stream whose reads draw on a [`ReplyBudget`]; writes pass through.
#[derive(Debug)]
pub struct CappedStream<S> {
    inner: S,
    budget: ReplyBudget,
    failed: bool,
}

impl<S> CappedStream<S> {
    /// Wraps `inner`; reads fail once `budget` is exhausted.
    pub fn new(inner: S, budget: ReplyBudget) -> CappedStream<S> {
        CappedStream {
            inner,
            budget,
            failed: false,
        }
    }
}

fn over_cap(cap: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("reply larger than the {cap}-byte cap"),
    )
}

impl<S: AsyncRead + Unpin> AsyncRead for CappedStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.failed || this.budget.exceeded() {
            this.failed = true;
            return Poll::Ready(Err(over_cap(this.budget.cap())));
        }
        // Never read more than one byte past the cap: the over-cap read is detected
        // without taking in a large buffer's worth first.
        let allowed = usize::try_from(this.budget.left().saturating_add(1)).unwrap_or(usize::MAX);
        let room = buf.remaining().min(allowed);
        let mut limited = ReadBuf::new(buf.initialize_unfilled_to(room));
        match Pin::new(&mut this.inner).poll_read(cx, &mut limited) {
            Poll::Ready(Ok(())) => {
                let n = limited.filled().len();
                if this.budget.take(n) {
                    buf.advance(n);
                    Poll::Ready(Ok(()))
                } else {
                    // An erroring read hands out nothing.
                    this.failed = true;
                    Poll::Ready(Err(over_cap(this.budget.cap())))
                }
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CappedStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn reads_fail_past_the_cap_and_reset_restores_the_budget() {
        let (mut server, client) = tokio::io::duplex(64 * 1024);
        let budget = ReplyBudget::new(10);
        let mut capped = CappedStream::new(client, budget.clone());
        server.write_all(b"0123456789").await.unwrap();
        let mut buf = [0u8; 10];
        capped.read_exact(&mut buf).await.unwrap();
        assert!(!budget.exceeded());
        server.write_all(&[b'x'; 1000]).await.unwrap();
        let mut rest = Vec::new();
        let e = capped.read_to_end(&mut rest).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        assert!(budget.exceeded());
        assert!(rest.is_empty(), "nothing past the cap is handed out");
        assert!(budget.cause().contains("10 bytes"));
        // A failed stream stays failed; the budget itself is reusable.
        assert!(capped.read(&mut buf).await.is_err());
        budget.reset();
        assert!(!budget.exceeded());
        assert_eq!(budget.used(), 0);
    }
}
