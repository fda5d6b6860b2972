package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// fatMount mounts a FAT volume of a test with lklfuse and more -o
// options (part=1 added for a volume in a partition), and returns the
// server's pid.
func fatMount(t *testing.T, img testutil.FATImage, mnt string, opts ...string) int {
	t.Helper()
	if img.Offset != 0 {
		opts = append(opts, "part=1")
	}
	args := []string{img.Path, mnt}
	if len(opts) > 0 {
		args = append([]string{"-o", strings.Join(opts, ",")}, args...)
	}
	if r := lklfuse(t, args...); r.Code != 0 || len(r.Stderr) != 0 {
		t.Fatalf("lklfuse %q: exit %d: %s", args, r.Code, r.Stderr)
	}
	return serverPid(t, mnt)
}

// run runs a host command in dir, failing the test if it fails.
func run(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%q in %s: %v\n%s", args, dir, err, out)
	}
}

// TestFATReadWrite mounts FAT volumes made by mkfs.fat and filled by
// mcopy read-write, and changes them with the host's cp -r, mv, rm and
// mkdir through the mount, and the same on mtools' extraction of the
// volume: after fusermount3 -u, fsck.fat -n finds the volume clean and
// mtools extracts the changed tree (files' times kept by cp -p and mv).
func TestFATReadWrite(t *testing.T) {
	testutil.NeedFUSE(t)
	fusermount := testutil.Need(t, "fusermount3", "cp", "mv", "rm", "mkdir")[0]
	for _, c := range testutil.FATCases() {
		t.Run(c.Name, func(t *testing.T) {
			img, _ := testutil.NewFATImage(t, c)
			mirror := t.TempDir()
			testutil.Mtools(t, "mcopy", "-s", "-m", "-n", "-i", img.Mtools(), "::/*", mirror)
			tree := filepath.Join(t.TempDir(), "tree")
			if err := os.Mkdir(tree, 0o755); err != nil {
				t.Fatal(err)
			}
			testutil.MakeFATTree(t, tree)

			mnt := t.TempDir()
			pid := fatMount(t, img, mnt)
			for _, dir := range []string{mnt, mirror} {
				for _, cmd := range [][]string{
					{"cp", "-r", "--preserve=timestamps", tree, "Copied Tree"},
					{"mv", "Copied Tree/many", "Nested Directory/deeper/Moved Many"},
					{"mv", "README.TXT", "Copied Tree/Read Me, Renamed.txt"},
					{"mv", "lower.txt", "NOEXT"},
					{"rm", "-r", "Nested Directory/deeper/and deepest", "Copied Tree/Empty Dir", "fragmented.bin"},
					{"mkdir", "-p", "Ελληνικά/日本語/new dir"},
					{"cp", "--preserve=timestamps", "several-clusters.bin", "Ελληνικά/日本語/new dir/copy.bin"},
				} {
					run(t, dir, cmd...)
				}
			}
			testutil.Run(t, fusermount, "-u", mnt)
			waitGone(t, pid, mnt)

			testutil.FsckFATClean(t, img)
			want := testutil.MustScanDir(t, mirror)
			got := testutil.MtoolsView(t, img)
			noDirTimes := testutil.FATCompare()
			noDirTimes.SkipTypes = []string{testutil.TypeDir}
			for _, d := range testutil.Compare(want, got, noDirTimes) {
				t.Errorf("host tools on the extracted tree vs mtools after lklfuse: %s", d)
			}
			noTimes := testutil.FATCompare()
			noTimes.Ignore = append(noTimes.Ignore, "mtime")
			for _, d := range testutil.Compare(want, got, noTimes) {
				t.Errorf("host tools on the extracted tree vs mtools after lklfuse: %s", d)
			}
			if len(got) < 120 {
				t.Errorf("%d entries after the changes", len(got))
			}
		})
	}
}

