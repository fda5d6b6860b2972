package vfs_test

import (
	"errors"
	"math/rand"
	"testing"

	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// TestFDTableLowestFree checks the bitmaps against a plain slice: after
// every install and close in a random mix over more than 64*64
// descriptors (so that full_fds_bits spans two words) the descriptor
// handed out is the lowest free one, EMFILE comes exactly at the limit,
// and Get, Remove and Len agree with the model.
func TestFDTableLowestFree(t *testing.T) {
	const max = 64*64 + 100
	tab := vfs.NewFDTable(max)
	model := make([]*vfs.File, max) // nil: free
	used := 0
	rng := rand.New(rand.NewSource(1))
	lowest := func() int {
		for fd, f := range model {
			if f == nil {
				return fd
			}
		}
		return -1
	}
	for i := 0; i < 60000; i++ {
		// Fill towards the limit first, then churn around it.
		if rng.Intn(100) < 70 || used == 0 {
			f := new(vfs.File)
			fd, err := tab.Install(f)
			want := lowest()
			if want < 0 {
				if !errors.Is(err, abi.EMFILE) {
					t.Fatalf("op %d: install at the limit: fd %d, %v", i, fd, err)
				}
				continue
			}
			if err != nil || fd != want {
				t.Fatalf("op %d: install gave %d %v, want %d", i, fd, err, want)
			}
			model[fd] = f
			used++
		} else {
			fd := rng.Intn(max)
			f, err := tab.Remove(fd)
			if model[fd] == nil {
				if !errors.Is(err, abi.EBADF) {
					t.Fatalf("op %d: remove free %d: %v", i, fd, err)
				}
				continue
			}
			if err != nil || f != model[fd] {
				t.Fatalf("op %d: remove %d: %p %v, want %p", i, fd, f, err, model[fd])
			}
			model[fd] = nil
			used--
		}
		if n := tab.Len(); n != used {
			t.Fatalf("op %d: Len %d, want %d", i, n, used)
		}
	}
	for fd, f := range model {
		got, err := tab.Get(fd)
		if f == nil && !errors.Is(err, abi.EBADF) || f != nil && (err != nil || got != f) {
			t.Fatalf("get %d: %p %v, want %p", fd, got, err, f)
		}
	}
	if fs := tab.RemoveAll(); len(fs) != used || tab.Len() != 0 {
		t.Fatalf("RemoveAll: %d files, Len %d; want %d, 0", len(fs), tab.Len(), used)
	}
	if fd, err := tab.Install(new(vfs.File)); fd != 0 || err != nil {
		t.Fatalf("install after RemoveAll: %d %v", fd, err)
	}
}
