//! A fast DEFLATE (RFC 1951) encoder in a gzip member (RFC 1952), for gzip levels 2 to 6.
//!
//! Why our own: the Go clients (franz-go, Sarama) compress gzip with klauspost's deflate,
//! whose levels 1 to 6 find matches in hash tables without chains; at level 6 that was
//! 1.2–1.8x faster than libdeflate's level 6 (lazy matching over hash chains), for 2–6 % more
//! bytes. No crate offers that trade (libdeflate, zlib-ng, zlib-rs and miniz_oxide all walk
//! chains from level 2 or 3 on), so `Compression::compress` sends gzip levels 2 to 6 (6 is
//! the default) here. Level 1 stays with libdeflate, which there is both faster than
//! klauspost and smaller, and so do 7 to 9 (`cargo xtask codecs`, README).
//!
//! How it works, per call (one batch):
//! - **Matches** come from hash tables kept per thread and never cleared: a table slot holds
//!   `base + position`, and `base` moves a window past every input once it is done, so a
//!   slot written for an earlier batch reads as out of range instead of needing a memset per
//!   batch. A 4-byte hash table, from level 4 a 7-byte one too (from level 5 holding two
//!   positions per slot), give up to three candidates per position; from level 2 a short
//!   match is deferred one byte when the next position has a longer one (lazy matching), and
//!   each match is extended backwards over the literals before it. Past a run of misses the
//!   search steps over bytes faster (incompressible data costs little).
//! - **Blocks** of at most [`BLOCK_TOKENS`] literals and matches are each written as the
//!   cheapest of a dynamic Huffman block (code lengths limited to 15 bits), a fixed one, or
//!   stored bytes.
//!
//! Nothing is allocated per call once the thread's state exists (tables, token list, output
//! buffer are kept). Decoders see ordinary deflate: the tests read everything back with
//! flate2, and the real-Kafka suites have the broker (the JVM's zlib) decompress it.

use crate::compression::CompressSink;
use std::cell::RefCell;

/// Deflate's window: the farthest a match may point back.
const WINDOW: usize = 32 * 1024;
/// The longest match deflate can code.
const MAX_MATCH: usize = 258;
/// Bits of the 4-byte hash (a table of 2^14 positions, 64 KiB; 15 bits compressed no better).
const SHORT_BITS: u32 = 14;
/// Bits of the 7-byte hash (2^14 slots of two positions, 128 KiB).
const LONG_BITS: u32 = 14;
/// Literals and matches per block: a new Huffman code after this many.
pub(crate) const BLOCK_TOKENS: usize = 1 << 15;
/// Inputs shorter than this are written as literals only (the search reads 8 bytes ahead).
const MIN_SEARCH_INPUT: usize = 16;

/// The search settings of one level.
#[derive(Clone, Copy)]
struct Level {
    /// Look up the 7-byte hash table too.
    long: bool,
    /// Check the older of the two positions in a 7-byte hash slot too.
    two_way: bool,
    /// After `2^skip` missed positions in a row, advance two bytes at a time (and so on).
    skip: u32,
    /// Inside a match, also enter every `stride`-th position into the tables (0: only the
    /// match's last two positions).
    stride: usize,
    /// A match at least this long is taken without looking for a longer one.
    nice: usize,
    /// A match shorter than this is deferred by a byte when the next position has a longer
    /// one (lazy matching; 0: never).
    lazy_below: usize,
}

/// Each level's settings, chosen by measuring against klauspost's deflate at the same level
/// (`cargo xtask codecs`). Trying the previous match's distance first, as some encoders do,
/// found nothing the tables did not: the same bytes or more, and more time.
const fn level(n: u32) -> Level {
    let (long, two_way, skip, stride, nice, lazy_below) = match n {
        0 | 1 => (false, false, 4, 0, 16, 0),
        2 => (false, false, 5, 0, 16, 8),
        3 => (false, false, 5, 0, 16, 16),
        4 => (true, false, 6, 0, 32, 8),
        5 => (true, true, 6, 8, 64, 8),
        _ => (true, true, 7, 4, 64, 16),
    };
    Level {
        long,
        two_way,
        skip,
        stride,
        nice,
        lazy_below,
    }
}

/// Appends `input` as one gzip member compressed at `level` to `out`, with this thread's
/// encoder state. Levels 1 to 6 (others are clamped into that range); `Compression::compress`
/// uses 2 to 6. The thread keeps its tables (192 KiB) and an output buffer as large as the
/// largest member it wrote.
pub(crate) fn gzip<O: CompressSink + ?Sized>(level: u32, input: &[u8], out: &mut O) {
    thread_local! {
        static STATE: RefCell<Option<Box<Deflater>>> = const { RefCell::new(None) };
    }
    STATE.with_borrow_mut(|state| {
        let d = state.get_or_insert_with(|| Box::new(Deflater::new()));
        d.gzip(level, input);
        out.extend_from_slice(&d.out);
    })
}

