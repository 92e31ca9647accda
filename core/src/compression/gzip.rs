//! gzip: one gzip member per batch, by libdeflate (feature `gzip-libdeflate`) or by flate2's
//! backend; flate2 decodes (in the parent module).

use super::CompressSink;

/// gzip-compresses `input` at zlib `level` (0 to 9) into one gzip member appended to `out`:
/// libdeflate (whole buffer, one call) with the `gzip-libdeflate` feature, flate2 otherwise.
#[cfg(feature = "gzip-libdeflate")]
pub(super) fn gzip_compress<O: CompressSink + ?Sized>(
    level: u32,
    input: &[u8],
    out: &mut O,
) -> std::io::Result<()> {
    use super::append_bounded;
    use std::cell::RefCell;
    thread_local! {
        /// The last level's compressor, kept per thread: libdeflate's state (hundreds of KiB
        /// at level 6) allocated and faulted in for every 16 KiB batch would add to every
        /// compression. Output does not depend on it: every call starts afresh.
        static COMPRESSOR: RefCell<Option<(u32, libdeflater::Compressor)>> =
            const { RefCell::new(None) };
    }
    // libdeflate's levels 0 to 9 are zlib's in meaning (it also has 10 to 12, not used).
    let lvl = libdeflater::CompressionLvl::new(level as i32)
        .map_err(|e| std::io::Error::other(format!("gzip level {level}: {e:?}")))?;
    COMPRESSOR.with_borrow_mut(|cached| {
        let compressor = match cached {
            Some((l, c)) if *l == level => c,
            _ => &mut cached.insert((level, libdeflater::Compressor::new(lvl))).1,
        };
        let bound = compressor.gzip_compress_bound(input.len());
        append_bounded(out, bound, |dst| compressor.gzip_compress(input, dst))
            .map(drop)
            .map_err(|e| std::io::Error::other(format!("gzip: {e}")))
    })
}

/// gzip-compresses `input` at zlib `level` (0 to 9) into one gzip member appended to `out`:
/// libdeflate (whole buffer, one call) with the `gzip-libdeflate` feature, flate2 otherwise.
#[cfg(not(feature = "gzip-libdeflate"))]
pub(super) fn gzip_compress<O: CompressSink + ?Sized>(
    level: u32,
    input: &[u8],
    out: &mut O,
) -> std::io::Result<()> {
    use std::io::Write;
    out.with_writer(&mut |w| {
        let mut enc = flate2::write::GzEncoder::new(w, flate2::Compression::new(level));
        enc.write_all(input)?;
        enc.finish().map(drop)
    })
}
