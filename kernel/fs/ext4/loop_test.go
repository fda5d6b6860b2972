//go:build linux

package ext4

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
	"golang.org/x/sys/unix"
)

// The loop tests use the host kernel as the oracle: it writes a tree into
// a fresh image (so the image holds what Linux itself writes: htree
// directories, unwritten extents, nanosecond and post-2038 times, long
// symlinks, inline data), then a read-only mount records what Linux shows,
// and the driver must show the same.

// hostEntry is what the host kernel shows of one file.
type hostEntry struct {
	st      syscall.Stat_t
	btime   abi.Timespec
	attrs   uint64
	target  string
	sum     [32]byte
	xattrs  map[string]string
	segs    [][2]int64 // data segments from SEEK_DATA/SEEK_HOLE
	dirents []string
}

// statx returns a file's birth time (Sec -1 when the filesystem has none)
// and attributes.
func statx(path string) (abi.Timespec, uint64, error) {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_ALL, &st); err != nil {
		return abi.Timespec{}, 0, err
	}
	if st.Mask&unix.STATX_BTIME == 0 {
		return abi.Timespec{Sec: -1}, st.Attributes, nil
	}
	return abi.Timespec{Sec: st.Btime.Sec, Nsec: int64(st.Btime.Nsec)}, st.Attributes, nil
}

// dataSegments lists a file's data with SEEK_DATA and SEEK_HOLE.
func dataSegments(f *os.File, size int64) [][2]int64 {
	var segs [][2]int64
	for off := int64(0); off < size; {
		d, err := f.Seek(off, abi.SEEK_DATA)
		if err != nil {
			break
		}
		h, err := f.Seek(d, abi.SEEK_HOLE)
		if err != nil {
			break
		}
		segs = append(segs, [2]int64{d, h})
		off = h
	}
	return segs
}

