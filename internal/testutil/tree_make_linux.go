package testutil

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// MakeTree fills dir (which must exist) with a test tree holding every
// entry type and every kind of metadata a filesystem keeps, deterministic
// in content and times:
//
//   - regular files: empty, small, multi-MiB, sparse (holes at the start,
//     in the middle, at the end, all hole, and many small holes);
//   - nested directories, a directory of 2000 entries, a deep path;
//   - symlinks: short, around ext4's 60-byte inline limit, 500 bytes,
//     dangling, absolute;
//   - hard links: a 3-way group across directories, a 2-way group, a
//     FIFO with two names;
//   - FIFOs and a socket; character and block devices (root only);
//   - setuid, setgid and sticky modes, mode 0000 and 07777;
//   - owners 0, 1000, 65534 and 3000000 (beyond ustar's octal field) (root
//     only);
//   - mtimes with nanoseconds, after 2038 and before 1970;
//   - xattrs user.*, trusted.* (root), security.selinux,
//     security.capability (root), binary and empty values; POSIX ACLs
//     when setfacl is installed;
//   - 255-byte names, UTF-8 names, a name that is not UTF-8, names at
//     ustar's 100-byte limit.
//
// Parts that need root or a tool that is missing are left out with a note
// in the test log (and fail the test under CI=true for setfacl).
func MakeTree(t testing.TB, dir string) {
	t.Helper()
	m := &treeMaker{t: t, root: dir, rnd: rand.New(rand.NewPCG(1, 2)), asRoot: os.Geteuid() == 0}
	m.make()
}

type treeMaker struct {
	t      testing.TB
	root   string
	rnd    *rand.Rand
	asRoot bool
	dirs   []string  // every directory made, to set their mtimes last
	times  []setTime // mtimes applied at the end, after the contents
	next   int64     // the next default mtime
}

type setTime struct {
	path    string
	sec, ns int64
}

func (m *treeMaker) p(rel string) string { return filepath.Join(m.root, rel) }

func (m *treeMaker) check(err error) {
	m.t.Helper()
	if err != nil {
		m.t.Fatal(err)
	}
}

func (m *treeMaker) mkdir(rel string, mode os.FileMode) {
	m.t.Helper()
	m.check(os.MkdirAll(m.p(rel), 0o755))
	m.check(os.Chmod(m.p(rel), mode))
	m.dirs = append(m.dirs, rel)
}

func (m *treeMaker) random(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(m.rnd.Uint32())
	}
	return b
}

// file writes a regular file and gives it the next default mtime.
func (m *treeMaker) file(rel string, data []byte, mode os.FileMode) {
	m.t.Helper()
	m.check(os.WriteFile(m.p(rel), data, 0o600))
	m.check(os.Chmod(m.p(rel), mode))
	m.stamp(rel)
}

func (m *treeMaker) stamp(rel string) {
	m.times = append(m.times, setTime{rel, 1600000000 + m.next, m.next * 1000})
	m.next++
}

// sparse writes a file of size bytes with random data in the given
// regions and holes elsewhere.
func (m *treeMaker) sparse(rel string, size int64, data []Range) {
	m.t.Helper()
	f, err := os.Create(m.p(rel))
	m.check(err)
	for _, r := range data {
		_, err := f.WriteAt(m.random(int(r.End-r.Start)), r.Start)
		m.check(err)
	}
	m.check(f.Truncate(size))
	m.check(f.Close())
	m.stamp(rel)
}

func (m *treeMaker) symlink(target, rel string) {
	m.t.Helper()
	m.check(os.Symlink(target, m.p(rel)))
	m.stamp(rel)
}

func (m *treeMaker) xattr(rel, name string, value []byte) {
	m.t.Helper()
	if err := unix.Lsetxattr(m.p(rel), name, value, 0); err != nil {
		m.t.Fatalf("setxattr %s %s: %v", rel, name, err)
	}
}

