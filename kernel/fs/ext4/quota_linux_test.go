package ext4

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// Tests of quota accounting: images made by mkfs.ext4 with the quota and
// project features, changed through the driver by several owners, then
// checked by e2fsck -fn, which recomputes every id's usage and compares it
// with the quota files ("quota ... inconsistent" otherwise).

// quotaVariants are the quota layouts the tests run on.
var quotaVariants = []nameiVariant{
	{"usr-grp", []string{"-O", "quota"}},
	{"usr-grp-prj", []string{"-O", "quota,project", "-E", "quotatype=usrquota:grpquota:prjquota"}},
	{"prj-1k", []string{"-b", "1024", "-O", "quota,project", "-E", "quotatype=prjquota:usrquota"}},
	{"nojournal", []string{"-O", "quota,project,^has_journal", "-E", "quotatype=usrquota:grpquota:prjquota"}},
}

func ownerCtx(uid, gid uint32) vfs.Ctx {
	c := nowCtx
	c.Uid, c.Gid = uid, gid
	return c
}

// writeFileAs creates name in d owned by uid:gid with n bytes, and
// drops the reference Create handed out.
func writeFileAs(t *testing.T, d dirInode, uid, gid uint32, name string, n int) *inode {
	t.Helper()
	ctx := ownerCtx(uid, gid)
	vi, err := d.Create(ctx, name, abi.S_IFREG|0o644)
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	ip := vi.(fileInode).inode
	if n > 0 {
		if _, err := vi.(fileInode).WriteAt(ctx, make([]byte, n), 0); err != nil {
			t.Fatalf("write %s: %v", name, err)
		}
	}
	// The VFS's reference goes, as when the file is closed and its
	// dentry forgotten: an unlink then frees it at once.
	if err := ip.Evict(); err != nil {
		t.Fatal(err)
	}
	return ip
}

func TestQuotaAccounting(t *testing.T) {
	for _, v := range quotaVariants {
		t.Run(v.name, func(t *testing.T) {
			// No -d: mke2fs 1.47.0 writes the quota files before it
			// copies the tree in, and e2fsck then finds them wrong.
			img := mkfsTree(t, "16M", v.args, nil)
			f, _ := mountImageRW(t, img)
			root := rwDir(t, f, "/")
			for i := range 40 {
				uid := uint32(1000 + i%7)
				gid := uint32(100 + i%3)
				writeFileAs(t, root, uid, gid, fmt.Sprintf("f%d", i), 1000*i)
			}
			if _, err := root.Mkdir(ownerCtx(2000, 2000), "d", abi.S_IFDIR|0o755); err != nil {
				t.Fatal(err)
			}
			umountRW(t, f)
			quotaClean(t, img)

			f, _ = mountImageRW(t, img)
			root = rwDir(t, f, "/")
			for i := 0; i < 40; i += 3 {
				if err := root.Unlink(nowCtx, fmt.Sprintf("f%d", i)); err != nil {
					t.Fatal(err)
				}
			}
			vi, err := lookupPath(f, "/f1")
			if err != nil {
				t.Fatal(err)
			}
			if err := vi.(fileInode).Setattr(nowCtx, vfs.SetAttr{Valid: vfs.SetUid | vfs.SetGid, Uid: 5000, Gid: 5000}); err != nil {
				t.Fatal(err)
			}
			vi, err = lookupPath(f, "/f2")
			if err != nil {
				t.Fatal(err)
			}
			if err := vi.(fileInode).Setattr(nowCtx, vfs.SetAttr{Valid: vfs.SetSize, Size: 10}); err != nil {
				t.Fatal(err)
			}
			umountRW(t, f)
			quotaClean(t, img)
		})
	}
}

// quotaClean runs e2fsck -fn and fails on any complaint, quota ones named.
func quotaClean(t *testing.T, img string) {
	t.Helper()
	testutil.Need(t, "e2fsck")
	out, err := exec.Command("e2fsck", "-fn", img).CombinedOutput()
	if err != nil || strings.Contains(string(out), "QUOTA") {
		t.Fatalf("e2fsck -fn: %v\n%s", err, out)
	}
}

