//go:build linux

package archive

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// faultySys is the host's kernel with failures injected on chosen paths,
// as a corrupt image gives them.
type faultySys struct {
	hostSys
	root      string
	openFail  string // Openat of this path returns EACCES
	readFail  string // Read of this file returns EIO after its first call
	xattrFail string // Llistxattr or Flistxattr of this path returns EUCLEAN
	cycle     string // Fstatat of this directory answers with the root's identity
	// noKey are encrypted paths: Openat of a file, Getdents64 of a
	// directory return ENOKEY, as Linux without the key.
	noKey []string
	fds   map[int]string // the path each descriptor was opened with
	reads map[int]int
}

func (f *faultySys) Openat(dirfd int, path string, flags int, mode uint32) (int, error) {
	if dirfd != abi.AT_FDCWD {
		path = filepath.Join(f.fds[dirfd], path)
		dirfd = abi.AT_FDCWD
	}
	if f.openFail != "" && path == filepath.Join(f.root, f.openFail) {
		return -1, abi.EACCES
	}
	for _, p := range f.noKey {
		if path == filepath.Join(f.root, p) && flags&abi.O_DIRECTORY == 0 {
			return -1, abi.Errorf(abi.ENOKEY, "ext4: inode 13: encrypted file, no key")
		}
	}
	fd, err := f.hostSys.Openat(dirfd, path, flags, mode)
	if err == nil {
		f.fds[fd] = path
	}
	return fd, err
}

func (f *faultySys) Read(fd int, p []byte) (int, error) {
	if f.readFail != "" && f.fds[fd] == filepath.Join(f.root, f.readFail) {
		f.reads[fd]++
		if f.reads[fd] > 1 {
			return 0, abi.Errorf(abi.EIO, "ext4: inode 12: extent block 3421: bad checksum")
		}
		return f.hostSys.Read(fd, p[:min(len(p), 1000)])
	}
	return f.hostSys.Read(fd, p)
}

func (f *faultySys) Getdents64(fd int, buf []byte) (int, error) {
	for _, p := range f.noKey {
		if f.fds[fd] == filepath.Join(f.root, p) {
			return 0, abi.Errorf(abi.ENOKEY, "ext4: inode 14: encrypted directory")
		}
	}
	return f.hostSys.Getdents64(fd, buf)
}

func (f *faultySys) Fstatat(dirfd int, path string, st *abi.Stat, flags int) error {
	full := path
	if dirfd != abi.AT_FDCWD {
		full = filepath.Join(f.fds[dirfd], path)
	}
	if f.cycle != "" && filepath.Base(full) == f.cycle {
		// The directory, wherever it is found, is the root: a
		// directory linked into its own subtree.
		return f.hostSys.Fstatat(abi.AT_FDCWD, f.root, st, flags)
	}
	return f.hostSys.Fstatat(dirfd, path, st, flags)
}

func (f *faultySys) Llistxattr(path string, dest []byte) (int, error) {
	if f.xattrFail != "" && path == filepath.Join(f.root, f.xattrFail) {
		return 0, abi.EUCLEAN
	}
	return f.hostSys.Llistxattr(path, dest)
}

func (f *faultySys) Flistxattr(fd int, dest []byte) (int, error) {
	if f.xattrFail != "" && f.fds[fd] == filepath.Join(f.root, f.xattrFail) {
		return 0, abi.EUCLEAN
	}
	return f.hostSys.Flistxattr(fd, dest)
}

