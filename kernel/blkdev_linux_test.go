package kernel

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// The partitions of the test disk (sfdisk's script and the bytes they
// span): vda1 starts at an odd sector, so that its first and last pages
// are shared with the bytes around it; vda2 holds an ext4 image.
const (
	gptScript  = "label: gpt\nstart=2049, size=4095\nstart=8192, size=16384\n"
	p1Start    = 2049 * 512
	p1Size     = 4095 * 512
	p2Start    = 8192 * 512
	p2Size     = 16384 * 512
	gptImgSize = 16 << 20
)

// gptDisk makes a GPT disk image with sfdisk and fills it with a pattern
// (outside the table's sectors), so that a stray write shows.
func gptDisk(t *testing.T) string {
	t.Helper()
	sfdisk := testutil.Need(t, "sfdisk")[0]
	img := filepath.Join(t.TempDir(), "gpt.img")
	data := make([]byte, gptImgSize)
	for i := range data {
		data[i] = byte(i*7 + i>>9)
	}
	if err := os.WriteFile(img, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sfdisk, "-q", "--no-reread", "--no-tell-kernel", img)
	cmd.Stdin = strings.NewReader(gptScript)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	return img
}

// outsideHash hashes the image file but the bytes [start, start+size).
func outsideHash(t *testing.T, img string, start, size int64) [32]byte {
	t.Helper()
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	h.Write(data[:start])
	h.Write(data[start+size:])
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// bootDisk boots a kernel with img attached and returns it.
func bootDisk(t *testing.T, img string, opts DiskOptions) *Kernel {
	t.Helper()
	k, err := Boot(Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Halt() })
	if _, err := k.AddDisk(img, opts); err != nil {
		t.Fatal(err)
	}
	return k
}

func openDev(t *testing.T, k *Kernel, path string, flags int) int {
	t.Helper()
	fd, err := k.Openat(abi.AT_FDCWD, path, flags, 0)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	return fd
}

