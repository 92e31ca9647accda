//! # custom_event_loop — driving `ProducerCore` yourself, with std blocking sockets
//!
//! ```text
//! export ODRADEK_BOOTSTRAP=$(cargo xtask kafka start)
//! cargo xtask kafka topic create quickstart --partitions 3
//! cargo run -p odradek-examples --example custom_event_loop -- quickstart
//! cargo xtask kafka stop
//! ```
//!
//! No runtime and no adapter: this is the core's drive contract in its plainest form.
//!
//! * The core never does I/O. It asks for it with outputs: `Connect`, `Transmit`,
//!   `Disconnect`; and it reports records with `Delivered` / `Failed`, and the end with `Closed`.
//! * We tell it what happened with inputs, each stamped with `now`: `handle_connected`,
//!   `handle_received` (raw bytes, the core does the framing), `handle_disconnected`,
//!   `handle_timeout`.
//! * After every input we drain `poll_output` completely, then ask `poll_timeout` when to wake
//!   the core next if nothing else happens.
//!
//! Here each connection is a blocking `std::net::TcpStream`. Writes happen on the main thread;
//! a reader thread per connection blocks in `read` and forwards what it gets over one channel.
//! The main thread waits on that channel with `recv_timeout(poll_timeout - now)` — that wait
//! is the core's single timer.
//!
//! Bootstrap address from `ODRADEK_BOOTSTRAP` (default `127.0.0.1:9092`), topic from the
//! first argument or `ODRADEK_TOPIC` (default `quickstart`).

use odradek_core::{Config, ConnId, Header, Instant, Output, ProducerCore, Record};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What reader threads report to the main thread.
enum NetEvent {
    Data(ConnId, Vec<u8>),
    Closed(ConnId),
}

/// The core's clock: wall-clock time read once, advanced by the monotonic clock (so it never
/// goes backwards, and still serves as the records' `CreateTime`).
struct Clock {
    start: std::time::Instant,
    epoch_nanos: u64,
}

impl Clock {
    fn new() -> Clock {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Clock {
            start: std::time::Instant::now(),
            epoch_nanos: since_epoch.as_nanos() as u64,
        }
    }

    fn now(&self) -> Instant {
        Instant::from_unix_nanos(self.epoch_nanos + self.start.elapsed().as_nanos() as u64)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let topic = odradek_examples::topic("quickstart");
    let clock = Clock::new();
    let config = Config::new(odradek_examples::bootstrap());
    let mut core = ProducerCore::new(config, 0x5eed, clock.now())?;

    // Records go in at any time; a refusal (too large, buffer full...) comes back at once.
    for i in 0..10 {
        let record = Record::new(topic.as_str())
            .key(format!("order-{}", i % 4))
            .value(format!("order line {i}"))
            .header(Header::new("source", "custom_event_loop"));
        core.send(record, clock.now())?;
    }
    // Graceful close: deliver or fail everything accepted, close connections, then `Closed`.
    core.close(clock.now());

    let (tx, rx) = mpsc::channel::<NetEvent>();
    let mut conns: HashMap<ConnId, TcpStream> = HashMap::new();
    loop {
        // 1. Drain every output. Inputs that result from it are fed at once (connect results,
        //    write errors); the loop below drains again.
        while let Some(output) = core.poll_output() {
            let now = clock.now();
            match output {
                Output::Connect { conn, address } => match connect(&address.host, address.port) {
                    Ok(stream) => {
                        let reader = stream.try_clone()?;
                        let tx = tx.clone();
                        std::thread::spawn(move || read_loop(conn, reader, tx));
                        conns.insert(conn, stream);
                        core.handle_connected(conn, now);
                    }
                    Err(e) => {
                        eprintln!("connect to {address} failed: {e}");
                        core.handle_disconnected(conn, now);
                    }
                },
                Output::Transmit { conn, data } => {
                    let Some(stream) = conns.get_mut(&conn) else {
                        continue;
                    };
                    let written = data.iter().try_for_each(|chunk| stream.write_all(chunk));
                    match written {
                        // Written in full: say so (an acks=0 request ends here).
                        Ok(()) => {
                            core.handle_written(conn, data.iter().map(|d| d.len()).sum(), now)
                        }
                        Err(e) => {
                            eprintln!("write to {conn:?} failed: {e}");
                            if let Some(s) = conns.remove(&conn) {
                                let _ = s.shutdown(Shutdown::Both);
                            }
                            core.handle_disconnected(conn, now);
                        }
                    }
                }
                Output::Disconnect { conn } => {
                    // The core has forgotten it already: close, and report nothing back.
                    if let Some(s) = conns.remove(&conn) {
                        let _ = s.shutdown(Shutdown::Both);
                    }
                }
                Output::Delivered(batch) => {
                    for d in batch {
                        println!(
                            "{:?} -> {} partition {} offset {}",
                            d.id, d.metadata.topic, d.metadata.partition, d.metadata.offset
                        )
                    }
                }
                Output::Failed { id, error, .. } => eprintln!("{id:?} failed: {error}"),
                Output::Closed => {
                    println!("closed");
                    return Ok(());
                }
                Output::Transaction { .. } => {} // only with a transactional.id
            }
        }

        // 2. Wait for the network or the core's deadline, whichever comes first.
        let event = match core.poll_timeout() {
            Some((deadline, _reason)) => {
                let wait = deadline.saturating_duration_since(clock.now());
                rx.recv_timeout(wait)
            }
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };

        // 3. Feed what happened.
        let now = clock.now();
        match event {
            Ok(NetEvent::Data(conn, bytes)) if conns.contains_key(&conn) => {
                core.handle_received(conn, &bytes, now)
            }
            Ok(NetEvent::Closed(conn)) if conns.remove(&conn).is_some() => {
                core.handle_disconnected(conn, now)
            }
            // Late news from a connection the core already dropped.
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => core.handle_timeout(now),
            Err(RecvTimeoutError::Disconnected) => unreachable!("we hold a sender"),
        }
        // A busy network must not starve the timer: act on a passed deadline now.
        if core.poll_timeout().is_some_and(|(at, _)| at <= now) {
            core.handle_timeout(now);
        }
    }
}

/// A blocking connect to each address `host` resolves to, in turn.
fn connect(host: &str, port: u16) -> std::io::Result<TcpStream> {
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(10)) {
            Ok(s) => {
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// One reader thread per connection: block in `read`, forward bytes, report the end.
fn read_loop(conn: ConnId, mut stream: TcpStream, tx: mpsc::Sender<NetEvent>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => {
                let _ = tx.send(NetEvent::Closed(conn));
                return;
            }
            Ok(n) => {
                if tx.send(NetEvent::Data(conn, buf[..n].to_vec())).is_err() {
                    return;
                }
            }
        }
    }
}