// TestExportErrors: failing entries are reported with their path,
// operation and the kernel's reason; the others are all archived; the
// archive stays readable; Export returns ErrIncomplete.
func TestExportErrors(t *testing.T) {
	src := t.TempDir()
	for name, size := range map[string]int{"a-unreadable": 10, "b-fails-midway": 5000, "c-ok": 3, "d-bad-xattrs": 4} {
		if err := os.WriteFile(filepath.Join(src, name), bytes.Repeat([]byte{'x'}, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sys := &faultySys{root: src, openFail: "a-unreadable", readFail: "b-fails-midway", xattrFail: "d-bad-xattrs",
		fds: map[int]string{}, reads: map[int]int{}}
	var reports []string
	var out bytes.Buffer
	err := Export(sys, src, &out, Options{Report: func(err error) { reports = append(reports, err.Error()) }})
	if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "3 failed") {
		t.Errorf("Export: %v, want ErrIncomplete with 3 failed", err)
	}
	want := []string{
		"/a-unreadable: open: EACCES",
		"/b-fails-midway: read: EIO (ext4: inode 12: extent block 3421: bad checksum)",
		"/d-bad-xattrs: xattrs: EUCLEAN",
	}
	if strings.Join(reports, "\n") != strings.Join(want, "\n") {
		t.Errorf("reports:\n%s\nwant:\n%s", strings.Join(reports, "\n"), strings.Join(want, "\n"))
	}
	tree, err := testutil.ScanTar(&out)
	if err != nil {
		t.Fatalf("the archive is not readable: %v", err)
	}
	if got := strings.Join(tree.Paths(), " "); got != ". b-fails-midway c-ok d-bad-xattrs" {
		t.Errorf("entries: %s", got)
	}
	if e := tree["b-fails-midway"]; e == nil || e.Size != 5000 {
		t.Errorf("b-fails-midway: %+v, want its place kept (5000 bytes, zero-filled)", e)
	}
}

// TestExportEncrypted: an encrypted file or directory (ENOKEY) is reported
// as such and left out whole, and the export goes on.
func TestExportEncrypted(t *testing.T) {
	src := t.TempDir()
	for _, d := range []string{"secret/sub", "z"} {
		if err := os.MkdirAll(filepath.Join(src, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"secret/file", "locked", "z/ok"} {
		if err := os.WriteFile(filepath.Join(src, f), []byte("data"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sys := &faultySys{root: src, noKey: []string{"secret", "locked"}, fds: map[int]string{}, reads: map[int]int{}}
	var reports []string
	var out bytes.Buffer
	err := Export(sys, src, &out, Options{Report: func(err error) {
		if !errors.Is(err, ErrEncrypted) {
			t.Errorf("%v is not ErrEncrypted", err)
		}
		reports = append(reports, err.Error())
	}})
	if !errors.Is(err, ErrIncomplete) || !strings.Contains(err.Error(), "2 failed") {
		t.Errorf("Export: %v, want ErrIncomplete with 2 failed", err)
	}
	if got := strings.Join(reports, "\n"); got != "/locked: encrypted, no key: skipped\n/secret: encrypted, no key: skipped" {
		t.Errorf("reports:\n%s", got)
	}
	tree, err := testutil.ScanTar(&out)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tree.Paths(), " "); got != ". z z/ok" {
		t.Errorf("entries: %s", got)
	}
}

// TestExportStrict: with Strict the first failure stops the export, and
// the archive is still a valid tar with the entries before it.
func TestExportStrict(t *testing.T) {
	src := t.TempDir()
	for _, name := range []string{"a-ok", "b-unreadable", "c-ok"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sys := &faultySys{root: src, openFail: "b-unreadable", fds: map[int]string{}, reads: map[int]int{}}
	var reports []string
	var out bytes.Buffer
	err := Export(sys, src, &out, Options{Strict: true, Report: func(err error) { reports = append(reports, err.Error()) }})
	var pe *PathError
	if !errors.Is(err, ErrIncomplete) || !errors.As(err, &pe) || pe.Path != "/b-unreadable" {
		t.Errorf("Export: %v, want ErrIncomplete naming /b-unreadable", err)
	}
	if strings.Join(reports, "\n") != "/b-unreadable: open: EACCES" {
		t.Errorf("reports: %q", reports)
	}
	tree, err := testutil.ScanTar(&out)
	if err != nil {
		t.Fatalf("the archive is not readable: %v", err)
	}
	if got := strings.Join(tree.Paths(), " "); got != ". a-ok" {
		t.Errorf("entries: %s, want . a-ok", got)
	}
}

// TestExportDirCycle: a directory that is its own ancestor (same st_dev
// and st_ino as the root) is reported with ELOOP and left out, instead of
// being walked forever.
func TestExportDirCycle(t *testing.T) {
	src := t.TempDir()
	for _, d := range []string{"a", "a/loop", "b"} {
		if err := os.Mkdir(filepath.Join(src, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(src, "b", "f"), []byte("f"), 0o644); err != nil {
		t.Fatal(err)
	}
	sys := &faultySys{root: src, cycle: "loop", fds: map[int]string{}, reads: map[int]int{}}
	var reports []string
	var out bytes.Buffer
	err := Export(sys, src, &out, Options{Report: func(err error) { reports = append(reports, err.Error()) }})
	if !errors.Is(err, ErrIncomplete) {
		t.Errorf("Export: %v, want ErrIncomplete", err)
	}
	if len(reports) != 1 || !strings.HasPrefix(reports[0], "/a/loop: walk: ELOOP") {
		t.Errorf("reports: %q, want one ELOOP for /a/loop", reports)
	}
	tree, err := testutil.ScanTar(&out)
	if err != nil {
		t.Fatalf("the archive is not readable: %v", err)
	}
	if got := strings.Join(tree.Paths(), " "); got != ". a b b/f" {
		t.Errorf("entries: %s, want . a b b/f", got)
	}
}