// TestFATReadOnly mounts FAT volumes read-only: the mount shows what
// mtools extracts, with Linux's default modes and owners (0755, root) or
// those of the vfat options given in opts=; writes are EROFS and the
// image does not change.
func TestFATReadOnly(t *testing.T) {
	testutil.NeedFUSE(t)
	for _, c := range testutil.FATCases() {
		t.Run(c.Name, func(t *testing.T) {
			img, _ := testutil.NewFATImage(t, c)
			before := testutil.FileSum(t, img.Path)
			want := testutil.MtoolsView(t, img)
			for _, m := range []struct {
				opts      []string
				file, dir uint32
				uid, gid  uint32
			}{
				{[]string{"ro"}, 0o755, 0o755, 0, 0},
				{[]string{"ro", `opts=uid=1000\,gid=100\,fmask=0133\,dmask=0022`}, 0o644, 0o755, 1000, 100},
			} {
				mnt := t.TempDir()
				pid := fatMount(t, img, mnt, m.opts...)
				if ok, opts := mounted(t, mnt); !ok || !strings.HasPrefix(opts, "ro") {
					t.Errorf("%s not mounted read-only (%q)", mnt, opts)
				}
				got := testutil.MustScanDir(t, mnt)
				for _, d := range testutil.Compare(want, got, testutil.FATCompare()) {
					t.Errorf("-o %s: mcopy -s -m vs the mount: %s", m.opts, d)
				}
				for p, e := range got {
					mode := m.file
					if e.Type == testutil.TypeDir {
						mode = m.dir
					}
					if e.Mode != mode || e.Uid != m.uid || e.Gid != m.gid {
						t.Errorf("-o %s: %s: mode %o owner %d:%d, want %o %d:%d", m.opts, p, e.Mode, e.Uid, e.Gid, mode, m.uid, m.gid)
					}
				}
				if err := os.WriteFile(filepath.Join(mnt, "new"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
					t.Errorf("a write on a read-only mount: %v, want EROFS", err)
				}
				syscall.Kill(pid, syscall.SIGTERM)
				waitGone(t, pid, mnt)
			}
			if testutil.FileSum(t, img.Path) != before {
				t.Error("the image changed under a read-only mount")
			}
		})
	}
}

// TestFATNoAccess: a user mounting a FAT volume whose mount options shut
// them out of its root (umask=077, owned by root) gets lklfuse's error
// and exit status 1, and no mount is left behind.
func TestFATNoAccess(t *testing.T) {
	testutil.NeedUserFUSE(t)
	// Places nobody may reach: the image (read-write) and the mount point.
	dir, err := os.MkdirTemp("", "fat-no-access")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	img := testutil.MakeEmptyFAT(t, testutil.FATCases()[0])
	data, err := os.ReadFile(img.Path)
	if err != nil {
		t.Fatal(err)
	}
	path, mnt := filepath.Join(dir, "fat.img"), filepath.Join(dir, "mnt")
	if err := os.WriteFile(path, data, 0o666); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{os.Mkdir(mnt, 0o777), os.Chmod(dir, 0o755), os.Chmod(path, 0o666), os.Chmod(mnt, 0o777)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-o", `opts=umask=077`, path, mnt)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	r := testutil.RunCommand(t, cmd)
	ok, _ := mounted(t, mnt)
	if ok {
		exec.Command("umount", "-l", mnt).Run()
	}
	if r.Code != 1 || !strings.Contains(string(r.Stderr), "lklfuse: mount "+mnt+": permission denied") || ok {
		t.Errorf("as nobody, umask=077: exit %d, stderr %q, mounted after: %v; want 1, permission denied, no mount", r.Code, r.Stderr, ok)
	}
	// With a umask that lets others in, the same user mounts it.
	cmd = exec.Command(bin, "-o", `opts=umask=022`, path, mnt)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if r := testutil.RunCommand(t, cmd); r.Code != 0 {
		t.Fatalf("as nobody, umask=022: exit %d, stderr %q", r.Code, r.Stderr)
	}
	pid := serverPid(t, mnt)
	syscall.Kill(pid, syscall.SIGTERM)
	waitGone(t, pid, mnt)
	testutil.FsckFATClean(t, testutil.FATImage{Path: path})
}
