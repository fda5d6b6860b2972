package vfs

import (
	"bytes"
	"io"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Helpers for read-only drivers whose files are a size and a way to
// fill a range within it (generic_file_read_iter's bounds, page_get_link).

// ReadWithin is a FileReader's ReadAt for a file of size bytes: fill is
// called for the part of p within the size (off below it). Errors:
// EINVAL for a negative offset; io.EOF at or past the end, and with a
// read the end cut short; fill's.
func ReadWithin(p []byte, off, size int64, fill func(p []byte, off int64) (int, error)) (int, error) {
	if off < 0 {
		return 0, abi.EINVAL
	}
	if off >= size {
		return 0, io.EOF
	}
	n, err := fill(p[:min(int64(len(p)), size-off)], off)
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

// LinkTarget reads a symlink's target, its data of size bytes, with
// fill: at most a page less one byte, as page_get_link's
// nd_terminate_link cuts it, and up to its first NUL byte: Linux takes
// the page as a C string (readlink_copy's strlen, the path walk's), so
// a target with a NUL in it ends there (empty when it starts with one).
func LinkTarget(size int64, fill func(p []byte, off int64) (int, error)) (string, error) {
	b := make([]byte, min(size, 4095))
	if _, err := fill(b, 0); err != nil {
		return "", err
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b), nil
}
