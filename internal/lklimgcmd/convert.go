package lklimgcmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/lklimg/lklimg/format/qcow2"
	"github.com/lklimg/lklimg/format/sparse"
	"github.com/lklimg/lklimg/internal/cliflags"
	"github.com/lklimg/lklimg/internal/devfile"
	"github.com/lklimg/lklimg/internal/progress"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// convertOptions are `lklimg convert`'s flags.
type convertOptions struct {
	format, output string
	compress       bool
	options        string // -o: compression_type=zlib|zstd
	quiet          bool
	memoryMB       int
}

// convertCommand is `lklimg convert SRC DST`: the disk of an image in
// any format the kernel reads, written as qemu-img convert writes it: a
// raw file of the disk's size whose runs of zeros are holes, a qcow2
// image (compressed with -c), or, as img2simg, an Android sparse image.
func convertCommand(stdout, stderr io.Writer, status *int) *cli.Command {
	var o convertOptions
	return &cli.Command{
		Name:      "convert",
		Usage:     "write the disk of an image (raw, qcow2, vmdk, vpc, vhdx, android-sparse) as a raw, qcow2 or Android sparse image, as qemu-img convert",
		ArgsUsage: "SRC DST",
		Description: "The disk is read through the kernel's /dev/vda (its format probed, or -f); DST is written as a sparse\n" +
			"raw file (runs of zeros of 4 KiB or more left as holes); with -O qcow2 as a qcow2 image (version 3,\n" +
			"64 KiB clusters, clusters of zeros unallocated; -c compresses each cluster that shrinks, with deflate\n" +
			"as qemu-img convert -c, or zstd with -o compression_type=zstd, on every core); with -O android-sparse\n" +
			"as img2simg writes one (4 KiB blocks: runs of one repeated 32-bit value as fill chunks, the rest raw).\n" +
			"DST is replaced if it exists. A progress bar is drawn when stderr is a terminal (-q: none).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "image-format", Aliases: []string{"f"}, Usage: "SRC's `FORMAT`; probed when not given", Destination: &o.format},
			&cli.StringFlag{Name: "output-format", Aliases: []string{"O"}, Value: "raw", Usage: "DST's `FORMAT`: raw, qcow2 or android-sparse", Destination: &o.output},
			&cli.BoolFlag{Name: "compress", Aliases: []string{"c"}, Usage: "compress DST's clusters (qcow2)", Destination: &o.compress},
			&cli.StringFlag{Name: "options", Aliases: []string{"o"}, Usage: "DST's `OPTIONS`: compression_type=zlib (deflate, the default) or zstd", Destination: &o.options},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar", Destination: &o.quiet},
			&cli.IntFlag{Name: "mb", Aliases: []string{"m"}, Value: kernel.DefaultMemory >> 20, Usage: "the kernel's memory in `MiB`", Destination: &o.memoryMB},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return errors.New("usage: lklimg convert [options] SRC DST")
			}
			(&cliflags.Disk{MemoryMB: o.memoryMB}).LimitHeap(os.Getenv)
			err := convert(c.Args().Get(0), c.Args().Get(1), o, stderr)
			if err != nil {
				*status = exitFail
			}
			return err
		},
	}
}

// convertChunk is how much of the disk one read moves; holes are found
// per holeUnit inside it.
const (
	convertChunk = 1 << 20
	holeUnit     = 4096
)

// output is where convert writes the disk, a chunk at a time in order:
// write the chunk's bytes, or zeros for a chunk with no data (skipped
// unread).
type output struct {
	write  func(b []byte, off int64) error
	zeros  func(n int64) error
	finish func() error
}

// outputFor checks the options and returns how DST is written.
func outputFor(out *os.File, size int64, o convertOptions) (output, error) {
	compression, err := o.check()
	if err != nil {
		return output{}, err
	}
	switch o.output {
	case "raw":
		return rawOutput(out, size), nil
	case "qcow2":
		wo := qcow2.WriterOptions{}
		if o.compress {
			wo.Compression = compression
		}
		q, err := qcow2.NewWriter(out, uint64(size), wo)
		if err != nil {
			return output{}, err
		}
		return output{write: func(b []byte, _ int64) error { return q.WriteClusters(b) }, zeros: q.Zeros, finish: q.Close}, nil
	default: // android-sparse: check knows no other
		s := sparse.NewWriter(out)
		return output{
			write: func(b []byte, _ int64) error { _, err := s.Write(b); return err },
			zeros: s.Zeros,
			finish: func() error {
				n, err := s.Close()
				if err == nil {
					err = out.Truncate(n)
				}
				return err
			},
		}, nil
	}
}