// setProject sets vi's project and PROJINHERIT_FL (inherit) as
// FS_IOC_FSSETXATTR does, keeping its other flags.
func setProject(t *testing.T, vi vfs.Inode, projid uint32, inherit bool) {
	t.Helper()
	fi := vi.(vfs.Fileattrer)
	old, err := fi.GetFileattr()
	if err != nil {
		t.Fatal(err)
	}
	x := old.Xflags &^ abi.FS_XFLAG_PROJINHERIT
	if inherit {
		x |= abi.FS_XFLAG_PROJINHERIT
	}
	fa := vfs.FileattrFromXflags(x)
	fa.Flags |= old.Flags &^ abi.FS_COMMON_FL
	fa.Projid = projid
	if err := fi.SetFileattr(nowCtx, fa); err != nil {
		t.Fatalf("set project %d: %v", projid, err)
	}
}

func projectOf(t *testing.T, f *fsys, path string) (uint32, uint32) {
	t.Helper()
	vi, err := lookupPath(f, path)
	if err != nil {
		t.Fatal(err)
	}
	fa, err := vi.(vfs.Fileattrer).GetFileattr()
	if err != nil {
		t.Fatal(err)
	}
	return fa.Projid, fa.Xflags & abi.FS_XFLAG_PROJINHERIT
}

func TestQuotaProject(t *testing.T) {
	img := mkfsTree(t, "16M", []string{"-O", "quota,project", "-E", "quotatype=usrquota:grpquota:prjquota"}, nil)
	f, _ := mountImageRW(t, img)
	root := rwDir(t, f, "/")
	for _, n := range []string{"p", "q", "out"} {
		if _, err := root.Mkdir(nowCtx, n, abi.S_IFDIR|0o755); err != nil {
			t.Fatal(err)
		}
	}
	p, _ := lookupPath(f, "/p")
	setProject(t, p, 42, true)
	q, _ := lookupPath(f, "/q")
	setProject(t, q, 7, true)
	pd := rwDir(t, f, "/p")
	writeFileAs(t, pd, 1000, 1000, "a", 10000)
	if _, err := pd.Mkdir(ownerCtx(1001, 1001), "sub", abi.S_IFDIR|0o755); err != nil {
		t.Fatal(err)
	}
	writeFileAs(t, rwDir(t, f, "/p/sub"), 1002, 1002, "b", 70000)
	if _, err := pd.Symlink(nowCtx, "ln", strings.Repeat("t", 100)); err != nil {
		t.Fatal(err)
	}
	out := writeFileAs(t, rwDir(t, f, "/out"), 1000, 1000, "o", 5000)

	// A file outside the tree cannot get a name in it (ext4_link,
	// ext4_rename): EXDEV; inside the tree, names move freely.
	if err := pd.Link(nowCtx, "o", out.handOut()); err != abi.EXDEV {
		t.Errorf("link into a project tree: %v, want EXDEV", err)
	}
	od := rwDir(t, f, "/out")
	if err := od.Rename(nowCtx, "o", pd.inode.handOut(), "o", 0); err != abi.EXDEV {
		t.Errorf("rename into a project tree: %v, want EXDEV", err)
	}
	qd := rwDir(t, f, "/q")
	if err := pd.Rename(nowCtx, "a", qd.inode.handOut(), "a", 0); err != abi.EXDEV {
		t.Errorf("rename across project trees: %v, want EXDEV", err)
	}
	if err := pd.Rename(nowCtx, "a", rwDir(t, f, "/p/sub").inode.handOut(), "a2", 0); err != nil {
		t.Errorf("rename inside a project tree: %v", err)
	}
	// Out of the tree is allowed: "out" does not hand a project down.
	if err := pd.Rename(nowCtx, "ln", od.inode.handOut(), "ln", 0); err != nil {
		t.Errorf("rename out of a project tree: %v", err)
	}
	// A regular file cannot take PROJINHERIT_FL.
	fa := vfs.FileattrFromXflags(abi.FS_XFLAG_PROJINHERIT)
	fa.Flags |= out.flags & userVisibleFl &^ abi.FS_COMMON_FL
	if err := out.SetFileattr(nowCtx, fa); err != abi.EOPNOTSUPP {
		t.Errorf("PROJINHERIT on a file: %v, want EOPNOTSUPP", err)
	}
	// A file's project changes, with its usage.
	setProject(t, out.handOut(), 9, false)
	umountRW(t, f)
	quotaClean(t, img)

	f, _ = mountImageRW(t, img)
	for _, c := range []struct {
		path            string
		projid, inherit uint32
	}{
		{"/p", 42, abi.FS_XFLAG_PROJINHERIT},
		{"/p/sub", 42, abi.FS_XFLAG_PROJINHERIT},
		{"/p/sub/b", 42, 0},
		{"/p/sub/a2", 42, 0},
		{"/out/ln", 42, 0},
		{"/out/o", 9, 0},
		{"/q", 7, abi.FS_XFLAG_PROJINHERIT},
		{"/out", 0, 0},
	} {
		if p, i := projectOf(t, f, c.path); p != c.projid || i != c.inherit {
			t.Errorf("%s: project %d inherit %#x, want %d %#x", c.path, p, i, c.projid, c.inherit)
		}
	}
	// Remove the tree: the project's usage goes back to nothing.
	sub := rwDir(t, f, "/p/sub")
	for _, n := range []string{"a2", "b"} {
		if err := sub.Unlink(nowCtx, n); err != nil {
			t.Fatal(err)
		}
	}
	if err := rwDir(t, f, "/p").Rmdir(nowCtx, "sub"); err != nil {
		t.Fatal(err)
	}
	umountRW(t, f)
	quotaClean(t, img)
}

