//go:build linux

package kernel

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// The flag and fsxattr ioctls compared with the host's ext4: the same
// steps on a twin image, loop-mounted by Linux and mounted by the kernel;
// every step's errno and the flags read back must be equal. (The host's
// kernel here has no CONFIG_QUOTA, so it cannot mount a project image
// read-write: project IDs are checked by the ext4 package's tests.)

// The ioctl numbers (include/uapi/linux/fs.h, 64-bit).
const (
	fsIocGetflags    = 0x80086601
	fsIocSetflags    = 0x40086602
	fsIocFsgetxattr  = 0x801c581f
	fsIocFssetxattr  = 0x401c5820
	fsxattrStructLen = 28
)

// bootExt4RW boots a kernel with img as vda, mounted read-write, and
// returns the mount point and the Halt to call (a failed test halts it on
// cleanup).
func bootExt4RW(t *testing.T, cfg Config, img string) (*Kernel, string, func() error) {
	t.Helper()
	k, err := Boot(cfg)
	if err != nil {
		t.Fatal(err)
	}
	halted := false
	t.Cleanup(func() {
		if !halted {
			k.Halt()
		}
	})
	if _, err := k.AddDisk(img, DiskOptions{}); err != nil {
		t.Fatal(err)
	}
	mnt, err := k.MountDev("vda", "ext4", 0, "")
	if err != nil {
		t.Fatal(err)
	}
	return k, mnt, func() error {
		halted = true
		return k.Halt()
	}
}

// attrAPI is one side of the comparison.
type attrAPI interface {
	open(p string, flags int) (int, error)
	mkdir(p string) error
	close(fd int)
	getx(fd int) (abi.Fsxattr, error)
	setx(fd int, x abi.Fsxattr) error
	getflags(fd int) (uint32, error)
	setflags(fd int, fl uint32) error
}

type hostAttr struct{ dir string }

func (h hostAttr) open(p string, flags int) (int, error) {
	return unix.Open(h.dir+"/"+p, flags|unix.O_CLOEXEC, 0o644)
}
func (h hostAttr) mkdir(p string) error {
	if err := unix.Mkdir(h.dir+"/"+p, 0o755); err != nil {
		return abi.Errno(err.(unix.Errno))
	}
	return nil
}
func (h hostAttr) close(fd int) { unix.Close(fd) }
func (h hostAttr) ioctl(fd int, req uintptr, p unsafe.Pointer) error {
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(p)); e != 0 {
		return abi.Errno(e)
	}
	return nil
}
func (h hostAttr) getx(fd int) (abi.Fsxattr, error) {
	var b [fsxattrStructLen / 4]uint32
	err := h.ioctl(fd, fsIocFsgetxattr, unsafe.Pointer(&b[0]))
	return abi.Fsxattr{Xflags: b[0], Extsize: b[1], Nextents: b[2], Projid: b[3], Cowextsize: b[4]}, err
}
func (h hostAttr) setx(fd int, x abi.Fsxattr) error {
	b := [fsxattrStructLen / 4]uint32{x.Xflags, x.Extsize, x.Nextents, x.Projid, x.Cowextsize}
	return h.ioctl(fd, fsIocFssetxattr, unsafe.Pointer(&b[0]))
}
func (h hostAttr) getflags(fd int) (uint32, error) {
	var fl uint64
	err := h.ioctl(fd, fsIocGetflags, unsafe.Pointer(&fl))
	return uint32(fl), err
}
func (h hostAttr) setflags(fd int, fl uint32) error {
	v := uint64(fl)
	return h.ioctl(fd, fsIocSetflags, unsafe.Pointer(&v))
}

type kernelAttr struct {
	k   *Kernel
	dir string
}

func (s kernelAttr) open(p string, flags int) (int, error) {
	return s.k.Openat(abi.AT_FDCWD, s.dir+"/"+p, flags, 0o644)
}
func (s kernelAttr) mkdir(p string) error             { return s.k.Mkdirat(abi.AT_FDCWD, s.dir+"/"+p, 0o755) }
func (s kernelAttr) close(fd int)                     { s.k.Close(fd) }
func (s kernelAttr) getx(fd int) (abi.Fsxattr, error) { return s.k.Fsgetxattr(fd) }
func (s kernelAttr) setx(fd int, x abi.Fsxattr) error { return s.k.Fssetxattr(fd, x) }
func (s kernelAttr) getflags(fd int) (uint32, error)  { return s.k.Getflags(fd) }
func (s kernelAttr) setflags(fd int, fl uint32) error { return s.k.Setflags(fd, fl) }

