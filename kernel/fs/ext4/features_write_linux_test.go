package ext4_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
	"golang.org/x/sys/unix"
)

// featureKernel is a kernel with one image mounted read-write at /mnt,
// and must, which fails the test on an error with the kernel's log.
type featureKernel struct {
	*kernel.Kernel
	t *testing.T
}

func bootFeatureImage(t *testing.T, img string) featureKernel {
	t.Helper()
	k, err := kernel.Boot(kernel.Config{Now: func() abi.Timespec { return abi.Timespec{Sec: 1700000000} }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Halt() })
	fk := featureKernel{k, t}
	_, err = k.AddDisk(img, kernel.DiskOptions{})
	fk.must("add disk", err)
	if err := k.Mkdirat(abi.AT_FDCWD, "/mnt", 0o755); err != nil && !errors.Is(err, abi.EEXIST) {
		t.Fatal(err)
	}
	fk.must("mount", k.Mount("/dev/vda", "/mnt", "ext4", 0, ""))
	return fk
}

func (k featureKernel) must(what string, err error) {
	k.t.Helper()
	if err != nil {
		k.t.Fatalf("%s: %v\n%s", what, err, k.Dmesg())
	}
}

// want checks that a call failed with errno want (0: succeeded).
func (k featureKernel) want(what string, err error, want abi.Errno) {
	k.t.Helper()
	if got := abi.ErrnoOf(err); got != want || (want == 0) != (err == nil) {
		k.t.Errorf("%s: %v, want %v", what, err, want)
	}
}

