//! The shared driver scenarios (`odradek_driver::testing::scenarios`) on this runtime,
//! against a fake broker over real loopback TCP.

use odradek_driver::testing::close;
use odradek_driver::testing::scenarios;
use odradek_tokio::TokioRuntime;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn happy_path() {
    scenarios::happy_path::<TokioRuntime>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immediate_refusals() {
    scenarios::immediate_refusals::<TokioRuntime>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backpressure() {
    scenarios::backpressure::<TokioRuntime>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refused() {
    scenarios::connection_refused::<TokioRuntime>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_with_records_in_flight() {
    scenarios::close_with_records_in_flight::<TokioRuntime>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_reports_unobserved_failures() {
    scenarios::close_reports_unobserved_failures::<TokioRuntime>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_ignores_linger() {
    scenarios::flush_ignores_linger::<TokioRuntime>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_handle_delivers() {
    scenarios::dropping_the_last_handle_delivers::<TokioRuntime>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_unread_successes_do_not_deadlock() {
    scenarios::channels_unread_successes_do_not_deadlock::<TokioRuntime>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_errors_stream() {
    scenarios::channels_errors_stream::<TokioRuntime>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_lost_is_retried() {
    scenarios::connection_lost_is_retried::<TokioRuntime>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_records_in_order() {
    scenarios::many_records_in_order::<TokioRuntime>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_none_writes_everything() {
    scenarios::acks_none_writes_everything::<TokioRuntime>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_none_stalled_broker() {
    scenarios::acks_none_stalled_broker::<TokioRuntime>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_with_callbacks() {
    scenarios::send_with_callbacks::<TokioRuntime>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_handshake_times_out() {
    scenarios::tls_handshake_times_out::<TokioRuntime>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_bad_settings_refused_at_connect() {
    scenarios::tls_bad_settings_refused_at_connect::<TokioRuntime>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions() {
    scenarios::transactions::<TokioRuntime>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_timeout_gives_up() {
    close::close_timeout_gives_up::<TokioRuntime>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_timeout_delivers_when_in_time() {
    close::close_timeout_delivers_when_in_time::<TokioRuntime>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_close_timeout() {
    close::channels_close_timeout::<TokioRuntime>().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timestamps_from_the_wall_clock() {
    close::timestamps_from_the_wall_clock::<TokioRuntime>().await;
}