// TestQuotaFromE2fsprogs continues from quota files e2fsprogs wrote
// (tune2fs -O quota on a filesystem of 40 owners: trees and data blocks
// that the driver did not lay out), then checks the usage with e2fsck and
// the projects the driver set with the host kernel's view (lsattr -p on a
// read-only loop mount: Linux reads i_projid even without quota support).
func TestQuotaFromE2fsprogs(t *testing.T) {
	testutil.Need(t, "mkfs.ext4", "tune2fs", "e2fsck")
	if os.Geteuid() != 0 {
		testutil.Skip(t, "not root: cannot chown the source tree")
	}
	src := t.TempDir()
	for i := range 40 {
		name := filepath.Join(src, fmt.Sprintf("u%d", 1000+i))
		if err := os.WriteFile(name, make([]byte, 3000*i), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(name, 1000+i, 100+i%5); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(src, "p"), 0o755); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "img")
	testutil.Run(t, "mkfs.ext4", "-q", "-F", "-E", "root_owner=0:0", "-O", "project", "-d", src, img, "32M")
	testutil.Run(t, "tune2fs", "-O", "quota", "-Q", "usrquota,grpquota,prjquota", img)
	quotaClean(t, img)

	f, _ := mountImageRW(t, img)
	root := rwDir(t, f, "/")
	p, _ := lookupPath(f, "/p")
	setProject(t, p, 42, true)
	pd := rwDir(t, f, "/p")
	// Empty whole data blocks of e2fsprogs' files, chown, move usage
	// into a project.
	for i := 5; i < 35; i++ {
		if err := root.Unlink(nowCtx, fmt.Sprintf("u%d", 1000+i)); err != nil {
			t.Fatal(err)
		}
	}
	vi, _ := lookupPath(f, "/u1002")
	if err := vi.(fileInode).Setattr(nowCtx, vfs.SetAttr{Valid: vfs.SetUid | vfs.SetGid, Uid: 1039, Gid: 7}); err != nil {
		t.Fatal(err)
	}
	setProject(t, vi, 42, false)
	for i := range 30 {
		writeFileAs(t, pd, uint32(2000+i), 2000, fmt.Sprintf("n%d", i), 1500*i)
	}
	if _, err := pd.Mkdir(ownerCtx(2000, 2000), "sub", abi.S_IFDIR|0o755); err != nil {
		t.Fatal(err)
	}
	umountRW(t, f)
	quotaClean(t, img)

	// The host kernel sees the projects.
	testutil.NeedLoop(t)
	mnt := t.TempDir()
	testutil.Run(t, "mount", "-o", "loop,ro", img, mnt)
	out, err := exec.Command("lsattr", "-pd", mnt+"/p", mnt+"/p/sub", mnt+"/p/n3", mnt+"/u1002", mnt+"/u1003").CombinedOutput()
	testutil.Run(t, "umount", mnt)
	if err != nil {
		t.Fatalf("lsattr: %v\n%s", err, out)
	}
	want := []string{"42", "42", "42", "42", "0"}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i, l := range lines {
		if fields := strings.Fields(l); i >= len(want) || len(fields) < 1 || fields[0] != want[i] {
			t.Errorf("host lsattr -p: %q, want project %v in order", out, want)
			break
		}
	}
}