func (m *treeMaker) make() {
	m.mkdir(".", 0o755)
	m.files()
	m.sparseFiles()
	m.dirsAndNames()
	m.symlinks()
	m.hardLinks()
	m.specials()
	m.modes()
	m.owners()
	m.xattrs()
	m.acls()
	m.mtimes()
}

func (m *treeMaker) files() {
	m.file("empty", nil, 0o644)
	m.file("small.txt", []byte("hello, world\n"), 0o644)
	m.file("big.bin", m.random(3<<20+123), 0o644)
	m.file("block-exact.bin", m.random(4096), 0o600)
	m.file("zeros.bin", make([]byte, 70000), 0o644) // zeros, yet written
}

func (m *treeMaker) sparseFiles() {
	const K, M = 1 << 10, 1 << 20
	m.mkdir("sparse", 0o755)
	m.sparse("sparse/hole-start", M+64*K, []Range{{M, M + 64*K}})
	m.sparse("sparse/hole-middle", 2*M+128*K, []Range{{0, 64 * K}, {2*M + 64*K, 2*M + 128*K}})
	m.sparse("sparse/hole-end", 4*M, []Range{{0, 64 * K}})
	m.sparse("sparse/all-hole", M, nil)
	var many []Range
	for i := int64(0); i < 64; i++ {
		many = append(many, Range{i * 16 * K, i*16*K + 4*K})
	}
	m.sparse("sparse/many-holes", 64*16*K, many)
}

func (m *treeMaker) dirsAndNames() {
	m.mkdir("a/b/c/d", 0o755)
	m.mkdir("a/b/c", 0o750)
	m.mkdir("a/b", 0o755)
	m.mkdir("a", 0o755)
	m.file("a/b/c/d/leaf", []byte("leaf\n"), 0o644)
	m.mkdir("many", 0o755)
	for i := range 2000 {
		m.file("many/entry-"+strconv.Itoa(10000 + i)[1:], nil, 0o644)
	}
	m.mkdir("names", 0o755)
	long := strings.Repeat("n", 251) + ".txt" // 255 bytes, NAME_MAX
	m.file("names/"+long, []byte("long name\n"), 0o644)
	longDir := "names/" + strings.Repeat("d", 255)
	m.mkdir(longDir, 0o755)
	m.file(longDir+"/"+strings.Repeat("f", 255), []byte("deep long\n"), 0o644)
	m.file("names/"+strings.Repeat("x", 94), nil, 0o644) // "names/..." is 100 bytes
	m.file("names/"+strings.Repeat("y", 95), nil, 0o644) // 101 bytes
	m.file("names/héllo wörld.txt", []byte("utf-8\n"), 0o644)
	m.file("names/日本語ファイル", []byte("utf-8\n"), 0o644)
	m.file("names/emoji-😀", nil, 0o644)
	m.file("names/latin1-\xe9t\xe9", []byte("not utf-8\n"), 0o644)
	m.file("names/-rf", nil, 0o644)
	m.file("names/with=equals and space", nil, 0o644)
	deep := "deep"
	for i := range 30 {
		deep += "/level-" + strconv.Itoa(i)
	}
	m.mkdir(deep, 0o755)
	for d := deep; d != "."; d = filepath.Dir(d) {
		if !slices.Contains(m.dirs, d) {
			m.dirs = append(m.dirs, d)
		}
	}
	m.file(deep+"/bottom", []byte("bottom\n"), 0o644)
}

func (m *treeMaker) symlinks() {
	m.mkdir("links", 0o755)
	m.symlink("../small.txt", "links/short")
	m.symlink(strings.Repeat("s", 59), "links/len59")
	m.symlink(strings.Repeat("s", 60), "links/len60")
	m.symlink(strings.Repeat("s", 61), "links/len61")
	m.symlink(strings.Repeat("long/", 100), "links/len500")
	m.symlink("does/not/exist", "links/dangling")
	m.symlink("/etc/passwd", "links/absolute")
	m.symlink("../a", "links/to-dir")
	m.symlink("héllo", "links/utf-8")
}

