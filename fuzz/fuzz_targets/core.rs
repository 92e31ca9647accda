//! The whole ProducerCore: a fuzzed configuration, then arbitrary sequences of send, connect,
//! answers (honest, with fuzzed fields, corrupted, replayed, raw garbage), disconnects, time,
//! flush and close, against a broker that decodes the core's own requests. Checks exactly one
//! outcome per accepted record, bounded memory, and that close ends (see
//! `odradek_fuzz::broker`).
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use odradek_fuzz::broker::{Action, Setup, World};

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(setup) = Setup::arbitrary(&mut u) else {
        return;
    };
    // ODRADEK_FUZZ_TRACE=1 prints the run, to read a crash (`cargo fuzz run core <file>`).
    let trace = std::env::var_os("ODRADEK_FUZZ_TRACE").is_some();
    if trace {
        eprintln!("{setup:?}");
    }
    let Some(mut world) = World::new(&setup) else {
        return;
    };
    // At most 500 actions: long enough for deep states, short enough to stay fast.
    for _ in 0..500 {
        if u.is_empty() {
            break;
        }
        let Ok(action) = Action::arbitrary(&mut u) else {
            break;
        };
        if trace {
            eprintln!("{action:?}");
        }
        world.act(&action);
    }
    world.finish();
});