// create makes a file holding data.
func (k featureKernel) create(p string, data string) error {
	fd, err := k.Openat(abi.AT_FDCWD, p, abi.O_CREAT|abi.O_EXCL|abi.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer k.Close(fd)
	_, err = k.Write(fd, []byte(data))
	return err
}

// readFile returns a file's contents.
func (k featureKernel) readFile(p string) ([]byte, error) {
	fd, err := k.Openat(abi.AT_FDCWD, p, abi.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer k.Close(fd)
	all, err := readAll(func(buf []byte) (int, error) { return k.Read(fd, buf) }, 1<<16)
	if err != nil {
		return nil, err
	}
	return all, nil
}

// fsckClean fails the test unless e2fsck -fn finds img clean.
func fsckClean(t *testing.T, img string) {
	t.Helper()
	testutil.Run(t, testutil.Need(t, "e2fsck")[0], "-fn", img)
}

func (k featureKernel) halt() {
	k.t.Helper()
	k.must("umount", k.Umount("/mnt", 0))
	k.must("halt", k.Halt())
}

// debugfs runs debugfs commands on img (writing with -w) and returns the
// output, without its banner and the echoed commands.
func debugfs(t *testing.T, img string, write bool, cmds ...string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "cmds")
	if err := os.WriteFile(f, []byte(strings.Join(cmds, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-f", f, img}
	if write {
		args = append([]string{"-w"}, args...)
	}
	var out []string
	for _, l := range strings.Split(string(testutil.Run(t, testutil.Need(t, "debugfs")[0], args...)), "\n") {
		if !strings.HasPrefix(l, "debugfs") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// verityImage is an image with the verity feature holding /verity.bin, a
// verity file of verityData bytes made as ext4 stores one
// (Documentation/filesystems/fsverity.rst, "ext4"): past i_size, from the
// next 64 KiB boundary, blocks standing for the Merkle tree and the
// descriptor; EXT4_VERITY_FL and extents set. The host's kernel may lack
// CONFIG_FS_VERITY, so debugfs makes it.
const verityData = 100000

func verityImage(t *testing.T) (img string, data []byte) {
	mkfs := testutil.Need(t, "mkfs.ext4")[0]
	dir := t.TempDir()
	img = filepath.Join(dir, "img")
	testutil.Run(t, mkfs, "-q", "-F", "-O", "verity", img, "32M")
	data = make([]byte, verityData)
	for i := range data {
		data[i] = byte(i*13 + i>>10 + 1)
	}
	blob := append(bytes.Clone(data), make([]byte, 65536*2-verityData)...)
	blob = append(blob, bytes.Repeat([]byte{0xa5}, 3*4096)...)
	host := filepath.Join(dir, "blob")
	if err := os.WriteFile(host, blob, 0o644); err != nil {
		t.Fatal(err)
	}
	debugfs(t, img, true, "write "+host+" verity.bin", fmt.Sprintf("sif verity.bin size %d", verityData),
		"sif verity.bin flags 0x180000")
	return img, data
}

// TestVerityWrites: on a verity image, a verity file stays as Linux keeps
// it: opening it for writing and truncating it are EPERM
// (fsverity_file_open, fsverity_prepare_setattr), while chmod, chown,
// xattrs, times, links and renames work and keep the blocks past i_size;
// unlinking it frees them all. Other files are written as usual.
func TestVerityWrites(t *testing.T) {
	img, data := verityImage(t)
	blocks := debugfs(t, img, false, "blocks verity.bin")
	if n := len(strings.Fields(blocks)); n < 35 {
		t.Fatalf("verity.bin maps %d blocks, want the 32 of the data and 3 past it:\n%s", n, blocks)
	}
	fsckClean(t, img)

	k := bootFeatureImage(t, img)
	for _, flags := range []int{abi.O_WRONLY, abi.O_RDWR, abi.O_RDONLY | abi.O_TRUNC, abi.O_WRONLY | abi.O_APPEND} {
		fd, err := k.Openat(abi.AT_FDCWD, "/mnt/verity.bin", flags, 0)
		if err == nil {
			k.Close(fd)
		}
		k.want(fmt.Sprintf("open %#o", flags), err, abi.EPERM)
	}
	k.want("truncate", k.Truncate("/mnt/verity.bin", 0), abi.EPERM)
	k.want("truncate to its size", k.Truncate("/mnt/verity.bin", verityData), abi.EPERM)
	got, err := k.readFile("/mnt/verity.bin")
	k.must("read", err)
	if !bytes.Equal(got, data) {
		t.Errorf("verity.bin reads %d bytes, not its data", len(got))
	}
	k.must("chmod", k.Fchmodat(abi.AT_FDCWD, "/mnt/verity.bin", 0o600, 0))
	k.must("chown", k.Fchownat(abi.AT_FDCWD, "/mnt/verity.bin", 5, 6, 0))
	k.must("setxattr", k.Setxattr("/mnt/verity.bin", "user.v", []byte("kept"), 0))
	k.must("utimens", k.Utimensat(abi.AT_FDCWD, "/mnt/verity.bin", &[2]abi.Timespec{{Sec: 1}, {Sec: 2}}, 0))
	k.must("link", k.Linkat(abi.AT_FDCWD, "/mnt/verity.bin", abi.AT_FDCWD, "/mnt/hard", 0))
	k.must("rename", k.Renameat2(abi.AT_FDCWD, "/mnt/verity.bin", abi.AT_FDCWD, "/mnt/v2", 0))
	var stx abi.Statx
	k.must("statx", k.Statx(abi.AT_FDCWD, "/mnt/v2", 0, abi.STATX_BASIC_STATS, &stx))
	if stx.Attributes&abi.STATX_ATTR_VERITY == 0 || stx.Size != verityData || stx.Nlink != 2 || stx.Mode&0o7777 != 0o600 {
		t.Errorf("statx v2: attributes %#x size %d nlink %d mode %#o", stx.Attributes, stx.Size, stx.Nlink, stx.Mode)
	}
	k.must("create plain", k.create("/mnt/plain", "plain data"))
	k.must("truncate plain", k.Truncate("/mnt/plain", 5))
	k.halt()
	fsckClean(t, img)
	if after := debugfs(t, img, false, "blocks v2"); after != blocks {
		t.Errorf("blocks of the verity file changed:\nbefore %s\nafter  %s", blocks, after)
	}
	if s := debugfs(t, img, false, "stat v2"); !strings.Contains(s, "Flags: 0x180000") {
		t.Errorf("v2 lost EXT4_VERITY_FL:\n%s", s)
	}

	k = bootFeatureImage(t, img)
	k.must("unlink", k.Unlinkat(abi.AT_FDCWD, "/mnt/v2", 0))
	k.must("unlink hard", k.Unlinkat(abi.AT_FDCWD, "/mnt/hard", 0))
	k.halt()
	fsckClean(t, img)
	var cmds []string
	for _, b := range strings.Fields(blocks) {
		cmds = append(cmds, "testb "+b)
	}
	if out := debugfs(t, img, false, cmds...); strings.Contains(out, "marked in use") {
		t.Errorf("blocks of the unlinked verity file still in use:\n%s", out)
	}
}

// TestCasefoldWrites: in a casefolded directory (made by debugfs: the
// host kernel may lack CONFIG_UNICODE), names are stored as given and
// found, refused as duplicates, renamed and removed ignoring case, as
// Linux's ext4_match has it; the directory grows an htree hashed on the
// casefolded names (e2fsck -fn checks the hashes); a directory made in it
// is casefolded too. In strict mode a name that is not UTF-8 is EINVAL.
func TestCasefoldWrites(t *testing.T) {
	mkfs := testutil.Need(t, "mkfs.ext4")[0]
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "img")
			args := []string{"-q", "-F", "-O", "casefold"}
			if strict {
				args = append(args, "-E", "encoding_flags=strict")
			}
			testutil.Run(t, mkfs, append(args, img, "32M")...)
			debugfs(t, img, true, "mkdir cf", "sif cf flags 0x40080000")
			casefoldScenario(t, img, strict)
		})
	}
}

func casefoldScenario(t *testing.T, img string, strict bool) {
	k := bootFeatureImage(t, img)
	stat := func(p string) (abi.Stat, error) {
		var st abi.Stat
		err := k.Fstatat(abi.AT_FDCWD, "/mnt/cf/"+p, &st, abi.AT_SYMLINK_NOFOLLOW)
		return st, err
	}
	k.must("create README", k.create("/mnt/cf/README", "read me"))
	k.want("create readme", k.create("/mnt/cf/readme", "x"), abi.EEXIST)
	if got, err := k.readFile("/mnt/cf/rEaDmE"); err != nil || string(got) != "read me" {
		t.Errorf("rEaDmE: %q, %v", got, err)
	}
	k.must("create Straße", k.create("/mnt/cf/Straße", "street"))
	k.want("create STRASSE", k.create("/mnt/cf/STRASSE", "x"), abi.EEXIST)
	k.want("mkdir straße", k.Mkdirat(abi.AT_FDCWD, "/mnt/cf/straße", 0o755), abi.EEXIST)
	k.must("mkdir Sub", k.Mkdirat(abi.AT_FDCWD, "/mnt/cf/Sub", 0o755))
	k.must("create SUB/Inner.txt", k.create("/mnt/cf/SUB/Inner.txt", "inner"))
	k.want("create sub/INNER.TXT", k.create("/mnt/cf/sub/INNER.TXT", "x"), abi.EEXIST)
	k.want("link README Readme", k.Linkat(abi.AT_FDCWD, "/mnt/cf/README", abi.AT_FDCWD, "/mnt/cf/Readme", 0), abi.EEXIST)
	k.must("link README Hard", k.Linkat(abi.AT_FDCWD, "/mnt/cf/README", abi.AT_FDCWD, "/mnt/cf/Hard", 0))
	// Enough names for the directory to become indexed and split leaves.
	const many = 200
	for i := range many {
		k.must("create", k.create(fmt.Sprintf("/mnt/cf/File-%03d-NAME", i), "f"))
	}
	for i := range many {
		if _, err := stat(fmt.Sprintf("file-%03d-name", i)); err != nil {
			t.Errorf("stat file-%03d-name: %v", i, err)
		}
	}
	k.want("create FILE-150-NAME", k.create("/mnt/cf/FILE-150-NAME", "x"), abi.EEXIST)
	k.must("unlink FILE-000-name", k.Unlinkat(abi.AT_FDCWD, "/mnt/cf/FILE-000-name", 0))
	_, err := stat("File-000-NAME")
	k.want("stat File-000-NAME after unlink", err, abi.ENOENT)
	_, err = stat("file-001-NAME") // cached under another spelling
	k.must("stat file-001-NAME", err)
	k.must("rename", k.Renameat2(abi.AT_FDCWD, "/mnt/cf/FILE-001-name", abi.AT_FDCWD, "/mnt/cf/Renamed-ONE", 0))
	_, err = stat("file-001-NAME")
	k.want("stat file-001-NAME after rename", err, abi.ENOENT)
	_, err = stat("RENAMED-one")
	k.must("stat RENAMED-one", err)
	k.want("rename onto another case, noreplace",
		k.Renameat2(abi.AT_FDCWD, "/mnt/cf/File-002-NAME", abi.AT_FDCWD, "/mnt/cf/file-003-name", abi.RENAME_NOREPLACE), abi.EEXIST)
	k.must("rename onto another case", k.Renameat2(abi.AT_FDCWD, "/mnt/cf/File-002-NAME", abi.AT_FDCWD, "/mnt/cf/file-003-name", 0))
	k.must("rename to its own other case", k.Renameat2(abi.AT_FDCWD, "/mnt/cf/readme", abi.AT_FDCWD, "/mnt/cf/README", 0))
	k.want("rmdir sub", k.Unlinkat(abi.AT_FDCWD, "/mnt/cf/sub", abi.AT_REMOVEDIR), abi.ENOTEMPTY)
	k.must("mkdir Deep", k.Mkdirat(abi.AT_FDCWD, "/mnt/cf/Deep", 0o755))
	k.must("create deep/A", k.create("/mnt/cf/deep/A", "a"))
	k.want("create DEEP/a", k.create("/mnt/cf/DEEP/a", "x"), abi.EEXIST)
	bad := "bad-\xff-name"
	if strict {
		k.want("create non-UTF-8 name (strict)", k.create("/mnt/cf/"+bad, "x"), abi.EINVAL)
		k.want("mkdir non-UTF-8 name (strict)", k.Mkdirat(abi.AT_FDCWD, "/mnt/cf/"+bad, 0o755), abi.EINVAL)
	} else {
		k.must("create non-UTF-8 name", k.create("/mnt/cf/"+bad, "raw"))
		_, err = stat(bad)
		k.must("stat non-UTF-8 name", err)
		// The htree hash of a name that does not casefold is the hash
		// of its bytes (ext4fs_dirhash's opaque_seq), but e2fsck 1.47.0
		// cannot check it: its utf8_casefold never sees the -1 of an
		// invalid byte (it compares an unsigned char), fails with
		// ENAMETOOLONG, and pass 2 compares a stale hash with the
		// leaf's range. So the name moves on into the linear
		// directory Deep, where no hash is checked.
		k.must("rename non-UTF-8 name", k.Renameat2(abi.AT_FDCWD, "/mnt/cf/"+bad, abi.AT_FDCWD, "/mnt/cf/Deep/"+bad, 0))
		_, err = stat("DEEP/" + bad)
		k.must("stat Deep's non-UTF-8 name", err)
	}
	// Outside casefolded directories, case matters.
	k.must("create /README", k.create("/mnt/README", "1"))
	k.must("create /readme", k.create("/mnt/readme", "2"))
	k.halt()
	fsckClean(t, img)

	ls := debugfs(t, img, false, "ls -l /cf", "stat /cf/Deep", "stat /cf")
	// debugfs escapes bytes past ASCII. Renaming onto an entry of
	// another case keeps the entry's name, as ext4_setent does.
	for _, n := range []string{" README", ` Stra\xc3\x9fe`, " Sub", " Hard", " Renamed-ONE", " File-003-NAME", " Deep", " File-199-NAME"} {
		if !strings.Contains(ls, n+"\n") && !strings.Contains(ls, n+" ") {
			t.Errorf("no entry %q as stored in /cf:\n%s", n, ls)
		}
	}
	for _, n := range []string{" File-000-NAME", " FILE-001-name", " File-002-NAME", " file-003-name", " readme", " Readme", " STRASSE"} {
		if strings.Contains(ls, n+"\n") {
			t.Errorf("entry %q in /cf", n)
		}
	}
	if !strings.Contains(ls, "Flags: 0x40080000") || !strings.Contains(ls, "Flags: 0x40081000") {
		t.Errorf("/cf/Deep not casefolded or /cf not indexed:\n%s", ls)
	}
}

// TestEAInodeWrites: on an ea_inode image (1 KiB blocks), values too
// large for the attribute block go to ea_inodes, as Linux puts them
// there: at once above EXT4_XATTR_MIN_LARGE_EA_SIZE, else when they fit
// neither in the inode nor in the block; replacing or removing a value
// and unlinking its file free the ea_inode; ea_inodes Linux shared
// between two files (its mbcache) lose one reference, then the other.
// e2fsck -fn checks the flags, hashes and reference counts; the host's
// Linux reads the values back.
// Without metadata_csum the value hashes start from the same seed
// (s_csum_seed is computed for ea_inode too).
func TestEAInodeWrites(t *testing.T) {
	for _, features := range []string{"ea_inode", "ea_inode,^metadata_csum"} {
		t.Run(features, func(t *testing.T) { eaInodeScenario(t, features) })
	}
}

func eaInodeScenario(t *testing.T, features string) {
	mkfs := testutil.Need(t, "mkfs.ext4")[0]
	testutil.NeedLoop(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "img")
	testutil.Run(t, mkfs, "-q", "-F", "-O", features, "-b", "1024", img, "32M")
	value := func(n int, seed byte) []byte {
		v := make([]byte, n)
		for i := range v {
			v[i] = byte(i*7) + seed
		}
		return v
	}
	// Linux shares one ea_inode between the equal values of s1 and s2.
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "mount", "-o", "loop", img, mnt)
	for _, f := range []string{"s1", "s2", "s3"} {
		p := filepath.Join(mnt, f)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := unix.Setxattr(p, "user.shared", value(5000, 1), 0); err != nil {
			testutil.Run(t, "umount", mnt)
			t.Fatal(err)
		}
	}
	testutil.Run(t, "umount", mnt)

	k := bootFeatureImage(t, img)
	getx := func(p, name string) []byte {
		t.Helper()
		buf := make([]byte, 1<<17)
		n, err := k.Getxattr(p, name, buf)
		if err != nil {
			t.Errorf("getxattr %s %s: %v", p, name, err)
			return nil
		}
		return buf[:n]
	}
	k.must("create f", k.create("/mnt/f", "f"))
	k.must("set big", k.Setxattr("/mnt/f", "user.big", value(20000, 2), 0))
	k.must("set max", k.Setxattr("/mnt/f", "user.max", value(abi.XATTR_SIZE_MAX, 3), 0))
	k.want("set over max", k.Setxattr("/mnt/f", "user.over", value(abi.XATTR_SIZE_MAX+1, 4), 0), abi.E2BIG)
	// 900 bytes fit a block but not the inode; the second no longer
	// fits the block either.
	k.must("set mid1", k.Setxattr("/mnt/f", "user.mid1", value(900, 5), 0))
	k.must("set mid2", k.Setxattr("/mnt/f", "user.mid2", value(900, 6), 0))
	for _, c := range []struct {
		name string
		v    []byte
	}{{"user.big", value(20000, 2)}, {"user.max", value(abi.XATTR_SIZE_MAX, 3)},
		{"user.mid1", value(900, 5)}, {"user.mid2", value(900, 6)}, {"user.shared", nil}} {
		if c.v != nil && !bytes.Equal(getx("/mnt/f", c.name), c.v) {
			t.Errorf("%s: not the value set", c.name)
		}
	}
	k.must("replace big by a small value", k.Setxattr("/mnt/f", "user.big", []byte("small"), abi.XATTR_REPLACE))
	k.must("replace max by another large one", k.Setxattr("/mnt/f", "user.max", value(30000, 7), 0))
	k.must("remove mid2", k.Removexattr("/mnt/f", "user.mid2"))
	k.must("create g", k.create("/mnt/g", "g"))
	k.must("set g", k.Setxattr("/mnt/g", "user.big", value(8000, 8), 0))
	k.must("unlink g", k.Unlinkat(abi.AT_FDCWD, "/mnt/g", 0))
	k.must("remove s1's shared value", k.Removexattr("/mnt/s1", "user.shared"))
	k.must("replace s2's shared value", k.Setxattr("/mnt/s2", "user.shared", value(5000, 9), 0))
	if !bytes.Equal(getx("/mnt/s3", "user.shared"), value(5000, 1)) {
		t.Errorf("s3's shared value changed")
	}
	// Small values fill the inode and the block, then go to ea_inodes
	// until no entry fits: the last ea_inode made is freed again.
	k.must("create full", k.create("/mnt/full", ""))
	var err error
	n := 0
	for ; err == nil && n < 1000; n++ {
		err = k.Setxattr("/mnt/full", fmt.Sprintf("user.filler-%03d", n), value(40, byte(n)), 0)
	}
	k.want("fill the inode and the block", err, abi.ENOSPC)
	k.want("a large value with no room for its entry", k.Setxattr("/mnt/full", "user.a-longer-name-than-the-fillers", value(20000, 1), 0), abi.ENOSPC)
	if !bytes.Equal(getx("/mnt/full", fmt.Sprintf("user.filler-%03d", n-2)), value(40, byte(n-2))) {
		t.Errorf("the last filler value set does not read back")
	}
	k.halt()
	fsckClean(t, img)

	got := testutil.LoopView(t, img)
	want := map[string]map[string][]byte{
		"f":  {"user.big": []byte("small"), "user.max": value(30000, 7), "user.mid1": value(900, 5)},
		"s1": nil,
		"s2": {"user.shared": value(5000, 9)},
		"s3": {"user.shared": value(5000, 1)},
	}
	for p, w := range want {
		e := got[p]
		if e == nil {
			t.Errorf("host: no %s", p)
			continue
		}
		if len(e.Xattrs) != len(w) {
			t.Errorf("host: %s has %d xattrs, want %d", p, len(e.Xattrs), len(w))
		}
		for n, v := range w {
			if !bytes.Equal(e.Xattrs[n], v) {
				t.Errorf("host: %s %s: %d bytes, not the value set", p, n, len(e.Xattrs[n]))
			}
		}
	}
	if _, ok := got["g"]; ok {
		t.Errorf("host: g still there")
	}

	// The last references go: every ea_inode is freed.
	k = bootFeatureImage(t, img)
	k.must("unlink f", k.Unlinkat(abi.AT_FDCWD, "/mnt/f", 0))
	k.must("unlink full", k.Unlinkat(abi.AT_FDCWD, "/mnt/full", 0))
	k.must("remove s2's", k.Removexattr("/mnt/s2", "user.shared"))
	k.must("remove s3's", k.Removexattr("/mnt/s3", "user.shared"))
	k.halt()
	fsckClean(t, img)
	if s := debugfs(t, img, false, "stats"); !strings.Contains(s, "Free inodes:") {
		t.Fatalf("debugfs stats:\n%s", s)
	} else if used := usedInodes(t, s); used != 14 { // 11 reserved, lost+found, s1..s3
		t.Errorf("%d inodes in use, want 14 (every ea_inode freed)", used)
	}
}

// usedInodes reads "Inode count" and "Free inodes" from debugfs stats.
func usedInodes(t *testing.T, stats string) int {
	var count, free int
	for _, l := range strings.Split(stats, "\n") {
		if n, ok := strings.CutPrefix(l, "Inode count:"); ok {
			fmt.Sscan(n, &count)
		}
		if n, ok := strings.CutPrefix(l, "Free inodes:"); ok {
			fmt.Sscan(n, &free)
		}
	}
	if count == 0 {
		t.Fatalf("no inode count in:\n%s", stats)
	}
	return count - free
}
