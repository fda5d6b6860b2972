package hostcopy

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"golang.org/x/sys/unix"
)

// TestToSharesXattrBlocks: 2,000 files with one large set of attributes
// (and every tenth with one more) copied into an image of 128-byte inodes,
// where attributes live in a block, share their blocks as Linux's
// mbcache makes them (at most 1,024 inodes a block): To through the
// kernel's ext4 uses as many blocks as cp -a on the host kernel's mount
// of a twin image, with the same reference counts (e2fsck -fn checks
// them); removing and changing attributes of some files afterwards, the
// same way on both, leaves the others' intact, the trees equal.
func TestToSharesXattrBlocks(t *testing.T) {
	tools := testutil.Need(t, "mkfs.ext4", "e2fsck", "debugfs")
	testutil.NeedLoop(t)
	const files = 2000
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	attrs := map[string]string{"user.a": strings.Repeat("a", 300), "user.b": strings.Repeat("b", 500)}
	for i := range files {
		p := filepath.Join(src, fmt.Sprintf("f%04d", i))
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		for n, v := range attrs {
			if err := unix.Setxattr(p, n, []byte(v), 0); err != nil {
				testutil.Skip(t, "setxattr on the host's %s: %v", dir, err)
			}
		}
		if i%10 == 0 {
			if err := unix.Setxattr(p, "user.c", []byte("tenth"), 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	kimg, himg := filepath.Join(dir, "k.img"), filepath.Join(dir, "h.img")
	for _, img := range []string{kimg, himg} {
		testutil.Run(t, tools[0], "-q", "-F", "-I", "128", "-N", "4096", "-E", "root_owner=0:0", img, "16M")
	}
	// Later changes, the same on both: remove, change, and give a shared
	// block's attributes to a file that had the other set.
	type change struct{ file, name, value string }
	changes := []change{
		{"f0001", "user.a", ""}, {"f0002", "user.b", "changed"}, {"f0010", "user.c", ""},
		{"f1500", "user.c", "tenth"}, {"f1999", "user.a", ""}, {"f1999", "user.b", ""},
	}
	apply := func(who, dir string, set func(p, name string, v []byte, flags int) error, remove func(p, name string) error) {
		for _, c := range changes {
			var err error
			if c.value == "" {
				err = remove(dir+c.file, c.name)
			} else {
				err = set(dir+c.file, c.name, []byte(c.value), 0)
			}
			if err != nil {
				t.Errorf("%s: %s %s: %v", who, c.file, c.name, err)
			}
		}
	}

	k, err := kernel.Boot(kernel.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.AddDisk(kimg, kernel.DiskOptions{}); err != nil {
		k.Halt()
		t.Fatal(err)
	}
	mnt, err := k.MountDev("vda", "ext4", 0, "")
	if err != nil {
		k.Halt()
		t.Fatal(err)
	}
	var errs []string
	if err := To(k, mnt, []string{src}, "/", collect(&errs)); err != nil || len(errs) > 0 {
		k.Halt()
		t.Fatalf("To: %v %q", err, errs)
	}
	if err := k.Halt(); err != nil {
		t.Fatal(err)
	}
	hmnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(hmnt, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "mount", "-o", "loop", himg, hmnt)
	out, err := exec.Command("cp", "-a", src, hmnt+"/").CombinedOutput()
	testutil.Run(t, "umount", hmnt)
	if err != nil {
		t.Fatalf("cp -a: %v\n%s", err, out)
	}
	kb, hb := xattrBlocks(t, tools[2], kimg, files), xattrBlocks(t, tools[2], himg, files)
	t.Logf("users of each xattr block after the copy: kernel %v, host %v", kb, hb)
	if !slices.Equal(kb, hb) {
		t.Errorf("the copy's xattr blocks have %v users, cp -a's on the host %v", kb, hb)
	}
	testutil.E2fsckClean(t, kimg)

	k, err = kernel.Boot(kernel.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.AddDisk(kimg, kernel.DiskOptions{}); err != nil {
		k.Halt()
		t.Fatal(err)
	}
	if mnt, err = k.MountDev("vda", "ext4", 0, ""); err != nil {
		k.Halt()
		t.Fatal(err)
	}
	apply("kernel", mnt+"/src/", k.Setxattr, k.Removexattr)
	if err := k.Halt(); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "mount", "-o", "loop", himg, hmnt)
	apply("host", hmnt+"/src/", unix.Setxattr, unix.Removexattr)
	testutil.Run(t, "umount", hmnt)
	testutil.E2fsckClean(t, kimg)
	kb, hb = xattrBlocks(t, tools[2], kimg, files), xattrBlocks(t, tools[2], himg, files)
	t.Logf("users of each xattr block after the changes: kernel %v, host %v", kb, hb)
	// Which files share which of the two full blocks follows the order
	// of the copy, which differs: the counts of blocks must agree.
	if len(kb) != len(hb) {
		t.Errorf("after the changes: %d xattr blocks (%v users), the host kernel's %d (%v)", len(kb), kb, len(hb), hb)
	}
	o := treeOpts()
	o.SkipPaths = []string{"lost+found"}
	ht, kt := testutil.LoopView(t, himg), testutil.LoopView(t, kimg)
	delete(ht, ".") // its times are the copies'
	delete(kt, ".")
	testutil.ExpectSame(t, "host kernel's cp -a and changes vs the library kernel's", ht, kt, o)
}

// fileACLRe finds debugfs stat's "File ACL: N".
var fileACLRe = regexp.MustCompile(`File ACL: (\d+)`)

// xattrBlocks returns how many of /src/f0000... in img use each xattr
// block, sorted: the blocks' reference counts.
func xattrBlocks(t *testing.T, debugfs, img string, files int) []int {
	t.Helper()
	var cmds strings.Builder
	for i := range files {
		fmt.Fprintf(&cmds, "stat /src/f%04d\n", i)
	}
	script := filepath.Join(t.TempDir(), "cmds")
	if err := os.WriteFile(script, []byte(cmds.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(debugfs, "-f", script, img).CombinedOutput()
	if err != nil {
		t.Fatalf("debugfs: %v\n%s", err, out)
	}
	users := map[string]int{}
	n := 0
	for _, m := range fileACLRe.FindAllStringSubmatch(string(out), -1) {
		n++
		if m[1] != "0" {
			users[m[1]]++
		}
	}
	if n != files {
		t.Fatalf("debugfs stat showed %d File ACL lines for %d files", n, files)
	}
	return slices.Sorted(maps.Values(users))
}
