// Package compress wraps a stream in gzip, zstd or xz compression, and
// unwraps one by its magic number: fs2tar writes compressed archives with
// it, and tar2fs reads them (bzip2 too, which is read only: Go's
// compress/bzip2 has no writer).
//
// Output is reproducible: the same input gives the same bytes whatever the
// number of cores, as reproducible archives need. So:
//
//   - gzip (RFC 1952) is written by klauspost/pgzip in independent blocks
//     of BlockSize, each compressed on its own goroutine with the previous
//     block's tail as its dictionary; block boundaries depend on the input
//     only. The header holds no name, MTIME 0 (RFC 1952 section 2.3.1: "no
//     time stamp is available") and OS 255 (unknown), as `gzip -n` would.
//   - zstd (RFC 8878) is written by klauspost/compress/zstd in job mode
//     (WithConcurrentBlocks): the input is cut into jobs of a size fixed by
//     the window (ZstdWindow), each compressed with the previous job's end as prefix, so
//     again only the input decides the bytes. The frame has a checksum.
//   - xz is written by ulikunitz/xz, on one core (the format's blocks could
//     be parallel, but no pure-Go encoder does it); its output is a
//     function of the input.
package compress

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	"github.com/ulikunitz/xz"
)

// Method is a compression format.
type Method string

// The methods, named as their command-line tools are.
const (
	None Method = ""
	Gzip Method = "gzip"
	Zstd Method = "zstd"
	Xz   Method = "xz"
	// Bzip2 is read only (NewReader); NewWriter refuses it.
	Bzip2 Method = "bzip2"
)

// BlockSize is the size of the input blocks gzip compresses in parallel:
// large enough that the loss to block boundaries is negligible (each block
// starts with the previous 32 KiB as dictionary anyway).
const BlockSize = 1 << 20

// FromSuffix returns the method that the name of an output file asks for
// (".tar.gz", ".tgz", ".tar.zst", ".tzst", ".tar.xz", ".txz"), or None.
func FromSuffix(name string) Method {
	lower := strings.ToLower(name)
	has := func(suffixes ...string) bool {
		for _, s := range suffixes {
			if strings.HasSuffix(lower, s) {
				return true
			}
		}
		return false
	}
	// The suffixes GNU tar's -a (--auto-compress) knows for these.
	switch {
	case has(".tar.gz", ".tgz", ".taz"):
		return Gzip
	case has(".tar.zst", ".tzst"):
		return Zstd
	case has(".tar.xz", ".txz"):
		return Xz
	}
	return None
}

// ZstdWindow is zstd's window, as `zstd -3` has it (windowLog 21). Job
// mode cuts the input into jobs of four windows: the memory the encoder
// holds is a few times Workers jobs.
const ZstdWindow = 2 << 20

// Options tunes a Writer.
type Options struct {
	// Workers is how many blocks are compressed at once (gzip, zstd);
	// zero means runtime.GOMAXPROCS(0). It changes the speed, never the
	// output.
	Workers int
}

// NewWriter returns a writer that compresses what is written to it with
// m and writes the result to w. Close ends the compressed stream (it
// does not close w); None returns a writer whose Close does nothing.
func NewWriter(w io.Writer, m Method, opts Options) (io.WriteCloser, error) {
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	switch m {
	case None:
		return nopCloser{w}, nil
	case Gzip:
		z, err := pgzip.NewWriterLevel(w, pgzip.DefaultCompression)
		if err != nil {
			return nil, err
		}
		if err := z.SetConcurrency(BlockSize, workers); err != nil {
			return nil, err
		}
		// pgzip writes uint32(ModTime.Unix()), which is not 0 for the
		// zero time.Time: the epoch is what makes MTIME 0.
		z.ModTime = time.Unix(0, 0)
		return z, nil
	case Zstd:
		// One worker would switch zstd to its streaming mode, whose
		// output differs from job mode's: keep job mode always, so that
		// a one-core machine writes the same bytes.
		return zstd.NewWriter(w,
			zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithWindowSize(ZstdWindow),
			zstd.WithEncoderConcurrency(max(workers, 2)),
			zstd.WithConcurrentBlocks(true),
			zstd.WithEncoderCRC(true))
	case Xz:
		return xz.WriterConfig{CheckSum: xz.CRC64}.NewWriter(w)
	}
	return nil, fmt.Errorf("unknown compression %q", string(m))
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// Detect returns the method whose magic number head starts with, or None:
// RFC 1952 section 2.3.1 (gzip), RFC 8878 section 3.1.1 (zstd), the xz
// file format section 2.1.1.1, and bzip2's stream header: "BZh" and the
// block size, a digit 1 to 9.
func Detect(head []byte) Method {
	switch {
	case len(head) >= 4 && bytes.HasPrefix(head, []byte("BZh")) && head[3] >= '1' && head[3] <= '9':
		return Bzip2
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return Gzip
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return Zstd
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return Xz
	}
	return None
}

// NewReader returns a reader of r's content, decompressed by the method
// its first bytes name (uncompressed input is returned as it is), and that
// method. Close releases the decoder (it does not close r). xz and bzip2,
// whose decoders run on one core, are decoded ahead on a goroutine of
// their own (ReadAhead); gzip's and zstd's decoders read ahead themselves.
// Uncompressed input is read in large reads (ReadAheadSize) on the
// consumer's goroutine: archive.Import reads the archive on one of its
// own, and a read-ahead goroutine would only add a copy of every byte.
func NewReader(r io.Reader) (io.ReadCloser, Method, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(6)
	if err != nil && err != io.EOF {
		return nil, None, err
	}
	m := Detect(head)
	switch m {
	case Gzip:
		z, err := pgzip.NewReader(br)
		if err != nil {
			return nil, m, err
		}
		return z, m, nil
	case Zstd:
		z, err := zstd.NewReader(br)
		if err != nil {
			return nil, m, err
		}
		return z.IOReadCloser(), m, nil
	case Xz:
		z, err := xz.NewReader(br)
		if err != nil {
			return nil, m, err
		}
		return ReadAhead(z), m, nil
	case Bzip2:
		return ReadAhead(bzip2.NewReader(br)), m, nil
	}
	return io.NopCloser(bufio.NewReaderSize(br, ReadAheadSize)), None, nil
}