// check checks the output's options and returns -o's compression type
// (deflate unless zstd is asked for).
func (o convertOptions) check() (compression string, err error) {
	if !slices.Contains(outputFormats, o.output) {
		return "", fmt.Errorf("-O %s: the formats written are raw, qcow2 and android-sparse", o.output)
	}
	compression = "deflate"
	for _, kv := range strings.Split(o.options, ",") {
		switch kv {
		case "", "compression_type=zlib", "compression_type=deflate":
		case "compression_type=zstd":
			compression = "zstd"
		default:
			return "", fmt.Errorf("-o %s: the options are compression_type=zlib or zstd", kv)
		}
	}
	if (o.compress || o.options != "") && o.output != "qcow2" {
		return "", fmt.Errorf("-c and -o are for -O qcow2")
	}
	return compression, nil
}

// convert copies the disk of src to a new file dst in o.output's format.
func convert(src, dst string, o convertOptions, stderr io.Writer) error {
	if _, err := o.check(); err != nil {
		return err // the options, before anything is opened
	}
	d, err := bootDisk(src, o.memoryMB, nil, nil, 0, kernel.DiskOptions{ReadOnly: true, Format: o.format})
	if err != nil {
		return err
	}
	defer d.halt()
	in, err := devfile.Open(d.k, d.disk, abi.O_RDONLY)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	defer in.Close()
	return copyDisk(in, src, dst, o, stderr)
}

// diskReader is a disk convert reads: the kernel's device (devfile.File),
// or a raw image file of the host's (hostRaw).
type diskReader interface {
	Size() int64
	ReadAt(p []byte, off int64) (int, error)
	NextData(off int64) (start, end int64, err error)
}

// copyDisk writes the disk of in (src names it in errors) to a new file
// dst in o.output's format.
func copyDisk(in diskReader, src, dst string, o convertOptions, stderr io.Writer) error {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("%s: cannot create the output: %w", dst, unwrapPathErr(err))
	}
	size := in.Size()
	w, err := outputFor(out, size, o)
	if err != nil {
		out.Close()
		return fmt.Errorf("%s: %w", dst, err)
	}
	var bar *progress.Bar
	if !o.quiet {
		bar = progress.OnTerminal(stderr, func() int64 { return size })
	}
	if bar != nil {
		bar.Start()
		defer bar.Stop()
	}
	if s, ok := in.(diskSender); ok && o.output == "raw" {
		if err := sendDisk(s, in, out, src, dst, bar); err != nil {
			out.Close()
			return err
		}
		if err := out.Truncate(size); err != nil {
			out.Close()
			return fmt.Errorf("%s: %w", dst, unwrapPathErr(err))
		}
		if err := out.Close(); err != nil {
			return fmt.Errorf("%s: %w", dst, unwrapPathErr(err))
		}
		return nil
	}
	chunks, stop := readChunks(in, src)
	defer stop()
	for c := range chunks {
		switch {
		case c.err != nil:
			out.Close()
			return c.err
		case c.b == nil:
			err = w.zeros(c.n)
		default:
			err = w.write(c.b, c.off)
		}
		if err != nil {
			out.Close()
			return fmt.Errorf("%s: %w", dst, unwrapPathErr(err))
		}
		c.done()
		if bar != nil {
			bar.Add(c.n)
		}
	}
	if err := w.finish(); err != nil {
		out.Close()
		return fmt.Errorf("%s: %w", dst, unwrapPathErr(err))
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("%s: %w", dst, unwrapPathErr(err))
	}
	return nil
}

// diskSender is a disk that can send its bytes to a host file
// (devfile.File.SendTo: sendfile(2) on the device).
type diskSender interface {
	SendTo(out abi.HostFile, off, n int64) (int64, error)
}

