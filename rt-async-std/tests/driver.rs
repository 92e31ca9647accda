//! The shared driver scenarios (`odradek_driver::testing::scenarios`) on this runtime,
//! against a fake broker over real loopback TCP.

use odradek_async_std::AsyncStdRuntime;
use odradek_driver::testing::close;
use odradek_driver::testing::scenarios;

#[async_std::test]
async fn happy_path() {
    scenarios::happy_path::<AsyncStdRuntime>().await;
}

#[async_std::test]
async fn immediate_refusals() {
    scenarios::immediate_refusals::<AsyncStdRuntime>().await;
}

#[async_std::test]
async fn backpressure() {
    scenarios::backpressure::<AsyncStdRuntime>().await;
}

#[async_std::test]
async fn connection_refused() {
    scenarios::connection_refused::<AsyncStdRuntime>().await;
}

#[async_std::test]
async fn close_with_records_in_flight() {
    scenarios::close_with_records_in_flight::<AsyncStdRuntime>().await;
}

#[async_std::test]
async fn close_reports_unobserved_failures() {
    scenarios::close_reports_unobserved_failures::<AsyncStdRuntime>().await;
}

#[async_std::test]
async fn flush_ignores_linger() {
    scenarios::flush_ignores_linger::<AsyncStdRuntime>().await;
}

#[async_std::test]
async fn dropping_the_last_handle_delivers() {
    scenarios::dropping_the_last_handle_delivers::<AsyncStdRuntime>().await;
}

#[async_std::test]
async fn channels_unread_successes_do_not_deadlock() {
    scenarios::channels_unread_successes_do_not_deadlock::<AsyncStdRuntime>().await;
}

#[async_std::test]
async fn channels_errors_stream() {
    scenarios::channels_errors_stream::<AsyncStdRuntime>().await;
}

#[async_std::test]
async fn connection_lost_is_retried() {
    scenarios::connection_lost_is_retried::<AsyncStdRuntime>().await;
}

#[async_std::test]
async fn many_records_in_order() {
    scenarios::many_records_in_order::<AsyncStdRuntime>().await;
}

#[async_std::test]
async fn acks_none_writes_everything() {
    scenarios::acks_none_writes_everything::<AsyncStdRuntime>().await;
}

#[async_std::test]
async fn acks_none_stalled_broker() {
    scenarios::acks_none_stalled_broker::<AsyncStdRuntime>().await;
}

#[async_std::test]
async fn send_with_callbacks() {
    scenarios::send_with_callbacks::<AsyncStdRuntime>().await;
}

#[async_std::test]
async fn tls_handshake_times_out() {
    scenarios::tls_handshake_times_out::<AsyncStdRuntime>().await;
}

#[async_std::test]
async fn tls_bad_settings_refused_at_connect() {
    scenarios::tls_bad_settings_refused_at_connect::<AsyncStdRuntime>().await;
}

#[async_std::test]
async fn transactions() {
    scenarios::transactions::<AsyncStdRuntime>().await;
}

#[async_std::test]
async fn close_timeout_gives_up() {
    close::close_timeout_gives_up::<AsyncStdRuntime>().await;
}

#[async_std::test]
async fn close_timeout_delivers_when_in_time() {
    close::close_timeout_delivers_when_in_time::<AsyncStdRuntime>().await;
}

#[async_std::test]
async fn channels_close_timeout() {
    close::channels_close_timeout::<AsyncStdRuntime>().await;
}

#[async_std::test]
async fn timestamps_from_the_wall_clock() {
    close::timestamps_from_the_wall_clock::<AsyncStdRuntime>().await;
}
