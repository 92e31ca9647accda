//! Every primitive read and written: round trips, truncations, bad lengths and varints.

use super::*;
use bytes::{BufMut, BytesMut};

/// Every strict prefix of `enc` must fail to decode with `f`, and the whole must succeed
/// and consume everything.
fn all_truncations_fail<T: std::fmt::Debug>(
    enc: &[u8],
    f: impl Fn(&mut Reader<'_>) -> Result<T, DecodeError>,
) {
    for n in 0..enc.len() {
        let mut r = Reader::new(&enc[..n]);
        assert!(f(&mut r).is_err(), "prefix {n} of {enc:?} decoded");
    }
    let mut r = Reader::new(enc);
    f(&mut r).unwrap();
    assert_eq!(r.remaining(), 0);
}

#[test]
fn fixed_width_integers() {
    let mut b = BytesMut::new();
    b.put_i8(-2);
    b.put_i16(-300);
    b.put_i32(0x0102_0304);
    b.put_i64(-5);
    b.put_u32(0xdead_beef);
    b.put_bool(true);
    b.put_bool(false);
    b.put_uuid(&[7; 16]);
    let mut r = Reader::new(&b);
    assert_eq!(r.i8().unwrap(), -2);
    assert_eq!(r.i16().unwrap(), -300);
    assert_eq!(r.i32().unwrap(), 0x0102_0304);
    assert_eq!(r.i64().unwrap(), -5);
    assert_eq!(r.u32().unwrap(), 0xdead_beef);
    assert!(r.bool().unwrap());
    assert!(!r.bool().unwrap());
    assert_eq!(r.uuid().unwrap(), [7; 16]);
    r.finish().unwrap();
    assert_eq!(
        r.i8(),
        Err(DecodeError::Truncated {
            what: "int8",
            needed: 1
        })
    );
    all_truncations_fail(&[1, 2, 3, 4, 5, 6, 7, 8], |r| r.i64());
    all_truncations_fail(&[1, 2, 3, 4], |r| r.i32());
    all_truncations_fail(&[1, 2, 3, 4], |r| r.u32());
    all_truncations_fail(&[1, 2], |r| r.i16());
    all_truncations_fail(&[0; 16], |r| r.uuid());
}

#[test]
fn uvarint_known_encodings() {
    for (v, enc) in [
        (0u32, vec![0x00]),
        (1, vec![0x01]),
        (127, vec![0x7f]),
        (128, vec![0x80, 0x01]),
        (300, vec![0xac, 0x02]),
        (u32::MAX, vec![0xff, 0xff, 0xff, 0xff, 0x0f]),
    ] {
        let mut b = BytesMut::new();
        b.put_uvarint(v);
        assert_eq!(&b[..], &enc[..], "{v}");
        assert_eq!(uvarint_len(u64::from(v)), enc.len());
        all_truncations_fail(&enc, |r| r.uvarint());
        assert_eq!(Reader::new(&enc).uvarint().unwrap(), v);
    }
    // A sixth byte, or bits beyond 32, are refused.
    assert!(Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x1f])
        .uvarint()
        .is_err());
    assert!(Reader::new(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00])
        .uvarint()
        .is_err());
}

