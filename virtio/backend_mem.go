package virtio

import (
	"fmt"
	"sync"
)

// MemBackend is a Backend in host memory, for tests and scratch disks.
type MemBackend struct {
	ro bool
	mu sync.RWMutex
	b  []byte // guarded by mu
}

// NewMemBackend returns a zeroed in-memory disk of size bytes.
func NewMemBackend(size int64, readOnly bool) *MemBackend {
	return &MemBackend{b: make([]byte, size), ro: readOnly}
}

// Bytes returns the disk's contents, aliasing them.
func (m *MemBackend) Bytes() []byte { return m.b }

func (m *MemBackend) check(off, n int64) error {
	if off < 0 || n < 0 || off > int64(len(m.b)) || n > int64(len(m.b))-off {
		return fmt.Errorf("virtio: mem backend: range %d+%d outside %d bytes", off, n, len(m.b))
	}
	return nil
}

// ReadAt implements Backend.
func (m *MemBackend) ReadAt(bufs [][]byte, off int64) error {
	if err := m.check(off, totalLen(bufs)); err != nil {
		return err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	for _, b := range bufs {
		off += int64(copy(b, m.b[off:]))
	}
	return nil
}

// WriteAt implements Backend.
func (m *MemBackend) WriteAt(bufs [][]byte, off int64) error {
	if m.ro {
		return ErrReadOnly
	}
	if err := m.check(off, totalLen(bufs)); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range bufs {
		off += int64(copy(m.b[off:], b))
	}
	return nil
}

// Flush implements Backend.
func (m *MemBackend) Flush() error { return nil }

// Discard implements Backend.
func (m *MemBackend) Discard(off, n int64) error { return m.WriteZeroes(off, n) }

// WriteZeroes implements Backend.
func (m *MemBackend) WriteZeroes(off, n int64) error {
	if m.ro {
		return ErrReadOnly
	}
	if err := m.check(off, n); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.b[off : off+n])
	return nil
}

// SeekData implements Backend: all of memory is data.
func (m *MemBackend) SeekData(off int64) (int64, error) { return min(max(off, 0), m.Size()), nil }

// SeekHole implements Backend: the only hole is the end.
func (m *MemBackend) SeekHole(off int64) (int64, error) { return m.Size(), nil }

// Size implements Backend.
func (m *MemBackend) Size() int64 { return int64(len(m.b)) }

// ReadOnly implements Backend.
func (m *MemBackend) ReadOnly() bool { return m.ro }

// Close implements Backend.
func (m *MemBackend) Close() error { return nil }