func (m *treeMaker) hardLinks() {
	m.mkdir("hard/sub", 0o755)
	m.file("hard/one", []byte("three names\n"), 0o644)
	m.check(os.Link(m.p("hard/one"), m.p("hard/two")))
	m.check(os.Link(m.p("hard/one"), m.p("hard/sub/three")))
	m.check(os.Link(m.p("small.txt"), m.p("hard/sub/small-link")))
}

func (m *treeMaker) specials() {
	m.mkdir("special", 0o755)
	m.check(unix.Mkfifo(m.p("special/fifo"), 0o644))
	m.stamp("special/fifo")
	m.check(os.Link(m.p("special/fifo"), m.p("hard/fifo-link"))) // not only files have links
	m.check(unix.Mknod(m.p("special/socket"), unix.S_IFSOCK|0o755, 0))
	m.stamp("special/socket")
	if !m.asRoot {
		m.t.Log("MakeTree: not root: no device nodes")
		return
	}
	for _, d := range []struct {
		name         string
		mode         uint32
		major, minor uint32
	}{
		{"special/null", unix.S_IFCHR | 0o666, 1, 3},
		{"special/sda1", unix.S_IFBLK | 0o660, 8, 1},
		{"special/big-char", unix.S_IFCHR | 0o600, 300, 70000}, // needs the new dev encoding
		{"special/big-block", unix.S_IFBLK | 0o600, 4095, 1048575},
	} {
		m.check(unix.Mknod(m.p(d.name), d.mode, int(unix.Mkdev(d.major, d.minor))))
		m.stamp(d.name)
	}
}

func (m *treeMaker) modes() {
	m.mkdir("modes", 0o755)
	for _, f := range []struct {
		name string
		mode os.FileMode
	}{
		{"suid", os.ModeSetuid | 0o755},
		{"sgid", os.ModeSetgid | 0o755},
		{"all", os.ModeSetuid | os.ModeSetgid | os.ModeSticky | 0o777},
		{"none", 0},
		{"read-only", 0o444},
	} {
		if f.mode == 0 && !m.asRoot {
			f.mode = 0o400 // a file its owner cannot read would stop every scan
			m.t.Log("MakeTree: not root: modes/none is 0400")
		}
		m.file("modes/"+f.name, []byte(f.name+"\n"), 0o644)
		m.check(os.Chmod(m.p("modes/"+f.name), f.mode))
	}
	m.mkdir("modes/sticky-dir", os.ModeSticky|0o777)
	m.mkdir("modes/sgid-dir", os.ModeSetgid|0o775)
}

func (m *treeMaker) owners() {
	if !m.asRoot {
		m.t.Log("MakeTree: not root: every file is owned by the test's user")
		return
	}
	m.mkdir("owners", 0o755)
	for _, o := range []struct {
		name     string
		uid, gid int
	}{
		{"user", 1000, 1000}, {"nobody", 65534, 65534}, {"mixed", 0, 42},
		{"big-ids", 3000000, 4000000},
	} {
		m.file("owners/"+o.name, []byte(o.name+"\n"), 0o644)
		m.check(os.Lchown(m.p("owners/"+o.name), o.uid, o.gid))
	}
	m.symlink("user", "owners/link")
	m.check(os.Lchown(m.p("owners/link"), 42, 43))
	m.mkdir("owners/dir", 0o755)
	m.check(os.Lchown(m.p("owners/dir"), 1234, 5678))
	// Chown clears setuid; set it back, as a package would.
	m.file("owners/suid-user", []byte("suid\n"), 0o644)
	m.check(os.Lchown(m.p("owners/suid-user"), 1000, 1000))
	m.check(os.Chmod(m.p("owners/suid-user"), os.ModeSetuid|0o755))
}

