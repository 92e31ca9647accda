//! # mio_event_loop — `MioProducer` inside your own `mio::Poll` loop
//!
//! ```text
//! export ODRADEK_BOOTSTRAP=$(cargo xtask kafka start)
//! cargo xtask kafka topic create quickstart --partitions 3
//! cargo run -p odradek-examples --example mio_event_loop -- quickstart
//! cargo xtask kafka stop
//! ```
//!
//! The loop belongs to the application. It already serves two sources of its own:
//!
//! * a [`mio::Waker`] (token 0), woken by a worker thread that hands over "sensor readings"
//!   through a channel — each reading becomes a Kafka record;
//! * a TCP listener (token 1) that answers every connection with the producer's counters.
//!
//! The producer is given the token range `16..24` for its broker sockets and never touches any
//! other token. Each iteration: poll with (at most) the producer's [`MioProducer::timeout`],
//! pass the producer the events whose token it [`owns`](MioProducer::owns), serve our own,
//! call [`after_poll`](MioProducer::after_poll), and drain outcomes with
//! [`poll_event`](MioProducer::poll_event). When the worker is done, `close` starts a graceful
//! shutdown and the loop ends at `ProducerEvent::Closed`.
//!
//! Bootstrap address from `ODRADEK_BOOTSTRAP` (default `127.0.0.1:9092`), topic from the
//! first argument or `ODRADEK_TOPIC` (default `quickstart`).

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use odradek_mio::{Config, Header, MioProducer, ProducerEvent, Record, SendErrorKind, TokenRange};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

/// Our own tokens...
const WAKER: Token = Token(0);
const LISTENER: Token = Token(1);
/// ...and the block we lend the producer.
const PRODUCER_TOKENS: (usize, usize) = (16, 8);

const READINGS: u32 = 20;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let topic = odradek_examples::topic("quickstart");
    let mut poll = Poll::new()?;

    // Our own sources, under our own tokens.
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let mut listener = TcpListener::bind("127.0.0.1:0".parse()?)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let status_addr = listener.local_addr()?;

    // The producer, on a token range we reserve for it.
    let tokens = TokenRange::new(PRODUCER_TOKENS.0, PRODUCER_TOKENS.1);
    let mut config = Config::new(odradek_examples::bootstrap());
    config.linger = Duration::from_millis(5);
    let mut producer = MioProducer::new(config, poll.registry(), tokens)?;

    // A worker thread produces readings and wakes our loop; at the end it asks our status
    // listener how things went (to show the listener served next to the Kafka traffic).
    let (tx, rx) = mpsc::channel::<(u32, f64)>();
    let worker = {
        let waker = waker.clone();
        std::thread::spawn(move || -> std::io::Result<String> {
            for i in 0..READINGS {
                let _ = tx.send((i, 20.0 + f64::from(i % 7) * 0.5));
                waker.wake()?;
                std::thread::sleep(Duration::from_millis(25));
            }
            // Our loop is still running (it closes only once we hang up): ask it for status.
            let mut status = String::new();
            std::net::TcpStream::connect(status_addr)?.read_to_string(&mut status)?;
            drop(tx);
            waker.wake()?;
            Ok(status)
        })
    };

    let mut events = Events::with_capacity(256);
    let mut pending: VecDeque<Record> = VecDeque::new();
    let mut worker_done = false;
    let (mut delivered, mut failed) = (0u64, 0u64);
    'run: loop {
        // Sleep until our sources or the producer need us; the producer's timeout is when its
        // next deadline is due (linger, retries, request timeouts). `None`: no timer needed.
        poll.poll(&mut events, producer.timeout())?;

        for event in events.iter() {
            match event.token() {
                t if producer.owns(t) => producer.handle_event(event),
                WAKER => loop {
                    match rx.try_recv() {
                        Ok((i, celsius)) => pending.push_back(
                            Record::new(topic.as_str())
                                .key(format!("sensor-{}", i % 3))
                                .value(format!("{celsius:.1}"))
                                .header(Header::new("unit", "celsius")),
                        ),
                        Err(mpsc::TryRecvError::Empty) => break,
                        Err(mpsc::TryRecvError::Disconnected) => {
                            worker_done = true;
                            break;
                        }
                    }
                },
                LISTENER => loop {
                    match listener.accept() {
                        Ok((mut conn, _)) => {
                            // A tiny status reply; a real server would register `conn` too.
                            let line = format!(
                                "delivered {delivered} failed {failed} buffered {} bytes\n",
                                producer.core().buffered_bytes()
                            );
                            let _ = conn.write_all(line.as_bytes());
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e.into()),
                    }
                },
                _ => {}
            }
        }
        // After every poll: the producer acts on its deadlines and resumes capped work.
        producer.after_poll();

        // Hand over what we have; a full buffer refuses at once, and we retry next turn.
        while let Some(record) = pending.pop_front() {
            match producer.send(record) {
                Ok(_id) => {}
                Err(e) if e.kind == SendErrorKind::BufferFull => {
                    pending.push_front(e.record);
                    break;
                }
                Err(e) => {
                    eprintln!("refused: {e}");
                    failed += 1;
                }
            }
        }
        if worker_done && pending.is_empty() && !producer.core().is_closing() {
            producer.close(); // graceful: every record gets its outcome first
        }

        while let Some(outcome) = producer.poll_event() {
            match outcome {
                ProducerEvent::Delivered { id, metadata, .. } => {
                    delivered += 1;
                    println!(
                        "{id:?} -> partition {} offset {}",
                        metadata.partition, metadata.offset
                    );
                }
                ProducerEvent::Failed { id, error } => {
                    failed += 1;
                    eprintln!("{id:?} failed: {error}");
                }
                ProducerEvent::Closed => break 'run,
                // Only a transactional producer that started an operation gets these.
                ProducerEvent::Transaction { .. } => {}
            }
        }
    }

    let status = worker.join().expect("worker thread")?;
    print!("status listener said: {status}");
    println!("closed: {delivered} delivered, {failed} failed");
    Ok(())
}
