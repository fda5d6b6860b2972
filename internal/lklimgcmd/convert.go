package lklimgcmd

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

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
		Usage:     "write the disk of an image (raw, qcow2, vmdk, vpc, vhdx, android-sparse) as a raw image, as qemu-img convert -O raw",
		ArgsUsage: "SRC DST",
		Description: "The disk is read through the kernel's /dev/vda (its format probed, or -f); DST is written as a sparse\n" +
			"raw file: runs of zeros of 4 KiB or more are left as holes. DST is replaced if it exists.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "image-format", Aliases: []string{"f"}, Usage: "SRC's `FORMAT`; probed when not given", Destination: &o.format},
			&cli.StringFlag{Name: "output-format", Aliases: []string{"O"}, Value: "raw", Usage: "DST's `FORMAT`: raw (the only one written yet)", Destination: &o.output},
			&cli.IntFlag{Name: "mb", Aliases: []string{"m"}, Value: kernel.DefaultMemory >> 20, Usage: "the kernel's memory in `MiB`", Destination: &o.memoryMB},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 2 {
				return errors.New("usage: lklimg convert [options] SRC DST")
			}
			if o.output != "raw" {
				return fmt.Errorf("-O %s: only raw images are written yet", o.output)
			}
			err := convertRaw(c.Args().Get(0), c.Args().Get(1), o)
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

// convertRaw copies the disk of src to a new raw file dst, leaving its
// zeros as holes, and sets dst's size to the disk's.
func convertRaw(src, dst string, o convertOptions) error {
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
	buf := make([]byte, convertChunk)
	for off := int64(0); off < size; {
		n := min(int64(len(buf)), size-off)
		if _, err := in.ReadAt(buf[:n], off); err != nil {
			out.Close()
			return fmt.Errorf("%s: reading the disk at %d: %w", src, off, err)
		}
		// Write the runs that are not all zeros; the rest stay holes.
		for i := int64(0); i < n; {
			j := i
			for j < n && allZero(buf[j:min(j+holeUnit, n)]) {
				j = min(j+holeUnit, n)
			}
			k := j
			for k < n && !allZero(buf[k:min(k+holeUnit, n)]) {
				k = min(k+holeUnit, n)
			}
			if k > j {
				if _, err := out.WriteAt(buf[j:k], off+j); err != nil {
					out.Close()
					return fmt.Errorf("%s: %w", dst, unwrapPathErr(err))
				}
			}
			i = k
		}
		off += n
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
