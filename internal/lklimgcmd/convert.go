package lklimgcmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

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
			(&cliflags.Disk{MemoryMB: o.memoryMB}).LimitHeap(os.Getenv, false)
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

// output is where convert writes the disk, a chunk at a time in order.
type output struct {
	write  func(b []byte, off int64) error
	finish func() error
}

// outputFor checks the options and returns how DST is written.
func outputFor(out *os.File, size int64, o convertOptions) (output, error) {
	compression := "deflate"
	for _, kv := range strings.Split(o.options, ",") {
		switch kv {
		case "", "compression_type=zlib", "compression_type=deflate":
		case "compression_type=zstd":
			compression = "zstd"
		default:
			return output{}, fmt.Errorf("-o %s: the options are compression_type=zlib or zstd", kv)
		}
	}
	if (o.compress || o.options != "") && o.output != "qcow2" {
		return output{}, fmt.Errorf("-c and -o are for -O qcow2")
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
		return output{write: func(b []byte, _ int64) error { return q.WriteClusters(b) }, finish: q.Close}, nil
	case "android-sparse":
		s := sparse.NewWriter(out)
		return output{
			write: func(b []byte, _ int64) error { _, err := s.Write(b); return err },
			finish: func() error {
				n, err := s.Close()
				if err == nil {
					err = out.Truncate(n)
				}
				return err
			},
		}, nil
	}
	return output{}, fmt.Errorf("-O %s: the formats written are raw, qcow2 and android-sparse", o.output)
}

// convert copies the disk of src to a new file dst in o.output's format.
func convert(src, dst string, o convertOptions, stderr io.Writer) error {
	if _, err := outputFor(nil, 0, o); err != nil {
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
	buf := make([]byte, convertChunk)
	for off := int64(0); off < size; {
		n := min(int64(len(buf)), size-off)
		if _, err := in.ReadAt(buf[:n], off); err != nil {
			out.Close()
			return fmt.Errorf("%s: reading the disk at %d: %w", src, off, err)
		}
		if err := w.write(buf[:n], off); err != nil {
			out.Close()
			return fmt.Errorf("%s: %w", dst, unwrapPathErr(err))
		}
		off += n
		if bar != nil {
			bar.Add(n)
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
	return output{write: write, finish: func() error { return out.Truncate(size) }}
}
