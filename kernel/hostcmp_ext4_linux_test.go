//go:build linux

package kernel

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// hostcmpExt4Scenarios run only on the ext4 twins of
// TestWriteSyscallsOnExt4AgainstHost: they need what the ramfs lacks
// (POSIX ACLs, whiteouts, extents).
var hostcmpExt4Scenarios = []hostcmpScenario{
	{"default-acl", func(r *tracer) {
		s := r.s
		const (
			userObj, user, groupObj, group, mask, other = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
		)
		full := posixACL(userObj, 7, user, 5, 1000, groupObj, 5, group, 3, 2000, mask, 7, other, 0)
		r.e("mkdir d", s.Mkdir("d", 0o755))
		r.e("set default d", s.Setxattr("d", "system.posix_acl_default", full, 0))
		r.getxattr("d", "system.posix_acl_default")
		r.stat("d", 0)
		look := func(p string) {
			r.stat(p, abi.AT_SYMLINK_NOFOLLOW)
			for _, n := range []string{"system.posix_acl_access", "system.posix_acl_default"} {
				v, err := s.Lgetxattr(p, n)
				r.add("lgetxattr %s %s: %q %s", p, n, v, errName(err))
			}
		}
		r.close(r.open("d/f", abi.O_CREAT|abi.O_WRONLY, 0o666))
		look("d/f")
		r.close(r.open("d/x", abi.O_CREAT|abi.O_WRONLY, 0o751))
		look("d/x")
		r.e("mkdir d/sub", s.Mkdir("d/sub", 0o777))
		look("d/sub")
		r.close(r.open("d/sub/g", abi.O_CREAT|abi.O_WRONLY, 0o640))
		look("d/sub/g")
		r.e("mkdir d/sub/deeper", s.Mkdir("d/sub/deeper", 0o1750))
		look("d/sub/deeper")
		r.e("mknod d/fifo", s.Mknod("d/fifo", abi.S_IFIFO|0o644, 0))
		look("d/fifo")
		r.e("mknod d/null", s.Mknod("d/null", abi.S_IFCHR|0o666, abi.Makedev(1, 3)))
		look("d/null")
		r.e("symlink d/l", s.Symlink("f", "d/l"))
		look("d/l")
		// No umask where a default ACL rules; the umask elsewhere.
		old := s.Umask(0o077)
		r.close(r.open("d/masked", abi.O_CREAT|abi.O_WRONLY, 0o666))
		look("d/masked")
		r.e("mkdir plain", s.Mkdir("plain", 0o777))
		look("plain")
		r.close(r.open("plain/f", abi.O_CREAT|abi.O_WRONLY, 0o666))
		look("plain/f")
		s.Umask(old)
		// A default ACL the mode can say: no access ACL follows.
		r.e("mkdir e", s.Mkdir("e", 0o755))
		r.e("set default e", s.Setxattr("e", "system.posix_acl_default", posixACL(userObj, 6, groupObj, 4, other, 0), 0))
		r.close(r.open("e/f", abi.O_CREAT|abi.O_WRONLY, 0o777))
		look("e/f")
		r.e("mkdir e/sub", s.Mkdir("e/sub", 0o777))
		look("e/sub")
		// A set-group-ID directory with a default ACL.
		r.e("mkdir g", s.Mkdir("g", 0o2775))
		r.e("chown g", s.Chown("g", 0, 42, 0))
		r.e("chmod g", s.Chmod("g", 0o2775, 0))
		r.e("set default g", s.Setxattr("g", "system.posix_acl_default", posixACL(userObj, 7, groupObj, 7, mask, 5, other, 1), 0))
		r.e("mkdir g/sub", s.Mkdir("g/sub", 0o777))
		look("g/sub")
		r.close(r.open("g/f", abi.O_CREAT|abi.O_WRONLY, 0o4777))
		look("g/f")
		// chmod rewrites the access ACL (posix_acl_chmod).
		r.e("chmod d/f", s.Chmod("d/f", 0o604, 0))
		look("d/f")
		r.e("chmod d/sub", s.Chmod("d/sub", 0o1777, 0))
		look("d/sub")
		r.e("chmod g/f", s.Chmod("g/f", 0o640, 0))
		look("g/f")
		r.e("chmod d/l", s.Chmod("d/l", 0o600, abi.AT_SYMLINK_NOFOLLOW))
		// Removing the default ACL gives the umask back.
		r.e("remove default d", s.Removexattr("d", "system.posix_acl_default"))
		r.close(r.open("d/after", abi.O_CREAT|abi.O_WRONLY, 0o666))
		look("d/after")
		r.ls("d")
	}},
	{"rename-whiteout", func(r *tracer) {
		s := r.s
		const wh = abi.RENAME_WHITEOUT
		fd := r.open("f", abi.O_CREAT|abi.O_WRONLY, 0o640)
		r.write(fd, "data")
		r.close(fd)
		r.e("whiteout f g", s.Rename("f", "g", wh))
		r.stat("f", abi.AT_SYMLINK_NOFOLLOW)
		r.stat("g", 0)
		r.data("g")
		r.close(r.open("h", abi.O_CREAT|abi.O_WRONLY, 0o600))
		r.e("whiteout g over h", s.Rename("g", "h", wh))
		r.stat("g", abi.AT_SYMLINK_NOFOLLOW)
		r.data("h")
		r.e("whiteout noreplace", s.Rename("h", "f", wh|abi.RENAME_NOREPLACE))
		r.e("whiteout noreplace new", s.Rename("h", "i", wh|abi.RENAME_NOREPLACE))
		r.e("whiteout exchange", s.Rename("i", "f", wh|abi.RENAME_EXCHANGE))
		r.e("whiteout missing", s.Rename("missing", "j", wh))
		r.e("whiteout same", s.Rename("i", "i", wh))
		r.e("link i k", s.Link("i", "k", 0))
		r.e("whiteout onto own link", s.Rename("i", "k", wh))
		r.stat("i", 0)
		r.e("mkdir d", s.Mkdir("d", 0o755))
		r.e("mkdir d/sub", s.Mkdir("d/sub", 0o700))
		r.e("mkdir e", s.Mkdir("e", 0o755))
		r.e("whiteout dir across", s.Rename("d/sub", "e/sub", wh))
		r.stat("d", 0)
		r.stat("d/sub", abi.AT_SYMLINK_NOFOLLOW)
		r.stat("e", 0)
		r.stat("e/sub", 0)
		r.e("mkdir full", s.Mkdir("full", 0o755))
		r.e("mkdir full/x", s.Mkdir("full/x", 0o755))
		r.e("whiteout onto full dir", s.Rename("e/sub", "full", wh))
		r.stat("e/sub", 0)
		r.e("whiteout file onto dir", s.Rename("i", "full", wh))
		r.e("mkdir s", s.Mkdir("s", 0o2775))
		r.e("chown s", s.Chown("s", 0, 42, 0))
		r.e("chmod s", s.Chmod("s", 0o2775, 0))
		r.e("set default s", s.Setxattr("s", "system.posix_acl_default",
			posixACL(0x01, 7, 0x02, 7, 1000, 0x04, 5, 0x10, 7, 0x20, 5), 0))
		r.close(r.open("s/x", abi.O_CREAT|abi.O_WRONLY, 0o666))
		r.e("whiteout in sgid dir", s.Rename("s/x", "y", wh))
		r.stat("s/x", abi.AT_SYMLINK_NOFOLLOW)
		v, err := s.Lgetxattr("s/x", "system.posix_acl_access")
		r.add("lgetxattr s/x access: %q %s", v, errName(err))
		r.e("unlink whiteout", s.Unlink("s/x", 0))
		r.e("whiteout a whiteout", s.Rename("f", "w", wh))
		r.stat("w", abi.AT_SYMLINK_NOFOLLOW)
		r.ls(".")
		r.ls("d")
		r.ls("s")
	}},
	{"collapse-insert", func(r *tracer) {
		s := r.s
		const bs = 4096
		fd := r.open("f", abi.O_CREAT|abi.O_RDWR, 0o644)
		nw, err := s.Pwrite(fd, []byte(strings.Repeat("0123456789abcdef", 40*bs/16)+"tail"), 0)
		r.count("pwrite 40 blocks and a tail", nw, err)
		r.e("collapse unaligned", s.Fallocate(fd, abi.FALLOC_FL_COLLAPSE_RANGE, 100, bs))
		r.e("collapse unaligned len", s.Fallocate(fd, abi.FALLOC_FL_COLLAPSE_RANGE, bs, 100))
		r.e("collapse to eof", s.Fallocate(fd, abi.FALLOC_FL_COLLAPSE_RANGE, 39*bs, 2*bs))
		r.e("collapse past eof", s.Fallocate(fd, abi.FALLOC_FL_COLLAPSE_RANGE, 50*bs, bs))
		r.e("insert at eof", s.Fallocate(fd, abi.FALLOC_FL_INSERT_RANGE, 41*bs, bs))
		r.e("insert unaligned", s.Fallocate(fd, abi.FALLOC_FL_INSERT_RANGE, bs, 10))
		r.e("insert huge", s.Fallocate(fd, abi.FALLOC_FL_INSERT_RANGE, bs, 1<<62))
		r.e("insert+punch", s.Fallocate(fd, abi.FALLOC_FL_INSERT_RANGE|abi.FALLOC_FL_PUNCH_HOLE, bs, bs))
		r.e("collapse+zero", s.Fallocate(fd, abi.FALLOC_FL_COLLAPSE_RANGE|abi.FALLOC_FL_ZERO_RANGE, bs, bs))
		r.e("collapse+insert", s.Fallocate(fd, abi.FALLOC_FL_COLLAPSE_RANGE|abi.FALLOC_FL_INSERT_RANGE, bs, bs))
		ro := r.open("f", abi.O_RDONLY, 0)
		r.e("collapse read-only", s.Fallocate(ro, abi.FALLOC_FL_COLLAPSE_RANGE, 0, bs))
		r.close(ro)
		ap := r.open("f", abi.O_WRONLY|abi.O_APPEND, 0)
		r.e("collapse append", s.Fallocate(ap, abi.FALLOC_FL_COLLAPSE_RANGE, 0, bs))
		r.e("insert append", s.Fallocate(ap, abi.FALLOC_FL_INSERT_RANGE, 0, bs))
		r.close(ap)
		r.fstat("f", fd)
		r.layout("f", fd)
		// Random operations, the same on both: contents and the data and
		// hole map must agree after each. No unwritten extents: Linux's
		// SEEK_DATA counts those as data where the page cache has pages
		// (which reading the file for its hash leaves), a state no image
		// holds.
		rnd := rand.New(rand.NewPCG(11, 0))
		for step := range 300 {
			st, _ := s.Fstat(fd)
			blocks := max(st.Size/bs, 1)
			off, n := rnd.Int64N(blocks+2)*bs, (rnd.Int64N(8)+1)*bs
			var what string
			var err error
			switch op := rnd.IntN(10); {
			case op < 3:
				what, err = "collapse", s.Fallocate(fd, abi.FALLOC_FL_COLLAPSE_RANGE, off, n)
			case op < 6:
				what, err = "insert", s.Fallocate(fd, abi.FALLOC_FL_INSERT_RANGE, off, n)
			case op < 7:
				what, err = "punch", s.Fallocate(fd, abi.FALLOC_FL_PUNCH_HOLE|abi.FALLOC_FL_KEEP_SIZE, off+rnd.Int64N(bs), n)
			case op < 9:
				b := make([]byte, rnd.IntN(3*bs)+1)
				for i := range b {
					b[i] = byte('A' + step%26)
				}
				_, err = s.Pwrite(fd, b, off+rnd.Int64N(bs))
				what = "pwrite"
			default:
				what, err = "truncate", s.Ftruncate(fd, rnd.Int64N(64*bs))
			}
			r.e(fmt.Sprintf("%d %s %d %d", step, what, off, n), err)
			if step%10 == 9 || err == nil && (what == "collapse" || what == "insert") {
				r.fstat("f", fd)
				r.layout("f", fd)
			}
		}
		r.close(fd)
	}},
}