// TestBlockDeviceReadWrite writes the whole of vda1 through its node, by
// unaligned writes, and checks with the image file that its bytes, and no
// others, changed; then the edges: lseek, writes and reads at and across
// the end, the size ioctls and fstat, as a loop device shows them.
func TestBlockDeviceReadWrite(t *testing.T) {
	img := gptDisk(t)
	before := outsideHash(t, img, p1Start, p1Size)
	k := bootDisk(t, img, DiskOptions{})
	fd := openDev(t, k, "/dev/vda1", abi.O_RDWR)
	var made abi.Stat
	if err := k.Fstat(fd, &made); err != nil {
		t.Fatal(err)
	}

	want := make([]byte, p1Size)
	for i := range want {
		want[i] = byte(i*13 + 5)
	}
	// Pieces of odd sizes, so that most writes cover pages in part.
	for off := 0; off < p1Size; {
		n := min(3001+off%4096, p1Size-off)
		if got, err := k.Pwrite(fd, want[off:off+n], int64(off)); err != nil || got != n {
			t.Fatalf("pwrite at %d: %d %v", off, got, err)
		}
		off += n
	}
	got := make([]byte, p1Size)
	if n, err := k.Pread(fd, got, 0); err != nil || n != p1Size || !bytes.Equal(got, want) {
		t.Fatalf("pread of the partition: %d %v, equal %v", n, err, bytes.Equal(got, want))
	}
	if err := k.Fsync(fd); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(testutil.ReadAt(t, img, p1Start, p1Size), want) {
		t.Errorf("after fsync the image file does not hold what was written to vda1")
	}
	if outsideHash(t, img, p1Start, p1Size) != before {
		t.Errorf("bytes outside vda1 changed")
	}

	// The size, the end and lseek (fixed_size_llseek).
	if n, err := k.BlkGetSize64(fd); err != nil || n != p1Size {
		t.Errorf("BLKGETSIZE64: %d %v, want %d", n, err, p1Size)
	}
	if n, err := k.BlkSszGet(fd); err != nil || n != 512 {
		t.Errorf("BLKSSZGET: %d %v", n, err)
	}
	if n, err := k.BlkPbszGet(fd); err != nil || n != 512 {
		t.Errorf("BLKPBSZGET: %d %v", n, err)
	}
	if ro, err := k.BlkRoGet(fd); err != nil || ro {
		t.Errorf("BLKROGET: %v %v", ro, err)
	}
	seeks := []struct {
		off    int64
		whence int
		want   int64 // -1: EINVAL
	}{
		{0, abi.SEEK_END, p1Size},
		{p1Size, abi.SEEK_SET, p1Size},
		{p1Size + 1, abi.SEEK_SET, -1},
		{1, abi.SEEK_END, -1},
		{-1, abi.SEEK_END, p1Size - 1},
		{-p1Size, abi.SEEK_CUR, -1},
		{0, abi.SEEK_DATA, 0},        // a writable disk: all data,
		{100, abi.SEEK_HOLE, p1Size}, // as Linux's block devices
		{-1, abi.SEEK_SET, -1},
		{10, abi.SEEK_SET, 10},
		{5, abi.SEEK_CUR, 15},
	}
	for _, s := range seeks {
		pos, err := k.Lseek(fd, s.off, s.whence)
		if s.want < 0 {
			if !errors.Is(err, abi.EINVAL) {
				t.Errorf("lseek(%d, %d) = %d %v, want EINVAL", s.off, s.whence, pos, err)
			}
		} else if err != nil || pos != s.want {
			t.Errorf("lseek(%d, %d) = %d %v, want %d", s.off, s.whence, pos, err, s.want)
		}
	}
	for _, w := range []int{abi.SEEK_DATA, abi.SEEK_HOLE} {
		if _, err := k.Lseek(fd, p1Size, w); !errors.Is(err, abi.ENXIO) {
			t.Errorf("lseek(end, %d): %v, want ENXIO", w, err)
		}
	}
	k.Lseek(fd, 15, abi.SEEK_SET)
	// A writable disk's page cache may be newer than its image: it
	// does not send.
	if _, err := k.Sendfile(os.Stdout, fd, 10); !errors.Is(err, abi.EOPNOTSUPP) {
		t.Errorf("sendfile from a writable disk: %v, want EOPNOTSUPP", err)
	}
	// read(2) and write(2) move the offset the seeks left at 15.
	if n, err := k.Read(fd, got[:10]); err != nil || n != 10 || !bytes.Equal(got[:10], want[15:25]) {
		t.Errorf("read at 15: %d %v", n, err)
	}

	buf := make([]byte, 1024)
	if n, err := k.Pwrite(fd, buf[:1], p1Size); !errors.Is(err, abi.ENOSPC) {
		t.Errorf("write at the end: %d %v, want ENOSPC", n, err)
	}
	if n, err := k.Pwrite(fd, buf[:1], p1Size+4096); !errors.Is(err, abi.ENOSPC) {
		t.Errorf("write past the end: %d %v, want ENOSPC", n, err)
	}
	if n, err := k.Pwrite(fd, nil, p1Size); n != 0 || err != nil {
		t.Errorf("empty write at the end: %d %v", n, err)
	}
	if n, err := k.Pwrite(fd, bytes.Repeat([]byte{0xee}, 1024), p1Size-512); n != 512 || err != nil {
		t.Errorf("write across the end: %d %v, want 512 and no error", n, err)
	}
	copy(want[p1Size-512:], bytes.Repeat([]byte{0xee}, 512))
	if n, err := k.Pread(fd, buf, p1Size-512); n != 512 || err != nil || !bytes.Equal(buf[:n], want[p1Size-512:]) {
		t.Errorf("read across the end: %d %v", n, err)
	}
	for _, off := range []int64{p1Size, p1Size + 1<<20} {
		if n, err := k.Pread(fd, buf, off); n != 0 || err != nil {
			t.Errorf("read at %d: %d %v, want 0", off, n, err)
		}
	}
	if err := k.Ftruncate(fd, 0); !errors.Is(err, abi.EINVAL) {
		t.Errorf("ftruncate: %v, want EINVAL", err)
	}

	// fstat: the node's own attributes, size 0, the device's number
	// and I/O size; the writes stamped its mtime and ctime
	// (file_update_time).
	var st abi.Stat
	if err := k.Fstat(fd, &st); err != nil || st.Mode&abi.S_IFMT != abi.S_IFBLK || st.Rdev != abi.Makedev(254, 1) ||
		st.Size != 0 || st.Blksize != 512 {
		t.Errorf("fstat: mode %o rdev %d:%d size %d blksize %d, %v", st.Mode, abi.Major(st.Rdev), abi.Minor(st.Rdev),
			st.Size, st.Blksize, err)
	}
	if st.Mtim == made.Mtim || st.Ctim == made.Ctim {
		t.Errorf("the writes left the node's times alone: mtime %v ctime %v", st.Mtim, st.Ctim)
	}
	if err := k.Close(fd); err != nil {
		t.Fatal(err)
	}

	// A write without fsync reaches the image at close, as the last
	// close of a Linux block device writes its pages back.
	fd = openDev(t, k, "/dev/vda1", abi.O_WRONLY)
	if _, err := k.Pwrite(fd, []byte("closed"), 100); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Pread(fd, buf, 0); !errors.Is(err, abi.EBADF) {
		t.Errorf("read of a write-only device file: %v, want EBADF", err)
	}
	k.Close(fd)
	if got := testutil.ReadAt(t, img, p1Start+100, 6); string(got) != "closed" {
		t.Errorf("after close the image holds %q", got)
	}

	// The whole disk sees the partition's bytes at its offset.
	fd = openDev(t, k, "/dev/vda", abi.O_RDONLY)
	if n, err := k.BlkGetSize64(fd); err != nil || n != gptImgSize {
		t.Errorf("BLKGETSIZE64 of vda: %d %v", n, err)
	}
	if _, err := k.Pread(fd, buf[:6], p1Start+100); err != nil || string(buf[:6]) != "closed" {
		t.Errorf("vda at vda1+100: %q %v", buf[:6], err)
	}
	if _, err := k.Pwrite(fd, buf[:1], 0); !errors.Is(err, abi.EBADF) {
		t.Errorf("write of a read-only device file: %v, want EBADF", err)
	}
	k.Close(fd)

	// A node whose number no device has, and ioctls on other files.
	if err := k.Mknodat(abi.AT_FDCWD, "/dev/nodisk", abi.S_IFBLK|0o600, abi.Makedev(254, 200)); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Openat(abi.AT_FDCWD, "/dev/nodisk", abi.O_RDONLY, 0); !errors.Is(err, abi.ENXIO) {
		t.Errorf("open of a node without a device: %v, want ENXIO", err)
	}
	fd = openDev(t, k, "/regular", abi.O_RDWR|abi.O_CREAT)
	if _, err := k.BlkGetSize64(fd); !errors.Is(err, abi.ENOTTY) {
		t.Errorf("BLKGETSIZE64 of a regular file: %v, want ENOTTY", err)
	}
	k.Close(fd)

	if err := k.Halt(); err != nil {
		t.Fatal(err)
	}
	if outsideHash(t, img, p1Start, p1Size) != before {
		t.Errorf("bytes outside vda1 changed")
	}
	if !bytes.Equal(testutil.ReadAt(t, img, p1Start+p1Size-512, 512), want[p1Size-512:]) {
		t.Errorf("the write across the end is not in the image")
	}
}