// snapshotHost walks a mounted tree.
func snapshotHost(t *testing.T, root string) map[string]*hostEntry {
	t.Helper()
	m := map[string]*hostEntry{}
	err := filepath.Walk(root, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		e := &hostEntry{xattrs: map[string]string{}}
		if err := syscall.Lstat(path, &e.st); err != nil {
			return err
		}
		if e.btime, e.attrs, err = statx(path); err != nil {
			return err
		}
		for n, v := range hostXattrs(t, path) {
			e.xattrs[n] = string(v)
		}
		switch e.st.Mode & syscall.S_IFMT {
		case syscall.S_IFLNK:
			e.target, _ = os.Readlink(path)
		case syscall.S_IFREG:
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			// Seek before reading: SEEK_DATA reports unwritten extents
			// as data once their pages are cached.
			e.segs = dataSegments(f, e.st.Size)
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				f.Close()
				return err
			}
			h := sha256.New()
			if _, err := io.Copy(h, f); err != nil {
				f.Close()
				return err
			}
			copy(e.sum[:], h.Sum(nil))
			f.Close()
		case syscall.S_IFDIR:
			// Readdirnames keeps the kernel's order (hash order on
			// dir_index filesystems).
			d, err := os.Open(path)
			if err != nil {
				return err
			}
			e.dirents, err = d.Readdirnames(-1)
			d.Close()
			if err != nil {
				return err
			}
		}
		m[rel] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// populateHost writes the test tree through the host kernel.
func populateHost(t *testing.T, mnt string) {
	t.Helper()
	p := func(n string) string { return filepath.Join(mnt, n) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	run := func(name string, args ...string) { t.Helper(); testutil.Run(t, name, args...) }
	must(os.WriteFile(p("small"), []byte("small\n"), 0o644))
	must(os.WriteFile(p("tiny"), []byte("x"), 0o600))
	must(os.Mkdir(p("big"), 0o755))
	for i := 0; i < bigDirEntries; i++ {
		must(os.WriteFile(p(fmt.Sprintf("big/f%05d-%s", i, strings.Repeat("z", i%50))), nil, 0o644))
	}
	// Remove some entries so that the blocks have holes in their chains.
	for i := 0; i < bigDirEntries; i += 3 {
		must(os.Remove(p(fmt.Sprintf("big/f%05d-%s", i, strings.Repeat("z", i%50)))))
	}
	must(os.Mkdir(p("few"), 0o700))
	must(os.WriteFile(p("few/one"), []byte("1"), 0o644))
	var st syscall.Statfs_t
	must(syscall.Statfs(mnt, &st))
	for _, n := range []int{59, 60, 61, 1000, 4000} {
		if int64(n) < st.Bsize { // Linux's limit for a symlink
			must(os.Symlink(symlinkTarget(n), p(fmt.Sprintf("sym%d", n))))
		}
	}
	must(os.WriteFile(p("data"), bytes.Repeat([]byte("0123456789abcdef"), 100000), 0o644))
	// Unwritten extents and punched holes, where the filesystem has
	// extents (fallocate is EOPNOTSUPP on block-mapped files).
	must(os.WriteFile(p("punched"), bytes.Repeat([]byte("p"), 3<<20), 0o644))
	if f, err := os.OpenFile(p("prealloc"), os.O_CREATE|os.O_RDWR, 0o644); err != nil {
		t.Fatal(err)
	} else if err := syscall.Fallocate(int(f.Fd()), 0, 0, 3<<20); err == nil {
		f.Close()
		run("fallocate", "-p", "-o", "1M", "-l", "1M", p("punched"))
		f, err := os.OpenFile(p("mixed"), os.O_CREATE|os.O_RDWR, 0o644)
		must(err)
		must(syscall.Fallocate(int(f.Fd()), 0, 0, 1<<20))
		_, err = f.WriteAt([]byte("written in the middle of unwritten"), 300000)
		must(err)
		must(f.Truncate(2 << 20))
		f.Close()
	} else {
		f.Close()
	}
	must(os.WriteFile(p("huge"), nil, 0o644))
	must(os.Truncate(p("huge"), 6*gib))
	f, err := os.OpenFile(p("huge"), os.O_RDWR, 0)
	must(err)
	_, err = f.WriteAt([]byte("far"), 5*gib)
	must(err)
	f.Close()
	must(os.Link(p("small"), p("few/small-link")))
	must(syscall.Mkfifo(p("fifo"), 0o644))
	must(syscall.Mknod(p("chr"), syscall.S_IFCHR|0o600, int(abi.Makedev(4095, 1048575))))
	must(syscall.Mknod(p("blk"), syscall.S_IFBLK|0o600, int(abi.Makedev(7, 3))))
	must(syscall.Setxattr(p("small"), "user.a", []byte("b"), 0))
	must(syscall.Setxattr(p("small"), "trusted.x", bytes.Repeat([]byte("y"), 600), 0))
	must(syscall.Setxattr(p("few"), "security.z", []byte("zz"), 0))
	// A value larger than a block goes to an ea_inode where the feature
	// is on; elsewhere the kernel refuses it.
	if err := syscall.Setxattr(p("data"), "user.huge", bytes.Repeat([]byte("h"), 10000), 0); err != nil && !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, syscall.E2BIG) {
		t.Fatal(err)
	}
	if setfacl, err := exec.LookPath("setfacl"); err == nil {
		run(setfacl, "-m", "u:1234:rwx,g:55:r-x,u:99:r--", p("data"))
		run(setfacl, "-d", "-m", "u:1234:r-x", p("few"))
	}
	must(os.Lchown(p("tiny"), 100000, 200000))
	ts := []syscall.Timespec{{Sec: 4102444800 + 123, Nsec: 987654321}, {Sec: 4102444800 + 5, Nsec: 123456789}}
	must(utimensat(p("tiny"), ts))
	ts = []syscall.Timespec{{Sec: -100, Nsec: 5}, {Sec: -2000000000, Nsec: 999999999}}
	must(utimensat(p("data"), ts))
	run("chattr", "+i", p("tiny"))
	run("chattr", "+a", p("few/one"))
	run("chattr", "+d", p("small"))
}

// TestLoopOracle compares the driver with the host kernel's view of images
// the host kernel wrote.
func TestLoopOracle(t *testing.T) {
	testutil.NeedLoop(t)
	tools := testutil.Need(t, "mkfs.ext4", "e2fsck", "fallocate", "chattr")
	for _, v := range []variant{
		{name: "ext4"},
		{name: "inline", args: []string{"-O", "inline_data"}},
		{name: "ext3-1k", args: []string{"-t", "ext3", "-b", "1024"}},
		{name: "large_dir", args: []string{"-O", "large_dir"}},
		{name: "bigalloc", args: []string{"-O", "bigalloc", "-C", "16384"}},
		{name: "ea_inode", args: []string{"-O", "ea_inode"}},
	} {
		t.Run(v.name, func(t *testing.T) {
			dir := t.TempDir()
			img := filepath.Join(dir, "img")
			mnt := filepath.Join(dir, "mnt")
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			must(os.Mkdir(mnt, 0o755))
			args := append([]string{"-q", "-F"}, v.args...)
			testutil.Run(t, tools[0], append(args, img, "1G")...)
			testutil.Run(t, "mount", "-o", "loop", img, mnt)
			mounted := true
			defer func() {
				if mounted {
					exec.Command("umount", mnt).Run()
				}
			}()
			populateHost(t, mnt)
			testutil.Run(t, "umount", mnt)
			testutil.Run(t, "mount", "-o", "loop,ro", img, mnt)
			host := snapshotHost(t, mnt)
			var hst syscall.Statfs_t
			must(syscall.Statfs(mnt, &hst))
			testutil.Run(t, "umount", mnt)
			mounted = false
			if out, err := exec.Command(tools[1], "-fn", img).CombinedOutput(); err != nil {
				t.Fatalf("e2fsck: %v\n%s", err, out)
			}

			sb, log := mountImage(t, img)
			t.Logf("log:\n%s", log)
			st, err := sb.Statfs()
			must(err)
			if st.Blocks != hst.Blocks || st.Bfree != hst.Bfree || st.Bavail != hst.Bavail ||
				st.Files != hst.Files || st.Ffree != hst.Ffree || st.Bsize != hst.Bsize || st.Namelen != hst.Namelen ||
				st.Fsid[0] != hst.Fsid.X__val[0] || st.Fsid[1] != hst.Fsid.X__val[1] {
				t.Errorf("statfs %+v\nhost   %+v", st, hst)
			}
			compareHost(t, sb, host)
		})
	}
}

func compareHost(t *testing.T, sb vfs.Superblock, host map[string]*hostEntry) {
	t.Helper()
	const attrMask = abi.STATX_ATTR_APPEND | abi.STATX_ATTR_IMMUTABLE | abi.STATX_ATTR_NODUMP |
		abi.STATX_ATTR_COMPRESSED | abi.STATX_ATTR_ENCRYPTED | abi.STATX_ATTR_VERITY
	names := make([]string, 0, len(host))
	for n := range host {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, rel := range names {
		h := host[rel]
		ip, err := lookupPath(sb, rel)
		if err != nil {
			t.Errorf("%s: lookup: %v", rel, err)
			continue
		}
		a, _ := ip.Getattr()
		ts := func(s syscall.Timespec) abi.Timespec { return abi.Timespec{Sec: s.Sec, Nsec: s.Nsec} }
		want := vfs.Attr{
			Ino: h.st.Ino, Mode: h.st.Mode, Nlink: uint32(h.st.Nlink), Uid: h.st.Uid, Gid: h.st.Gid,
			Rdev: h.st.Rdev, Size: h.st.Size, Blocks: h.st.Blocks, Blksize: uint32(h.st.Blksize),
			Atime: ts(h.st.Atim), Mtime: ts(h.st.Mtim), Ctime: ts(h.st.Ctim),
			Btime: h.btime, HasBtime: h.btime.Sec != -1, Attributes: h.attrs & attrMask,
		}
		if h.st.Mode&syscall.S_IFMT == syscall.S_IFBLK {
			// A block device's st_blksize is the device's, which the
			// VFS supplies, not the filesystem.
			want.Blksize = a.Blksize
		}
		if !want.HasBtime {
			want.Btime = abi.Timespec{}
			a.Btime = abi.Timespec{}
		}
		if a != want {
			t.Errorf("%s: attr\n got %+v\nwant %+v", rel, a, want)
		}
		x := ip.(vfs.Xattrer)
		xn, err := x.Listxattr()
		if err != nil {
			t.Errorf("%s: listxattr: %v", rel, err)
		}
		got := map[string]string{}
		for _, n := range xn {
			v, err := x.Getxattr(n)
			if err != nil {
				t.Errorf("%s: getxattr %s: %v", rel, n, err)
			}
			got[n] = string(v)
		}
		if fmt.Sprint(got) != fmt.Sprint(h.xattrs) {
			t.Errorf("%s: xattrs\n got %q\nwant %q", rel, got, h.xattrs)
		}
		switch h.st.Mode & syscall.S_IFMT {
		case syscall.S_IFLNK:
			if s, err := ip.(vfs.Readlinker).Readlink(); s != h.target || err != nil {
				t.Errorf("%s: readlink %q, %v; want %q", rel, s, err, h.target)
			}
		case syscall.S_IFDIR:
			ents, err := readDirAll(ip)
			if err != nil {
				t.Errorf("%s: readdir: %v", rel, err)
			}
			var got []string
			for _, e := range ents {
				got = append(got, e.Name)
			}
			if !slices.Equal(got, h.dirents) {
				t.Errorf("%s: entries differ from the kernel's (order included): %d entries, want %d; first %q, want %q",
					rel, len(got), len(h.dirents), head(got), head(h.dirents))
			}
		case syscall.S_IFREG:
			s := ip.(vfs.Seeker)
			var segs [][2]int64
			for off := int64(0); off < a.Size; {
				d, err := s.SeekData(off)
				if errors.Is(err, abi.ENXIO) {
					break
				}
				hole, err2 := s.SeekHole(d)
				if err != nil || err2 != nil {
					t.Errorf("%s: seek: %v %v", rel, err, err2)
					break
				}
				segs = append(segs, [2]int64{d, hole})
				off = hole
			}
			if fmt.Sprint(segs) != fmt.Sprint(h.segs) {
				t.Errorf("%s: data segments %v, want %v", rel, segs, h.segs)
			}
			if a.Size > 64<<20 {
				continue
			}
			b, err := readAll(ip, 65536+3)
			if err != nil || sha256.Sum256(b) != h.sum {
				t.Errorf("%s: content differs (%v)", rel, err)
			}
		}
	}
}

// TestJournalReplay copies an image while the host kernel has it mounted
// (after sync, so the journal holds committed transactions not yet
// checkpointed), then compares the driver's view of the copy with what the
// host kernel shows after replaying the journal of another copy.
func TestJournalReplay(t *testing.T) {
	testutil.NeedLoop(t)
	tools := testutil.Need(t, "mkfs.ext4", "e2fsck", "fallocate", "chattr", "dumpe2fs")
	for _, v := range []variant{
		{name: "ext4"},
		{name: "ext3-1k", args: []string{"-t", "ext3", "-b", "1024"}},
		{name: "64bit-csum", args: []string{"-O", "64bit,metadata_csum", "-J", "size=16"}},
	} {
		t.Run(v.name, func(t *testing.T) {
			dir := t.TempDir()
			img := filepath.Join(dir, "img")
			crash := filepath.Join(dir, "crash.img")
			oracle := filepath.Join(dir, "oracle.img")
			mnt := filepath.Join(dir, "mnt")
			if err := os.Mkdir(mnt, 0o755); err != nil {
				t.Fatal(err)
			}
			testutil.Run(t, tools[0], append(append([]string{"-q", "-F"}, v.args...), img, "1G")...)
			testutil.Run(t, "mount", "-o", "loop", img, mnt)
			mounted := true
			defer func() {
				if mounted {
					exec.Command("umount", mnt).Run()
				}
			}()
			populateHost(t, mnt)
			testutil.Run(t, "sync")
			testutil.Run(t, "cp", "--sparse=always", img, crash)
			testutil.Run(t, "umount", mnt)
			mounted = false
			if !strings.Contains(string(testutil.Run(t, tools[4], "-h", crash)), "needs_recovery") {
				t.Skip("the copy does not need recovery: the kernel checkpointed everything")
			}
			testutil.Run(t, "cp", "--sparse=always", crash, oracle)
			// Linux replays only on a writable device: mount the oracle
			// read-write, with noatime so that the walk changes nothing.
			testutil.Run(t, "mount", "-o", "loop,noatime", oracle, mnt)
			mounted = true
			host := snapshotHost(t, mnt)
			var hst syscall.Statfs_t
			if err := syscall.Statfs(mnt, &hst); err != nil {
				t.Fatal(err)
			}
			testutil.Run(t, "umount", mnt)
			mounted = false

			before, err := os.ReadFile(crash)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(before)
			before = nil
			sb, log := mountImage(t, crash)
			if !strings.Contains(log.String(), "recovery complete") {
				t.Errorf("no replay in the log:\n%s", log)
			}
			t.Logf("log:\n%s", log)
			compareHost(t, sb, host)
			st, _ := sb.Statfs()
			if st.Files != hst.Files || st.Bsize != hst.Bsize {
				t.Errorf("statfs %+v\nhost   %+v", st, hst)
			}
			after, _ := os.ReadFile(crash)
			if sha256.Sum256(after) != sum {
				t.Errorf("the image changed: a read-only mount wrote to it")
			}
		})
	}
}
