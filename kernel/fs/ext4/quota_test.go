package ext4

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

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

// writeFileAs creates name in d owned by uid:gid with n bytes.
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
