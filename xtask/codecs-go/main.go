// Command codecs-go times the compression codecs of the Go Kafka clients (franz-go and Sarama
// both use klauspost/compress for zstd and gzip, pierrec/lz4 for lz4; Sarama's gzip default is
// klauspost's gzip, franz-go's too) on the very bytes odradek's codecs bench compresses, so
// `cargo xtask codecs` can put the two side by side.
//
// Usage: codecs-go CASE ROUNDS FILE
//
// CASE is gzip-LEVEL, zstd-LEVEL, lz4 or snappy, as in core/benches/codecs.rs; FILE is the
// records section written by that bench (ODRADEK_CODEC_INPUT). It compresses FILE ROUNDS times,
// one batch at a time on one goroutine, and prints one line: the case, the rounds, the input and
// the output size. Time it from outside (CPU time of the process, as for the Rust side).
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: codecs-go CASE ROUNDS FILE")
		os.Exit(2)
	}
	name := os.Args[1]
	rounds, err := strconv.Atoi(os.Args[2])
	if err != nil || rounds < 1 {
		fail("ROUNDS must be a positive whole number: %q", os.Args[2])
	}
	input, err := os.ReadFile(os.Args[3])
	if err != nil {
		fail("%v", err)
	}
	compress := codec(name)
	var out []byte
	for i := 0; i < rounds; i++ {
		out = compress(input, out[:0])
	}
	fmt.Printf("go %s: %d x %d bytes -> %d bytes\n", name, rounds, len(input), len(out))
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "codecs-go: "+format+"\n", args...)
	os.Exit(1)
}

// codec returns a function that compresses one batch into dst, reusing the encoder state the
// way the clients do (one long-lived encoder or writer, reset per batch).
func codec(name string) func(src, dst []byte) []byte {
	kind, levelText, _ := strings.Cut(name, "-")
	level, err := strconv.Atoi(levelText)
	if levelText != "" && err != nil {
		fail("case %q: the level must be a number", name)
	}
	switch kind {
	case "gzip":
		var buf bytes.Buffer
		w, err := gzip.NewWriterLevel(&buf, level)
		if err != nil {
			fail("%v", err)
		}
		return streamed(w, &buf)
	case "zstd":
		// klauspost maps zstd's levels onto its four speeds (3, zstd's default, is
		// SpeedDefault). One goroutine, as a client compressing one batch at a time.
		enc, err := zstd.NewWriter(nil,
			zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
			zstd.WithEncoderConcurrency(1))
		if err != nil {
			fail("%v", err)
		}
		return func(src, dst []byte) []byte { return enc.EncodeAll(src, dst) }
	case "lz4":
		// Kafka's lz4: the LZ4 frame format, 64 KiB independent blocks, fast compressor.
		var buf bytes.Buffer
		w := lz4.NewWriter(&buf)
		if err := w.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ConcurrencyOption(1)); err != nil {
			fail("%v", err)
		}
		return streamed(w, &buf)
	case "snappy":
		// Raw snappy block (franz-go's encoding; Sarama adds xerial framing only for old brokers).
		return func(src, dst []byte) []byte {
			n := s2.MaxEncodedLen(len(src))
			if cap(dst) < n {
				dst = make([]byte, n)
			}
			return s2.EncodeSnappy(dst[:n], src)
		}
	default:
		fail("case %q: gzip-LEVEL, zstd-LEVEL, lz4 or snappy", name)
		return nil
	}
}

// resetWriter is a compressing writer that can start a new stream (gzip's and lz4's).
type resetWriter interface {
	io.WriteCloser
	Reset(io.Writer)
}

// streamed compresses each batch as one whole stream of w into buf, then appends it to dst.
func streamed(w resetWriter, buf *bytes.Buffer) func(src, dst []byte) []byte {
	return func(src, dst []byte) []byte {
		buf.Reset()
		w.Reset(buf)
		if _, err := w.Write(src); err != nil {
			fail("%v", err)
		}
		if err := w.Close(); err != nil {
			fail("%v", err)
		}
		return append(dst, buf.Bytes()...)
	}
}
