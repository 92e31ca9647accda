//! `--features alloc-stats`: a counting global allocator for `odradek perf`, to tell the heap
//! the process holds from the memory the kernel charges it (peak RSS). Off by default (each
//! allocation pays a few atomic adds).
//!
//! Counted: live bytes (as asked for by `Layout`, not what the allocator rounds them up to),
//! the peak of live bytes, allocations, and live bytes per size class (power-of-two classes,
//! as a snapshot taken whenever the peak grew by [`SNAPSHOT_STEP`]). At the end of a run
//! [`report`] prints these beside the kernel's view (`VmHWM`, `VmRSS`, `RssAnon` from
//! `/proc/self/status`) and a sampler thread's peak of RSS with the live heap at that moment.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

/// Size classes: class `c` holds sizes in `(2^(c-1), 2^c]`; the last one everything larger.
const CLASSES: usize = 28;
/// The per-class snapshot is retaken whenever the peak passes the last one by this much.
const SNAPSHOT_STEP: isize = 256 * 1024;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static CLASS_LIVE: [AtomicIsize; CLASSES] = [const { AtomicIsize::new(0) }; CLASSES];
static CLASS_COUNT: [AtomicIsize; CLASSES] = [const { AtomicIsize::new(0) }; CLASSES];
/// (live bytes, live blocks) per class when the peak was last snapshotted.
static AT_PEAK: Mutex<([isize; CLASSES], [isize; CLASSES], isize)> =
    Mutex::new(([0; CLASSES], [0; CLASSES], 0));
static SNAPSHOTTING: AtomicBool = AtomicBool::new(false);

fn class(size: usize) -> usize {
    (usize::BITS - size.saturating_sub(1).leading_zeros()).min(CLASSES as u32 - 1) as usize
}

fn grow(size: usize) {
    let c = class(size);
    CLASS_LIVE[c].fetch_add(size as isize, Relaxed);
    CLASS_COUNT[c].fetch_add(1, Relaxed);
    let live = LIVE.fetch_add(size as isize, Relaxed) + size as isize;
    let peak = PEAK.fetch_max(live, Relaxed);
    if live > peak {
        snapshot_if_due(live);
    }
}

fn shrink(size: usize) {
    let c = class(size);
    CLASS_LIVE[c].fetch_sub(size as isize, Relaxed);
    CLASS_COUNT[c].fetch_sub(1, Relaxed);
    LIVE.fetch_sub(size as isize, Relaxed);
}

/// Copies the per-class counters when the peak has grown by a step since the last copy.
/// Never allocates (it runs inside the allocator); a concurrent call skips.
fn snapshot_if_due(live: isize) {
    if SNAPSHOTTING.swap(true, Relaxed) {
        return;
    }
    if let Ok(mut s) = AT_PEAK.try_lock() {
        if live >= s.2 + SNAPSHOT_STEP {
            for c in 0..CLASSES {
                s.0[c] = CLASS_LIVE[c].load(Relaxed);
                s.1[c] = CLASS_COUNT[c].load(Relaxed);
            }
            s.2 = live;
        }
    }
    SNAPSHOTTING.store(false, Relaxed);
}

/// The counting allocator: forwards to [`System`], counts.
#[derive(Debug)]
pub struct Counting;

// SAFETY: every call is forwarded unchanged to the system allocator; we only count.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        grow(layout.size());
        // SAFETY: the caller's layout contract, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        grow(layout.size());
        // SAFETY: the caller's layout contract, forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrink(layout.size());
        // SAFETY: ptr came from System with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        shrink(layout.size());
        grow(new_size);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// A `/proc/self/status` field in KiB (0 where there is none).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':').map(str::to_owned))
        })
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// One sample: RSS (KiB), live heap, and the producer's pending records and
/// `buffered_bytes` (what the core charges to `buffer.memory`).
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    rss_kib: u64,
    live: isize,
    pending: usize,
    buffered: usize,
    malloc: Mallinfo,
}

