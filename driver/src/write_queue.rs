//! A connection's bytes waiting to be written, for every adapter (the async driver and
//! odradek-mio): the chunks the core handed over, kept as they came and gathered into
//! vectored writes without allocating.

use bytes::{Buf, Bytes};
use std::collections::VecDeque;
use std::io::IoSlice;

/// The most chunks [`WriteQueue::gather`] puts into one vectored write.
pub const MAX_IOV: usize = 64;

/// The bytes queued on one connection, in order.
#[derive(Debug, Default)]
pub struct WriteQueue {
    chunks: VecDeque<Bytes>,
    /// Bytes in `chunks`, in all.
    bytes: usize,
}

impl WriteQueue {
    /// An empty queue.
    pub fn new() -> Self {
        WriteQueue::default()
    }

    /// Queues `data` after what is queued (empty chunks are skipped).
    pub fn extend(&mut self, data: impl IntoIterator<Item = Bytes>) {
        for chunk in data {
            if !chunk.is_empty() {
                self.bytes += chunk.len();
                self.chunks.push_back(chunk);
            }
        }
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// The bytes queued, in all.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Points `iov` at the first [`MAX_IOV`] chunks; returns how many it filled (write
    /// `&iov[..n]`).
    pub fn gather<'a>(&'a self, iov: &mut [IoSlice<'a>; MAX_IOV]) -> usize {
        let mut count = 0;
        for (slot, chunk) in iov.iter_mut().zip(self.chunks.iter()) {
            *slot = IoSlice::new(chunk);
            count += 1;
        }
        count
    }

    /// Drops the first `n` bytes: a write took them.
    pub fn advance(&mut self, mut n: usize) {
        self.bytes = self.bytes.saturating_sub(n);
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                return;
            };
            if front.len() <= n {
                n -= front.len();
                self.chunks.pop_front();
            } else {
                front.advance(n);
                n = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gathers_in_order_and_advances_across_chunks() {
        let mut q = WriteQueue::new();
        q.extend([
            Bytes::from_static(b"ab"),
            Bytes::new(),
            Bytes::from_static(b"cde"),
        ]);
        assert_eq!(q.bytes(), 5);
        let mut iov = [IoSlice::new(&[]); MAX_IOV];
        let n = q.gather(&mut iov);
        assert_eq!(n, 2, "the empty chunk is not queued");
        assert_eq!((&*iov[0], &*iov[1]), (&b"ab"[..], &b"cde"[..]));
        q.advance(3);
        assert_eq!(q.bytes(), 2);
        let mut iov = [IoSlice::new(&[]); MAX_IOV];
        let n = q.gather(&mut iov);
        assert_eq!(&*iov[..n][0], &b"de"[..]);
        q.advance(2);
        assert!(q.is_empty());
        assert_eq!(q.bytes(), 0);
    }

    #[test]
    fn gathers_at_most_max_iov_chunks() {
        let mut q = WriteQueue::new();
        q.extend((0..MAX_IOV + 10).map(|_| Bytes::from_static(b"x")));
        let mut iov = [IoSlice::new(&[]); MAX_IOV];
        assert_eq!(q.gather(&mut iov), MAX_IOV);
    }
}
