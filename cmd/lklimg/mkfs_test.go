//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"golang.org/x/sys/unix"
)

func lklimgMkfs(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(lklimgBin, append([]string{"mkfs"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	return runCmd(t, cmd)
}

func featuresLine(t *testing.T, img string) string {
	t.Helper()
	out, err := exec.Command("dumpe2fs", "-h", img).Output()
	if err != nil {
		t.Fatalf("dumpe2fs %s: %v", img, err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Filesystem features:") {
			return l
		}
	}
	t.Fatalf("dumpe2fs %s: no features line", img)
	return ""
}

// TestMkfsAsMkfsExt4: the defaults are mkfs.ext4's, and with the same
// UUID, hash seed and time (SOURCE_DATE_EPOCH for lklimg,
// E2FSPROGS_FAKE_TIME for mke2fs) the images are the same bytes.
func TestMkfsAsMkfsExt4(t *testing.T) {
	testutil.Need(t, "mkfs.ext4", "e2fsck", "dumpe2fs")
	dir := t.TempDir()
	ours, ref := filepath.Join(dir, "x.img"), filepath.Join(dir, "ref.img")
	r := lklimgMkfs(t, nil, "-t", "ext4", "-s", "1G", ours)
	if r.code != 0 || !strings.Contains(r.stdout, "Creating filesystem with 262144 4k blocks and 65536 inodes") {
		t.Fatalf("lklimg mkfs: %+v", r)
	}
	testutil.E2fsckClean(t, ours)
	testutil.Run(t, "truncate", "-s", "1G", ref)
	testutil.Run(t, "mkfs.ext4", "-q", "-F", ref)
	if a, b := featuresLine(t, ours), featuresLine(t, ref); a != b {
		t.Errorf("features:\n  lklimg:    %s\n  mkfs.ext4: %s", a, b)
	}

	for _, c := range []struct {
		size string
		args []string
		ext  string // more -E options
	}{
		{"1G", []string{"-t", "ext4"}, ""},
		{"64M", []string{"-t", "ext4", "-L", "boot", "-m", "0"}, ""},
		{"300M", []string{"-t", "ext3", "-b", "4096", "-I", "128"}, ""},
		{"100M", []string{"-t", "ext2", "-N", "5000"}, ""},
		{"2G", []string{"-t", "ext4", "-G", "4", "-i", "65536", "-J", "size=16", "-O", "^has_journal"}, ""},
		{"1M", []string{"-t", "ext4"}, ""}, // too small for a journal
		{"256M", []string{"-t", "ext4", "-O", "^metadata_csum,uninit_bg,sparse_super2"}, ""},
		{"64M", []string{"-t", "ext4", "-O", "encrypt,ea_inode,verity,stable_inodes"}, ",encoding=utf8,encoding_flags=strict"},
		{"256M", []string{"-t", "ext4", "-O", "bigalloc"}, ""},
		{"1G", []string{"-t", "ext4", "-O", "bigalloc", "-C", "64K", "-i", "32768"}, ""},
		{"64M", []string{"-t", "ext4", "-b", "1024", "-O", "bigalloc,orphan_file", "-C", "4k"}, ""},
		{"1G", []string{"-t", "ext4", "-O", "quota,project,orphan_file"}, ""},
		{"256M", []string{"-t", "ext4", "-O", "quota"}, ",quotatype=usr:prjquota"},
	} {
		const uuid, seed = "0a0b0c0d-1111-4222-8333-444455556666", "99998888-7777-4666-9555-444433332222"
		opts := append([]string{"-U", uuid, "-E", "hash_seed=" + seed + ",root_owner=0:0" + c.ext}, c.args...)
		os.Remove(ours)
		if r := lklimgMkfs(t, []string{"SOURCE_DATE_EPOCH=1600000000"}, append(append([]string{"-q", "-s", c.size}, opts...), ours)...); r.code != 0 || r.stdout != "" {
			t.Fatalf("lklimg mkfs %v: %+v", c, r)
		}
		os.Remove(ref)
		testutil.Run(t, "truncate", "-s", c.size, ref)
		cmd := exec.Command("mke2fs", append(append([]string{"-q", "-F"}, opts...), ref)...)
		cmd.Env = append(os.Environ(), "E2FSPROGS_FAKE_TIME=1600000000", "MKE2FS_CONFIG=/etc/mke2fs.conf")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mke2fs: %v\n%s", err, out)
		}
		if !testutil.SameFiles(t, ours, ref) {
			t.Errorf("%v: the image differs from mke2fs's", c)
		}
	}
}

func TestMkfsErrors(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "x.img")
	if r := lklimgMkfs(t, nil, "-q", "-s", "64M", img); r.code != 0 {
		t.Fatalf("mkfs: %+v", r)
	}
	before, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-q", img}, "use -F to overwrite"},
		{[]string{"-q", "-F", "-t", "xfs", img}, "-t xfs"},
		{[]string{"-q", "-t", "vfat", "-N", "1024", img}, "-N is an option of mke2fs (-t ext4), not of mkfs.fat (-t vfat)"},
		{[]string{"-q", "-F", "-s", "12Q", img}, "invalid size"},
		{[]string{"-q", "-F", "-O", "nosuch", img}, "invalid filesystem option"},
		{[]string{"-q", "-F", "-b", "3000", img}, "invalid block size"},
		{[]string{"-q", "-F", "-E", "stride=4", img}, "unknown extended option"},
		{[]string{"-q", "-F", "-U", "xyz", img}, "could not parse UUID"},
		{[]string{"-q", "-F", "-d", filepath.Join(dir, "missing"), img}, "no such file"},
		{[]string{"-q", "-F", "-s", "100K", img}, "too small"},
		{[]string{"-q", "-F", "-G", "3", img}, "power of 2"},
		{[]string{"-q", "-F", "-G", "4", "-O", "^flex_bg", img}, "flex_bg feature not enabled"},
		{[]string{"-q", "-F", "-J", "size=1000", img}, "journal size too big"},
		{[]string{"-q", "-F", "-C", "16K", img}, "requires the bigalloc feature"},
		{[]string{"-q", "-F", "-O", "bigalloc", "-C", "1000", img}, "invalid cluster size"},
		{[]string{"-q", "-F", "-O", "bigalloc,^extent,^64bit", img}, "without extents"},
	} {
		r := lklimgMkfs(t, nil, c.args...)
		if r.code != exitImage || !strings.Contains(strings.ToLower(r.stderr), strings.ToLower(c.want)) {
			t.Errorf("mkfs %v: status %d, stderr %q; want 2 and %q", c.args, r.code, r.stderr, c.want)
		}
		// A refused mkfs leaves the image as it was.
		if after, err := os.ReadFile(img); err != nil || !bytes.Equal(before, after) {
			t.Errorf("mkfs %v changed the image (%v)", c.args, err)
		}
	}
	// Nor does it leave a file it created.
	fresh := filepath.Join(dir, "fresh.img")
	if r := lklimgMkfs(t, nil, "-q", "-s", "10K", fresh); r.code != exitImage {
		t.Errorf("mkfs -s 10K: %+v", r)
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Errorf("a refused mkfs left %s: %v", fresh, err)
	}
	// An image format the kernel cannot write is refused, not
	// overwritten as raw, even with -F and -s: one it has no backend for
	// (VDI), and a qcow2 image it cannot read (one it reads it writes
	// in place: cmd/cptofs TestToQcow2).
	for _, c := range []struct{ name, magic, want string }{
		{"x.vdi", string(make([]byte, 0x40)) + "\x7f\x10\xda\xbe", ": a VDI image, a format this kernel cannot open yet: convert it to a raw image first (qemu-img convert -O raw"},
		{"x.qcow2", "QFI\xfb\x00\x00\x00\x03", ": a qcow2 image this kernel cannot read: qcow2: corrupt image: header_length 0"},
	} {
		img := filepath.Join(dir, c.name)
		head := append([]byte(c.magic), make([]byte, 4088)...)
		if err := os.WriteFile(img, head, 0o644); err != nil {
			t.Fatal(err)
		}
		r := lklimgMkfs(t, nil, "-q", "-F", "-s", "64M", img)
		if want := img + c.want; r.code != exitImage || !strings.Contains(r.stderr, want) {
			t.Errorf("mkfs of %s: %+v, want %q", c.name, r, want)
		}
		if after, err := os.ReadFile(img); err != nil || !bytes.Equal(after, head) {
			t.Errorf("mkfs changed %s (%v)", c.name, err)
		}
	}
}