/// One thread's encoder: its match tables, the current block's tokens and symbol counts,
/// and the output being written.
struct Deflater {
    /// 4-byte hash -> `base + position` of its last occurrence.
    short: Box<[u32; 1 << SHORT_BITS]>,
    /// 7-byte hash -> `base + position` of its last two occurrences, newer first.
    long: Box<[[u32; 2]; 1 << LONG_BITS]>,
    /// What table entries of this input are offset by. It starts above a window and moves a
    /// window past the end of each input, so that entries of earlier inputs (and the tables'
    /// initial zeros) are always more than a window behind and never match.
    base: u32,
    /// The current block: a literal byte (< 256) or
    /// `MATCH | distance symbol << 26 | length << 16 | distance`.
    tokens: Vec<u32>,
    /// Literal/length symbol counts of the current block (286 and 287 stay 0).
    lit_freq: [u32; LIT_SYMBOLS],
    /// Distance symbol counts of the current block.
    dist_freq: [u32; 30],
    /// Where the current block's bytes start in the input.
    block_start: usize,
    /// The gzip member being written (copied out at the end).
    out: Vec<u8>,
    /// Bits not yet written to `out`.
    bits: BitWriter,
}

/// Bits not yet written out, lowest first: whole 32-bit words go out as they fill.
#[derive(Default)]
struct BitWriter {
    acc: u64,
    nbits: u32,
}

impl BitWriter {
    /// Appends the `n` (at most 32) low bits of `v` to what goes to `out`.
    #[inline(always)]
    fn put(&mut self, out: &mut Vec<u8>, v: u32, n: u32) {
        debug_assert!(n <= 32 && (n == 32 || v >> n == 0));
        self.acc |= u64::from(v) << self.nbits;
        self.nbits += n;
        if self.nbits >= 32 {
            out.extend_from_slice(&(self.acc as u32).to_le_bytes());
            self.acc >>= 32;
            self.nbits -= 32;
        }
    }

    /// Pads with zero bits to a byte boundary and writes every pending byte to `out`.
    fn align(&mut self, out: &mut Vec<u8>) {
        while self.nbits > 0 {
            out.push(self.acc as u8);
            self.acc >>= 8;
            self.nbits = self.nbits.saturating_sub(8);
        }
        self.acc = 0;
    }
}

/// `Deflater::base` of fresh tables: a window past the zeros they hold.
const FIRST_BASE: u32 = WINDOW as u32 + 1;

/// Literal/length symbols: 0–255 literals, 256 end of block, 257–285 lengths, and 286–287,
/// never used, which still count in the fixed code's construction (RFC 1951 3.2.6).
const LIT_SYMBOLS: usize = 288;

/// Marks a match token.
const MATCH: u32 = 1 << 31;

impl Deflater {
    fn new() -> Deflater {
        Deflater {
            short: vec![0; 1 << SHORT_BITS]
                .into_boxed_slice()
                .try_into()
                .expect("table size"),
            long: vec![[0; 2]; 1 << LONG_BITS]
                .into_boxed_slice()
                .try_into()
                .expect("table size"),
            base: FIRST_BASE,
            tokens: Vec::with_capacity(BLOCK_TOKENS + 1),
            lit_freq: [0; LIT_SYMBOLS],
            dist_freq: [0; 30],
            block_start: 0,
            out: Vec::new(),
            bits: BitWriter::default(),
        }
    }

