//go:build !linux

package testutil

import (
	"errors"
	"testing"
)

// ScanDir needs Linux's lstat, xattr and SEEK_DATA calls.
func ScanDir(root string) (Tree, error) {
	return nil, errors.New("testutil.ScanDir: only on linux")
}

// MakeTree needs Linux's mknod, xattr and utimensat calls.
func MakeTree(t testing.TB, dir string) {
	t.Helper()
	Skip(t, "testutil.MakeTree: only on linux")
}