// TestBlockDeviceReadOnly opens the nodes of a read-only disk: an open for
// writing succeeds and every change fails with EPERM, as on a read-only
// loop device; the image never changes.
func TestBlockDeviceReadOnly(t *testing.T) {
	img := gptDisk(t)
	before := testutil.FileSum(t, img)
	k := bootDisk(t, img, DiskOptions{ReadOnly: true})
	fd := openDev(t, k, "/dev/vda1", abi.O_RDWR)
	buf := make([]byte, 4096)
	if n, err := k.Pread(fd, buf, 0); n != len(buf) || err != nil || !bytes.Equal(buf, testutil.ReadAt(t, img, p1Start, 4096)) {
		t.Errorf("read: %d %v", n, err)
	}
	checks := []struct {
		what string
		err  error
	}{
		{"write", second(k.Pwrite(fd, buf, 0))},
		{"empty write", second(k.Pwrite(fd, nil, 0))},
		{"discard", k.BlkDiscard(fd, 0, 4096)},
		{"zeroout", k.BlkZeroout(fd, 0, 4096)},
		{"punch hole", k.Fallocate(fd, abi.FALLOC_FL_PUNCH_HOLE|abi.FALLOC_FL_KEEP_SIZE, 0, 4096)},
		{"zero range", k.Fallocate(fd, abi.FALLOC_FL_ZERO_RANGE, 0, 4096)},
	}
	for _, c := range checks {
		if !errors.Is(c.err, abi.EPERM) {
			t.Errorf("%s on a read-only disk: %v, want EPERM", c.what, c.err)
		}
	}
	if err := k.Fsync(fd); err != nil {
		t.Errorf("fsync: %v", err)
	}
	if err := k.BlkFlsBuf(fd); err != nil {
		t.Errorf("BLKFLSBUF: %v", err)
	}
	if ro, err := k.BlkRoGet(fd); err != nil || !ro {
		t.Errorf("BLKROGET: %v %v", ro, err)
	}
	// sendfile(2) from the device: its bytes from the offset, sent by
	// the disk's host side; the offset moves past them.
	out, err := os.Create(filepath.Join(t.TempDir(), "sent"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	k.Lseek(fd, 1000, abi.SEEK_SET)
	if n, err := k.Sendfile(out, fd, 70000); err != nil || n != 70000 {
		t.Errorf("sendfile from the device: %d %v", n, err)
	}
	if sent, _ := os.ReadFile(out.Name()); !bytes.Equal(sent, testutil.ReadAt(t, img, p1Start+1000, 70000)) {
		t.Errorf("sendfile from the device sent other bytes")
	}
	if pos, _ := k.Lseek(fd, 0, abi.SEEK_CUR); pos != 71000 {
		t.Errorf("the offset after sendfile: %d, want 71000", pos)
	}
	k.Close(fd)
	if err := k.Halt(); err != nil {
		t.Fatal(err)
	}
	if testutil.FileSum(t, img) != before {
		t.Errorf("the read-only image changed")
	}
}

func second(_ int, err error) error { return err }

// TestBlockDeviceDiscard discards, zeroes and punches ranges of vda1: they
// read back as zeros, the image file gets holes where whole host blocks
// were discarded, and nothing outside vda1 changes. The errors follow
// Linux's ioctls and blkdev_fallocate, as a loop device gives them.
func TestBlockDeviceDiscard(t *testing.T) {
	img := gptDisk(t)
	before := outsideHash(t, img, p1Start, p1Size)
	k := bootDisk(t, img, DiskOptions{})
	fd := openDev(t, k, "/dev/vda1", abi.O_RDWR)
	want := testutil.ReadAt(t, img, p1Start, p1Size)

	// Each operation zeroes its own range of the partition.
	ops := []struct {
		what    string
		off, n  int64
		zero    func(off, n int64) error
		minHole int64 // bytes of host hole expected inside the range
	}{
		{"BLKDISCARD", 0, 256 << 10, func(off, n int64) error { return k.BlkDiscard(fd, uint64(off), uint64(n)) }, 64 << 10},
		{"BLKZEROOUT", 512 << 10, 100 << 10, func(off, n int64) error { return k.BlkZeroout(fd, uint64(off), uint64(n)) }, 0},
		{"PUNCH_HOLE", 1 << 20, 128<<10 + 512, func(off, n int64) error {
			return k.Fallocate(fd, abi.FALLOC_FL_PUNCH_HOLE|abi.FALLOC_FL_KEEP_SIZE, off, n)
		}, 64 << 10},
		{"ZERO_RANGE", 1536 << 10, 8 << 10, func(off, n int64) error { return k.Fallocate(fd, abi.FALLOC_FL_ZERO_RANGE, off, n) }, 0},
		{"WRITE_ZEROES", 1600 << 10, 4 << 10, func(off, n int64) error { return k.Fallocate(fd, 0x80, off, n) }, 0},
		{"PUNCH_HOLE past the end", p1Size - 1024, 1 << 20, func(off, n int64) error {
			return k.Fallocate(fd, abi.FALLOC_FL_PUNCH_HOLE|abi.FALLOC_FL_KEEP_SIZE, off, n)
		}, 0},
	}
	for _, op := range ops {
		// Dirty pages in the range must not survive it.
		if _, err := k.Pwrite(fd, bytes.Repeat([]byte{0x5a}, 1000), op.off); err != nil {
			t.Fatal(err)
		}
		if err := op.zero(op.off, op.n); err != nil {
			t.Errorf("%s: %v", op.what, err)
			continue
		}
		n := min(op.n, p1Size-op.off)
		clear(want[op.off : op.off+n])
		got := make([]byte, n)
		if _, err := k.Pread(fd, got, op.off); err != nil || !bytes.Equal(got, want[op.off:op.off+n]) {
			t.Errorf("%s: the range does not read as zeros (%v)", op.what, err)
		}
	}
	if err := k.Fsync(fd); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(testutil.ReadAt(t, img, p1Start, p1Size), want) {
		t.Errorf("the image's vda1 differs from what was read")
	}
	if outsideHash(t, img, p1Start, p1Size) != before {
		t.Errorf("bytes outside vda1 changed")
	}
	hf, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer hf.Close()
	for _, op := range ops {
		if op.minHole == 0 {
			continue
		}
		start := p1Start + op.off
		hole, err := unix.Seek(int(hf.Fd()), start, unix.SEEK_HOLE)
		if err != nil || hole+op.minHole > start+op.n {
			t.Errorf("%s: the image has no hole of %d bytes in [%d, %d): SEEK_HOLE %d %v",
				op.what, op.minHole, start, start+op.n, hole, err)
			continue
		}
		data, err := unix.Seek(int(hf.Fd()), hole, unix.SEEK_DATA)
		if err != nil || data-hole < op.minHole {
			t.Errorf("%s: hole at %d of %d bytes, want at least %d (%v)", op.what, hole, data-hole, op.minHole, err)
		}
	}

	errs := []struct {
		what string
		err  error
		want abi.Errno
	}{
		{"discard of 0 bytes", k.BlkDiscard(fd, 0, 0), abi.EINVAL},
		{"discard at an odd offset", k.BlkDiscard(fd, 1, 512), abi.EINVAL},
		{"discard past the end", k.BlkDiscard(fd, p1Size-512, 1024), abi.EINVAL},
		{"discard wrapping", k.BlkDiscard(fd, 512, ^uint64(511)), abi.EINVAL},
		{"zeroout of 0 bytes", k.BlkZeroout(fd, 0, 0), abi.EINVAL},
		{"zeroout of an odd length", k.BlkZeroout(fd, 0, 100), abi.EINVAL},
		{"zeroout past the end", k.BlkZeroout(fd, p1Size-512, 1024), abi.EINVAL},
		{"fallocate mode 0", k.Fallocate(fd, 0, 0, 4096), abi.EOPNOTSUPP},
		{"fallocate KEEP_SIZE", k.Fallocate(fd, abi.FALLOC_FL_KEEP_SIZE, 0, 4096), abi.EOPNOTSUPP},
		{"PUNCH_HOLE without KEEP_SIZE", k.Fallocate(fd, abi.FALLOC_FL_PUNCH_HOLE, 0, 4096), abi.EOPNOTSUPP},
		{"ZERO_RANGE past the end", k.Fallocate(fd, abi.FALLOC_FL_ZERO_RANGE, p1Size-512, 4096), abi.EINVAL},
		{"ZERO_RANGE at an odd offset", k.Fallocate(fd, abi.FALLOC_FL_ZERO_RANGE|abi.FALLOC_FL_KEEP_SIZE, 1, 4096), abi.EINVAL},
		{"PUNCH_HOLE at the end", k.Fallocate(fd, abi.FALLOC_FL_PUNCH_HOLE|abi.FALLOC_FL_KEEP_SIZE, p1Size, 512), abi.EINVAL},
	}
	for _, e := range errs {
		if !errors.Is(e.err, e.want) {
			t.Errorf("%s: %v, want %v", e.what, e.err, e.want)
		}
	}
	if err := k.BlkFlsBuf(fd); err != nil {
		t.Errorf("BLKFLSBUF: %v", err)
	}
	k.Close(fd)
	fd = openDev(t, k, "/dev/vda1", abi.O_RDONLY)
	for what, err := range map[string]error{
		"discard":    k.BlkDiscard(fd, 0, 4096),
		"zeroout":    k.BlkZeroout(fd, 0, 4096),
		"punch hole": k.Fallocate(fd, abi.FALLOC_FL_PUNCH_HOLE|abi.FALLOC_FL_KEEP_SIZE, 0, 4096),
	} {
		if !errors.Is(err, abi.EBADF) {
			t.Errorf("%s on a read-only file: %v, want EBADF", what, err)
		}
	}
	k.Close(fd)
}

// TestBlockDeviceMkfsAndMount writes an ext4 image made by mke2fs into
// vda2 through its node, then mounts vda2 and reads a file; and checks
// that O_EXCL opens and mounts exclude each other as Linux's claims do.
func TestBlockDeviceMkfsAndMount(t *testing.T) {
	tools := testutil.Need(t, "mkfs.ext4", "e2fsck")
	mkfs, e2fsck := tools[0], tools[1]
	tmp := t.TempDir()
	root := filepath.Join(tmp, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "hello"), []byte("through /dev/vda2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fsimg := filepath.Join(tmp, "fs.ext4")
	testutil.Run(t, mkfs, "-q", "-F", "-d", root, fsimg, "8M")
	fsdata, err := os.ReadFile(fsimg)
	if err != nil {
		t.Fatal(err)
	}
	img := gptDisk(t)
	before := outsideHash(t, img, p2Start, p2Size)
	k := bootDisk(t, img, DiskOptions{})

	fd := openDev(t, k, "/dev/vda2", abi.O_WRONLY|abi.O_EXCL)
	if _, err := k.Openat(abi.AT_FDCWD, "/dev/vda2", abi.O_RDONLY|abi.O_EXCL, 0); !errors.Is(err, abi.EBUSY) {
		t.Errorf("second O_EXCL open of vda2: %v, want EBUSY", err)
	}
	if _, err := k.Openat(abi.AT_FDCWD, "/dev/vda", abi.O_RDONLY|abi.O_EXCL, 0); !errors.Is(err, abi.EBUSY) {
		t.Errorf("O_EXCL open of vda while vda2 is held: %v, want EBUSY", err)
	}
	other := openDev(t, k, "/dev/vda1", abi.O_RDONLY|abi.O_EXCL)
	k.Close(other)
	if n, err := k.Write(fd, fsdata); err != nil || n != len(fsdata) {
		t.Fatalf("write of the image: %d %v", n, err)
	}
	if err := k.Mkdirat(abi.AT_FDCWD, "/mnt/x", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := k.Mount("/dev/vda2", "/mnt/x", "ext4", 0, ""); !errors.Is(err, abi.EBUSY) {
		t.Errorf("mount of vda2 held by an O_EXCL open: %v, want EBUSY", err)
	}
	if err := k.Close(fd); err != nil {
		t.Fatal(err)
	}
	whole := openDev(t, k, "/dev/vda", abi.O_RDONLY|abi.O_EXCL)
	if err := k.Mount("/dev/vda2", "/mnt/x", "ext4", 0, ""); !errors.Is(err, abi.EBUSY) {
		t.Errorf("mount of vda2 while vda is held: %v, want EBUSY", err)
	}
	k.Close(whole)

	if err := k.Mount("/dev/vda2", "/mnt/x", "", 0, ""); err != nil {
		t.Fatalf("mount: %v\n%s", err, k.Dmesg())
	}
	f := openDev(t, k, "/mnt/x/hello", abi.O_RDONLY)
	buf := make([]byte, 100)
	if n, err := k.Read(f, buf); err != nil || string(buf[:n]) != "through /dev/vda2\n" {
		t.Errorf("read of the file: %q %v", buf[:n], err)
	}
	k.Close(f)
	for _, dev := range []string{"/dev/vda2", "/dev/vda"} {
		if _, err := k.Openat(abi.AT_FDCWD, dev, abi.O_RDONLY|abi.O_EXCL, 0); !errors.Is(err, abi.EBUSY) {
			t.Errorf("O_EXCL open of %s while vda2 is mounted: %v, want EBUSY", dev, err)
		}
	}
	// A plain open of a mounted device works, as Linux allows it.
	plain := openDev(t, k, "/dev/vda2", abi.O_RDONLY)
	if _, err := k.Pread(plain, buf[:2], 1024+56); err != nil || buf[0] != 0x53 || buf[1] != 0xef {
		t.Errorf("the superblock magic through the mounted device: %x %v", buf[:2], err)
	}
	k.Close(plain)
	if err := k.Mount("/dev/vda", "/mnt", "ext4", 0, ""); !errors.Is(err, abi.EBUSY) {
		t.Errorf("mount of vda while vda2 is mounted: %v, want EBUSY", err)
	}
	if err := k.Umount("/mnt/x", 0); err != nil {
		t.Fatal(err)
	}
	fd = openDev(t, k, "/dev/vda2", abi.O_RDONLY|abi.O_EXCL)
	k.Close(fd)
	if err := k.Halt(); err != nil {
		t.Fatal(err)
	}
	if outsideHash(t, img, p2Start, p2Size) != before {
		t.Errorf("bytes outside vda2 changed")
	}
	part := filepath.Join(tmp, "part.ext4")
	if err := os.WriteFile(part, testutil.ReadAt(t, img, p2Start, int64(len(fsdata))), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(e2fsck, "-fn", part).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn of vda2 after the mount: %v\n%s", err, out)
	}
}

// BenchmarkBlockDeviceWrite writes a 256 MiB disk through /dev/vda in
// 1 MiB pwrites and fsyncs it: the path a mkfs on the syscalls takes.
func BenchmarkBlockDeviceWrite(b *testing.B) {
	const size = 256 << 20
	img := filepath.Join(b.TempDir(), "disk.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		b.Fatal(err)
	}
	k, err := Boot(Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer k.Halt()
	if _, err := k.AddDisk(img, DiskOptions{CacheUnsafe: true}); err != nil {
		b.Fatal(err)
	}
	fd, err := k.Openat(abi.AT_FDCWD, "/dev/vda", abi.O_RDWR|abi.O_EXCL, 0)
	if err != nil {
		b.Fatal(err)
	}
	buf := bytes.Repeat([]byte{0xa5}, 1<<20)
	b.SetBytes(size)
	for b.Loop() {
		for off := int64(0); off < size; off += int64(len(buf)) {
			if _, err := k.Pwrite(fd, buf, off); err != nil {
				b.Fatal(err)
			}
		}
		if err := k.Fsync(fd); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBlockDeviceSharedPage writes, at the same time, the first sectors
// of vda1 through its node and the sector before it through vda's: they
// share a page of the cache, and neither write may undo the other.
func TestBlockDeviceSharedPage(t *testing.T) {
	img := gptDisk(t)
	k := bootDisk(t, img, DiskOptions{})
	part := openDev(t, k, "/dev/vda1", abi.O_RDWR)
	disk := openDev(t, k, "/dev/vda", abi.O_RDWR)
	const rounds = 200
	done := make(chan error, 2)
	write := func(fd int, off int64, fill byte) {
		for i := range rounds {
			b := bytes.Repeat([]byte{fill + byte(i%2)}, 512)
			if _, err := k.Pwrite(fd, b, off); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}
	go write(part, 0, 0x10)           // vda1's first sector
	go write(disk, p1Start-512, 0x20) // the sector before vda1
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if err := k.Fsync(part); err != nil {
		t.Fatal(err)
	}
	got := testutil.ReadAt(t, img, p1Start-512, 1024)
	if !bytes.Equal(got[:512], bytes.Repeat([]byte{0x21}, 512)) || !bytes.Equal(got[512:], bytes.Repeat([]byte{0x11}, 512)) {
		t.Errorf("the sectors around vda1's start hold %x... and %x..., want 21 and 11", got[:4], got[512:516])
	}
	k.Close(part)
	k.Close(disk)
}

// TestBlockDeviceHoles: on a read-only disk, lseek's SEEK_DATA and
// SEEK_HOLE on the device show the image's holes: the host's own holes
// of a raw image file (the same offsets, partition-relative), and the
// clusters a qcow2 image of it does not allocate (every byte outside the
// data runs reads as zeros, and there are holes).
func TestBlockDeviceHoles(t *testing.T) {
	img := gptDisk(t)
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Holes in vda1 (odd start) and vda2.
	for _, h := range [][2]int64{{p1Start + 64<<10, 128 << 10}, {p1Start + 1<<20, 256 << 10}, {p2Start + 4096, 1 << 20}, {p2Start + 3<<20, 5 << 20}} {
		if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, h[0], h[1]); err != nil {
			t.Skipf("the host cannot punch holes here: %v", err)
		}
	}
	f.Close()
	hostSeek := func(off int64, whence int) int64 {
		hf, err := os.Open(img)
		if err != nil {
			t.Fatal(err)
		}
		defer hf.Close()
		n, err := unix.Seek(int(hf.Fd()), off, whence)
		if err != nil {
			return -1
		}
		return n
	}
	k := bootDisk(t, img, DiskOptions{ReadOnly: true})
	for _, p := range []struct {
		dev         string
		start, size int64
	}{{"/dev/vda1", p1Start, p1Size}, {"/dev/vda2", p2Start, p2Size}} {
		fd := openDev(t, k, p.dev, abi.O_RDONLY)
		for off := int64(0); off < p.size; off += 8191 {
			for _, w := range []int{abi.SEEK_DATA, abi.SEEK_HOLE} {
				want := hostSeek(p.start+off, w) - p.start
				if want >= p.size || want < off {
					want = p.size // past the partition: none in it
				}
				got, err := k.Lseek(fd, off, w)
				if w == abi.SEEK_DATA && want == p.size {
					if !errors.Is(err, abi.ENXIO) {
						t.Errorf("%s: SEEK_DATA at %d: %d %v, want ENXIO", p.dev, off, got, err)
					}
					continue
				}
				if err != nil || got != want {
					t.Errorf("%s: lseek(%d, %d) = %d %v, want %d (the image file's)", p.dev, off, w, got, err, want)
				}
			}
		}
		k.Close(fd)
	}
	testutil.Need(t, "qemu-img")
	qimg := img + ".qcow2"
	if out, err := exec.Command("qemu-img", "convert", "-O", "qcow2", "-o", "cluster_size=4096", img, qimg).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img: %v\n%s", err, out)
	}
	k = bootDisk(t, qimg, DiskOptions{ReadOnly: true})
	fd := openDev(t, k, "/dev/vda", abi.O_RDONLY)
	disk, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	var holes int64
	for off := int64(0); off < int64(len(disk)); {
		start, err := k.Lseek(fd, off, abi.SEEK_DATA)
		if errors.Is(err, abi.ENXIO) {
			start = int64(len(disk))
		} else if err != nil {
			t.Fatal(err)
		}
		if i := bytes.IndexFunc(disk[off:start], func(r rune) bool { return r != 0 }); i >= 0 {
			t.Fatalf("qcow2: a hole [%d, %d) holds a non-zero byte at %d", off, start, off+int64(i))
		}
		holes += start - off
		if start == int64(len(disk)) {
			break
		}
		end, err := k.Lseek(fd, start, abi.SEEK_HOLE)
		if err != nil || end <= start {
			t.Fatalf("SEEK_HOLE at %d: %d %v", start, end, err)
		}
		off = end
	}
	if holes < 6<<20 {
		t.Errorf("qcow2: %d bytes of holes found, the image has over 6 MiB", holes)
	}
}