    /// Writes one gzip member of `input` into `self.out`.
    fn gzip(&mut self, level_n: u32, input: &[u8]) {
        self.out.clear();
        self.out.reserve(input.len() + input.len() / 64 + 64);
        // Header: magic, deflate, no flags, no mtime, XFL 4 ("fastest"), OS unknown.
        self.out
            .extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 0xff]);
        self.bits = BitWriter::default();
        self.deflate(level_n, input);
        self.out
            .extend_from_slice(&crc32fast::hash(input).to_le_bytes());
        self.out
            .extend_from_slice(&(input.len() as u32).to_le_bytes());
    }

    /// Appends the deflate stream of `input` (byte-aligned at the end).
    fn deflate(&mut self, level_n: u32, input: &[u8]) {
        self.tokens.clear();
        self.lit_freq = [0; LIT_SYMBOLS];
        self.dist_freq = [0; 30];
        self.block_start = 0;
        // Table entries are u32 `base + position`: start afresh when this input's positions
        // (plus a window's gap to the next input) would not fit.
        let span = input.len() as u64 + WINDOW as u64 + 1;
        if u64::from(self.base) + span >= u64::from(u32::MAX) {
            self.short.fill(0);
            self.long.fill([0; 2]);
            self.base = FIRST_BASE;
        }
        if input.len() >= (u32::MAX as usize) / 2 {
            // Positions beyond u32: no search, literals and stored blocks only.
            self.push_literals(input, 0, input.len());
        } else {
            let end = match level_n.clamp(1, 6) {
                1 => self.search::<1>(input),
                2 => self.search::<2>(input),
                3 => self.search::<3>(input),
                4 => self.search::<4>(input),
                5 => self.search::<5>(input),
                _ => self.search::<6>(input),
            };
            self.push_literals(input, end, input.len());
            self.base += span as u32;
        }
        self.write_block(input, input.len(), true);
        self.align();
    }

    /// Finds matches in `input`, pushing literals and matches; returns where the literals
    /// not yet pushed start.
    fn search<const L: u32>(&mut self, input: &[u8]) -> usize {
        let lv = level(L);
        let n = input.len();
        if n < MIN_SEARCH_INPUT {
            return 0;
        }
        // Every position searched can read 8 bytes.
        let last = n - 8;
        let mut i = 0;
        let mut lit_start = 0;
        while i <= last {
            let (len, dist) = self.find(input, i, lv);
            if len < 4 {
                i += 1 + ((i - lit_start) >> lv.skip);
                continue;
            }
            let (mut at, mut len, mut dist) = (i, len, dist);
            if len < lv.lazy_below && i < last {
                let (len2, dist2) = self.find(input, i + 1, lv);
                if len2 > len {
                    (at, len, dist) = (i + 1, len2, dist2);
                }
            }
            // Extend backwards over literals not yet pushed.
            while at > lit_start
                && at > dist
                && len < MAX_MATCH
                && input[at - 1] == input[at - 1 - dist]
            {
                at -= 1;
                len += 1;
            }
            self.push_literals(input, lit_start, at);
            let end = at + len;
            self.push_match(input, len, dist, end);
            // Enter positions inside the match, so that later text can refer to them.
            if lv.stride > 0 {
                let mut p = i + 2;
                while p + 2 < end && p <= last {
                    self.insert(input, p, lv);
                    p += lv.stride;
                }
            }
            for p in [end - 2, end - 1] {
                if p > i + 1 && p <= last {
                    self.insert(input, p, lv);
                }
            }
            i = end;
            lit_start = end;
        }
        lit_start
    }

    /// The longest match found for position `i` (length 0 if none of at least 4 bytes), and
    /// enters `i` into the tables.
    #[inline(always)]
    fn find(&mut self, input: &[u8], i: usize, lv: Level) -> (usize, usize) {
        let cur = load64(input, i);
        let max = (input.len() - i).min(MAX_MATCH);
        let now = self.base.wrapping_add(i as u32);
        let mut best = Best { len: 0, dist: 0 };
        if lv.long {
            let slot = &mut self.long[hash7(cur)];
            let [newer, older] = *slot;
            *slot = [now, newer];
            if best.len < lv.nice {
                best.check_entry(input, newer, now, i, cur, max);
            }
            if best.len < lv.nice && lv.two_way {
                best.check_entry(input, older, now, i, cur, max);
            }
        }
        let h = hash4(cur);
        let v = self.short[h];
        self.short[h] = now;
        if best.len < lv.nice {
            best.check_entry(input, v, now, i, cur, max);
        }
        (best.len, best.dist)
    }

    /// Enters position `i` into the tables without searching.
    #[inline(always)]
    fn insert(&mut self, input: &[u8], i: usize, lv: Level) {
        let cur = load64(input, i);
        let now = self.base.wrapping_add(i as u32);
        if lv.long {
            let slot = &mut self.long[hash7(cur)];
            *slot = [now, slot[0]];
        }
        self.short[hash4(cur)] = now;
    }

    /// Pushes `input[from..to]` as literals, ending blocks as they fill.
    fn push_literals(&mut self, input: &[u8], mut from: usize, to: usize) {
        while from < to {
            let room = BLOCK_TOKENS - self.tokens.len();
            let upto = to.min(from + room);
            for &b in &input[from..upto] {
                self.lit_freq[b as usize] += 1;
                self.tokens.push(b as u32);
            }
            from = upto;
            if self.tokens.len() >= BLOCK_TOKENS {
                self.write_block(input, from, false);
            }
        }
    }

    /// Pushes a match of `len` bytes `dist` back, which ends at input position `end`.
    #[inline(always)]
    fn push_match(&mut self, input: &[u8], len: usize, dist: usize, end: usize) {
        debug_assert!((3..=MAX_MATCH).contains(&len) && (1..=WINDOW).contains(&dist));
        self.lit_freq[257 + LEN_CODE[len - 3] as usize] += 1;
        let dc = dist_code(dist - 1);
        self.dist_freq[dc] += 1;
        self.tokens
            .push(MATCH | (dc as u32) << 26 | (len as u32) << 16 | dist as u32);
        if self.tokens.len() >= BLOCK_TOKENS {
            self.write_block(input, end, false);
        }
    }

    /// Writes the current block (the tokens for `input[block_start..end]`) as the cheapest of
    /// dynamic, fixed or stored, then starts a new one.
    fn write_block(&mut self, input: &[u8], end: usize, last: bool) {
        self.lit_freq[256] += 1; // end of block
        let mut dynamic = Huffman::<LIT_SYMBOLS>::default();
        let mut dist = Huffman::<30>::default();
        dynamic.build(&self.lit_freq, 15);
        dist.build(&self.dist_freq, 15);
        let header = DynamicHeader::new(&dynamic.lens, &dist.lens);

        // Bits each choice takes (the extra bits of lengths and distances are the same for
        // dynamic and fixed blocks).
        let mut extra = 0u64;
        for (s, &f) in self.lit_freq[257..286].iter().enumerate() {
            extra += u64::from(f) * u64::from(LEN_EXTRA[s]);
        }
        for (s, &f) in self.dist_freq.iter().enumerate() {
            extra += u64::from(f) * u64::from(DIST_EXTRA[s]);
        }
        let cost = |freq: &[u32], lens: &dyn Fn(usize) -> u8| -> u64 {
            freq.iter()
                .enumerate()
                .map(|(s, &f)| u64::from(f) * u64::from(lens(s)))
                .sum()
        };
        let dynamic_bits = 3
            + header.bits()
            + cost(&self.lit_freq, &|s| dynamic.lens[s])
            + cost(&self.dist_freq, &|s| dist.lens[s])
            + extra;
        let fixed_bits =
            3 + cost(&self.lit_freq, &fixed_lit_len) + cost(&self.dist_freq, &|_| 5) + extra;
        let raw = &input[self.block_start..end];
        let chunks = raw.len().div_ceil(65535).max(1) as u64;
        let stored_bits = chunks * (3 + 7 + 32) + 8 * raw.len() as u64;

        if stored_bits <= dynamic_bits.min(fixed_bits) {
            self.write_stored(raw, last);
        } else if fixed_bits <= dynamic_bits {
            self.put(u32::from(last) | 1 << 1, 3);
            let (lit, dist) = fixed_codes();
            self.write_tokens(lit, dist);
        } else {
            self.put(u32::from(last) | 2 << 1, 3);
            header.write(self);
            dynamic.assign_codes();
            dist.assign_codes();
            self.write_tokens(&dynamic, &dist);
        }
        self.tokens.clear();
        self.lit_freq = [0; LIT_SYMBOLS];
        self.dist_freq = [0; 30];
        self.block_start = end;
    }

    /// Writes the block's tokens and its end with the codes given.
    fn write_tokens(&mut self, lit: &Huffman<LIT_SYMBOLS>, dist: &Huffman<30>) {
        // Per block, each symbol's code and bit count in one word (`code | bits << 16`), and
        // each length's code with its extra bits (`code | extra << code bits`, all bits).
        let mut lit_word = [0u32; 257];
        for (s, w) in lit_word.iter_mut().enumerate() {
            *w = u32::from(lit.codes[s]) | u32::from(lit.lens[s]) << 16;
        }
        let mut len_code = [(0u32, 0u32); 256];
        for (l, e) in len_code.iter_mut().enumerate() {
            let c = LEN_CODE[l] as usize;
            let s = 257 + c;
            let extra = (l + 3 - LEN_BASE[c] as usize) as u32;
            let code_bits = u32::from(lit.lens[s]);
            *e = (
                u32::from(lit.codes[s]) | extra << code_bits,
                code_bits + u32::from(LEN_EXTRA[c]),
            );
        }
        // Distance symbols: code, its bits, the first distance, its extra bits.
        let mut dist_word = [(0u32, 0u32, 0u32, 0u32); 32];
        for (c, w) in dist_word.iter_mut().take(30).enumerate() {
            *w = (
                u32::from(dist.codes[c]),
                u32::from(dist.lens[c]),
                u32::from(DIST_BASE[c]),
                u32::from(DIST_EXTRA[c]),
            );
        }
        let (bits, out) = (&mut self.bits, &mut self.out);
        for &t in &self.tokens {
            if t & MATCH == 0 {
                let w = lit_word[t as usize & 0xff];
                bits.put(out, w & 0xffff, w >> 16);
            } else {
                let (code, n) = len_code[((t >> 16) as usize).wrapping_sub(3) & 0xff];
                bits.put(out, code, n);
                let (code, code_bits, base, extra_bits) = dist_word[(t >> 26) as usize & 31];
                let extra = (t & 0xffff).wrapping_sub(base);
                bits.put(out, code | extra << code_bits, code_bits + extra_bits);
            }
        }
        let w = lit_word[256];
        bits.put(out, w & 0xffff, w >> 16);
    }

    /// Writes `raw` as stored blocks of at most 65 535 bytes (one, empty, if `raw` is).
    fn write_stored(&mut self, raw: &[u8], last: bool) {
        let mut chunks = raw.chunks(65535).peekable();
        if raw.is_empty() {
            self.put(u32::from(last), 3);
            self.align();
            self.out.extend_from_slice(&[0, 0, 0xff, 0xff]);
            return;
        }
        while let Some(chunk) = chunks.next() {
            let final_chunk = last && chunks.peek().is_none();
            self.put(u32::from(final_chunk), 3);
            self.align();
            let len = chunk.len() as u16;
            self.out.extend_from_slice(&len.to_le_bytes());
            self.out.extend_from_slice(&(!len).to_le_bytes());
            self.out.extend_from_slice(chunk);
        }
    }

    /// Appends the `n` (at most 32) low bits of `v` to the output, lowest first.
    #[inline(always)]
    fn put(&mut self, v: u32, n: u32) {
        self.bits.put(&mut self.out, v, n);
    }

    /// Pads the output with zero bits to a byte boundary.
    fn align(&mut self) {
        self.bits.align(&mut self.out);
    }
}