// TestMkfsDir: -d copies a tree in; the host kernel sees it as it is on
// the host; with SOURCE_DATE_EPOCH two runs make the same image. Also
// into bigalloc images, whose allocations are clusters.
func TestMkfsDir(t *testing.T) {
	testutil.Need(t, "e2fsck")
	testutil.NeedLoop(t)
	for _, c := range []struct {
		name string
		args []string
	}{
		{"default", nil},
		{"bigalloc", []string{"-O", "bigalloc", "-C", "64K"}},
		{"bigalloc-1k", []string{"-b", "1024", "-O", "bigalloc", "-C", "4K"}},
		// The kernel charges what it writes: e2fsck finds the usage
		// exact (mke2fs -d leaves the quota files as they were).
		{"quota-project", []string{"-O", "quota,project"}},
		{"quota-bigalloc-no-csum", []string{"-O", "quota,project,bigalloc,^metadata_csum"}},
	} {
		t.Run(c.name, func(t *testing.T) { testMkfsDir(t, c.args) })
	}
}

func testMkfsDir(t *testing.T, args []string) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.MakeTree(t, src)
	if err := os.Chmod(src, 0o750); err != nil {
		t.Fatal(err)
	}
	// Twice with SOURCE_DATE_EPOCH: the same bytes. The epoch is after
	// every time in the tree (times past it would be clamped to it).
	const epoch = 1<<32 - 1
	img, again := filepath.Join(dir, "x.img"), filepath.Join(dir, "y.img")
	for _, i := range []string{img, again} {
		r := lklimgMkfs(t, []string{fmt.Sprintf("SOURCE_DATE_EPOCH=%d", epoch)}, append(append([]string{"-q", "-s", "512M", "-d", src}, args...), i)...)
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("mkfs -d: %+v", r)
		}
		testutil.E2fsckClean(t, i)
	}
	if !testutil.SameFiles(t, img, again) {
		t.Errorf("two runs of mkfs -d with SOURCE_DATE_EPOCH made different images")
	}
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "mount", "-o", "loop,ro", img, mnt)
	got, err := testutil.ScanDir(mnt)
	var root unix.Stat_t
	serr := unix.Stat(mnt, &root)
	testutil.Run(t, "umount", mnt)
	// The root is mkfs's, as mke2fs -d leaves it: not the source's.
	if serr != nil || root.Mode&0o7777 != 0o755 || root.Uid != 0 || root.Mtim.Sec != epoch {
		t.Errorf("root: mode %o uid %d mtime %d (%v); want 755, 0, %d", root.Mode, root.Uid, root.Mtim.Sec, serr, epoch)
	}
	if err != nil {
		t.Fatal(err)
	}
	want, err := testutil.ScanDir(src)
	if err != nil {
		t.Fatal(err)
	}
	// The root is the new filesystem's own, as with mke2fs -d.
	if diffs := testutil.Compare(want, got, testutil.CompareOptions{SkipPaths: []string{"lost+found", "."}}); len(diffs) > 0 {
		t.Errorf("the image's tree differs from the source:\n%s", strings.Join(diffs[:min(len(diffs), 30)], "\n"))
	}
}

