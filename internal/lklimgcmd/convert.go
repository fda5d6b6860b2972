package lklimgcmd

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/lklimg/lklimg/format/qcow2"
	"github.com/lklimg/lklimg/internal/devfile"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// convertOptions are `lklimg convert`'s flags.
type convertOptions struct {
	format, output string
	memoryMB       int
}

// convertCommand is `lklimg convert SRC DST`: the disk of an image in
// any format the kernel reads, as qemu-img convert -O raw writes it: a
// raw file of the disk's size whose runs of zeros are holes.
func convertCommand(stdout, stderr io.Writer, status *int) *cli.Command {
	var o convertOptions
	return &cli.Command{
		Name:      "convert",
		Usage:     "write the disk of an image (raw, qcow2, vmdk, vpc, vhdx, android-sparse) as a raw or qcow2 image, as qemu-img convert",
		ArgsUsage: "SRC DST",
		Description: "The disk is read through the kernel's /dev/vda (its format probed, or -f); DST is written as a sparse\n" +
			"raw file (runs of zeros of 4 KiB or more left as holes) or, with -O qcow2, as a qcow2 image (version 3,\n" +
			"64 KiB clusters, clusters of zeros unallocated). DST is replaced if it exists.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "image-format", Aliases: []string{"f"}, Usage: "SRC's `FORMAT`; probed when not given", Destination: &o.format},
			&cli.StringFlag{Name: "output-format", Aliases: []string{"O"}, Value: "raw", Usage: "DST's `FORMAT`: raw or qcow2", Destination: &o.output},
			&cli.IntFlag{Name: "mb", Aliases: []string{"m"}, Value: kernel.DefaultMemory >> 20, Usage: "the kernel's memory in `MiB`", Destination: &o.memoryMB},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return errors.New("usage: lklimg convert [options] SRC DST")
			}
			if o.output != "raw" && o.output != "qcow2" {
				return fmt.Errorf("-O %s: the formats written are raw and qcow2", o.output)
			}
			err := convert(c.Args().Get(0), c.Args().Get(1), o)
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

// convert copies the disk of src to a new file dst, raw (its zeros left
// as holes, its size the disk's) or qcow2 (format/qcow2's Writer).
func convert(src, dst string, o convertOptions) error {
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
	write, finish := rawOutput(out, size)
	if o.output == "qcow2" {
		if write, finish, err = qcow2Output(out, size); err != nil {
			out.Close()
			return fmt.Errorf("%s: %w", dst, err)
		}
	}
	buf := make([]byte, convertChunk)
	for off := int64(0); off < size; {
		n := min(int64(len(buf)), size-off)
		if _, err := in.ReadAt(buf[:n], off); err != nil {
			out.Close()
			return fmt.Errorf("%s: reading the disk at %d: %w", src, off, err)
		}
		if err := write(buf[:n], off); err != nil {
			out.Close()
			return fmt.Errorf("%s: %w", dst, unwrapPathErr(err))
		}
		off += n
	}
	if err := finish(); err != nil {
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
func rawOutput(out *os.File, size int64) (write func(b []byte, off int64) error, finish func() error) {
	write = func(b []byte, off int64) error {
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
	return write, func() error { return out.Truncate(size) }
}

// qcow2Output writes a qcow2 image, a cluster at a time.
func qcow2Output(out *os.File, size int64) (write func(b []byte, off int64) error, finish func() error, err error) {
	q, err := qcow2.NewWriter(out, uint64(size))
	if err != nil {
		return nil, nil, err
	}
	write = func(b []byte, _ int64) error {
		for len(b) > 0 {
			n := min(len(b), qcow2.WriterCluster)
			if err := q.WriteCluster(b[:n]); err != nil {
				return err
			}
			b = b[n:]
		}
		return nil
	}
	return write, q.Close, nil
}
