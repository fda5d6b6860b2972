//go:build linux

package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lklimg/lklimg/internal/testutil"
	"golang.org/x/sys/unix"
)

// TestToTree is cptofs's acceptance test: the full test tree goes into
// an empty image; e2fsck -fn finds nothing; the host kernel, mounting
// the image, shows the source tree entry by entry; cpfromfs brings back
// the source tree (the round trip).
func TestToTree(t *testing.T) {
	src, want := shared.Get(t)
	img := filepath.Join(t.TempDir(), "fs.img")
	testutil.MkfsExt4(t, img, "", "64M")

	mustRun(t, cptofs(t, "-i", img, src+"/.", "/"), "cptofs SRC/. /")
	testutil.E2fsckClean(t, img)
	opts := testutil.CompareOptions{SkipPaths: []string{"lost+found"}, HoleUnit: 4096}
	if os.Geteuid() != 0 {
		opts.Ignore = append(opts.Ignore, "uid", "gid") // owned by the kernel's 0:0
	}
	t.Run("loop", func(t *testing.T) {
		testutil.ExpectSame(t, "source vs mount -o loop", want, testutil.LoopView(t, img), opts)
	})

	out := filepath.Join(t.TempDir(), "out")
	mustRun(t, cpfromfs(t, "-i", img, "/", out), "cpfromfs / OUT")
	testutil.ExpectSame(t, "source vs cptofs+cpfromfs", want, testutil.MustScanDir(t, out), opts)
}

// TestToSources: several sources (a file, a directory, a pattern, a
// hard link between two of them) into a directory of the image; one
// source to a new name; -s labels every entry; -o/-g set owners; -v
// lists.
func TestToSources(t *testing.T) {
	src := smallTree(t)
	if err := os.Link(filepath.Join(src, "etc/hosts"), filepath.Join(src, "usr/lib/hosts-link")); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "fs.img")
	testutil.MkfsExt4(t, img, "", "16M")
	mustRun(t, cptofs(t, "-i", img, src+"/etc", "/"), "cptofs etc")
	r := cptofs(t, "-v", "-s", "system_u:object_r:etc_t:s0", "-o", "42", "-g", "43", "-i", img,
		src+"/etc/host*", src+"/usr/lib", src+"/bin", "/etc")
	mustRun(t, r, "cptofs patterns")
	wantList := []string{
		src + "/etc/hostname -> /etc/hostname",
		src + "/etc/hosts -> /etc/hosts",
		src + "/usr/lib -> /etc/lib",
		src + "/usr/lib/hosts-link -> /etc/lib/hosts-link",
		src + "/usr/lib/libc.so -> /etc/lib/libc.so",
		src + "/bin -> /etc/bin",
	}
	if got := lines(r.stdout); !slices.Equal(got, wantList) {
		t.Errorf("-v listed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantList, "\n"))
	}
	testutil.E2fsckClean(t, img)
	out := t.TempDir()
	mustRun(t, cpfromfs(t, "-i", img, "/etc", out), "cpfromfs")
	tree := testutil.MustScanDir(t, out)
	if tree["etc/hosts"].Ino != tree["etc/lib/hosts-link"].Ino {
		t.Error("hosts and lib/hosts-link (two sources) are not one file")
	}
	for _, p := range []string{"etc/hostname", "etc/lib", "etc/lib/libc.so", "etc/bin"} {
		e := tree[p]
		if e == nil {
			t.Errorf("%s: not copied", p)
			continue
		}
		if e.Uid != 42 || e.Gid != 43 || string(e.Xattrs["security.selinux"]) != "system_u:object_r:etc_t:s0\x00" {
			t.Errorf("%s: owner %d:%d, label %q", p, e.Uid, e.Gid, e.Xattrs["security.selinux"])
		}
	}
	if e := tree["etc/passwd"]; e == nil || e.Uid != 0 || e.Xattrs["security.selinux"] != nil {
		t.Errorf("etc/passwd (first copy) changed by the second: %+v", e)
	}

	// One source to a new name.
	mustRun(t, cptofs(t, "-i", img, src+"/etc/hostname", "/renamed"), "cptofs to a new name")
	out = t.TempDir()
	mustRun(t, cpfromfs(t, "-i", img, "/renamed", out), "cpfromfs")
	if readFile(t, filepath.Join(out, "renamed")) != "box\n" {
		t.Error("/renamed: wrong content")
	}
}