// attrScenario runs the steps on one side and returns its trace.
func attrScenario(t *testing.T, s attrAPI) []string {
	var tr []string
	errStr := func(err error) string {
		if err == nil {
			return "ok"
		}
		if e, ok := err.(abi.Errno); ok {
			return e.Error()
		}
		return abi.ErrnoOf(err).Error()
	}
	f, err := s.open("f", unix.O_CREAT|unix.O_RDWR)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close(f)
	d, err := s.open("d", unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close(d)
	get := func(what string, fd int) {
		x, err := s.getx(fd)
		fl, ferr := s.getflags(fd)
		tr = append(tr, fmt.Sprintf("%s: xflags %#x projid %d nextents %d (%s) flags %#x (%s)",
			what, x.Xflags, x.Projid, x.Nextents, errStr(err), fl, errStr(ferr)))
	}
	set := func(what string, fd int, x abi.Fsxattr) {
		tr = append(tr, fmt.Sprintf("%s: %s", what, errStr(s.setx(fd, x))))
	}
	setfl := func(what string, fd int, fl uint32) {
		tr = append(tr, fmt.Sprintf("%s: %s", what, errStr(s.setflags(fd, fl))))
	}
	get("file", f)
	get("dir", d)
	set("projinherit on a file", f, abi.Fsxattr{Xflags: abi.FS_XFLAG_PROJINHERIT})
	set("projid without the project feature", f, abi.Fsxattr{Projid: 5})
	set("noatime nodump", f, abi.Fsxattr{Xflags: abi.FS_XFLAG_NOATIME | abi.FS_XFLAG_NODUMP})
	get("file", f)
	set("projinherit on a dir", d, abi.Fsxattr{Xflags: abi.FS_XFLAG_PROJINHERIT})
	get("dir", d)
	// New entries take the inherited flags (EXT4_FL_INHERITED, masked
	// by type).
	tr = append(tr, fmt.Sprintf("mkdir d/sub: %s", errStr(s.mkdir("d/sub"))))
	if sub, err := s.open("d/sub", unix.O_RDONLY|unix.O_DIRECTORY); err == nil {
		get("new subdir", sub)
		s.close(sub)
	}
	if nf, err := s.open("d/new", unix.O_CREAT|unix.O_RDWR); err == nil {
		get("new file", nf)
		s.close(nf)
	}
	set("unknown xflag", f, abi.Fsxattr{Xflags: 0x40000})
	set("projid -1", f, abi.Fsxattr{Projid: ^uint32(0)})
	set("extsize flag on a dir", d, abi.Fsxattr{Xflags: abi.FS_XFLAG_EXTSIZE})
	set("extszinherit on a file", f, abi.Fsxattr{Xflags: abi.FS_XFLAG_EXTSZINHERIT})
	set("sync on a file", f, abi.Fsxattr{Xflags: abi.FS_XFLAG_SYNC})
	set("immutable", f, abi.Fsxattr{Xflags: abi.FS_XFLAG_IMMUTABLE})
	set("immutable plus noatime", f, abi.Fsxattr{Xflags: abi.FS_XFLAG_IMMUTABLE | abi.FS_XFLAG_NOATIME})
	get("file", f)
	set("clear immutable", f, abi.Fsxattr{})
	get("file", f)
	setfl("setflags append sync", f, abi.FS_APPEND_FL|abi.FS_SYNC_FL|abi.FS_EXTENT_FL)
	get("file", f)
	setfl("setflags dirsync on a file", f, abi.FS_DIRSYNC_FL|abi.FS_EXTENT_FL)
	setfl("setflags no extents", f, 0)
	setfl("setflags clear", f, abi.FS_EXTENT_FL)
	setfl("setflags dirsync topdir on a dir", d, abi.FS_DIRSYNC_FL|abi.FS_TOPDIR_FL|abi.FS_EXTENT_FL)
	get("dir", d)
	return tr
}

func TestFileattrOnExt4AgainstHost(t *testing.T) {
	tools := testutil.Need(t, "mkfs.ext4", "e2fsck")
	testutil.NeedLoop(t)
	dir := t.TempDir()
	kimg, himg := dir+"/kernel.img", dir+"/host.img"
	for _, img := range []string{kimg, himg} {
		testutil.Run(t, tools[0], "-q", "-F", img, "16M")
	}
	host := dir + "/mnt"
	if err := os.Mkdir(host, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "mount", "-o", "loop", himg, host)
	defer testutil.Run(t, "umount", host)
	if err := os.Mkdir(host+"/d", 0o755); err != nil {
		t.Fatal(err)
	}
	k, mnt, halt := bootExt4RW(t, Config{}, kimg)
	if err := k.Mkdirat(abi.AT_FDCWD, mnt+"/d", 0o755); err != nil {
		t.Fatal(err)
	}
	ht := attrScenario(t, hostAttr{dir: host})
	kt := attrScenario(t, kernelAttr{k: k, dir: mnt})
	if err := halt(); err != nil {
		t.Fatalf("halt: %v", err)
	}
	compareTraces(t, ht, kt, nil)
	if out, err := exec.Command(tools[1], "-fn", kimg).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn: %v\n%s", err, out)
	}
}

