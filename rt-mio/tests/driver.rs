//! The shared driver scenarios (`odradek_driver::testing::scenarios`) on the driver's mio
//! runtime (the one `BlockingProducer` runs: a `mio::Poll` on a thread of its own), against a
//! fake broker over real loopback TCP: the same checks odradek-tokio and odradek-async-std
//! pass, TLS included.

use odradek_driver::testing::close;
use odradek_driver::testing::scenarios;
use odradek_mio::testing::MioRuntime;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Runs a scenario on this thread. The scenarios' own sleeps (`R::default().sleep`) are mio
/// deadlines that no poll watches, so the future is polled again every millisecond as well as
/// when woken; the producers' I/O runs on their own threads.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let thread = std::thread::current();
    let waker = std::task::Waker::from(std::sync::Arc::new(Unpark(thread)));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(Duration::from_millis(1));
    }
}

struct Unpark(std::thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

#[test]
fn happy_path() {
    block_on(scenarios::happy_path::<MioRuntime>());
}

#[test]
fn immediate_refusals() {
    block_on(scenarios::immediate_refusals::<MioRuntime>());
}

#[test]
fn backpressure() {
    block_on(scenarios::backpressure::<MioRuntime>());
}

#[test]
fn connection_refused() {
    block_on(scenarios::connection_refused::<MioRuntime>());
}

#[test]
fn close_with_records_in_flight() {
    block_on(scenarios::close_with_records_in_flight::<MioRuntime>());
}

#[test]
fn close_reports_unobserved_failures() {
    block_on(scenarios::close_reports_unobserved_failures::<MioRuntime>());
}

#[test]
fn flush_ignores_linger() {
    block_on(scenarios::flush_ignores_linger::<MioRuntime>());
}

#[test]
fn dropping_the_last_handle_delivers() {
    block_on(scenarios::dropping_the_last_handle_delivers::<MioRuntime>());
}

#[test]
fn channels_unread_successes_do_not_deadlock() {
    block_on(scenarios::channels_unread_successes_do_not_deadlock::<
        MioRuntime,
    >());
}

#[test]
fn channels_errors_stream() {
    block_on(scenarios::channels_errors_stream::<MioRuntime>());
}

#[test]
fn connection_lost_is_retried() {
    block_on(scenarios::connection_lost_is_retried::<MioRuntime>());
}

#[test]
fn many_records_in_order() {
    block_on(scenarios::many_records_in_order::<MioRuntime>());
}

#[test]
fn acks_none_writes_everything() {
    block_on(scenarios::acks_none_writes_everything::<MioRuntime>());
}

#[test]
fn acks_none_stalled_broker() {
    block_on(scenarios::acks_none_stalled_broker::<MioRuntime>());
}

#[test]
fn send_with_callbacks() {
    block_on(scenarios::send_with_callbacks::<MioRuntime>());
}

#[test]
fn tls_handshake_times_out() {
    block_on(scenarios::tls_handshake_times_out::<MioRuntime>());
}

#[test]
fn tls_bad_settings_refused_at_connect() {
    block_on(scenarios::tls_bad_settings_refused_at_connect::<MioRuntime>());
}

#[test]
fn transactions() {
    block_on(scenarios::transactions::<MioRuntime>());
}

#[test]
fn close_timeout_gives_up() {
    block_on(close::close_timeout_gives_up::<MioRuntime>());
}

#[test]
fn close_timeout_delivers_when_in_time() {
    block_on(close::close_timeout_delivers_when_in_time::<MioRuntime>());
}

#[test]
fn channels_close_timeout() {
    block_on(close::channels_close_timeout::<MioRuntime>());
}

#[test]
fn timestamps_from_the_wall_clock() {
    block_on(close::timestamps_from_the_wall_clock::<MioRuntime>());
}
