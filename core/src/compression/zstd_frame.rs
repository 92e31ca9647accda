//! zstd: one frame per batch from a per-thread context; the window a decoder may take.

use super::{append_bounded, CompressSink};

/// The largest zstd window (as a power of two) accepted when decoding to at most `limit`
/// bytes. A frame never needs a window larger than its content, but a streaming encoder that
/// did not know the size (the Java client) declares its level's window (2 MiB at level 3,
/// 8 MiB at 19): allow at least 2^23 and at most the library's default cap 2^27, so a hostile
/// frame cannot make the decoder reserve more than that.
pub(super) fn zstd_window_log_max(limit: usize) -> u32 {
    let needed = usize::BITS - limit.leading_zeros();
    needed.clamp(23, 27)
}

/// zstd-compresses `input` at `level` into one frame, its content size in the header,
/// appended to `out`, with this thread's compression context (`ZSTD_compress2`, which starts
/// every frame afresh: the output does not depend on what the context compressed before).
///
/// A context made per batch cost more than the compression itself: in callgrind of the core
/// bench at 100 B, zstd level 3, `ZSTD_resetCCtx_internal` zeroing the new context's tables
/// was 28 % of all instructions, the compression 16 %. A reused context with the same
/// parameters skips that zeroing. The context stays with the thread, sized for the largest
/// batch and level it has compressed (a few hundred KiB at level 3 and 16 KiB batches).
pub(super) fn zstd_compress<O: CompressSink + ?Sized>(
    level: i32,
    input: &[u8],
    out: &mut O,
) -> std::io::Result<()> {
    use std::cell::RefCell;
    use zstd::zstd_safe::{get_error_name, CCtx, CParameter};
    thread_local! {
        static CONTEXT: RefCell<Option<CCtx<'static>>> = const { RefCell::new(None) };
    }
    let error = |code| std::io::Error::other(format!("zstd: {}", get_error_name(code)));
    CONTEXT.with_borrow_mut(|cached| {
        let ctx = match cached {
            Some(ctx) => ctx,
            None => {
                let mut ctx = CCtx::try_create().ok_or_else(|| {
                    std::io::Error::other("zstd: cannot allocate a compression context")
                })?;
                // Parameters stay set on the context from frame to frame.
                ctx.set_parameter(CParameter::ContentSizeFlag(true))
                    .map_err(error)?;
                cached.insert(ctx)
            }
        };
        ctx.set_parameter(CParameter::CompressionLevel(level))
            .map_err(error)?;
        let bound = zstd::zstd_safe::compress_bound(input.len());
        match append_bounded(out, bound, |dst| ctx.compress2(dst, input)) {
            Ok(_) => Ok(()),
            Err(code) => {
                // A failed ZSTD_compress2 leaves the context mid-frame: start the next
                // batch with a new one.
                *cached = None;
                Err(error(code))
            }
        }
    })
}