// layout records a file's data and hole map (SEEK_DATA, SEEK_HOLE) and
// a hash of its contents.
func (r *tracer) layout(what string, fd int) {
	var m []string
	for off := int64(0); ; {
		d, err := r.s.Lseek(fd, off, abi.SEEK_DATA)
		if err != nil {
			m = append(m, "end "+errName(err))
			break
		}
		h, err := r.s.Lseek(fd, d, abi.SEEK_HOLE)
		if err != nil {
			m = append(m, "hole "+errName(err))
			break
		}
		m = append(m, fmt.Sprintf("%d-%d", d, h))
		off = h
	}
	sum := sha256.New()
	buf := make([]byte, 1<<16)
	for off := int64(0); ; {
		n, err := r.s.Pread(fd, buf, off)
		if err != nil || n == 0 {
			break
		}
		sum.Write(buf[:n])
		off += int64(n)
	}
	r.add("layout %s: %s sha256 %x", what, strings.Join(m, " "), sum.Sum(nil)[:8])
}

// posixACL builds the xattr form of an ACL (posix_acl_xattr_header, then
// entries) from tag, perm pairs, USER and GROUP ones followed by their id.
func posixACL(fields ...int) []byte {
	le := binary.LittleEndian
	b := le.AppendUint32(nil, 2)
	for i := 0; i < len(fields); {
		tag, perm := fields[i], fields[i+1]
		i += 2
		id := uint32(0xFFFFFFFF)
		if tag == 0x02 || tag == 0x08 {
			id = uint32(fields[i])
			i++
		}
		b = le.AppendUint16(b, uint16(tag))
		b = le.AppendUint16(b, uint16(perm))
		b = le.AppendUint32(b, id)
	}
	return b
}