// TestProjectSyscalls sets a project tree up through file_setattr(2) on
// a quota image and checks inheritance, EXDEV at the tree's border and
// the quota files (e2fsck -fn) after Halt.
func TestProjectSyscalls(t *testing.T) {
	tools := testutil.Need(t, "mkfs.ext4", "e2fsck")
	img := t.TempDir() + "/img"
	testutil.Run(t, tools[0], "-q", "-F", "-O", "quota,project", "-E", "quotatype=usrquota:grpquota:prjquota", img, "16M")
	k, mnt, halt := bootExt4RW(t, Config{Uid: 1000, Gid: 1000}, img)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(k.Mkdirat(abi.AT_FDCWD, mnt+"/p", 0o755))
	must(k.FileSetattr(abi.AT_FDCWD, mnt+"/p", abi.Fsxattr{Xflags: abi.FS_XFLAG_PROJINHERIT, Projid: 42}, 0))
	must(k.Mkdirat(abi.AT_FDCWD, mnt+"/p/d", 0o755))
	fd, err := k.Openat(abi.AT_FDCWD, mnt+"/p/d/f", abi.O_CREAT|abi.O_WRONLY, 0o644)
	must(err)
	_, err = k.Write(fd, make([]byte, 20000))
	must(err)
	must(k.Close(fd))
	fd, err = k.Openat(abi.AT_FDCWD, mnt+"/outside", abi.O_CREAT|abi.O_WRONLY, 0o644)
	must(err)
	must(k.Close(fd))
	for _, c := range []struct {
		path     string
		projid   uint32
		inherits bool
	}{{"/p", 42, true}, {"/p/d", 42, true}, {"/p/d/f", 42, false}, {"/outside", 0, false}} {
		x, err := k.FileGetattr(abi.AT_FDCWD, mnt+c.path, 0)
		must(err)
		if x.Projid != c.projid || (x.Xflags&abi.FS_XFLAG_PROJINHERIT != 0) != c.inherits {
			t.Errorf("%s: projid %d xflags %#x, want %d inherit %v", c.path, x.Projid, x.Xflags, c.projid, c.inherits)
		}
	}
	if err := k.Renameat2(abi.AT_FDCWD, mnt+"/outside", abi.AT_FDCWD, mnt+"/p/outside", 0); err != abi.EXDEV {
		t.Errorf("rename into the project tree: %v, want EXDEV", err)
	}
	if err := k.Linkat(abi.AT_FDCWD, mnt+"/outside", abi.AT_FDCWD, mnt+"/p/d/l", 0); err != abi.EXDEV {
		t.Errorf("link into the project tree: %v, want EXDEV", err)
	}
	if err := k.FileSetattr(abi.AT_FDCWD, mnt+"/p", abi.Fsxattr{Xflags: 0x40000}, 0); err != abi.EINVAL {
		t.Errorf("file_setattr with an unknown xflag: %v, want EINVAL", err)
	}
	if err := k.FileSetattr(abi.AT_FDCWD, mnt+"/p", abi.Fsxattr{}, 0x8000); err != abi.EINVAL {
		t.Errorf("file_setattr with a bad flag: %v, want EINVAL", err)
	}
	// The file moves to project 7 with its usage.
	must(k.FileSetattr(abi.AT_FDCWD, mnt+"/p/d/f", abi.Fsxattr{Projid: 7}, 0))
	must(halt())
	if out, err := exec.Command(tools[1], "-fn", img).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn: %v\n%s", err, out)
	}
}
