package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/tools/repart"
)

// espTree writes an ESP's files: a startup.nsh that prints marker and
// powers the machine off (what the UEFI shell runs first), and long
// and short names in directories.
func espTree(t *testing.T, marker string) string {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"startup.nsh":                     "echo " + marker + "\r\nreset -s\r\n",
		"EFI/BOOT/README.TXT":             "not a boot loader\n",
		"loader/entries/A long name.conf": strings.Repeat("title lklimg\n", 300),
	} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// writeDefs writes repart.d files into a new directory.
func writeDefs(t *testing.T, defs map[string]string) string {
	dir := t.TempDir()
	for name, text := range defs {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// partitionFile copies a partition of img out to a file of its own.
func partitionFile(t *testing.T, img string, startSector, sectors int64) string {
	in, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	p := filepath.Join(t.TempDir(), "part.img")
	out, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, io.NewSectionReader(in, startSector*512, sectors*512)); err != nil {
		t.Fatal(err)
	}
	return p
}

// sfdiskStarts returns each partition's start and size in sectors, as
// sfdisk --dump lists them.
func sfdiskStarts(t *testing.T, img string) [][2]int64 {
	out := string(testutil.Run(t, "sfdisk", "--dump", img))
	var parts [][2]int64
	for _, l := range strings.Split(out, "\n") {
		var start, size int64
		if _, rest, ok := strings.Cut(l, " : start="); ok {
			fmt.Sscanf(strings.ReplaceAll(rest, " ", ""), "%d,size=%d", &start, &size)
			parts = append(parts, [2]int64{start, size})
		}
	}
	return parts
}

// TestDiskBuild: a disk of an ESP (vfat, from a directory), a root
// (ext4, from a directory and a tar, with directories made) and a bare
// swap partition, built from repart.d files. The table is the one
// systemd-repart makes of the same definitions (without the contents,
// which it cannot make here: no vfat in this kernel), sfdisk --verify
// is clean; the ESP passes fsck.fat and mtools shows its files; the
// root passes e2fsck and the host kernel shows both sources in it with
// owners, modes, xattrs and hard links; the same inputs and seed give
// the same bytes.
func TestDiskBuild(t *testing.T) {
	testutil.Need(t, "sfdisk", "fsck.fat", "mcopy", "systemd-repart")
	esp := espTree(t, "LKLIMG")
	src, srcTree := testutil.NewTree(t)
	tarFile, tarTree := testutil.TreeArchive(t)
	defs := map[string]string{
		"10-esp.conf":  "[Partition]\nType=esp\nFormat=vfat\nCopyFiles=" + esp + ":/\nSizeMinBytes=64M\n",
		"20-root.conf": "[Partition]\nType=root\nFormat=ext4\nCopyFiles=" + src + ":/\nCopyFiles=" + tarFile + ":/srv/layer\nMakeDirectories=/home /var/tmp\nSizeMinBytes=96M\n",
		"30-swap.conf": "[Partition]\nType=swap\nFormat=swap\nSizeMinBytes=8M\nSizeMaxBytes=8M\n",
	}
	dir := writeDefs(t, defs)
	const seed = "0d0b7b6f-3c52-4b5b-9c8e-1f2a3b4c5d6e"
	build := func(img string) {
		cmd := exec.Command(lklimgBin, "disk", "build", "--definitions", dir, "--seed", seed, img)
		cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1700000000")
		if r := runCmd(t, cmd); r.code != exitOK {
			t.Fatalf("disk build: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	}
	img := filepath.Join(t.TempDir(), "disk.img")
	build(img)

	// The table: systemd-repart's for the definitions without contents.
	bare := map[string]string{}
	for n, text := range defs {
		var keep []string
		for _, l := range strings.Split(text, "\n") {
			if !strings.HasPrefix(l, "Format=") && !strings.HasPrefix(l, "CopyFiles=") && !strings.HasPrefix(l, "MakeDirectories=") {
				keep = append(keep, l)
			}
		}
		bare[n] = strings.Join(keep, "\n")
	}
	theirs := filepath.Join(t.TempDir(), "theirs.img")
	testutil.Run(t, "systemd-repart", "--empty=create", "--size=auto", "--seed="+seed, "--definitions="+writeDefs(t, bare), "--dry-run=no", "--no-pager", theirs)
	a, _ := os.ReadFile(theirs)
	b, _ := os.ReadFile(img)
	if len(a) != len(b) || !bytes.Equal(a[:1<<20], b[:1<<20]) || !bytes.Equal(a[len(a)-1<<20:], b[len(b)-1<<20:]) {
		t.Errorf("the table differs from systemd-repart's:\n%s\n%s", testutil.Run(t, "sfdisk", "--dump", theirs), testutil.Run(t, "sfdisk", "--dump", img))
	}
	testutil.Run(t, "sfdisk", "--verify", img)
	if sg, err := exec.LookPath("sgdisk"); err == nil {
		testutil.Run(t, sg, "-v", img)
	}
	parts := sfdiskStarts(t, img)
	if len(parts) != 3 {
		t.Fatalf("partitions: %v", parts)
	}

	// The swap area, as blkid sees it: systemd-repart's label and UUID.
	if blkid, err := exec.LookPath("blkid"); err == nil {
		swap := partitionFile(t, img, parts[2][0], parts[2][1])
		out := string(testutil.Run(t, blkid, "-o", "export", swap))
		dump := string(testutil.Run(t, "sfdisk", "--dump", img))
		_, rest, _ := strings.Cut(dump[strings.LastIndex(dump, " : start="):], "uuid=")
		partUUID, err := repart.ParseID128(rest[:36])
		if err != nil {
			t.Fatal(err)
		}
		fsUUID := repart.Derive(partUUID, "file-system-uuid")
		for _, want := range []string{"TYPE=swap", "LABEL=swap", "UUID=" + fsUUID.String()} {
			if !strings.Contains(out, want+"\n") && !strings.Contains(out, "\n"+want) {
				t.Errorf("swap: blkid says %q, want %s", out, want)
			}
		}
	}

	// The ESP.
	espImg := partitionFile(t, img, parts[0][0], parts[0][1])
	testutil.Run(t, "fsck.fat", "-n", espImg)
	out := t.TempDir()
	cmd := exec.Command("mcopy", "-s", "-n", "-i", espImg, "::/*", out)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mcopy: %v\n%s", err, o)
	}
	want, _ := testutil.ScanDir(esp)
	got, _ := testutil.ScanDir(out)
	// FAT keeps no owners, modes or extended attributes; times are
	// checked by the vfat driver's own tests.
	fatOpts := testutil.CompareOptions{Ignore: []string{"mode", "uid", "gid", "mtime", "xattrs"}, SkipPaths: []string{"."}}
	for _, d := range testutil.Compare(want, got, fatOpts) {
		t.Error("ESP: " + d)
	}

	// The root.
	rootImg := partitionFile(t, img, parts[1][0], parts[1][1])
	view := testutil.FsckView(t, rootImg)
	opts := testutil.TreeArchiveOptions()
	opts.SkipPaths = append(opts.SkipPaths, "srv", "home", "var", ".")
	opts.Ignore = append(opts.Ignore, "mtime") // clamped to SOURCE_DATE_EPOCH
	for _, d := range testutil.Compare(srcTree, view, opts) {
		t.Error("root: " + d)
	}
	tarOpts := testutil.TreeArchiveOptions()
	tarOpts.SkipPaths = append(tarOpts.SkipPaths, ".")
	tarOpts.Ignore = append(tarOpts.Ignore, "mtime")
	for _, d := range testutil.Compare(tarTree, view.Sub("srv/layer"), tarOpts) {
		t.Error("root, srv/layer: " + d)
	}
	for _, p := range []string{"home", "var/tmp", "srv"} {
		if e := view[p]; e == nil || e.Type != testutil.TypeDir || e.Mode&0o777 != 0o755 || e.Uid != 0 {
			t.Errorf("root: %s: %+v, want a directory 0755 of root", p, e)
		}
	}
	for p, e := range view {
		if e.Mtime > time.Unix(1700000000, 0).UnixNano() {
			t.Errorf("root: %s: mtime %d later than SOURCE_DATE_EPOCH", p, e.Mtime)
		}
	}

	// Reproducible.
	img2 := filepath.Join(t.TempDir(), "disk.img")
	build(img2)
	if c, _ := os.ReadFile(img2); !bytes.Equal(b, c) {
		o, _ := exec.Command("sh", "-c", "cmp -l "+img+" "+img2+" | head -20").CombinedOutput()
		t.Errorf("a second build of the same inputs and seed differs (cmp -l):\n%s", o)
	}
}

// TestDiskBuildErrors: what disk build refuses, in its words.
func TestDiskBuildErrors(t *testing.T) {
	dir := writeDefs(t, map[string]string{"10-root.conf": "[Partition]\nType=root\n"})
	xfs := writeDefs(t, map[string]string{"10-root.conf": "[Partition]\nType=root\nFormat=xfs\n"})
	exists := filepath.Join(t.TempDir(), "exists.img")
	os.WriteFile(exists, nil, 0o644)
	img := filepath.Join(t.TempDir(), "new.img")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{img}, exitImage, "--definitions DIR: no definitions given"},
		{[]string{"--definitions", dir, exists}, exitImage, "exists (--empty=force replaces it)"},
		{[]string{"--definitions", xfs, img}, exitImage, "Format=xfs: disk build makes ext4, ext3, ext2, vfat, msdos and swap"},
		{[]string{"--definitions", dir, "--size", "5M", img}, exitImage, "cannot fit the partitions (10-root.conf)"},
		{[]string{"--definitions", dir, "--seed", "nope", img}, exitImage, "--seed nope: a UUID or random"},
		{[]string{"--definitions", t.TempDir(), img}, exitImage, "no partition definitions (*.conf)"},
	} {
		r := runCmd(t, exec.Command(lklimgBin, append([]string{"disk", "build"}, c.args...)...))
		if r.code != c.code || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: exit %d, %q; want %d and %q", c.args, r.code, r.stderr, c.code, c.want)
		}
	}
	if _, err := os.Stat(img); err == nil {
		t.Error("a refused build left an image")
	}
}

