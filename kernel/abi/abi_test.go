package abi

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

func TestMakedev(t *testing.T) {
	// Values as glibc's gnu_dev_makedev computes them (Python's os.makedev).
	for _, c := range []struct {
		major, minor uint32
		dev          uint64
	}{
		{8, 1, 0x801},
		{254, 16, 0xfe10},
		{259, 300, 0x11032c},
		{4095, 1048575, 0xffffffff},
		{0x12345, 0x6789a, 0x120006783459a},
	} {
		if got := Makedev(c.major, c.minor); got != c.dev {
			t.Errorf("Makedev(%d, %d) = %#x, want %#x", c.major, c.minor, got, c.dev)
		}
		if Major(c.dev) != c.major || Minor(c.dev) != c.minor {
			t.Errorf("Major/Minor(%#x) = %d, %d; want %d, %d", c.dev, Major(c.dev), Minor(c.dev), c.major, c.minor)
		}
	}
}

func TestDirents(t *testing.T) {
	buf := make([]byte, 256)
	n := 0
	names := []string{"a", "bbbbbbbb", "", "name with spaces"}
	for i, name := range names {
		m := PutDirent(buf[n:], uint64(i+11), int64(i+1), DT_REG, name)
		if m == 0 || m%8 != 0 || m != DirentLen(len(name)) {
			t.Fatalf("PutDirent(%q) = %d", name, m)
		}
		n += m
	}
	if PutDirent(buf[:DirentLen(5)-1], 1, 1, DT_DIR, "abcde") != 0 {
		t.Fatal("PutDirent wrote into a buffer too short for the record")
	}
	ds := ParseDirents(buf[:n], nil)
	if len(ds) != len(names) {
		t.Fatalf("parsed %d dirents, want %d", len(ds), len(names))
	}
	for i, d := range ds {
		if d.Name != names[i] || d.Ino != uint64(i+11) || d.Off != int64(i+1) || d.Type != DT_REG {
			t.Errorf("dirent %d = %+v", i, d)
		}
	}
	// A record whose reclen runs past the buffer ends the parse.
	if got := ParseDirents(buf[:n-1], nil); len(got) != len(names)-1 {
		t.Errorf("truncated buffer parsed %d dirents, want %d", len(got), len(names)-1)
	}
}

func TestErrno(t *testing.T) {
	err := fmt.Errorf("open /x: %w", Errorf(ENOENT, "no such entry"))
	if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, ENOENT) || ErrnoOf(err) != ENOENT {
		t.Errorf("wrapped ENOENT: Is/ErrnoOf failed on %v", err)
	}
	if errors.Is(EIO, fs.ErrNotExist) {
		t.Error("EIO is fs.ErrNotExist")
	}
	if ErrnoOf(errors.New("other")) != EIO || ErrnoOf(nil) != 0 {
		t.Error("ErrnoOf of a plain error is not EIO, or of nil not 0")
	}
	if EUCLEAN.Error() != "EUCLEAN" || Errno(999).Error() != "errno 999" {
		t.Errorf("names: %q %q", EUCLEAN.Error(), Errno(999).Error())
	}
	if DTFromMode(S_IFLNK|0o777) != DT_LNK || ModeFromDT(DT_DIR) != S_IFDIR {
		t.Error("DT/mode conversion")
	}
}