/// The longest match seen so far for one position.
struct Best {
    len: usize,
    dist: usize,
}

impl Best {
    /// Checks the table entry `v` (`base + position`) as a match for position `i`
    /// (`now = base + i`).
    #[inline(always)]
    fn check_entry(&mut self, input: &[u8], v: u32, now: u32, i: usize, cur: u64, max: usize) {
        // Entries of this input are at most `i` back; older inputs' (and the tables' initial
        // zeros) are more than a window back (see `Deflater::base`).
        let d = now.wrapping_sub(v) as usize;
        if d.wrapping_sub(1) < WINDOW && d != self.dist {
            self.check(input, i - d, i, cur, max);
        }
    }

    /// Checks earlier position `c` (within the window) as a match for position `i`, whose
    /// first 8 bytes are `cur`; at most `max` bytes.
    #[inline(always)]
    fn check(&mut self, input: &[u8], c: usize, i: usize, cur: u64, max: usize) {
        let x = load64(input, c) ^ cur;
        if x as u32 == 0 {
            let len = if x != 0 {
                (x.trailing_zeros() / 8) as usize
            } else {
                8 + match_len(input, c + 8, i + 8, max - 8)
            };
            let len = len.min(max);
            if len > self.len {
                self.len = len;
                self.dist = i - c;
            }
        }
    }
}