// TestDiskBootsInOVMF: a disk built from repart.d files, an ESP holding a
// startup.nsh and an ext4 root, boots in QEMU (TCG) with OVMF: the
// firmware reads our GPT and FAT, its shell runs the script, which
// prints a marker on the serial console and powers off.
func TestDiskBootsInOVMF(t *testing.T) {
	qemu := testutil.Need(t, "qemu-system-x86_64")[0]
	const code, vars = "/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"
	for _, f := range []string{code, vars} {
		if _, err := os.Stat(f); err != nil {
			testutil.Skip(t, "no OVMF firmware (Debian's ovmf): %s", f)
		}
	}
	const marker = "LKLIMG-BOOT-MARKER"
	esp := espTree(t, marker)
	root, _ := testutil.NewTree(t)
	dir := writeDefs(t, map[string]string{
		"10-esp.conf":  "[Partition]\nType=esp\nFormat=vfat\nCopyFiles=" + esp + ":/\nSizeMinBytes=64M\n",
		"20-root.conf": "[Partition]\nType=root\nFormat=ext4\nCopyFiles=" + root + ":/\nSizeMinBytes=64M\n",
	})
	tmp := t.TempDir()
	img := filepath.Join(tmp, "disk.img")
	if r := runCmd(t, exec.Command(lklimgBin, "disk", "build", "-q", "--definitions", dir, img)); r.code != exitOK {
		t.Fatalf("disk build: exit %d\n%s", r.code, r.stderr)
	}
	varsCopy := filepath.Join(tmp, "vars.fd")
	b, err := os.ReadFile(vars)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(varsCopy, b, 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, "-machine", "q35", "-m", "256", "-nographic", "-no-reboot", "-net", "none",
		"-drive", "if=pflash,format=raw,readonly=on,file="+code, "-drive", "if=pflash,format=raw,file="+varsCopy,
		"-drive", "format=raw,if=virtio,file="+img)
	out, err := cmd.CombinedOutput()
	// The shell echoes the command line too: the marker alone on a
	// line is the echo's output.
	if !regexp.MustCompile(`(?m)^` + marker + `\r?$`).Match(out) {
		tail := out[max(0, len(out)-3000):]
		t.Fatalf("no %s on the console (qemu: %v):\n%q", marker, err, tail)
	}
}

