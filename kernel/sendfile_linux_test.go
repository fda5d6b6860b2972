package kernel

import (
	"bytes"
	"errors"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// TestSendfile sends files of an image made by mkfs.ext4 -d to host
// files and pipes and compares the bytes with the source: whole files,
// a sparse file (the send stops at the hole, and refuses to start in it),
// a broken pipe (the host's EPIPE, as the output's error), and a
// writable disk (EOPNOTSUPP: its page cache may be newer than the image).
func TestSendfile(t *testing.T) {
	src := t.TempDir()
	rng := rand.New(rand.NewSource(1))
	big := make([]byte, 5<<20+123)
	rng.Read(big)
	if err := os.WriteFile(filepath.Join(src, "big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	// sparse: 64 KiB of data, a 1 MiB hole, 64 KiB of data.
	f, err := os.Create(filepath.Join(src, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt(big[:64<<10], 0)
	f.WriteAt(big[:64<<10], 64<<10+1<<20)
	f.Close()
	img := filepath.Join(t.TempDir(), "fs.img")
	testutil.MkfsExt4(t, img, src, "32M")

	k, dev := bootImage(t, img)
	mnt, err := k.MountDev(dev, "ext4", abi.MS_RDONLY, "")
	if err != nil {
		t.Fatal(err)
	}
	open := func(name string) int {
		fd, err := k.Openat(abi.AT_FDCWD, mnt+"/"+name, abi.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { k.Close(fd) })
		return fd
	}

	// The whole file to a host file, in sends of 1 MiB after 100 bytes
	// read: each send goes on from the file position.
	fd := open("big")
	out, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	head := make([]byte, 100)
	if _, err := k.Read(fd, head); err != nil {
		t.Fatal(err)
	}
	out.Write(head)
	for {
		n, err := k.Sendfile(out, fd, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if got, _ := os.ReadFile(out.Name()); !bytes.Equal(got, big) {
		t.Errorf("sendfile to a file: %d bytes, not the file's %d", len(got), len(big))
	}

	// To a pipe, read on the other side.
	fd = open("big")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); got <- b }()
	n, err := k.Sendfile(w, fd, 1<<30)
	w.Close()
	if b := <-got; err != nil || n != int64(len(big)) || !bytes.Equal(b, big) {
		t.Errorf("sendfile to a pipe: %d sent, %d received, %v", n, len(b), err)
	}
	r.Close()

	// A sparse file: the send stops at the hole; in it, nothing can be
	// sent; after it, the data is sent.
	fd = open("sparse")
	out2, err := os.Create(filepath.Join(t.TempDir(), "out2"))
	if err != nil {
		t.Fatal(err)
	}
	defer out2.Close()
	if n, err := k.Sendfile(out2, fd, 1<<30); n != 64<<10 || err != nil {
		t.Errorf("sendfile up to a hole: %d, %v; want %d", n, err, 64<<10)
	}
	if n, err := k.Sendfile(out2, fd, 1<<30); n != 0 || !errors.Is(err, abi.EOPNOTSUPP) {
		t.Errorf("sendfile in a hole: %d, %v; want EOPNOTSUPP", n, err)
	}
	if _, err := k.Lseek(fd, 64<<10+1<<20, abi.SEEK_SET); err != nil {
		t.Fatal(err)
	}
	if n, err := k.Sendfile(out2, fd, 1<<30); n != 64<<10 || err != nil {
		t.Errorf("sendfile after the hole: %d, %v", n, err)
	}
	if n, err := k.Sendfile(out2, fd, 1<<30); n != 0 || err != nil {
		t.Errorf("sendfile at the end: %d, %v", n, err)
	}
	if b, _ := os.ReadFile(out2.Name()); !bytes.Equal(b, append(big[:64<<10:64<<10], big[:64<<10]...)) {
		t.Errorf("sparse file's data sent wrong")
	}

	// A broken pipe: the output's error, with the host's errno.
	fd = open("big")
	r, w, err = os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	_, err = k.Sendfile(w, fd, 1<<20)
	w.Close()
	if !errors.As(err, new(*abi.HostWriteError)) || !errors.Is(err, syscall.EPIPE) {
		t.Errorf("sendfile to a broken pipe: %v; want a HostWriteError with EPIPE", err)
	}

	// Errors of the descriptor: a directory, a closed one.
	if _, err := k.Sendfile(out, open("."), 10); !errors.Is(err, abi.EINVAL) {
		t.Errorf("sendfile of a directory: %v; want EINVAL", err)
	}
	if _, err := k.Sendfile(out, 999, 10); !errors.Is(err, abi.EBADF) {
		t.Errorf("sendfile of a closed descriptor: %v; want EBADF", err)
	}
	k.Halt()

	// A writable disk never sends.
	k2, mnt2, halt := bootExt4RW(t, Config{}, img)
	fd2, err := k2.Openat(abi.AT_FDCWD, mnt2+"/big", abi.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := k2.Sendfile(out, fd2, 1<<20); n != 0 || !errors.Is(err, abi.EOPNOTSUPP) {
		t.Errorf("sendfile on a writable disk: %d, %v; want EOPNOTSUPP", n, err)
	}
	k2.Close(fd2)
	if err := halt(); err != nil {
		t.Fatal(err)
	}
}
