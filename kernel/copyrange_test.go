package kernel

import (
	"bytes"
	"errors"
	"testing"

	"github.com/lklimg/lklimg/kernel/abi"
)

// TestCopyFileRange: copy_file_range(2) on the ramfs: offsets given
// advance and the files' positions stay, positions used advance; a copy
// stops at the source's end; within one file only ranges that do not
// overlap; and the errnos in Linux's order.
func TestCopyFileRange(t *testing.T) {
	k, _ := bootFake(t, true)
	ro, err := k.MountDev("vda1", "", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	open := func(path string, flags int) int {
		t.Helper()
		fd, err := k.Openat(abi.AT_FDCWD, path, flags, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { k.Close(fd) })
		return fd
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320,000 bytes: three chunks
	src := open("/src", abi.O_CREAT|abi.O_RDWR)
	if _, err := k.Pwrite(src, data, 0); err != nil {
		t.Fatal(err)
	}
	dst := open("/dst", abi.O_CREAT|abi.O_RDWR)

	// Given offsets: they advance, the positions stay.
	offIn, offOut := int64(10), int64(100)
	if n, err := k.CopyFileRange(src, &offIn, dst, &offOut, 300000, 0); err != nil || n != 300000 || offIn != 300010 || offOut != 300100 {
		t.Fatalf("copy with offsets: %d, %v; offsets %d, %d", n, err, offIn, offOut)
	}
	if pos, _ := k.Lseek(src, 0, abi.SEEK_CUR); pos != 0 {
		t.Errorf("the source's position moved to %d", pos)
	}
	// The positions: the source's end cuts the copy.
	if _, err := k.Lseek(src, 310000, abi.SEEK_SET); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Lseek(dst, 300100, abi.SEEK_SET); err != nil {
		t.Fatal(err)
	}
	if n, err := k.CopyFileRange(src, nil, dst, nil, 1<<20, 0); err != nil || n != 10000 {
		t.Fatalf("copy to the source's end: %d, %v; want 10000", n, err)
	}
	if n, err := k.CopyFileRange(src, nil, dst, nil, 10, 0); err != nil || n != 0 {
		t.Errorf("copy at the source's end: %d, %v; want 0", n, err)
	}
	want := append(make([]byte, 100), data[10:300010]...)
	want = append(want, data[310000:]...)
	got := make([]byte, len(want)+10)
	if n, err := k.Pread(dst, got, 0); err != nil || !bytes.Equal(got[:n], want) {
		t.Errorf("the copy: %d bytes, %v; equal %v", n, err, bytes.Equal(got[:n], want))
	}
	// Within one file: apart, yes; overlapping, EINVAL.
	a, b := int64(0), int64(200000)
	if n, err := k.CopyFileRange(src, &a, src, &b, 100000, 0); err != nil || n != 100000 {
		t.Errorf("copy within a file: %d, %v", n, err)
	}
	a, b = 0, 50000
	if _, err := k.CopyFileRange(src, &a, src, &b, 100000, 0); !errors.Is(err, abi.EINVAL) {
		t.Errorf("overlapping copy within a file: %v, want EINVAL", err)
	}

	rdonly := open("/dst", abi.O_RDONLY)
	appending := open("/dst", abi.O_WRONLY|abi.O_APPEND)
	wronly := open("/src", abi.O_WRONLY)
	dir := open("/", abi.O_RDONLY|abi.O_DIRECTORY)
	other := open(ro+"/hello.txt", abi.O_RDONLY)
	neg := int64(-1)
	for _, c := range []struct {
		name    string
		in, out int
		offIn   *int64
		flags   uint32
		want    abi.Errno
	}{
		{"flags", src, dst, nil, 1, abi.EINVAL},
		{"out not writable", src, rdonly, nil, 0, abi.EBADF},
		{"out O_APPEND", src, appending, nil, 0, abi.EBADF},
		{"in not readable", wronly, dst, nil, 0, abi.EBADF},
		{"a directory", dir, dst, nil, 0, abi.EISDIR},
		{"negative offset", src, dst, &neg, 0, abi.EINVAL},
		{"across filesystems", other, dst, nil, 0, abi.EXDEV},
		{"not open", 999, dst, nil, 0, abi.EBADF},
	} {
		if _, err := k.CopyFileRange(c.in, c.offIn, c.out, nil, 10, c.flags); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}