// TestDiskBuildMinimize: Minimize=best makes each filesystem as small as
// its content allows and the partition that size: the ext4 within a few
// percent of what resize2fs -M makes of mke2fs -d's image of the same
// tree (and e2fsck clean with the tree in it); the FAT volume holding
// its files, where mkfs.fat's volume of nine tenths the size cannot
// (mcopy runs out of space).
func TestDiskBuildMinimize(t *testing.T) {
	testutil.Need(t, "sfdisk", "fsck.fat", "mcopy", "mkfs.fat", "mkfs.ext4", "resize2fs")
	esp := espTree(t, "LKLIMG")
	for i := range 300 {
		p := filepath.Join(esp, "data", fmt.Sprintf("file number %03d.bin", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, bytes.Repeat([]byte{byte(i)}, i*97), 0o644)
	}
	src, srcTree := testutil.NewTree(t)
	dir := writeDefs(t, map[string]string{
		"10-esp.conf":  "[Partition]\nType=esp\nFormat=vfat\nCopyFiles=" + esp + ":/\nMinimize=best\nSizeMinBytes=4K\n",
		"20-root.conf": "[Partition]\nType=root\nFormat=ext4\nCopyFiles=" + src + ":/\nMinimize=best\nSizeMinBytes=4K\n",
	})
	img := filepath.Join(t.TempDir(), "disk.img")
	if r := runCmd(t, exec.Command(lklimgBin, "disk", "build", "-q", "--definitions", dir, img)); r.code != exitOK {
		t.Fatalf("disk build: exit %d\n%s", r.code, r.stderr)
	}
	parts := sfdiskStarts(t, img)

	espImg := partitionFile(t, img, parts[0][0], parts[0][1])
	testutil.Run(t, "fsck.fat", "-n", espImg)
	// mkfs.fat and mcopy -s of the ESP's files into a volume of size
	// bytes: whether they fit.
	fits := func(size int64) (bool, string) {
		vol := filepath.Join(t.TempDir(), "vol.img")
		os.WriteFile(vol, nil, 0o644)
		os.Truncate(vol, size)
		testutil.Run(t, "mkfs.fat", vol)
		ents, _ := os.ReadDir(esp)
		args := []string{"-s", "-i", vol}
		for _, e := range ents {
			args = append(args, filepath.Join(esp, e.Name()))
		}
		cmd := exec.Command("mcopy", append(args, "::")...)
		cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
		out, err := cmd.CombinedOutput()
		return err == nil, string(out)
	}
	if ok, out := fits(parts[0][1] * 512); !ok {
		t.Errorf("mcopy cannot fill a volume of the ESP's size (%d sectors):\n%s", parts[0][1], out)
	}
	if ok, _ := fits(parts[0][1] * 512 * 9 / 10 / 4096 * 4096); ok {
		t.Errorf("the ESP (%d sectors) is not the smallest: nine tenths of it hold the files too", parts[0][1])
	}

	rootImg := partitionFile(t, img, parts[1][0], parts[1][1])
	view := testutil.FsckView(t, rootImg)
	opts := testutil.TreeArchiveOptions()
	opts.SkipPaths = append(opts.SkipPaths, ".")
	for _, d := range testutil.Compare(srcTree, view, opts) {
		t.Error("root: " + d)
	}
	ref := filepath.Join(t.TempDir(), "ref.img")
	os.WriteFile(ref, nil, 0o644)
	os.Truncate(ref, 256<<20)
	testutil.Run(t, "mkfs.ext4", "-q", "-I", "256", "-m", "0", "-T", "default", "-d", src, ref)
	testutil.Run(t, "resize2fs", "-M", ref)
	fi, _ := os.Stat(ref)
	if got := parts[1][1] * 512; got > fi.Size()*105/100 {
		t.Errorf("root: %d bytes, resize2fs -M of mke2fs -d's: %d", got, fi.Size())
	}
	t.Logf("ESP %d bytes; root %d bytes, resize2fs -M's %d", parts[0][1]*512, parts[1][1]*512, fi.Size())
}

// TestDiskBuildUnprivileged: disk build needs no root: run as nobody, it
// makes the disk and keeps the owners of the sources (a file of uid 1234)
// in the ext4 root, as the host kernel shows it.
func TestDiskBuildUnprivileged(t *testing.T) {
	setpriv := testutil.Need(t, "setpriv")[0]
	if os.Geteuid() != 0 {
		testutil.Skip(t, "not root: cannot become nobody to check that root is not needed")
	}
	base := t.TempDir()
	os.Chmod(filepath.Dir(base), 0o755) // the test's own temporary directory
	os.Chmod(base, 0o755)
	src := filepath.Join(base, "src")
	os.MkdirAll(filepath.Join(src, "etc"), 0o755)
	os.WriteFile(filepath.Join(src, "etc", "owned"), []byte("x\n"), 0o644)
	os.Chown(filepath.Join(src, "etc", "owned"), 1234, 99)
	defs := filepath.Join(base, "defs")
	os.Mkdir(defs, 0o755)
	os.WriteFile(filepath.Join(defs, "10-root.conf"), []byte("[Partition]\nType=root\nFormat=ext4\nCopyFiles="+src+":/\n"), 0o644)
	out := filepath.Join(base, "out")
	os.Mkdir(out, 0o755)
	os.Chown(out, 65534, 65534)
	img := filepath.Join(out, "disk.img")
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", lklimgBin, "disk", "build", "-q", "--definitions", defs, img)
	if r := runCmd(t, cmd); r.code != exitOK {
		t.Fatalf("disk build as nobody: exit %d\n%s", r.code, r.stderr)
	}
	if fi, err := os.Stat(img); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 65534 {
		t.Fatalf("the image: %v, %v", fi, err)
	}
	parts := sfdiskStarts(t, img)
	view := testutil.FsckView(t, partitionFile(t, img, parts[0][0], parts[0][1]))
	if e := view["etc/owned"]; e == nil || e.Uid != 1234 || e.Gid != 99 {
		t.Errorf("etc/owned: %+v, want owner 1234:99", e)
	}
}

// TestDiskBuildSources: CopyFiles= sources under --root; a regular file
// copied to a path whose parents are made; a directory copied to a new
// target (made a copy of it) and merged into an existing one; a
// definition of two [Partition] sections and a drop-in; --empty=force
// replacing an image.
func TestDiskBuildSources(t *testing.T) {
	root := t.TempDir()
	for p, body := range map[string]string{"etc/os-release": "ID=test\n", "srv/a/one": "1\n", "srv/b/two": "2\n"} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(root, p), []byte(body), 0o644)
	}
	dir := writeDefs(t, map[string]string{
		"10-root.conf": "[Partition]\nType=root\nFormat=ext4\nCopyFiles=/etc/os-release:/usr/lib/os-release\n" +
			"[Partition]\nCopyFiles=/srv/a:/data\nCopyFiles=/srv/b:/data\nSizeMinBytes=32M\n",
	})
	os.Mkdir(filepath.Join(dir, "10-root.conf.d"), 0o755)
	os.WriteFile(filepath.Join(dir, "10-root.conf.d", "label.conf"), []byte("[Partition]\nLabel=system\n"), 0o644)
	img := filepath.Join(t.TempDir(), "disk.img")
	os.WriteFile(img, []byte("an old image"), 0o644)
	if r := runCmd(t, exec.Command(lklimgBin, "disk", "build", "-q", "--definitions", dir, "--root", root, "--empty=force", img)); r.code != exitOK {
		t.Fatalf("disk build: exit %d\n%s", r.code, r.stderr)
	}
	dump := string(testutil.Run(t, "sfdisk", "--dump", img))
	if !strings.Contains(dump, `name="system"`) {
		t.Errorf("the drop-in's label is not the partition's name:\n%s", dump)
	}
	parts := sfdiskStarts(t, img)
	view := testutil.FsckView(t, partitionFile(t, img, parts[0][0], parts[0][1]))
	for p, want := range map[string]string{"usr/lib/os-release": "ID=test\n", "data/one": "1\n", "data/two": "2\n"} {
		sum := sha256.Sum256([]byte(want))
		if e := view[p]; e == nil || e.SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: %+v, want %q", p, e, want)
		}
	}
	if e := view["usr/lib"]; e == nil || e.Mode&0o777 != 0o755 {
		t.Errorf("usr/lib: %+v, want a directory 0755", e)
	}
}

