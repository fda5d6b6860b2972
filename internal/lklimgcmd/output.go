package lklimgcmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
)

// The image builders (tar2fs, mkfs of a new image, disk build) write the
// disk image formats convert writes: --output-format FORMAT, or by the
// image's name (.qcow2, .qcow: qcow2). The filesystem is built on a raw
// sparse file beside the image, as for a raw image, then converted as
// lklimg convert would (copyDisk: its data only, its holes skipped) and
// removed: the qcow2 image is laid out as qemu-img convert lays one out,
// whatever order the kernel wrote its blocks in, and the same input gives
// the same bytes.

// outputFormats are the formats an image made anew may be written in.
var outputFormats = []string{"raw", "qcow2", "android-sparse"}

// outputFormatHelp is the help of the builders' --output-format.
const outputFormatHelp = "the image's `FORMAT`: raw, qcow2 or android-sparse (default: qcow2 for a name ending .qcow2, else raw)"

// outputFormatFor returns the format of a new image dst: flag's if
// given, else by dst's name.
func outputFormatFor(flag, dst string) (string, error) {
	if flag != "" {
		for _, f := range outputFormats {
			if flag == f {
				return f, nil
			}
		}
		return "", fmt.Errorf("--output-format %s: the formats written are %s", flag, strings.Join(outputFormats, ", "))
	}
	switch strings.ToLower(filepath.Ext(dst)) {
	case ".qcow2", ".qcow":
		return "qcow2", nil
	}
	return "raw", nil
}

// madeImage is a new image in its format: the builder makes path (dst
// itself when raw, else a temporary raw file beside it), and finish
// converts it to dst.
type madeImage struct {
	dst, path, format string
}

// newMadeImage returns where the builder makes dst in format.
func newMadeImage(dst, format string) (*madeImage, error) {
	m := &madeImage{dst: dst, path: dst, format: format}
	if format == "raw" {
		return m, nil
	}
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".raw-*")
	if err != nil {
		return nil, fmt.Errorf("%s: cannot create its raw image beside it: %w", dst, unwrapPathErr(err))
	}
	m.path = f.Name()
	f.Close()
	return m, nil
}

// finish writes dst from the raw image and removes it.
func (m *madeImage) finish(quiet bool, stderr io.Writer) error {
	if m.path == m.dst {
		return nil
	}
	defer os.Remove(m.path)
	f, err := os.Open(m.path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	return copyDisk(&hostRaw{f: f, size: st.Size()}, m.dst, m.dst, convertOptions{output: m.format, quiet: quiet}, stderr)
}

// remove removes the raw image of a build that failed (and dst, which
// the builder made when raw).
func (m *madeImage) remove() {
	os.Remove(m.path)
}

// hostRaw is a raw image file of the host read as a disk, its holes found
// with SEEK_DATA and SEEK_HOLE where the host has them (Linux; elsewhere
// all is data).
type hostRaw struct {
	f    *os.File
	size int64
}

func (h *hostRaw) Size() int64                             { return h.size }
func (h *hostRaw) ReadAt(p []byte, off int64) (int, error) { return h.f.ReadAt(p, off) }

// lseek(2)'s whence values for data and holes (Linux's).
const (
	seekData = 3
	seekHole = 4
)

func (h *hostRaw) NextData(off int64) (start, end int64, err error) {
	if off >= h.size {
		return h.size, h.size, nil
	}
	if runtime.GOOS != "linux" {
		return off, h.size, nil
	}
	start, err = h.f.Seek(off, seekData)
	if err != nil {
		if errors.Is(err, syscall.ENXIO) {
			return h.size, h.size, nil // no data after off
		}
		return off, h.size, nil // no SEEK_DATA here: all data
	}
	if end, err = h.f.Seek(start, seekHole); err != nil {
		return start, h.size, nil
	}
	return start, min(end, h.size), nil
}
