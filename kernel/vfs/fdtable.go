package vfs

import (
	"sync"

	"github.com/lklimg/lklimg/kernel/abi"
)

// DefaultMaxFiles is the descriptor limit when NewFDTable is given none:
// the default RLIMIT_NOFILE soft limit of Linux.
const DefaultMaxFiles = 1024

// FDTable is struct files_struct: the file descriptors of the one process
// the library kernel serves. mu guards files and the count.
type FDTable struct {
	max int

	mu    sync.Mutex
	files []*File // index is the fd; nil is free; guarded by mu
}

// NewFDTable returns an empty table allowing fds 0..max-1
// (DefaultMaxFiles if max <= 0).
func NewFDTable(max int) *FDTable {
	if max <= 0 {
		max = DefaultMaxFiles
	}
	return &FDTable{max: max}
}

// Install puts f at the lowest free descriptor and returns it (fd_install
// after get_unused_fd), taking over the caller's reference.
// Errors: EMFILE when every descriptor below the limit is in use.
func (t *FDTable) Install(f *File) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for fd, x := range t.files {
		if x == nil {
			t.files[fd] = f
			return fd, nil
		}
	}
	if len(t.files) >= t.max {
		return -1, abi.EMFILE
	}
	t.files = append(t.files, f)
	return len(t.files) - 1, nil
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
	for len(t.files) > 0 && t.files[len(t.files)-1] == nil {
		t.files = t.files[:len(t.files)-1]
	}
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
	t.files = nil
	return fs
}

// Len returns the number of open descriptors.
func (t *FDTable) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, f := range t.files {
		if f != nil {
			n++
		}
	}
	return n
}