/// glibc's `struct mallinfo2` (all `size_t`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct Mallinfo {
    /// Bytes obtained with `sbrk` / arena heaps (not mmapped chunks).
    arena: usize,
    ordblks: usize,
    smblks: usize,
    hblks: usize,
    /// Bytes in mmapped chunks.
    hblkhd: usize,
    usmblks: usize,
    fsmblks: usize,
    /// Bytes in chunks in use (with their headers), arenas only.
    uordblks: usize,
    /// Bytes in free chunks, arenas only.
    fordblks: usize,
    /// Free bytes at the top of the main arena (trimmable).
    keepcost: usize,
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn mallinfo() -> Mallinfo {
    extern "C" {
        fn mallinfo2() -> Mallinfo;
    }
    // SAFETY: glibc >= 2.33; takes no arguments, returns a plain struct.
    unsafe { mallinfo2() }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn mallinfo() -> Mallinfo {
    Mallinfo::default()
}

/// The sample with the highest RSS, and the one with the most live heap.
static SAMPLED: Mutex<(Sample, Sample)> = Mutex::new((
    Sample {
        rss_kib: 0,
        live: 0,
        pending: 0,
        buffered: 0,
        malloc: Mallinfo {
            arena: 0,
            ordblks: 0,
            smblks: 0,
            hblks: 0,
            hblkhd: 0,
            usmblks: 0,
            fsmblks: 0,
            uordblks: 0,
            fordblks: 0,
            keepcost: 0,
        },
    },
    Sample {
        rss_kib: 0,
        live: 0,
        pending: 0,
        buffered: 0,
        malloc: Mallinfo {
            arena: 0,
            ordblks: 0,
            smblks: 0,
            hblks: 0,
            hblkhd: 0,
            usmblks: 0,
            fsmblks: 0,
            uordblks: 0,
            fordblks: 0,
            keepcost: 0,
        },
    },
));

/// Starts a thread that samples RSS, the live heap and `probe` (the producer's pending
/// records and buffered bytes) every 20 ms, to pair the peaks with what the producer held.
pub fn start_sampler(probe: impl Fn() -> (usize, usize) + Send + 'static) {
    std::thread::spawn(move || loop {
        let (pending, buffered) = probe();
        let now = Sample {
            rss_kib: status_kib("VmRSS"),
            live: LIVE.load(Relaxed),
            pending,
            buffered,
            malloc: mallinfo(),
        };
        if let Ok(mut s) = SAMPLED.lock() {
            if now.rss_kib > s.0.rss_kib {
                s.0 = now;
            }
            if now.live > s.1.live {
                s.1 = now;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    });
}

/// The counters and the kernel's figures, as lines for stderr.
pub fn report() -> String {
    use std::fmt::Write as _;
    let mib = |b: isize| b as f64 / (1024.0 * 1024.0);
    let kib_mib = |k: u64| k as f64 / 1024.0;
    let (at_rss, at_live) = SAMPLED.lock().map(|s| *s).unwrap_or_default();
    let mut r = format!(
        "alloc-stats: heap live {:.1} MiB now, peak {:.1} MiB; {} allocations\n\
         alloc-stats: VmHWM {:.1} MiB, VmRSS {:.1} MiB, RssAnon {:.1} MiB, RssFile {:.1} MiB",
        mib(LIVE.load(Relaxed)),
        mib(PEAK.load(Relaxed)),
        ALLOCS.load(Relaxed),
        kib_mib(status_kib("VmHWM")),
        kib_mib(status_kib("VmRSS")),
        kib_mib(status_kib("RssAnon")),
        kib_mib(status_kib("RssFile")),
    );
    for (what, x) in [("RSS", at_rss), ("heap", at_live)] {
        let _ = write!(
            r,
            "\nalloc-stats: sampled {what} peak: RSS {:.1} MiB, heap {:.1} MiB, {} records pending, \
             {:.1} MiB buffered (core); malloc: arenas {:.1} MiB ({:.1} in use, {:.1} free, {:.1} top), \
             mmapped {:.1} MiB in {} chunks",
            kib_mib(x.rss_kib),
            mib(x.live),
            x.pending,
            mib(x.buffered as isize),
            mib(x.malloc.arena as isize),
            mib(x.malloc.uordblks as isize),
            mib(x.malloc.fordblks as isize),
            mib(x.malloc.keepcost as isize),
            mib(x.malloc.hblkhd as isize),
            x.malloc.hblks,
        );
    }
    if let Ok(s) = AT_PEAK.lock() {
        let _ = write!(
            r,
            "\nalloc-stats: live by size class near the peak ({:.1} MiB):",
            mib(s.2)
        );
        for c in 0..CLASSES {
            if s.0[c] >= 64 * 1024 {
                let _ = write!(
                    r,
                    "\n  <= {:>9} B: {:>8.2} MiB in {:>8} blocks",
                    1u64 << c,
                    mib(s.0[c]),
                    s.1[c]
                );
            }
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::class;

    #[test]
    fn size_classes_are_powers_of_two() {
        assert_eq!(class(0), 0);
        assert_eq!(class(1), 0);
        assert_eq!(class(2), 1);
        assert_eq!(class(3), 2);
        assert_eq!(class(4), 2);
        assert_eq!(class(5), 3);
        assert_eq!(class(16384), 14);
        assert_eq!(class(16385), 15);
        assert_eq!(class(usize::MAX), super::CLASSES - 1);
    }
}