// TestMkfsReproducible: with SOURCE_DATE_EPOCH, the same command on the
// same tree makes the same bytes; without it, the UUIDs differ.
func TestMkfsReproducible(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	for _, d := range []string{"src/etc", "src/usr/bin"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range map[string][]byte{
		"etc/hostname": []byte("box\n"),
		"usr/bin/tool": bytes.Repeat([]byte{0x7f, 'E', 'L', 'F'}, 30000),
		"empty":        nil,
	} {
		if err := os.WriteFile(filepath.Join(src, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("usr/bin", filepath.Join(src, "bin")); err != nil {
		t.Fatal(err)
	}
	env := []string{"SOURCE_DATE_EPOCH=1700000000"}
	imgs := []string{filepath.Join(dir, "a.img"), filepath.Join(dir, "b.img"), filepath.Join(dir, "c.img")}
	for _, img := range imgs[:2] {
		if r := lklimgMkfs(t, env, "-q", "-s", "64M", "-d", src, img); r.code != 0 || r.stderr != "" {
			t.Fatalf("mkfs: %+v", r)
		}
		testutil.E2fsckClean(t, img)
	}
	if !testutil.SameFiles(t, imgs[0], imgs[1]) {
		t.Errorf("two runs with SOURCE_DATE_EPOCH made different images")
	}
	// Times past SOURCE_DATE_EPOCH are clamped to it (the files were
	// made now, after 2023).
	testutil.Need(t, "debugfs")
	out := string(testutil.Run(t, "debugfs", "-R", "stat /etc/hostname", imgs[0]))
	for _, field := range []string{"ctime", "atime", "mtime"} {
		if !strings.Contains(out, field+": 0x6553f100:00000000") { // 1700000000
			t.Errorf("/etc/hostname's %s is not SOURCE_DATE_EPOCH:\n%s", field, out)
		}
	}
	if r := lklimgMkfs(t, nil, "-q", "-s", "64M", "-d", src, imgs[2]); r.code != 0 {
		t.Fatalf("mkfs: %+v", r)
	}
	if testutil.SameFiles(t, imgs[0], imgs[2]) {
		t.Errorf("a run without SOURCE_DATE_EPOCH made the same image")
	}
}

// TestMkfsBlockDevice: on a device (a loop device over random bytes) the
// filesystem fills it, and what mke2fs would zero is zeroed.
func TestMkfsBlockDevice(t *testing.T) {
	testutil.Need(t, "losetup", "e2fsck")
	testutil.NeedLoop(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "disk")
	junk := make([]byte, 40<<20)
	for i := range junk {
		junk[i] = byte(i*7 + i>>9)
	}
	if err := os.WriteFile(file, junk, 0o644); err != nil {
		t.Fatal(err)
	}
	dev := strings.TrimSpace(string(testutil.Run(t, "losetup", "-f", "--show", file)))
	defer exec.Command("losetup", "-d", dev).Run()
	if r := lklimgMkfs(t, nil, "-t", "ext4", "-L", "dev", dev); r.code != 0 || !strings.Contains(r.stdout, "40960 1k blocks") {
		t.Fatalf("mkfs %s: %+v", dev, r)
	}
	testutil.E2fsckClean(t, dev)
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "mount", dev, mnt)
	werr := os.WriteFile(filepath.Join(mnt, "f"), junk[:1<<20], 0o644)
	testutil.Run(t, "umount", mnt)
	if werr != nil {
		t.Fatal(werr)
	}
	testutil.E2fsckClean(t, dev)
	if r := lklimgMkfs(t, nil, "-q", dev); r.code != exitImage || !strings.Contains(r.stderr, "-F") {
		t.Errorf("mkfs over a filesystem without -F: %+v", r)
	}
}

// TestMkfsTar: -d TAR extracts a tar archive (here gzip-compressed) as
// tar2fs does: e2fsck finds nothing, the host kernel sees the archive's
// source tree (the root too: the archive's "./"), and with
// SOURCE_DATE_EPOCH two runs make the same bytes.
func TestMkfsTar(t *testing.T) {
	archive, want := testutil.TreeArchive(t)
	gz := testutil.Compressed(t, archive, "gzip")
	dir := t.TempDir()
	img, again := filepath.Join(dir, "x.img"), filepath.Join(dir, "y.img")
	// The epoch is after every time in the tree: nothing is clamped.
	env := []string{fmt.Sprintf("SOURCE_DATE_EPOCH=%d", 1<<32-1)}
	for _, i := range []string{img, again} {
		r := lklimgMkfs(t, env, "-s", "64M", "-d", gz, i)
		if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, "Copying files into the device: done") {
			t.Fatalf("mkfs -d TAR: %+v", r)
		}
	}
	testutil.ExpectSame(t, "source vs mkfs -d TAR", want, testutil.FsckView(t, img), testutil.TreeArchiveOptions())
	if !testutil.SameFiles(t, img, again) {
		t.Errorf("two runs of mkfs -d TAR with SOURCE_DATE_EPOCH made different images")
	}
	// Without SOURCE_DATE_EPOCH, uncompressed.
	plain := filepath.Join(dir, "z.img")
	if r := lklimgMkfs(t, nil, "-q", "-s", "64M", "-d", archive, plain); r.code != 0 || r.stderr != "" || r.stdout != "" {
		t.Fatalf("mkfs -q -d TAR: %+v", r)
	}
	testutil.ExpectSame(t, "source vs mkfs -d TAR (no epoch)", want, testutil.FsckView(t, plain), testutil.TreeArchiveOptions())
	// Not an archive: said, status 1 or 2, and e2fsck still finds nothing.
	junk := filepath.Join(dir, "junk")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("not a tar\n"), 100), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.img")
	if r := lklimgMkfs(t, nil, "-q", "-s", "16M", "-d", junk, bad); r.code == 0 || r.stderr == "" {
		t.Errorf("mkfs -d junk: %+v", r)
	}
	testutil.E2fsckClean(t, bad)
}

// TestMkfsTimestamp: --timestamp fixes the time as SOURCE_DATE_EPOCH
// does, and wins over it.
func TestMkfsTimestamp(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if r := lklimgMkfs(t, nil, "-q", "-s", "64M", "--timestamp", "@1700000000", a); r.code != 0 || r.stderr != "" {
		t.Fatalf("--timestamp: %+v", r)
	}
	if r := lklimgMkfs(t, []string{"SOURCE_DATE_EPOCH=1"}, "-q", "-s", "64M", "--timestamp", "@1700000000", b); r.code != 0 {
		t.Fatalf("--timestamp with SOURCE_DATE_EPOCH: %+v", r)
	}
	if !testutil.SameFiles(t, a, b) {
		t.Errorf("--timestamp did not make the same image twice, or SOURCE_DATE_EPOCH won over it")
	}
	testutil.E2fsckClean(t, a)
	if r := lklimgMkfs(t, nil, "-q", "-F", "-s", "64M", "--timestamp", "soon", a); r.code != exitImage ||
		!strings.Contains(r.stderr, "--timestamp soon: not a time ext4 stores") {
		t.Errorf("--timestamp soon: %+v", r)
	}
}

// TestMkfsOutputFormats: mkfs -s makes a new qcow2 image (by its name)
// filled with -d: qemu-img check finds it clean, and converted to raw it
// is the raw image mkfs makes of the same input. Without -s, and with
// --output-format on an existing image, it refuses.
func TestMkfsOutputFormats(t *testing.T) {
	testutil.Need(t, "qemu-img")
	src, _ := testutil.NewTree(t)
	dir := t.TempDir()
	epoch := []string{"SOURCE_DATE_EPOCH=1700000000"}
	raw, q := filepath.Join(dir, "ref.img"), filepath.Join(dir, "new.qcow2")
	for _, p := range []string{raw, q} {
		if r := lklimgMkfs(t, epoch, "-q", "-s", "48M", "-d", src, p); r.code != exitOK || r.stderr != "" {
			t.Fatalf("mkfs %s: %+v", p, r)
		}
	}
	testutil.Run(t, "qemu-img", "check", q)
	testutil.Run(t, "qemu-img", "convert", "-O", "raw", q, q+".raw")
	a, _ := os.ReadFile(raw)
	b, _ := os.ReadFile(q + ".raw")
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("the qcow2 image's disk (%d bytes) differs from the raw image (%d)", len(b), len(a))
	}
	if r := lklimgMkfs(t, nil, "-q", filepath.Join(dir, "nosize.qcow2")); r.code != exitImage || !strings.Contains(r.stderr, "needs its size") {
		t.Errorf("mkfs of a new qcow2 without -s: %+v", r)
	}
	if r := lklimgMkfs(t, nil, "-q", "-F", "--output-format", "qcow2", raw); r.code != exitImage || !strings.Contains(r.stderr, "--output-format is for a new image") {
		t.Errorf("--output-format on an existing image: %+v", r)
	}
}

// TestMkfsVfatOutputFormats: mkfs -t vfat IMAGE SIZE of a new qcow2 image:
// qemu-img checks it clean, and its disk is the raw volume the same
// command makes (a fixed volume ID and time), which mkfs.fat's summary
// names as the image, not its raw file.
func TestMkfsVfatOutputFormats(t *testing.T) {
	testutil.Need(t, "qemu-img")
	dir := t.TempDir()
	raw, q := filepath.Join(dir, "ref.img"), filepath.Join(dir, "esp.qcow2")
	for _, p := range []string{raw, q} {
		r := lklimgMkfs(t, nil, "-t", "vfat", "--invariant", p, "40M")
		if r.code != exitOK || r.stderr != "" || !strings.HasPrefix(r.stdout, p+" has ") {
			t.Fatalf("mkfs -t vfat %s: %+v", p, r)
		}
	}
	testutil.Run(t, "qemu-img", "check", q)
	testutil.Run(t, "qemu-img", "convert", "-O", "raw", q, q+".raw")
	a, _ := os.ReadFile(raw)
	b, _ := os.ReadFile(q + ".raw")
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("the qcow2 volume's disk (%d bytes) differs from the raw volume (%d)", len(b), len(a))
	}
}
