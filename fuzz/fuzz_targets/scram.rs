//! The SCRAM client (SHA-256 and SHA-512) fed hostile server-first and server-final messages:
//! no panic, a typed error for anything but an honest server's answer, and never a success
//! without the server proving it knows the password.
//!
//! Half the inputs start from a real exchange (the test server's server-first, with the
//! fuzzer's bytes appended or spliced in) so the fuzzer reaches the server-final checks.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use odradek_core::sasl::{ScramClient, ScramServer, Step};
use odradek_core::SaslMechanism;

#[derive(Debug, Arbitrary)]
struct Input {
    sha512: bool,
    /// Start from the honest server's messages (edited by `splice`).
    honest: bool,
    /// Where in the honest message to splice in `first` (when honest).
    splice_at: u8,
    first: Vec<u8>,
    last: Vec<u8>,
    /// Feed a third message after the exchange.
    extra: bool,
}

/// The iteration count of the honest server: the least Kafka allows, to keep runs fast.
const ITERATIONS: u32 = 4096;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let mechanism = if input.sha512 {
        SaslMechanism::ScramSha512
    } else {
        SaslMechanism::ScramSha256
    };
    let (mut client, client_first) = ScramClient::new(mechanism, "user", "pw", "nonce".into());
    let mut server = None;
    let first = if input.honest {
        let (srv, honest) = ScramServer::new(
            input.sha512,
            client_first.as_bytes(),
            "pw",
            "S3rv",
            b"salt",
            ITERATIONS,
        )
        .expect("the client's own first message is well formed");
        let mut m = honest.into_bytes();
        let at = usize::from(input.splice_at).min(m.len());
        if !input.first.is_empty() {
            m.splice(at..at, input.first.iter().copied());
        } else {
            server = Some(srv);
        }
        m
    } else {
        input.first.clone()
    };
    let Ok(step) = client.step(&first) else {
        return;
    };
    let Step::Send(client_final) = step else {
        panic!("server-first cannot end the exchange");
    };
    // With the honest server-first untouched, the honest server-final must be accepted and
    // anything else refused unless it is that same signature.
    let honest_final = server.as_ref().map(|s| {
        s.finish(&client_final)
            .expect("the client's proof is right for the right password")
    });
    let last = if input.last.is_empty() {
        honest_final.clone().unwrap_or_default().into_bytes()
    } else {
        input.last.clone()
    };
    match client.step(&last) {
        Ok(Step::Done) => {
            let signature = |m: &[u8]| m.split(|&b| b == b',').next().map(<[u8]>::to_vec);
            let honest = honest_final
                .as_deref()
                .expect("accepted a server-final for a server-first that was tampered with");
            assert_eq!(
                signature(&last),
                signature(honest.as_bytes()),
                "accepted a server signature that is not the server's"
            );
        }
        Ok(Step::Send(_)) => panic!("server-final cannot ask for more"),
        Err(_) => assert!(
            !input.last.is_empty() || honest_final.is_none(),
            "refused the honest server-final"
        ),
    }
    if input.extra {
        assert!(
            client.step(b"v=").is_err(),
            "a message after the end was taken"
        );
    }
});
