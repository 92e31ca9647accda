//! The frame reader (4-byte size prefix) over a byte stream cut into arbitrary pushes: never
//! panics, refuses a size above the maximum or below zero before allocating for it, keeps
//! refusing after an error, and the frames it yields, each put back behind its size prefix,
//! are exactly the bytes it consumed.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use odradek_core::protocol::{FrameDecoder, FrameError};
use odradek_fuzz::peak_during;

#[derive(Debug, Arbitrary)]
struct Input {
    max_frame: u16,
    /// Where the stream is cut between pushes.
    cuts: Vec<u8>,
    stream: Vec<u8>,
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let max = usize::from(input.max_frame);
    let mut d = FrameDecoder::new(max);
    let mut consumed = Vec::new();
    let mut pushed = 0;
    let mut cuts = input.cuts.iter().map(|&c| usize::from(c) + 1).cycle();
    let mut failed: Option<FrameError> = None;
    while pushed < input.stream.len() {
        let n = cuts
            .next()
            .unwrap_or(input.stream.len())
            .min(input.stream.len() - pushed);
        d.push(&input.stream[pushed..pushed + n]);
        pushed += n;
        loop {
            let (next, peak) = peak_during(|| d.next_frame());
            // Room for the announced frame is reserved only once its size is known good (a
            // buffer may double when it grows, hence the factor 2).
            assert!(
                peak <= 2 * (max + 4 + input.stream.len()) + 1024,
                "reserved {peak} bytes with a maximum frame of {max}"
            );
            match next {
                Ok(Some(f)) => {
                    assert!(failed.is_none(), "a frame after an error");
                    assert!(
                        f.len() <= max,
                        "frame of {} above the maximum {max}",
                        f.len()
                    );
                    consumed.extend_from_slice(&(f.len() as u32).to_be_bytes());
                    consumed.extend_from_slice(&f);
                }
                Ok(None) => {
                    assert!(failed.is_none(), "the error did not stick");
                    break;
                }
                Err(e) => {
                    match &e {
                        FrameError::Negative(n) => assert!(*n < 0),
                        FrameError::TooLarge { size, max: m } => {
                            assert!(*size > max && *m == max)
                        }
                    }
                    if let Some(prev) = &failed {
                        assert_eq!(prev, &e, "the error changed");
                        break;
                    }
                    failed = Some(e);
                }
            }
        }
        if failed.is_some() {
            break;
        }
    }
    assert_eq!(
        consumed[..],
        input.stream[..consumed.len()],
        "the frames are not the bytes consumed"
    );
    if failed.is_none() {
        assert_eq!(
            consumed.len() + d.buffered(),
            pushed,
            "bytes lost or invented"
        );
    }
});