func (m *treeMaker) xattrs() {
	m.mkdir("xattr", 0o755)
	m.file("xattr/user", []byte("x\n"), 0o644)
	m.xattr("xattr/user", "user.comment", []byte("hello"))
	m.xattr("xattr/user", "user.binary", []byte{0, 1, 2, 0xff, 0, '=', '\n'})
	m.xattr("xattr/user", "user.empty", nil)
	m.file("xattr/many", nil, 0o644)
	for i := range 20 {
		m.xattr("xattr/many", "user.attr-"+strconv.Itoa(i), bytes.Repeat([]byte{'a' + byte(i)}, i+1))
	}
	m.file("xattr/big", nil, 0o644)
	m.xattr("xattr/big", "user.big", m.random(900)) // fits a 1 KiB xattr block
	m.file("xattr/selinux", []byte("#!/bin/sh\n"), 0o755)
	m.xattr("xattr/selinux", "security.selinux", []byte("system_u:object_r:bin_t:s0\x00"))
	m.xattr("xattr", "user.on-dir", []byte("dir"))
	if !m.asRoot {
		m.t.Log("MakeTree: not root: no trusted.* or security.capability xattrs")
		return
	}
	m.xattr("xattr/user", "trusted.overlay.opaque", []byte("y"))
	m.symlink("user", "xattr/symlink")
	m.xattr("xattr/symlink", "trusted.on-symlink", []byte("link"))
	// struct vfs_cap_data, revision 2 (include/uapi/linux/capability.h):
	// magic_etc, then permitted and inheritable for words 0 and 1.
	capData := make([]byte, 20)
	binary.LittleEndian.PutUint32(capData[0:], 0x02000000|1) // VFS_CAP_REVISION_2 | EFFECTIVE
	binary.LittleEndian.PutUint32(capData[4:], 1<<10)        // CAP_NET_BIND_SERVICE
	m.file("xattr/cap", []byte("#!/bin/sh\n"), 0o755)
	m.xattr("xattr/cap", "security.capability", capData)
}

func (m *treeMaker) acls() {
	setfacl, err := exec.LookPath("setfacl")
	if err != nil {
		Skip(m.t, "setfacl is not installed: no POSIX ACLs in the tree")
		return
	}
	m.mkdir("acl", 0o755)
	m.file("acl/file", []byte("acl\n"), 0o640)
	Run(m.t, setfacl, "-m", "u:1000:rwx,g:2000:r-x,m::rwx", m.p("acl/file"))
	m.mkdir("acl/default-dir", 0o755)
	Run(m.t, setfacl, "-m", "u:1000:rwx", "-d", "-m", "u:1000:r-x,g::r-x", m.p("acl/default-dir"))
}

// mtimes sets the times of files, then of directories deepest first, so
// that making the contents does not change them afterwards.
func (m *treeMaker) mtimes() {
	special := map[string][2]int64{
		"small.txt":       {1700000000, 123456789}, // nanoseconds
		"big.bin":         {2147483648, 0},         // past 2038 (32-bit time_t)
		"empty":           {4102444800, 500000000}, // 2100-01-01, and a fraction
		"block-exact.bin": {-86400, 250000000},     // before 1970
	}
	for _, s := range m.times {
		sec, ns := s.sec, s.ns
		if v, ok := special[s.path]; ok {
			sec, ns = v[0], v[1]
		}
		ts := []unix.Timespec{{Sec: sec, Nsec: ns}, {Sec: sec, Nsec: ns}}
		m.check(unix.UtimesNanoAt(unix.AT_FDCWD, m.p(s.path), ts, unix.AT_SYMLINK_NOFOLLOW))
	}
	dirs := slices.Clone(m.dirs)
	slices.SortFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	for i, d := range dirs {
		if d == "." {
			continue
		}
		ts := []unix.Timespec{{Sec: 1500000000 + int64(i), Nsec: 999999999}, {Sec: 1500000000 + int64(i), Nsec: 999999999}}
		m.check(unix.UtimesNanoAt(unix.AT_FDCWD, m.p(d), ts, unix.AT_SYMLINK_NOFOLLOW))
	}
	ts := []unix.Timespec{{Sec: 1500000000, Nsec: 1}, {Sec: 1500000000, Nsec: 1}}
	m.check(unix.UtimesNanoAt(unix.AT_FDCWD, m.root, ts, 0))
}
