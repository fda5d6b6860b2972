package vfs

import (
	"math/bits"
	"sync"

	"github.com/lklimg/lklimg/kernel/abi"
)

// DefaultMaxFiles is the descriptor limit when NewFDTable is given none:
// the default RLIMIT_NOFILE soft limit of Linux.
const DefaultMaxFiles = 1024

// FDTable is struct files_struct: the file descriptors of the one process
// the library kernel serves. The lowest free descriptor is found as
// fs/file.c's find_next_fd finds it, in two bitmaps: open_fds, a bit per
// descriptor, and full_fds_bits, a bit per word of open_fds that has no
// free bit, so that a search skips 4096 open descriptors a word and a
// server holding thousands of files open does not scan them at each
// open. mu guards everything but max.
type FDTable struct {
	max int

	mu    sync.Mutex
	files []*File  // index is the fd; nil is free
	open  []uint64 // open_fds: bit fd%64 of word fd/64 is set while fd is in use
	full  []uint64 // full_fds_bits: bit w%64 of word w/64 is set while open[w] is all ones
	n     int      // descriptors in use
}

// NewFDTable returns an empty table allowing fds 0..max-1
// (DefaultMaxFiles if max <= 0).
func NewFDTable(max int) *FDTable {
	if max <= 0 {
		max = DefaultMaxFiles
	}
	return &FDTable{max: max}
}

// lowestFreeLocked returns the lowest descriptor not in use, which may be
// past the end of the bitmaps.
func (t *FDTable) lowestFreeLocked() int {
	for i, fw := range t.full {
		if fw == ^uint64(0) {
			continue
		}
		// Every word before w is full and exists, so w is at most
		// len(t.open): the first word not yet grown.
		w := i*64 + bits.TrailingZeros64(^fw)
		if w >= len(t.open) {
			return len(t.open) * 64
		}
		return w*64 + bits.TrailingZeros64(^t.open[w])
	}
	return len(t.open) * 64
}

// Install puts f at the lowest free descriptor and returns it (fd_install
// after get_unused_fd), taking over the caller's reference.
// Errors: EMFILE when every descriptor below the limit is in use.
func (t *FDTable) Install(f *File) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fd := t.lowestFreeLocked()
	if fd >= t.max {
		return -1, abi.EMFILE
	}
	for len(t.files) <= fd {
		t.files = append(t.files, nil)
	}
	w := fd / 64
	for len(t.open) <= w {
		t.open = append(t.open, 0)
	}
	for len(t.full) <= w/64 {
		t.full = append(t.full, 0)
	}
	t.files[fd] = f
	t.open[w] |= 1 << (fd % 64)
	if t.open[w] == ^uint64(0) {
		t.full[w/64] |= 1 << (w % 64)
	}
	t.n++
	return fd, nil
}

// Get returns the file at fd with a new reference the caller must drop
// with DecRef (fdget). Errors: EBADF for a descriptor not open.
func (t *FDTable) Get(fd int) (*File, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fd < 0 || fd >= len(t.files) || t.files[fd] == nil {
		return nil, abi.EBADF
	}
	f := t.files[fd]
	f.IncRef()
	return f, nil
}

// Remove frees fd and returns its file with the table's reference, which
// the caller drops (close_fd). Errors: EBADF for a descriptor not open.
func (t *FDTable) Remove(fd int) (*File, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fd < 0 || fd >= len(t.files) || t.files[fd] == nil {
		return nil, abi.EBADF
	}
	f := t.files[fd]
	t.files[fd] = nil
	w := fd / 64
	t.open[w] &^= 1 << (fd % 64)
	t.full[w/64] &^= 1 << (w % 64)
	t.n--
	return f, nil
}

// RemoveAll frees every descriptor and returns the files, each with the
// table's reference.
func (t *FDTable) RemoveAll() []*File {
	t.mu.Lock()
	defer t.mu.Unlock()
	var fs []*File
	for _, f := range t.files {
		if f != nil {
			fs = append(fs, f)
		}
	}
	t.files, t.open, t.full, t.n = nil, nil, nil, 0
	return fs
}

// Len returns the number of open descriptors.
func (t *FDTable) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}
