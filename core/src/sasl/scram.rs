//! SCRAM-SHA-256 and SCRAM-SHA-512, client side (RFC 5802; RFC 7677 for SHA-256), as Kafka
//! speaks them: no channel binding (`n,,`), no authorization id.
//!
//! The hash, HMAC and PBKDF2 (`Hi`) come from RustCrypto's `sha2`, `hmac` and `pbkdf2`.

use super::{SaslError, SaslMechanism, Step};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

/// The iteration counts Kafka allows for SCRAM credentials; a server asking for more (a
/// hostile one could ask for billions) is refused rather than obeyed.
const ITERATIONS: std::ops::RangeInclusive<u64> = 4096..=16384;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha512,
}

impl Hash {
    fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        match self {
            Hash::Sha256 => {
                let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
                parts.iter().for_each(|p| m.update(p));
                m.finalize().into_bytes().to_vec()
            }
            Hash::Sha512 => {
                let mut m = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes any key");
                parts.iter().for_each(|p| m.update(p));
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    /// Whether `sig` is HMAC(key, msg), compared in constant time.
    fn verify(self, key: &[u8], msg: &[u8], sig: &[u8]) -> bool {
        match self {
            Hash::Sha256 => {
                let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
                m.update(msg);
                m.verify_slice(sig).is_ok()
            }
            Hash::Sha512 => {
                let mut m = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes any key");
                m.update(msg);
                m.verify_slice(sig).is_ok()
            }
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// `Hi(password, salt, i)`: PBKDF2 with HMAC of this hash.
    fn hi(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Hash::Sha256 => {
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out.to_vec()
            }
            Hash::Sha512 => {
                let mut out = [0u8; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out.to_vec()
            }
        }
    }
}

/// A printable nonce from random bytes (base64: no `,`).
pub(super) fn encode_nonce(raw: &[u8]) -> String {
    B64.encode(raw)
}

/// `saslname`: `=` and `,` escaped as `=3D` and `=2C`.
fn sasl_name(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

#[derive(Debug)]
enum Phase {
    /// client-first sent; waiting for server-first.
    First,
    /// client-final sent; waiting for server-final. `expect` is ServerKey followed by
    /// AuthMessage: the signature server-final must carry is their HMAC.
    Final { expect: Vec<u8> },
    /// Finished (verified or failed): any further message is out of place.
    Over,
}

/// The client side of one SCRAM exchange.
pub struct ScramClient {
    hash: Hash,
    password: String,
    nonce: String,
    client_first_bare: String,
    phase: Phase,
}

impl std::fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramClient")
            .field("hash", &self.hash)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl ScramClient {
    /// A client for `mechanism` (SCRAM-SHA-256 or SCRAM-SHA-512; anything else is treated as
    /// SHA-256), with the client nonce `nonce` (printable, no `,`), and its client-first
    /// message.
    pub fn new(
        mechanism: SaslMechanism,
        username: &str,
        password: &str,
        nonce: String,
    ) -> (Self, String) {
        let hash = match mechanism {
            SaslMechanism::ScramSha512 => Hash::Sha512,
            _ => Hash::Sha256,
        };
        let client_first_bare = format!("n={},r={}", sasl_name(username), nonce);
        let first = format!("n,,{client_first_bare}");
        (
            ScramClient {
                hash,
                password: password.to_owned(),
                nonce,
                client_first_bare,
                phase: Phase::First,
            },
            first,
        )
    }

    /// Feeds the server's message: server-first yields the client-final message,
    /// server-final (once its signature checks out) finishes. Any other message, or one more
    /// after the exchange ended, is a typed error; no input panics.
    pub fn step(&mut self, server: &[u8]) -> Result<Step, SaslError> {
        match std::mem::replace(&mut self.phase, Phase::Over) {
            Phase::First => {
                let (final_msg, expect) = self.client_final(server)?;
                self.phase = Phase::Final { expect };
                Ok(Step::Send(final_msg.into_bytes()))
            }
            Phase::Final { expect } => {
                self.check_server_final(server, &expect)?;
                Ok(Step::Done)
            }
            Phase::Over => Err(SaslError::Malformed("message after the exchange ended")),
        }
    }

    /// From server-first: the client-final message and what the server signature must match.
    fn client_final(&self, server: &[u8]) -> Result<(String, Vec<u8>), SaslError> {
        let text = std::str::from_utf8(server)
            .map_err(|_| SaslError::Malformed("server-first is not UTF-8"))?;
        let mut attrs = text.split(',');
        let mut next = |key: &str, what: &'static str| -> Result<&str, SaslError> {
            let a = attrs.next().ok_or(SaslError::Malformed(what))?;
            a.strip_prefix(key).ok_or(SaslError::Malformed(what))
        };
        if text.starts_with("m=") {
            return Err(SaslError::Malformed("mandatory extension not supported"));
        }
        if let Some(e) = text.strip_prefix("e=") {
            return Err(SaslError::Server(e.chars().take(256).collect()));
        }
        let nonce = next("r=", "server-first without r=")?;
        let salt = next("s=", "server-first without s=")?;
        let iterations = next("i=", "server-first without i=")?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err(SaslError::NonceMismatch);
        }
        let salt = B64
            .decode(salt)
            .map_err(|_| SaslError::Malformed("salt is not base64"))?;
        let iterations: u64 = iterations
            .parse()
            .map_err(|_| SaslError::Malformed("iteration count is not a number"))?;
        if !ITERATIONS.contains(&iterations) {
            return Err(SaslError::Iterations(iterations));
        }
        let h = self.hash;
        let salted = h.hi(self.password.as_bytes(), &salt, iterations as u32);
        let client_key = h.hmac(&salted, &[b"Client Key"]);
        let stored_key = h.digest(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{text},{without_proof}", self.client_first_bare);
        let client_signature = h.hmac(&stored_key, &[auth_message.as_bytes()]);
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&client_signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = h.hmac(&salted, &[b"Server Key"]);
        // ServerSignature = HMAC(ServerKey, AuthMessage) is checked later by the crate's
        // constant-time verify, so key and message are kept rather than the signature.
        let expect = [server_key, auth_message.into_bytes()].concat();
        Ok((format!("{without_proof},p={}", B64.encode(proof)), expect))
    }

    fn check_server_final(&self, server: &[u8], expect: &[u8]) -> Result<(), SaslError> {
        let text = std::str::from_utf8(server)
            .map_err(|_| SaslError::Malformed("server-final is not UTF-8"))?;
        let first = text.split(',').next().unwrap_or("");
        if let Some(e) = first.strip_prefix("e=") {
            return Err(SaslError::Server(e.chars().take(256).collect()));
        }
        let sig = first
            .strip_prefix("v=")
            .ok_or(SaslError::Malformed("server-final without v="))?;
        let sig = B64
            .decode(sig)
            .map_err(|_| SaslError::Malformed("server signature is not base64"))?;
        let key_len = match self.hash {
            Hash::Sha256 => 32,
            Hash::Sha512 => 64,
        };
        let (key, msg) = expect.split_at(key_len);
        if self.hash.verify(key, msg, &sig) {
            Ok(())
        } else {
            Err(SaslError::BadServerSignature)
        }
    }
}

/// The server side of SCRAM, for the core's tests and the simulator's broker: checks a
/// client's proof and produces the server messages.
pub mod server {
    use super::*;

    /// One server exchange.
    #[derive(Debug)]
    pub struct ScramServer {
        hash: Hash,
        salted: Vec<u8>,
        server_first: String,
        client_first_bare: String,
        nonce: String,
    }

    impl ScramServer {
        /// Answers `client_first` for a user whose password is `password`, with server nonce
        /// suffix `server_nonce`, `salt` and `iterations`; `None` if the message is malformed.
        pub fn new(
            sha512: bool,
            client_first: &[u8],
            password: &str,
            server_nonce: &str,
            salt: &[u8],
            iterations: u32,
        ) -> Option<(Self, String)> {
            let hash = if sha512 { Hash::Sha512 } else { Hash::Sha256 };
            let text = std::str::from_utf8(client_first).ok()?;
            let bare = text.strip_prefix("n,,")?;
            let client_nonce = bare.split(',').find_map(|a| a.strip_prefix("r="))?;
            let nonce = format!("{client_nonce}{server_nonce}");
            let server_first = format!("r={nonce},s={},i={iterations}", B64.encode(salt));
            let salted = hash.hi(password.as_bytes(), salt, iterations);
            Some((
                ScramServer {
                    hash,
                    salted,
                    server_first: server_first.clone(),
                    client_first_bare: bare.to_owned(),
                    nonce,
                },
                server_first,
            ))
        }

        /// Checks client-final; `Ok(server-final)` when the proof is right, `Err(())` if not.
        #[allow(clippy::result_unit_err)]
        pub fn finish(&self, client_final: &[u8]) -> Result<String, ()> {
            let text = std::str::from_utf8(client_final).map_err(|_| ())?;
            let (without_proof, proof) = text.rsplit_once(",p=").ok_or(())?;
            if without_proof != format!("c=biws,r={}", self.nonce) {
                return Err(());
            }
            let proof = B64.decode(proof).map_err(|_| ())?;
            let h = self.hash;
            let auth_message = format!(
                "{},{},{without_proof}",
                self.client_first_bare, self.server_first
            );
            let client_key = h.hmac(&self.salted, &[b"Client Key"]);
            let stored_key = h.digest(&client_key);
            let client_signature = h.hmac(&stored_key, &[auth_message.as_bytes()]);
            let recovered: Vec<u8> = proof
                .iter()
                .zip(&client_signature)
                .map(|(p, s)| p ^ s)
                .collect();
            if proof.len() != client_signature.len() || h.digest(&recovered) != stored_key {
                return Err(());
            }
            let server_key = h.hmac(&self.salted, &[b"Server Key"]);
            let sig = h.hmac(&server_key, &[auth_message.as_bytes()]);
            Ok(format!("v={}", B64.encode(sig)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 §3: the SCRAM-SHA-256 example exchange, byte for byte.
    #[test]
    fn rfc7677_sha256_test_vector() {
        let (mut c, first) = ScramClient::new(
            SaslMechanism::ScramSha256,
            "user",
            "pencil",
            "rOprNGfwEbeRWgbNEkqO".into(),
        );
        assert_eq!(first, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first =
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let Step::Send(fin) = c.step(server_first).unwrap() else {
            panic!("client-final expected")
        };
        assert_eq!(
            std::str::from_utf8(&fin).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert_eq!(
            c.step(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
            Ok(Step::Done)
        );
        assert_eq!(
            c.step(b"v=again"),
            Err(SaslError::Malformed("message after the exchange ended"))
        );
    }

    fn client_at_final(sig_ok: bool) -> (ScramClient, Result<Step, SaslError>) {
        let (mut c, _) = ScramClient::new(
            SaslMechanism::ScramSha256,
            "user",
            "pencil",
            "rOprNGfwEbeRWgbNEkqO".into(),
        );
        c.step(
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        )
        .unwrap();
        let last: &[u8] = if sig_ok {
            b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        } else {
            // One character off.
            b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        };
        let r = c.step(last);
        (c, r)
    }

    #[test]
    fn a_wrong_server_signature_is_refused() {
        assert_eq!(client_at_final(true).1, Ok(Step::Done));
        assert_eq!(client_at_final(false).1, Err(SaslError::BadServerSignature));
    }

    #[test]
    fn hostile_server_first_messages_are_refused_with_a_reason() {
        let cases: &[(&[u8], SaslError)] = &[
            (b"", SaslError::Malformed("server-first without r=")),
            (
                b"\xff\xfe",
                SaslError::Malformed("server-first is not UTF-8"),
            ),
            (b"r=other,s=AAAA,i=4096", SaslError::NonceMismatch),
            (b"r=abc,s=AAAA,i=4096", SaslError::NonceMismatch),
            (
                b"r=abcX,s=!!,i=4096",
                SaslError::Malformed("salt is not base64"),
            ),
            (
                b"r=abcX,s=AAAA",
                SaslError::Malformed("server-first without i="),
            ),
            (
                b"r=abcX,s=AAAA,i=lots",
                SaslError::Malformed("iteration count is not a number"),
            ),
            (
                b"r=abcX,s=AAAA,i=4000000000",
                SaslError::Iterations(4_000_000_000),
            ),
            (b"r=abcX,s=AAAA,i=1", SaslError::Iterations(1)),
            (
                b"m=ext,r=abcX,s=AAAA,i=4096",
                SaslError::Malformed("mandatory extension not supported"),
            ),
            (b"e=unknown-user", SaslError::Server("unknown-user".into())),
        ];
        for (msg, want) in cases {
            let (mut c, _) = ScramClient::new(SaslMechanism::ScramSha512, "u", "p", "abc".into());
            assert_eq!(
                c.step(msg).as_ref(),
                Err(want),
                "{:?}",
                String::from_utf8_lossy(msg)
            );
        }
    }

    #[test]
    fn server_final_errors_and_garbage_are_refused() {
        for (msg, want) in [
            (
                &b"e=invalid-proof"[..],
                SaslError::Server("invalid-proof".into()),
            ),
            (b"x=1", SaslError::Malformed("server-final without v=")),
            (
                b"v=***",
                SaslError::Malformed("server signature is not base64"),
            ),
            (b"v=", SaslError::BadServerSignature),
        ] {
            let (mut c, _) = ScramClient::new(SaslMechanism::ScramSha256, "u", "p", "abc".into());
            c.step(b"r=abcX,s=AAAA,i=4096").unwrap();
            assert_eq!(c.step(msg), Err(want));
        }
    }

    #[test]
    fn sha512_client_and_test_server_agree_and_names_are_escaped() {
        let (mut c, first) =
            ScramClient::new(SaslMechanism::ScramSha512, "a=b,c", "pw", "nonce1".into());
        assert_eq!(first, "n,,n=a=3Db=2Cc,r=nonce1");
        let (srv, server_first) =
            server::ScramServer::new(true, first.as_bytes(), "pw", "XYZ", b"salt", 4096).unwrap();
        let Step::Send(fin) = c.step(server_first.as_bytes()).unwrap() else {
            panic!()
        };
        let server_final = srv.finish(&fin).expect("proof accepted");
        assert_eq!(c.step(server_final.as_bytes()), Ok(Step::Done));
        // The wrong password is caught by the server side.
        let (mut c, first) = ScramClient::new(SaslMechanism::ScramSha512, "u", "bad", "n2".into());
        let (srv, sf) =
            server::ScramServer::new(true, first.as_bytes(), "pw", "Q", b"salt", 4096).unwrap();
        let Step::Send(fin) = c.step(sf.as_bytes()).unwrap() else {
            panic!()
        };
        assert!(srv.finish(&fin).is_err());
    }
}