// TestNoACLMount: mounted with noacl (which Linux 6.x refuses, older
// kernels took), ext4 neither shows nor keeps nor applies ACLs, as
// Linux's ext4 without SB_POSIXACL: the ACL names give EOPNOTSUPP and are
// not listed, and a new file in a directory with a default ACL takes the
// umask; mounted again (ACLs on, as Linux 6.x has them whatever
// s_default_mount_opts says), the ACL is there as it was.
func TestNoACLMount(t *testing.T) {
	tools := testutil.Need(t, "mkfs.ext4", "tune2fs")
	img := t.TempDir() + "/fs.img"
	testutil.Run(t, tools[0], "-q", "-F", img, "8M")
	// Without acl in s_default_mount_opts, ACLs are on all the same.
	testutil.Run(t, tools[1], "-o", "^acl", img)
	k, err := Boot(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Halt()
	if _, err := k.AddDisk(img, DiskOptions{}); err != nil {
		t.Fatal(err)
	}
	def := posixACL(0x01, 7, 0x02, 7, 1000, 0x04, 7, 0x10, 7, 0x20, 7)
	mnt, err := k.MountDev("vda", "ext4", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Mkdirat(abi.AT_FDCWD, mnt+"/d", 0o777); err != nil {
		t.Fatal(err)
	}
	if err := k.Setxattr(mnt+"/d", "system.posix_acl_default", def, 0); err != nil {
		t.Fatal(err)
	}
	if err := k.Umount(mnt, 0); err != nil {
		t.Fatal(err)
	}
	if mnt, err = k.MountDev("vda", "ext4", 0, "noacl"); err != nil {
		t.Fatal(err)
	}
	k.Umask(0o022)
	fd, err := k.Openat(abi.AT_FDCWD, mnt+"/d/f", abi.O_CREAT|abi.O_WRONLY, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	k.Close(fd)
	var st abi.Stat
	if err := k.Fstatat(abi.AT_FDCWD, mnt+"/d/f", &st, 0); err != nil || st.Mode&0o7777 != 0o644 {
		t.Errorf("new file under noacl: mode %#o (%v), want 0644", st.Mode&0o7777, err)
	}
	for _, p := range []string{"/d", "/d/f"} {
		if _, err := k.Getxattr(mnt+p, "system.posix_acl_default", nil); !errors.Is(err, abi.EOPNOTSUPP) {
			t.Errorf("getxattr %s under noacl: %v, want EOPNOTSUPP", p, err)
		}
		if n, err := k.Listxattr(mnt+p, nil); n != 0 || err != nil {
			t.Errorf("listxattr %s under noacl: %d bytes (%v), want none", p, n, err)
		}
	}
	if err := k.Setxattr(mnt+"/d/f", "system.posix_acl_access", def, 0); !errors.Is(err, abi.EOPNOTSUPP) {
		t.Errorf("setxattr under noacl: %v, want EOPNOTSUPP", err)
	}
	if err := k.Umount(mnt, 0); err != nil {
		t.Fatal(err)
	}
	if mnt, err = k.MountDev("vda", "ext4", 0, ""); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	if n, err := k.Getxattr(mnt+"/d", "system.posix_acl_default", buf); err != nil || !bytes.Equal(buf[:n], def) {
		t.Errorf("default ACL after noacl: %x (%v), want %x", buf[:n], err, def)
	}
}
