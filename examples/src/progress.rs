//! A hand-written progress bar on stderr: one line redrawn with a carriage return, at most
//! every 100 ms, from a background thread that reads two shared counters.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the bar is redrawn at most.
pub const REDRAW_EVERY: Duration = Duration::from_millis(100);

/// Counters the producing code bumps; the bar thread reads them.
#[derive(Debug, Default)]
pub struct Counters {
    /// Records handed to the producer.
    pub sent: AtomicU64,
    /// Records with an outcome (delivered or failed).
    pub done: AtomicU64,
    /// Records that failed.
    pub failed: AtomicU64,
}

/// A running progress bar; [`finish`](Progress::finish) draws the last state and ends the line.
#[derive(Debug)]
pub struct Progress {
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Progress {
    /// Starts redrawing `label`'s bar for `total` records on stderr.
    pub fn start(label: &str, total: u64) -> Progress {
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s, label) = (counters.clone(), stop.clone(), label.to_owned());
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            while !s.load(Ordering::Relaxed) {
                draw(&label, total, &c, started.elapsed());
                std::thread::sleep(REDRAW_EVERY);
            }
            draw(&label, total, &c, started.elapsed());
            eprintln!();
        });
        Progress {
            counters,
            stop,
            thread: Some(thread),
        }
    }

    /// The counters to bump.
    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }

    /// Stops the bar after drawing its final state.
    pub fn finish(mut self) {
        self.stop_thread();
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

fn draw(label: &str, total: u64, c: &Counters, elapsed: Duration) {
    let line = render(
        label,
        total,
        c.sent.load(Ordering::Relaxed),
        c.done.load(Ordering::Relaxed),
        c.failed.load(Ordering::Relaxed),
        elapsed,
    );
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r{line}");
    let _ = err.flush();
}

/// One line of the bar: `label [#####-----]  50.0%  500000/1000000 delivered  ...`.
pub fn render(
    label: &str,
    total: u64,
    sent: u64,
    done: u64,
    failed: u64,
    elapsed: Duration,
) -> String {
    const WIDTH: u64 = 30;
    let total = total.max(1);
    let filled = (done.min(total) * WIDTH / total) as usize;
    let rate = done as f64 / elapsed.as_secs_f64().max(1e-3);
    let mut line = format!(
        "{label:<10} [{}{}] {:5.1}%  {done:>9}/{total} done  {sent:>9} sent  {:>9.0} rec/s  {:5.1}s",
        "#".repeat(filled),
        "-".repeat(WIDTH as usize - filled),
        done as f64 * 100.0 / total as f64,
        rate,
        elapsed.as_secs_f64(),
    );
    if failed > 0 {
        line.push_str(&format!("  {failed} FAILED"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_fills_the_bar_in_proportion() {
        let l = render("tokio", 1000, 800, 500, 0, Duration::from_secs(2));
        assert!(
            l.contains(&format!("[{}{}]", "#".repeat(15), "-".repeat(15))),
            "{l}"
        );
        assert!(l.contains(" 50.0%"), "{l}");
        assert!(l.contains("250 rec/s"), "{l}");
        assert!(!l.contains("FAILED"));
        let l = render("mio", 10, 10, 10, 2, Duration::from_secs(1));
        assert!(l.contains(&"#".repeat(30)), "{l}");
        assert!(l.ends_with("2 FAILED"), "{l}");
    }
}