#[inline(always)]
fn load64(input: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(input[i..i + 8].try_into().expect("8 bytes"))
}

#[inline(always)]
fn hash4(x: u64) -> usize {
    ((x as u32).wrapping_mul(0x9E37_79B1) >> (32 - SHORT_BITS)) as usize
}

#[inline(always)]
fn hash7(x: u64) -> usize {
    ((x << 8).wrapping_mul(0xCF1B_BCDC_BB3E_F1B5) >> (64 - LONG_BITS)) as usize
}

/// How many bytes from `a` on equal those from `b` on (`a < b`), at most `max`
/// (`b + max <= input.len()`).
#[inline(always)]
fn match_len(input: &[u8], a: usize, b: usize, max: usize) -> usize {
    let mut l = 0;
    while l + 8 <= max {
        let x = load64(input, a + l) ^ load64(input, b + l);
        if x != 0 {
            return l + (x.trailing_zeros() / 8) as usize;
        }
        l += 8;
    }
    while l < max && input[a + l] == input[b + l] {
        l += 1;
    }
    l
}

/// Length symbols 257..=285 (as 0..=28): first length, extra bits.
const LEN_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEN_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
/// Distance symbols 0..=29: first distance, extra bits.
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

/// The length symbol (minus 257) of each length minus 3.
const LEN_CODE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut l = 0;
    while l < 256 {
        let mut s = 28;
        while LEN_BASE[s] as usize > l + 3 {
            s -= 1;
        }
        t[l] = s as u8;
        l += 1;
    }
    t
};

/// The distance symbol of a distance minus 1 (0..32768).
#[inline(always)]
fn dist_code(d: usize) -> usize {
    if d < 256 {
        DIST_CODE[d] as usize
    } else {
        DIST_CODE[256 + ((d >> 7) & 0xff)] as usize
    }
}

/// Distance symbols: of distances minus 1 below 256, then of distances minus 1 from 256 on,
/// by their bits above the lowest 7 (every symbol from 16 on starts at a multiple of 128).
const DIST_CODE: [u8; 512] = {
    let mut t = [0u8; 512];
    let mut i = 0;
    while i < 512 {
        let d = if i < 256 { i } else { (i - 256) << 7 };
        let mut s = 29;
        while DIST_BASE[s] as usize > d + 1 {
            s -= 1;
        }
        t[i] = s as u8;
        i += 1;
    }
    t
};

/// The fixed code's length of literal/length symbol `s`.
fn fixed_lit_len(s: usize) -> u8 {
    match s {
        0..=143 => 8,
        144..=255 => 9,
        256..=279 => 7,
        _ => 8,
    }
}

/// The fixed codes (RFC 1951 3.2.6), made once.
fn fixed_codes() -> (&'static Huffman<LIT_SYMBOLS>, &'static Huffman<30>) {
    use std::sync::OnceLock;
    static FIXED: OnceLock<(Huffman<LIT_SYMBOLS>, Huffman<30>)> = OnceLock::new();
    let (lit, dist) = FIXED.get_or_init(|| {
        let mut lit = Huffman::<LIT_SYMBOLS>::default();
        for (s, l) in lit.lens.iter_mut().enumerate() {
            *l = fixed_lit_len(s);
        }
        lit.assign_codes();
        let mut dist = Huffman::<30> {
            lens: [5; 30],
            ..Default::default()
        };
        dist.assign_codes();
        (lit, dist)
    });
    (lit, dist)
}

/// A canonical Huffman code over `N` symbols: lengths, and codes bit-reversed for an
/// LSB-first writer.
#[derive(Clone, Copy)]
struct Huffman<const N: usize> {
    lens: [u8; N],
    codes: [u16; N],
}

impl<const N: usize> Default for Huffman<N> {
    fn default() -> Self {
        Huffman {
            lens: [0; N],
            codes: [0; N],
        }
    }
}

impl<const N: usize> Huffman<N> {
    /// Sets `lens` to an optimal prefix code for `freq`, no code longer than `max` bits.
    /// At least two symbols get a code (symbols 0 and 1 stand in when fewer are used), so the
    /// code is always complete.
    fn build(&mut self, freq: &[u32; N], max: u8) {
        self.lens = [0; N];
        // (count << 9 | symbol), sorted by count: N <= 288 < 2^9, counts < 2^23.
        let mut sorted = [0u32; N];
        let mut n = 0;
        for (s, &f) in freq.iter().enumerate() {
            if f > 0 {
                sorted[n] = f.min((1 << 23) - 1) << 9 | s as u32;
                n += 1;
            }
        }
        let mut filler = 0;
        while n < 2 {
            // A symbol with no uses, given a code to make the code complete.
            if freq[filler] == 0 {
                sorted[n] = 1 << 9 | filler as u32;
                n += 1;
            }
            filler += 1;
        }
        let sorted = &mut sorted[..n];
        sorted.sort_unstable();
        let mut depth = [0u32; N];
        let depth = &mut depth[..n];
        for (d, s) in depth.iter_mut().zip(sorted.iter()) {
            *d = s >> 9;
        }
        minimum_redundancy(depth);
        // How many codes of each length (a code can be as long as n - 1 bits).
        let mut count = [0u32; 300];
        for &d in depth.iter() {
            count[d as usize] += 1;
        }
        limit_lengths(&mut count, usize::from(max));
        // Longest codes to the rarest symbols.
        let mut k = 0;
        for len in (1..=usize::from(max)).rev() {
            for _ in 0..count[len] {
                self.lens[(sorted[k] & 0x1ff) as usize] = len as u8;
                k += 1;
            }
        }
    }

