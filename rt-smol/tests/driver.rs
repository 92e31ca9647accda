//! The shared driver scenarios (`odradek_driver::testing::scenarios`) on this runtime,
//! against a fake broker over real loopback TCP.

use odradek_driver::testing::close;
use odradek_driver::testing::scenarios;
use odradek_smol::SmolRuntime;

#[test]
fn happy_path() {
    smol::block_on(async {
        scenarios::happy_path::<SmolRuntime>().await;
    });
}

#[test]
fn immediate_refusals() {
    smol::block_on(async {
        scenarios::immediate_refusals::<SmolRuntime>().await;
    });
}

#[test]
fn backpressure() {
    smol::block_on(async {
        scenarios::backpressure::<SmolRuntime>().await;
    });
}

#[test]
fn connection_refused() {
    smol::block_on(async {
        scenarios::connection_refused::<SmolRuntime>().await;
    });
}

#[test]
fn close_with_records_in_flight() {
    smol::block_on(async {
        scenarios::close_with_records_in_flight::<SmolRuntime>().await;
    });
}

#[test]
fn close_reports_unobserved_failures() {
    smol::block_on(async {
        scenarios::close_reports_unobserved_failures::<SmolRuntime>().await;
    });
}

#[test]
fn flush_ignores_linger() {
    smol::block_on(async {
        scenarios::flush_ignores_linger::<SmolRuntime>().await;
    });
}

#[test]
fn dropping_the_last_handle_delivers() {
    smol::block_on(async {
        scenarios::dropping_the_last_handle_delivers::<SmolRuntime>().await;
    });
}

#[test]
fn channels_unread_successes_do_not_deadlock() {
    smol::block_on(async {
        scenarios::channels_unread_successes_do_not_deadlock::<SmolRuntime>().await;
    });
}

#[test]
fn channels_errors_stream() {
    smol::block_on(async {
        scenarios::channels_errors_stream::<SmolRuntime>().await;
    });
}

#[test]
fn connection_lost_is_retried() {
    smol::block_on(async {
        scenarios::connection_lost_is_retried::<SmolRuntime>().await;
    });
}

#[test]
fn many_records_in_order() {
    smol::block_on(async {
        scenarios::many_records_in_order::<SmolRuntime>().await;
    });
}

#[test]
fn acks_none_writes_everything() {
    smol::block_on(async {
        scenarios::acks_none_writes_everything::<SmolRuntime>().await;
    });
}

#[test]
fn acks_none_stalled_broker() {
    smol::block_on(async {
        scenarios::acks_none_stalled_broker::<SmolRuntime>().await;
    });
}

#[test]
fn send_with_callbacks() {
    smol::block_on(async {
        scenarios::send_with_callbacks::<SmolRuntime>().await;
    });
}

#[test]
fn tls_handshake_times_out() {
    smol::block_on(async {
        scenarios::tls_handshake_times_out::<SmolRuntime>().await;
    });
}

#[test]
fn tls_bad_settings_refused_at_connect() {
    smol::block_on(async {
        scenarios::tls_bad_settings_refused_at_connect::<SmolRuntime>().await;
    });
}

#[test]
fn transactions() {
    smol::block_on(async {
        scenarios::transactions::<SmolRuntime>().await;
    });
}

#[test]
fn close_timeout_gives_up() {
    smol::block_on(close::close_timeout_gives_up::<SmolRuntime>());
}

#[test]
fn close_timeout_delivers_when_in_time() {
    smol::block_on(close::close_timeout_delivers_when_in_time::<SmolRuntime>());
}

#[test]
fn channels_close_timeout() {
    smol::block_on(close::channels_close_timeout::<SmolRuntime>());
}

#[test]
fn timestamps_from_the_wall_clock() {
    smol::block_on(close::timestamps_from_the_wall_clock::<SmolRuntime>());
}