#[test]
fn zigzag_varints() {
    // Zig-zag: 0 -> 0, -1 -> 1, 1 -> 2, -2 -> 3, ...
    for (v, enc) in [
        (0i32, vec![0x00]),
        (-1, vec![0x01]),
        (1, vec![0x02]),
        (-2, vec![0x03]),
        (63, vec![0x7e]),
        (-64, vec![0x7f]),
        (64, vec![0x80, 0x01]),
        (i32::MAX, vec![0xfe, 0xff, 0xff, 0xff, 0x0f]),
        (i32::MIN, vec![0xff, 0xff, 0xff, 0xff, 0x0f]),
    ] {
        let mut b = BytesMut::new();
        b.put_varint(v);
        assert_eq!(&b[..], &enc[..], "{v}");
        assert_eq!(varint_len(v), enc.len());
        all_truncations_fail(&enc, |r| r.varint());
        assert_eq!(Reader::new(&enc).varint().unwrap(), v);
    }
    for v in [0i64, -1, 1, 1 << 40, -(1 << 40), i64::MAX, i64::MIN] {
        let mut b = BytesMut::new();
        b.put_varlong(v);
        assert_eq!(varlong_len(v), b.len());
        all_truncations_fail(&b, |r| r.varlong());
        assert_eq!(Reader::new(&b).varlong().unwrap(), v);
    }
    let mut b = BytesMut::new();
    b.put_varlong(i64::MIN);
    assert_eq!(b.len(), 10);
    // Eleven-byte or overflowing varlongs are refused.
    assert!(
        Reader::new(&[0xff; 9].iter().chain(&[0x02]).copied().collect::<Vec<_>>())
            .varlong()
            .is_err()
    );
    assert!(Reader::new(&[0xff; 11]).varlong().is_err());
}

#[test]
fn strings_classic_and_compact() {
    let mut b = BytesMut::new();
    b.put_string("héllo");
    assert_eq!(&b[..2], &[0, 6]);
    all_truncations_fail(&b, |r| r.string());
    assert_eq!(Reader::new(&b).string().unwrap(), "héllo");

    let mut b = BytesMut::new();
    b.put_nullable_string(None);
    assert_eq!(&b[..], &[0xff, 0xff]);
    assert_eq!(Reader::new(&b).nullable_string().unwrap(), None);
    assert!(Reader::new(&b).string().is_err());

    let mut b = BytesMut::new();
    b.put_compact_string("abc");
    assert_eq!(&b[..], &[4, b'a', b'b', b'c']);
    all_truncations_fail(&b, |r| r.compact_string());
    let mut b = BytesMut::new();
    b.put_compact_nullable_string(None);
    assert_eq!(&b[..], &[0]);
    assert_eq!(Reader::new(&b).compact_nullable_string().unwrap(), None);
    assert!(Reader::new(&b).compact_string().is_err());
    let mut b = BytesMut::new();
    b.put_compact_nullable_string(Some(""));
    assert_eq!(&b[..], &[1]);
    assert_eq!(
        Reader::new(&b).compact_nullable_string().unwrap(),
        Some(String::new())
    );
    // Negative (other than -1) and huge lengths are refused; bad UTF-8 too.
    assert!(Reader::new(&[0xff, 0xfe]).nullable_string().is_err());
    assert!(Reader::new(&[0x7f, 0xff, b'a']).string().is_err());
    assert!(Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x0f])
        .compact_string()
        .is_err());
    assert_eq!(
        Reader::new(&[0, 1, 0xff]).string(),
        Err(DecodeError::Invalid("utf-8 in string"))
    );
}

#[test]
fn bytes_classic_and_compact_zero_copy() {
    let mut b = BytesMut::new();
    b.put_bytes32(b"xyz");
    b.put_nullable_bytes32(None);
    b.put_compact_bytes(b"pq");
    b.put_compact_nullable_bytes(None);
    let frozen = b.freeze();
    let mut r = Reader::from_bytes(&frozen);
    let x = r.bytes().unwrap();
    assert_eq!(&x[..], b"xyz");
    // Zero copy: the slice points into the frame.
    assert_eq!(x.as_ptr(), frozen[4..].as_ptr());
    assert_eq!(r.nullable_bytes().unwrap(), None);
    assert_eq!(&r.compact_bytes().unwrap()[..], b"pq");
    assert_eq!(r.compact_nullable_bytes().unwrap(), None);
    r.finish().unwrap();

    let mut b = BytesMut::new();
    b.put_bytes32(b"hello");
    all_truncations_fail(&b, |r| r.bytes());
    all_truncations_fail(&b, |r| r.nullable_bytes());
    let mut b = BytesMut::new();
    b.put_compact_bytes(b"hello");
    all_truncations_fail(&b, |r| r.compact_bytes());
    // Huge announced lengths are refused without allocating.
    assert!(Reader::new(&[0x7f, 0xff, 0xff, 0xff]).bytes().is_err());
    assert!(Reader::new(&[0xff, 0xff, 0xff, 0xfe])
        .nullable_bytes()
        .is_err());
    assert!(Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x0f])
        .compact_nullable_bytes()
        .is_err());
}