// sendDisk writes a raw image: each run of the disk's data (NextData) is
// sent by the kernel from the image to out at the same offset, where the
// image holds it as it is; what it does not (a compressed or made
// cluster) is read and written, a chunk at a time, its zeros left as
// holes. The holes between runs are never read.
func sendDisk(s diskSender, in diskReader, out *os.File, src, dst string, bar *progress.Bar) error {
	size := in.Size()
	buf := make([]byte, convertChunk)
	raw := rawOutput(out, size)
	for off := int64(0); off < size; {
		start, end, err := in.NextData(off)
		if err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		if bar != nil {
			bar.Add(start - off)
		}
		for p := start; p < end; {
			if _, err := out.Seek(p, io.SeekStart); err != nil {
				return fmt.Errorf("%s: %w", dst, unwrapPathErr(err))
			}
			k, err := s.SendTo(out, p, end-p)
			var we *abi.HostWriteError
			switch {
			case errors.As(err, &we):
				return fmt.Errorf("%s: %w", dst, unwrapPathErr(we.Err))
			case err != nil && !errors.Is(err, abi.EOPNOTSUPP):
				return fmt.Errorf("%s: reading the disk at %d: %w", src, p, err)
			}
			if k == 0 {
				// Not held as is here: a chunk read and written.
				k = min(convertChunk, end-p)
				if _, err := in.ReadAt(buf[:k], p); err != nil {
					return fmt.Errorf("%s: reading the disk at %d: %w", src, p, err)
				}
				if err := raw.write(buf[:k], p); err != nil {
					return fmt.Errorf("%s: %w", dst, unwrapPathErr(err))
				}
			}
			p += k
			if bar != nil {
				bar.Add(k)
			}
		}
		off = end
	}
	return nil
}

// chunk is a piece of the disk read for convert: its bytes (b, nil for a
// chunk of zeros not read), or why it could not be read.
type chunk struct {
	off, n int64
	b      []byte
	err    error
	done   func() // gives b back, once written
}

// convertBuffers is how many chunks may be read ahead of the output.
const convertBuffers = 4

// readChunks reads the disk of in, a convertChunk at a time in order, on
// a goroutine of its own so that reading overlaps writing. The chunks
// with no data in them (the holes the kernel finds in a read-only disk's
// image: SEEK_DATA) are not read, as qemu-img convert skips what its
// block status says is unallocated. stop ends the reading early.
func readChunks(in diskReader, src string) (<-chan chunk, func()) {
	out := make(chan chunk, convertBuffers)
	free := make(chan []byte, convertBuffers)
	for range convertBuffers {
		free <- make([]byte, convertChunk)
	}
	quit := make(chan struct{})
	go func() {
		defer close(out)
		size := in.Size()
		var dataStart, dataEnd int64 = 0, -1
		for off := int64(0); off < size; {
			n := min(convertChunk, size-off)
			c := chunk{off: off, n: n, done: func() {}}
			if dataEnd <= off {
				var err error
				if dataStart, dataEnd, err = in.NextData(off); err != nil {
					c.err = fmt.Errorf("%s: %w", src, err)
				}
			}
			if c.err == nil && dataStart < off+n {
				var b []byte
				select {
				case b = <-free:
				case <-quit:
					return
				}
				if _, err := in.ReadAt(b[:n], off); err != nil {
					c.err = fmt.Errorf("%s: reading the disk at %d: %w", src, off, err)
				}
				c.b, c.done = b[:n], func() { free <- b }
			}
			select {
			case out <- c:
			case <-quit:
				return
			}
			if c.err != nil {
				return
			}
			off += n
		}
	}()
	var once sync.Once
	return out, func() {
		once.Do(func() {
			close(quit)
			for range out {
			}
		})
	}
}

// rawOutput writes a raw image: the runs of a chunk that are not all
// zeros (holeUnit at a time), the rest left as holes; finish sets the
// file's size.
func rawOutput(out *os.File, size int64) output {
	write := func(b []byte, off int64) error {
		n := int64(len(b))
		for i := int64(0); i < n; {
			j := i
			for j < n && allZero(b[j:min(j+holeUnit, n)]) {
				j = min(j+holeUnit, n)
			}
			k := j
			for k < n && !allZero(b[k:min(k+holeUnit, n)]) {
				k = min(k+holeUnit, n)
			}
			if k > j {
				if _, err := out.WriteAt(b[j:k], off+j); err != nil {
					return err
				}
			}
			i = k
		}
		return nil
	}
	return output{write: write, zeros: func(int64) error { return nil }, finish: func() error { return out.Truncate(size) }}
}