// TestDiskBuildQcow2: disk build writes a qcow2 disk (by its name) that
// qemu-img checks clean and converts to the raw disk the same build
// makes (a fixed seed and time), printing the image's own name.
func TestDiskBuildQcow2(t *testing.T) {
	testutil.Need(t, "qemu-img", "sfdisk")
	src, _ := testutil.NewTree(t)
	dir := writeDefs(t, map[string]string{
		"10-esp.conf":  "[Partition]\nType=esp\nFormat=vfat\nSizeMinBytes=40M\n",
		"20-root.conf": "[Partition]\nType=root\nFormat=ext4\nCopyFiles=" + src + ":/\nMinimize=best\n",
	})
	out := t.TempDir()
	build := func(name string) (string, result) {
		img := filepath.Join(out, name)
		cmd := exec.Command(lklimgBin, "disk", "build", "--seed", "0f0e0d0c-0b0a-0908-0706-050403020100", "--definitions", dir, img)
		cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1700000000")
		r := runCmd(t, cmd)
		if r.code != exitOK {
			t.Fatalf("disk build %s: exit %d\n%s", name, r.code, r.stderr)
		}
		return img, r
	}
	raw, _ := build("disk.img")
	q, r := build("disk.qcow2")
	if !strings.Contains(r.stdout, q) || strings.Contains(r.stdout, ".raw-") {
		t.Errorf("disk build's table names another image than %s:\n%s", q, r.stdout)
	}
	testutil.Run(t, "qemu-img", "check", q)
	testutil.Run(t, "qemu-img", "convert", "-O", "raw", q, q+".raw")
	a, _ := os.ReadFile(raw)
	b, _ := os.ReadFile(q + ".raw")
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("the qcow2 disk (%d bytes) differs from the raw disk (%d)", len(b), len(a))
	}
}