    /// Sets `codes` from `lens` (the canonical code, RFC 1951 3.2.2), bit-reversed.
    fn assign_codes(&mut self) {
        let mut count = [0u16; 16];
        for &l in &self.lens {
            count[l as usize] += 1;
        }
        count[0] = 0;
        let mut next = [0u16; 16];
        let mut code = 0u16;
        for bits in 1..16 {
            code = (code + count[bits - 1]) << 1;
            next[bits] = code;
        }
        for (s, &l) in self.lens.iter().enumerate() {
            if l > 0 {
                let c = next[l as usize];
                next[l as usize] += 1;
                self.codes[s] = c.reverse_bits() >> (16 - l);
            }
        }
    }
}

/// Turns weights sorted ascending into Huffman code lengths, in place (Moffat and
/// Katajainen's in-place algorithm, 1995). `w.len() >= 2`.
fn minimum_redundancy(w: &mut [u32]) {
    let n = w.len();
    // Phase 1: combine, leaving each internal node's parent index.
    w[0] += w[1];
    let (mut root, mut leaf) = (0usize, 2usize);
    for next in 1..n - 1 {
        // First child.
        if leaf >= n || w[root] < w[leaf] {
            w[next] = w[root];
            w[root] = next as u32;
            root += 1;
        } else {
            w[next] = w[leaf];
            leaf += 1;
        }
        // Second child.
        if leaf >= n || (root < next && w[root] < w[leaf]) {
            w[next] += w[root];
            w[root] = next as u32;
            root += 1;
        } else {
            w[next] += w[leaf];
            leaf += 1;
        }
    }
    // Phase 2: internal node depths.
    w[n - 2] = 0;
    for next in (0..n - 2).rev() {
        w[next] = w[w[next] as usize] + 1;
    }
    // Phase 3: leaf depths.
    let (mut avail, mut used, mut depth) = (1i64, 0i64, 0u32);
    let mut root = n as isize - 2;
    let mut next = n as isize - 1;
    while avail > 0 {
        while root >= 0 && w[root as usize] == depth {
            used += 1;
            root -= 1;
        }
        while avail > used {
            w[next as usize] = depth;
            next -= 1;
            avail -= 1;
        }
        avail = 2 * used;
        depth += 1;
        used = 0;
    }
}

/// Given how many codes a complete prefix code has of each length, moves codes longer than
/// `max` up while keeping it complete (the adjustment of JPEG's Annex K.3: the two deepest
/// leaves become one leaf a level up and a shallower leaf's subtree gains them).
fn limit_lengths(count: &mut [u32; 300], max: usize) {
    for len in (max + 1..count.len()).rev() {
        while count[len] > 0 {
            let mut j = len - 2;
            while count[j] == 0 {
                j -= 1;
            }
            count[len] -= 2;
            count[len - 1] += 1;
            count[j + 1] += 2;
            count[j] -= 1;
        }
    }
}

/// The order code length code lengths are written in.
const CL_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// A dynamic block's header: the two codes' lengths, run-length coded, and the code for that.
struct DynamicHeader {
    hlit: usize,
    hdist: usize,
    hclen: usize,
    /// The run-length coded lengths: symbol (0..=18) and its extra bits' value.
    items: [(u8, u8); 286 + 30],
    n_items: usize,
    cl: Huffman<19>,
}

impl DynamicHeader {
    fn new(lit: &[u8; LIT_SYMBOLS], dist: &[u8; 30]) -> DynamicHeader {
        let hlit = 257 + lit[257..].iter().rposition(|&l| l > 0).map_or(0, |p| p + 1);
        let hdist = 1 + dist.iter().rposition(|&l| l > 0).unwrap_or(0);
        let mut all = [0u8; 286 + 30];
        all[..hlit].copy_from_slice(&lit[..hlit]);
        all[hlit..hlit + hdist].copy_from_slice(&dist[..hdist]);
        let all = &all[..hlit + hdist];
        let mut items = [(0u8, 0u8); 286 + 30];
        let mut n_items = 0;
        let mut freq = [0u32; 19];
        let mut push = |sym: u8, extra: u8| {
            items[n_items] = (sym, extra);
            n_items += 1;
            freq[sym as usize] += 1;
        };
        let mut i = 0;
        while i < all.len() {
            let l = all[i];
            let mut run = 1;
            while i + run < all.len() && all[i + run] == l {
                run += 1;
            }
            i += run;
            if l == 0 {
                while run >= 11 {
                    let r = run.min(138);
                    push(18, (r - 11) as u8);
                    run -= r;
                }
                if run >= 3 {
                    push(17, (run - 3) as u8);
                    run = 0;
                }
            } else {
                push(l, 0);
                run -= 1;
                while run >= 3 {
                    let r = run.min(6);
                    push(16, (r - 3) as u8);
                    run -= r;
                }
            }
            for _ in 0..run {
                push(l, 0);
            }
        }
        let mut cl = Huffman::<19>::default();
        cl.build(&freq, 7);
        cl.assign_codes();
        let hclen = 4.max(
            19 - CL_ORDER
                .iter()
                .rev()
                .take_while(|&&s| cl.lens[s] == 0)
                .count(),
        );
        DynamicHeader {
            hlit,
            hdist,
            hclen,
            items,
            n_items,
            cl,
        }
    }