// TestToOverwrite: a second copy replaces files (their other hard links in
// the image keep the old content), merges directories, keeps what the
// source does not hold, reports directory/non-directory clashes; the
// image stays clean.
func TestToOverwrite(t *testing.T) {
	src := smallTree(t)
	img := filepath.Join(t.TempDir(), "fs.img")
	testutil.MkfsExt4(t, img, "", "16M")
	mustRun(t, cptofs(t, "-i", img, src+"/.", "/"), "first copy")

	// In the image: a link to etc/hostname, a file of its own; in the
	// source: new content, a file where the image has a directory.
	other := filepath.Join(t.TempDir(), "other")
	writeFile(t, filepath.Join(other, "mine"), "mine\n")
	mustRun(t, cptofs(t, "-i", img, filepath.Join(other, "mine"), "/etc"), "copy mine")
	writeFile(t, filepath.Join(src, "etc/hostname"), "a longer new name\n")
	if err := os.RemoveAll(filepath.Join(src, "usr/lib")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(src, "usr/lib"), "now a file\n")
	r := cptofs(t, "-i", img, src+"/.", "/")
	if r.code != 1 || !strings.Contains(r.stderr, "cptofs: "+src+"/usr/lib: cannot overwrite directory /usr/lib with a non-directory") {
		t.Errorf("second copy: exit %d, stderr %q", r.code, r.stderr)
	}
	testutil.E2fsckClean(t, img)
	out := t.TempDir()
	mustRun(t, cpfromfs(t, "-i", img, "/", out), "cpfromfs")
	for p, want := range map[string]string{
		"etc/hostname":    "a longer new name\n",
		"etc/mine":        "mine\n",
		"usr/lib/libc.so": "ELF",
	} {
		if got := readFile(t, filepath.Join(out, p)); got != want {
			t.Errorf("%s: %q, want %q", p, got, want)
		}
	}
}