#[test]
fn array_lengths_are_checked_against_remaining() {
    // 3 elements of at least 4 bytes need 12 bytes.
    let mut b = BytesMut::new();
    b.put_array_len(3);
    b.put_slice(&[0; 12]);
    assert_eq!(Reader::new(&b).array_len(4).unwrap(), 3);
    assert!(Reader::new(&b[..15]).array_len(4).is_err());
    assert!(Reader::new(&[0x7f, 0xff, 0xff, 0xff]).array_len(1).is_err());
    assert!(Reader::new(&[0xff, 0xff, 0xff, 0xfe]).array_len(1).is_err());
    assert_eq!(
        Reader::new(&[0xff, 0xff, 0xff, 0xff])
            .nullable_array_len(1)
            .unwrap(),
        None
    );
    assert!(Reader::new(&[0xff, 0xff, 0xff, 0xff]).array_len(1).is_err());
    // Even a zero minimum size counts as one byte per element.
    assert!(Reader::new(&[0, 0, 0, 2, 0]).array_len(0).is_err());

    let mut b = BytesMut::new();
    b.put_compact_array_len(2);
    b.put_slice(&[0; 2]);
    assert_eq!(Reader::new(&b).compact_array_len(1).unwrap(), 2);
    assert!(Reader::new(&b).compact_array_len(2).is_err());
    let mut b = BytesMut::new();
    b.put_compact_nullable_array_len(None);
    assert_eq!(&b[..], &[0]);
    assert_eq!(Reader::new(&b).compact_nullable_array_len(1).unwrap(), None);
    assert!(Reader::new(&b).compact_array_len(1).is_err());
    assert!(Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x0f])
        .compact_array_len(1)
        .is_err());
    let mut b = BytesMut::new();
    b.put_nullable_array_len(None);
    assert_eq!(&b[..], &[0xff, 0xff, 0xff, 0xff]);
}

#[test]
fn tagged_fields_are_skipped_and_bounded() {
    let mut b = BytesMut::new();
    b.put_empty_tagged_fields();
    assert_eq!(&b[..], &[0]);
    // Two fields: tag 0 with 3 bytes, tag 5 with 0 bytes, then a trailing marker byte.
    let enc = [2u8, 0, 3, 9, 9, 9, 5, 0];
    all_truncations_fail(&enc, |r| r.skip_tagged_fields());
    let mut seen = vec![];
    let mut r = Reader::new(&enc);
    r.tagged_fields(|tag, data| {
        seen.push((tag, data.remaining()));
        data.skip(data.remaining(), "x")
    })
    .unwrap();
    assert_eq!(seen, vec![(0, 3), (5, 0)]);
    r.finish().unwrap();
    // A field reader cannot read past its field.
    let mut r = Reader::new(&enc);
    let res = r.tagged_fields(|_, data| data.i64().map(|_| ()));
    assert!(res.is_err());
    // A field longer than what remains, and a huge count, are refused.
    assert!(Reader::new(&[1, 0, 5, 1]).skip_tagged_fields().is_err());
    assert!(Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x0f])
        .skip_tagged_fields()
        .is_err());
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = crate::rng::Rng::new(0x5eed);
    for _ in 0..3000 {
        let len = (rng.next_u64() % 24) as usize;
        let v: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        let mut r = Reader::new(&v);
        let _ = r.clone().compact_nullable_string();
        let _ = r.clone().nullable_bytes();
        let _ = r.clone().compact_array_len(1);
        let _ = r.clone().skip_tagged_fields();
        let _ = r.clone().varlong();
        let _ = r.string();
    }
}