    /// Bits the header takes (after the 3-bit block header).
    fn bits(&self) -> u64 {
        let mut bits = 5 + 5 + 4 + 3 * self.hclen as u64;
        for &(sym, _) in &self.items[..self.n_items] {
            bits += u64::from(self.cl.lens[sym as usize]) + u64::from(cl_extra_bits(sym));
        }
        bits
    }

    fn write(&self, d: &mut Deflater) {
        d.put((self.hlit - 257) as u32, 5);
        d.put((self.hdist - 1) as u32, 5);
        d.put((self.hclen - 4) as u32, 4);
        for &s in &CL_ORDER[..self.hclen] {
            d.put(u32::from(self.cl.lens[s]), 3);
        }
        for &(sym, extra) in &self.items[..self.n_items] {
            let s = sym as usize;
            d.put(u32::from(self.cl.codes[s]), u32::from(self.cl.lens[s]));
            d.put(u32::from(extra), cl_extra_bits(sym));
        }
    }
}

/// Extra bits after code length symbol `sym`.
fn cl_extra_bits(sym: u8) -> u32 {
    match sym {
        16 => 2,
        17 => 3,
        18 => 7,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .expect("valid gzip");
        out
    }

    fn compress(level: u32, input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        gzip(level, input, &mut out);
        out
    }

    /// Deterministic noise.
    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut rng = crate::rng::Rng::new(seed);
        (0..n).map(|_| rng.next_u64() as u8).collect()
    }

    /// JSON-like records with repeated field names and varying values.
    fn records(n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut i = 0u64;
        while out.len() < n {
            out.extend_from_slice(
                format!(
                    "{{\"id\":{i},\"user\":\"user-{}\",\"amount\":{}.{:02},\"tags\":[\"a{}\",\"b\"]}}\n",
                    i * 7919 % 1000,
                    i * 31 % 997,
                    i % 100,
                    i % 13
                )
                .as_bytes(),
            );
            i += 1;
        }
        out.truncate(n);
        out
    }

    fn inputs() -> Vec<(String, Vec<u8>)> {
        let mut v = vec![
            ("empty".to_string(), Vec::new()),
            ("one byte".into(), vec![7]),
            ("fifteen".into(), b"abcabcabcabcabc".to_vec()),
            ("zeros 1 MiB".into(), vec![0; 1 << 20]),
            ("noise 200 KiB".into(), noise(200 << 10, 1)),
            ("records 16 KiB".into(), records(16 << 10)),
            ("records 1 MiB".into(), records(1 << 20)),
        ];
        // Runs of every length around the match limits, and text mixed with noise.
        let mut runs = Vec::new();
        for len in 1..300 {
            runs.extend(std::iter::repeat((len % 251) as u8).take(len));
            runs.extend_from_slice(&noise(len % 17, len as u64));
        }
        v.push(("runs".into(), runs));
        let mut mixed = records(40 << 10);
        mixed.extend(noise(40 << 10, 9));
        mixed.extend(records(40 << 10));
        v.push(("records, noise, records".into(), mixed));
        v
    }

    #[test]
    fn every_level_reads_back_with_flate2() {
        for (name, input) in inputs() {
            for level in 1..=6 {
                let z = compress(level, &input);
                assert_eq!(gunzip(&z), input, "{name}, level {level}");
                // The member's trailer: CRC-32 and size.
                let n = z.len();
                assert_eq!(z[n - 8..n - 4], crc32fast::hash(&input).to_le_bytes());
                assert_eq!(z[n - 4..], (input.len() as u32).to_le_bytes());
            }
        }
    }

    #[test]
    fn random_mixes_of_copies_and_noise_read_back() {
        // Inputs built from pieces of earlier text (at every distance up to past the window)
        // and noise, of every size class, at every level.
        let mut rng = crate::rng::Rng::new(0x9E37_79B9_7F4A_7C15);
        let mut next = move |n: u64| rng.below(n);
        for case in 0..120 {
            let target = [5, 17, 300, 4000, 40_000, 140_000][case % 6] + next(50) as usize;
            let mut input = noise(8, case as u64 + 1);
            while input.len() < target {
                if next(3) == 0 {
                    input.extend(noise(1 + next(40) as usize, next(1 << 30)));
                } else {
                    let back = 1 + next(input.len().min(40_000) as u64) as usize;
                    let len = 3 + next(300) as usize;
                    let from = input.len() - back;
                    for k in 0..len {
                        input.push(input[from + k]);
                    }
                }
            }
            input.truncate(target);
            let level = 1 + (case % 6) as u32;
            assert_eq!(
                gunzip(&compress(level, &input)),
                input,
                "case {case}, level {level}"
            );
        }
    }

    #[test]
    fn compresses_what_repeats_and_barely_grows_noise() {
        let text = records(16 << 10);
        let z6 = compress(6, &text).len();
        let z1 = compress(1, &text).len();
        assert!(z6 * 3 < text.len(), "level 6: {z6} bytes");
        assert!(z6 <= z1, "level 6 {z6} bytes, level 1 {z1}");
        let zeros = compress(6, &vec![0; 1 << 20]).len();
        assert!(zeros < 4096, "1 MiB of zeros: {zeros} bytes");
        // Noise goes into stored blocks: 5 bytes per block of BLOCK_TOKENS literals, plus
        // the gzip header and trailer (18 bytes).
        let noisy = noise(200 << 10, 3);
        let z = compress(6, &noisy).len();
        let blocks = noisy.len().div_ceil(BLOCK_TOKENS);
        assert!(z <= noisy.len() + 5 * blocks + 18, "noise: {z} bytes");
    }

    #[test]
    fn output_does_not_depend_on_earlier_inputs() {
        // The tables keep positions of earlier inputs; they must never be matched.
        let a = records(50 << 10);
        let b = records(30 << 10);
        let mut fresh = Deflater::new();
        fresh.gzip(6, &b);
        compress(6, &a);
        compress(3, &a);
        assert_eq!(compress(6, &b), fresh.out);
    }

    #[test]
    fn stored_blocks_split_at_65535_bytes_and_read_back() {
        // A block whose bytes are stored is cut into stored blocks of at most 65 535 bytes
        // (rare: a block holds at most BLOCK_TOKENS tokens), and an empty final one is valid.
        for (len, last) in [
            (150_000usize, true),
            (65_535, true),
            (65_536, false),
            (0, true),
        ] {
            let raw = noise(len, len as u64);
            let mut d = Deflater::new();
            d.write_stored(&raw, last);
            if !last {
                d.put(0b011, 3); // a final, empty fixed block: BFINAL, BTYPE 01, end of block
                d.put(0, 7);
            }
            d.align();
            let mut back = Vec::new();
            flate2::read::DeflateDecoder::new(&d.out[..])
                .read_to_end(&mut back)
                .expect("valid deflate");
            assert_eq!(back, raw, "{len} bytes");
            assert_eq!(
                d.out.len(),
                len + 5 * len.div_ceil(65535).max(1) + usize::from(!last) * 2
            );
        }
    }

    #[test]
    fn tables_start_afresh_when_positions_would_overflow() {
        let input = records(20 << 10);
        let fresh = compress(5, &input);
        let mut d = Deflater::new();
        d.base = u32::MAX - 1000;
        d.gzip(5, &input);
        assert_eq!(d.out, fresh);
        assert_eq!(d.base, FIRST_BASE + input.len() as u32 + WINDOW as u32 + 1);
        // And a second input right after still reads back.
        d.gzip(5, &input);
        assert_eq!(gunzip(&d.out), input);
    }

    #[test]
    fn huffman_lengths_are_complete_and_limited() {
        // Fibonacci counts make the unlimited code as deep as it can be.
        let mut freq = [0u32; LIT_SYMBOLS];
        let (mut a, mut b) = (1u32, 1u32);
        for f in freq.iter_mut().take(30) {
            *f = a;
            (a, b) = (b, a + b);
        }
        freq[200] = 1;
        for max in [7u8, 9, 15] {
            let mut h = Huffman::<LIT_SYMBOLS>::default();
            h.build(&freq, max);
            let mut kraft = 0u64;
            for (s, &l) in h.lens.iter().enumerate() {
                assert_eq!(l > 0, freq[s] > 0, "symbol {s}");
                assert!(l <= max);
                if l > 0 {
                    kraft += 1 << (max - l);
                }
            }
            assert_eq!(kraft, 1 << max, "complete at max {max}");
        }
        // One symbol used: two codes of one bit.
        let mut one = [0u32; 30];
        one[5] = 9;
        let mut h = Huffman::<30>::default();
        h.build(&one, 15);
        assert_eq!((h.lens[0], h.lens[5]), (1, 1));
        assert_eq!(h.lens.iter().filter(|&&l| l > 0).count(), 2);
    }

    #[test]
    fn skewed_data_with_deep_codes_reads_back() {
        // Byte k appears about 1.6^k times: a code deeper than 15 bits without the limit.
        let mut data = Vec::new();
        let mut reps = 1.0f64;
        for k in 0..40u8 {
            for j in 0..reps as usize {
                data.push(k);
                if j % 3 == 0 {
                    data.push(255 - k);
                }
            }
            reps *= 1.6;
        }
        let shuffled: Vec<u8> = {
            let order = noise(data.len() * 4, 5);
            let mut v = data.clone();
            for i in (1..v.len()).rev() {
                let j = u32::from_le_bytes(order[4 * i..4 * i + 4].try_into().unwrap()) as usize
                    % (i + 1);
                v.swap(i, j);
            }
            v
        };
        for level in 1..=6 {
            assert_eq!(
                gunzip(&compress(level, &shuffled)),
                shuffled,
                "level {level}"
            );
        }
    }

    #[test]
    fn symbol_tables_match_rfc_1951() {
        for len in 3..=258usize {
            let c = LEN_CODE[len - 3] as usize;
            let span = 1usize << LEN_EXTRA[c];
            assert!(LEN_BASE[c] as usize <= len && len < LEN_BASE[c] as usize + span || len == 258);
        }
        assert_eq!(LEN_CODE[258 - 3], 28);
        assert_eq!(LEN_CODE[257 - 3], 27);
        for d in 1..=WINDOW {
            let c = dist_code(d - 1);
            let span = 1usize << DIST_EXTRA[c];
            assert!(
                DIST_BASE[c] as usize <= d && d < DIST_BASE[c] as usize + span,
                "{d}"
            );
        }
    }
}