// TestToNoSpace: a tree larger than the image stops with ENOSPC, named
// with the image and the file; the image is unmounted clean.
func TestToNoSpace(t *testing.T) {
	src := t.TempDir()
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i*7 + i>>12)
	}
	for _, n := range []string{"a", "b", "c"} {
		if err := os.WriteFile(filepath.Join(src, n), big, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(t.TempDir(), "fs.img")
	testutil.MkfsExt4(t, img, "", "4M")
	r := cptofs(t, "-i", img, src+"/.", "/")
	if r.code != 1 || !strings.Contains(r.stderr, "cptofs: no space left on device in "+img+" while copying "+src+"/") {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
	testutil.E2fsckClean(t, img)
}

// TestToDryRun: --dry-run lists and does not touch the image.
func TestToDryRun(t *testing.T) {
	src := smallTree(t)
	img := filepath.Join(t.TempDir(), "fs.img")
	testutil.MkfsExt4(t, img, "", "8M")
	before := readFile(t, img)
	r := cptofs(t, "--dry-run", "-i", img, src+"/etc", "/")
	mustRun(t, r, "--dry-run")
	want := []string{src + "/etc -> /etc", src + "/etc/hostname -> /etc/hostname",
		src + "/etc/hosts -> /etc/hosts", src + "/etc/passwd -> /etc/passwd"}
	if got := lines(r.stdout); !slices.Equal(got, want) {
		t.Errorf("listed %q, want %q", got, want)
	}
	if readFile(t, img) != before {
		t.Error("--dry-run changed the image")
	}
}

// TestToVariants: cptofs into every ext4 layout mkfs makes by default
// options (ext2 and ext3 without extents, 1 KiB blocks, 128-byte inodes,
// no 64bit, no metadata_csum, meta_bg): e2fsck -fn finds nothing and the
// host kernel shows the source tree.
func TestToVariants(t *testing.T) {
	src := smallTree(t)
	f, err := os.Create(filepath.Join(src, "usr/lib/sparse"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("data after a hole"), 1<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Link(filepath.Join(src, "etc/hosts"), filepath.Join(src, "usr/hosts")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(strings.Repeat("long/", 30), filepath.Join(src, "usr/long-link")); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lsetxattr(filepath.Join(src, "etc/passwd"), "user.note", []byte("kept"), 0); err != nil {
		t.Fatal(err)
	}
	want := testutil.MustScanDir(t, src)
	for _, v := range testutil.Ext4Layouts() {
		t.Run(v.Name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "fs.img")
			testutil.MkfsExt4(t, img, "", "16M", v.Opts...)
			mustRun(t, cptofs(t, "-i", img, src+"/.", "/"), "cptofs")
			testutil.E2fsckClean(t, img)
			opts := testutil.CompareOptions{SkipPaths: []string{"lost+found"}, HoleUnit: 4096}
			if v.NoNS {
				opts.MtimeUnit = time.Second
			}
			testutil.ExpectSame(t, "source vs mount -o loop", want, testutil.LoopView(t, img), opts)
		})
	}
}

// TestToQuota: cptofs into an image with user, group and project quotas,
// of a tree with several owners (as root), then again over the same
// files: e2fsck -fn, which recomputes every owner's usage and compares it
// with the quota files, finds nothing, and the host kernel shows the
// source tree.
func TestToQuota(t *testing.T) {
	src := smallTree(t)
	writeFile(t, filepath.Join(src, "usr/lib/big"), strings.Repeat("x", 300000))
	if os.Geteuid() == 0 {
		for i, p := range []string{"etc/hostname", "etc/hosts", "usr/bin/tool", "usr/lib/big", "usr/lib", "bin"} {
			if err := os.Lchown(filepath.Join(src, p), 1000+i, 2000+i%3); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := testutil.MustScanDir(t, src)
	img := filepath.Join(t.TempDir(), "fs.img")
	testutil.MkfsExt4(t, img, "", "16M", "-O", "quota,project")
	mustRun(t, cptofs(t, "-i", img, src+"/.", "/"), "cptofs")
	testutil.E2fsckClean(t, img)
	mustRun(t, cptofs(t, "-i", img, src+"/.", "/"), "cptofs again")
	testutil.E2fsckClean(t, img)
	opts := testutil.CompareOptions{SkipPaths: []string{"lost+found"}, HoleUnit: 4096}
	if os.Geteuid() != 0 {
		opts.Ignore = append(opts.Ignore, "uid", "gid")
	}
	testutil.ExpectSame(t, "source vs mount -o loop", want, testutil.LoopView(t, img), opts)
}

// TestToQcow2: cptofs writes into qcow2 images in place: one converted
// from an ext4 image, and an overlay on a raw ext4 image (its backing
// file, which stays as it was). qemu-img check finds each clean, and the
// host kernel, mounting qemu-img's raw conversion, shows the source tree.
func TestToQcow2(t *testing.T) {
	testutil.Need(t, "qemu-img")
	src, want := shared.Get(t)
	dir := t.TempDir()
	base := filepath.Join(dir, "base.img")
	testutil.MkfsExt4(t, base, "", "64M")
	plain := filepath.Join(dir, "plain.qcow2")
	testutil.Run(t, "qemu-img", "convert", "-O", "qcow2", base, plain)
	overlay := filepath.Join(dir, "overlay.qcow2")
	testutil.Run(t, "qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.img", "-F", "raw", overlay)
	baseSum := testutil.FileSum(t, base)
	opts := testutil.CompareOptions{SkipPaths: []string{"lost+found"}, HoleUnit: 4096}
	if os.Geteuid() != 0 {
		opts.Ignore = append(opts.Ignore, "uid", "gid")
	}
	for _, img := range []string{plain, overlay} {
		t.Run(filepath.Base(img), func(t *testing.T) {
			mustRun(t, cptofs(t, "-i", img, src+"/.", "/"), "cptofs SRC/. /")
			testutil.Run(t, "qemu-img", "check", img)
			raw := img + ".raw"
			testutil.Run(t, "qemu-img", "convert", "-O", "raw", img, raw)
			testutil.E2fsckClean(t, raw)
			testutil.ExpectSame(t, "source vs the qcow2 image's disk, mounted", want, testutil.LoopView(t, raw), opts)
		})
	}
	if testutil.FileSum(t, base) != baseSum {
		t.Error("the overlay's backing file changed")
	}
}

// TestXattrTooBig: an attribute that fits neither in the inode nor in one
// 1 KiB xattr block (no ea_inode) is refused with ENOSPC by ext4, as by
// Linux; that fails its file only: the file is copied without it, the
// copy goes on, the refusal names the file and the attribute, and the
// exit status is 1 (cp -a's behaviour, and tar2fs's).
func TestXattrTooBig(t *testing.T) {
	src := t.TempDir()
	for _, n := range []string{"a", "b", "c"} {
		writeFile(t, filepath.Join(src, n), n+"\n")
	}
	if err := unix.Lsetxattr(filepath.Join(src, "b"), "user.big", make([]byte, 3000), 0); err != nil {
		t.Skipf("the host's filesystem holds no 3000-byte xattr: %v", err)
	}
	if err := unix.Lsetxattr(filepath.Join(src, "b"), "user.small", []byte("kept"), 0); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "fs.img")
	testutil.MkfsExt4(t, img, "", "16M", "-b", "1024")
	r := cptofs(t, "-i", img, src+"/.", "/")
	if r.code != 1 || !strings.Contains(r.stderr, "b") || !strings.Contains(r.stderr, "user.big") ||
		strings.Contains(r.stderr, "stopped") || strings.Contains(r.stderr, "no space left on device in") {
		t.Errorf("exit %d, stderr:\n%s\nwant status 1 and the attribute of b reported alone", r.code, r.stderr)
	}
	testutil.E2fsckClean(t, img)
	got := testutil.LoopView(t, img)
	for _, n := range []string{"a", "b", "c"} {
		if got[n] == nil {
			t.Errorf("%s is not in the image: the copy stopped", n)
		}
	}
	if b := got["b"]; b != nil && (string(b.Xattrs["user.small"]) != "kept" || b.Xattrs["user.big"] != nil) {
		t.Errorf("b's attributes in the image: %q", b.Xattrs)
	}
}