// TestQuotaCorrupt damages the user quota file of an image: a bad header
// keeps the mount read-only, a tree reference outside the file fails the
// operation that needs it with EUCLEAN, and neither panics.
func TestQuotaCorrupt(t *testing.T) {
	testutil.Need(t, "debugfs")
	img := mkfsTree(t, "16M", []string{"-O", "quota"}, nil)
	// The quota file's first block (its header and info) and its
	// tree root, as debugfs maps them.
	out, err := exec.Command("debugfs", "-R", "bmap <3> 0", img).Output()
	if err != nil {
		t.Fatal(err)
	}
	var hdr int64
	fmt.Sscan(string(out), &hdr)
	out, err = exec.Command("debugfs", "-R", "stats", img).Output()
	if err != nil || hdr == 0 {
		t.Fatalf("debugfs: %v (header block %d)", err, hdr)
	}
	bs := int64(1024)
	if strings.Contains(string(out), "Block size:               4096") {
		bs = 4096
	}
	patch := func(path string, off int64, b []byte) {
		t.Helper()
		fh, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		if _, err := fh.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	orig, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}

	patch(img, hdr*bs, []byte{0xde, 0xad})
	log := &testLog{}
	sb, err := NewType().Mount(openDevRW(t, img), 0, "", log)
	if err != nil {
		t.Fatal(err)
	}
	if !sb.(*fsys).ReadOnly() || !strings.Contains(log.String(), "quota") {
		t.Errorf("bad quota header: read-only %v, log:\n%s", sb.(*fsys).ReadOnly(), log)
	}
	sb.Unmount()

	// The root's reference for id 1000's first byte (0) points past the
	// file: a new file of uid 1000 needs it. With 1 KiB blocks the root
	// is the next block of the file; with 4 KiB, the next quarter.
	if err := os.WriteFile(img, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	root := hdr*bs + 1024
	if bs == 1024 {
		out, _ := exec.Command("debugfs", "-R", "bmap <3> 1", img).Output()
		var b int64
		fmt.Sscan(string(out), &b)
		root = b * bs
	}
	patch(img, root, []byte{0xff, 0xff, 0, 0})
	f, _ := mountImageRW(t, img)
	_, err = rwDir(t, f, "/").Create(ownerCtx(1000, 1000), "x", abi.S_IFREG|0o644)
	if !errors.Is(err, abi.EUCLEAN) {
		t.Errorf("create with a bad quota tree: %v, want EUCLEAN", err)
	}
	f.Unmount()
}

// TestQuotaManyIDs fills the quota trees with ids that spread over every
// level (small ones, ones past 2^16 and 2^24, the largest), removes them
// all, so that data and tree blocks go to the free list, and fills them
// again, which must take blocks from that list rather than grow the
// files. The same operations on a copy of the image give the same bytes.
func TestQuotaManyIDs(t *testing.T) {
	img := mkfsTree(t, "32M", []string{"-O", "quota"}, nil)
	orig, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(round int) []uint32 {
		var out []uint32
		for i := range 120 {
			out = append(out, uint32(1000+i+round*500), uint32(70000+i*257+round), uint32(1<<24+i*65537+round), uint32(0xFFFFFFF0+i%15)-uint32(round))
		}
		return out
	}
	run := func(img string) (grown [2]uint32) {
		f, _ := mountImageRW(t, img)
		f.SetClock(func() abi.Timespec { return nowCtx.Now })
		root := rwDir(t, f, "/")
		for round := range 2 {
			for i, id := range ids(round) {
				writeFileAs(t, root, id, id^0x5a5a, fmt.Sprintf("f%d", i), 100*i)
			}
			grown[round] = f.quota.files[disk.QuotaUser].info[disk.DqiBlocks]
			for i := range ids(round) {
				if err := root.Unlink(nowCtx, fmt.Sprintf("f%d", i)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if n := len(f.quota.files[disk.QuotaUser].dquots); n != 1 {
			t.Errorf("%d user entries left, want root's only", n)
		}
		umountRW(t, f)
		quotaClean(t, img)
		return grown
	}
	grown := run(img)
	if grown[1] > grown[0] {
		t.Errorf("the user quota file grew from %d to %d blocks: freed blocks were not reused", grown[0], grown[1])
	}
	twin := filepath.Join(t.TempDir(), "twin")
	if err := os.WriteFile(twin, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	run(twin)
	a, _ := os.ReadFile(img)
	b, _ := os.ReadFile(twin)
	if !bytes.Equal(a, b) {
		for off := 0; off < len(a) && off < len(b); off += 1024 {
			if !bytes.Equal(a[off:off+1024], b[off:off+1024]) {
				for i := off; i < off+1024; i++ {
					if a[i] != b[i] {
						t.Errorf("the same operations gave different images: first at byte %#x", i)
						break
					}
				}
				break
			}
		}
	}
}

// TestQuotaEAInode: values held by ea_inodes charge one inode each to the
// owners of the inodes whose entries name them, in the inode or in a
// shared xattr block, and the ea_inode itself nothing
// (ext4_xattr_inode_alloc_quota); a chown moves those charges with the
// inode (ext4_get_inode_usage). e2fsck -fn, which counts them so, finds
// the quotas right after values are added, shared, replaced and removed,
// files chowned and unlinked.
func TestQuotaEAInode(t *testing.T) {
	img := mkfsTree(t, "16M", []string{"-b", "1024", "-O", "quota,project,ea_inode"}, nil)
	f, _ := mountImageRW(t, img)
	root := rwDir(t, f, "/")
	big := func(c byte) []byte { return bytes.Repeat([]byte{c}, 900) } // an ea_inode's on 1 KiB blocks
	files := make([]*inode, 4)
	for i := range files {
		files[i] = writeFileAs(t, root, uint32(1000+i%2), 100, fmt.Sprintf("f%d", i), 10)
	}
	for i, ip := range files {
		for _, name := range []string{"user.a", "user.c"} { // into a block, shared by equal sets
			if err := ip.Setxattr(nowCtx, name, bytes.Repeat([]byte("v"), 200), 0); err != nil {
				t.Fatal(err)
			}
		}
		if err := ip.Setxattr(nowCtx, "user.big", big(byte('a'+i%2)), 0); err != nil {
			t.Fatal(err)
		}
	}
	umountRW(t, f)
	quotaClean(t, img)

	f, _ = mountImageRW(t, img)
	root = rwDir(t, f, "/")
	vi, err := lookupPath(f, "/f1")
	if err != nil {
		t.Fatal(err)
	}
	if err := vi.(fileInode).Setattr(nowCtx, vfs.SetAttr{Valid: vfs.SetUid | vfs.SetGid, Uid: 7, Gid: 8}); err != nil {
		t.Fatal(err)
	}
	ip2 := vi.(fileInode).inode
	if err := ip2.Setxattr(nowCtx, "user.big", big('z'), 0); err != nil {
		t.Fatal(err)
	}
	if err := root.Unlink(nowCtx, "f0"); err != nil {
		t.Fatal(err)
	}
	if vi, err = lookupPath(f, "/f2"); err != nil {
		t.Fatal(err)
	}
	if err := vi.(fileInode).inode.Removexattr(nowCtx, "user.big"); err != nil {
		t.Fatal(err)
	}
	umountRW(t, f)
	quotaClean(t, img)
}
