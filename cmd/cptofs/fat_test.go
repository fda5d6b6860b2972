//go:build linux

package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"golang.org/x/sys/unix"
)

// imageArgs are -i IMAGE, with -P 1 for a FAT volume in partition 1.
func imageArgs(img testutil.FATImage) []string {
	return append(img.PartitionFlag(), "-i", img.Path)
}

// TestFATFrom copies FAT12, FAT16 and FAT32 volumes made by mkfs.fat and
// filled by mcopy (whole and in MBR and GPT partitions) out with
// cpfromfs: the copy must be what mcopy -s -m extracts (names, sizes,
// contents, mtimes to 2 s), with the modes Linux's vfat shows by default
// (0755, fs/fat/inode.c fat_make_mode with umask 022).
func TestFATFrom(t *testing.T) {
	for _, c := range testutil.FATCases() {
		t.Run(c.Name, func(t *testing.T) {
			img, _ := testutil.NewFATImage(t, c)
			out := filepath.Join(t.TempDir(), "out")
			mustRun(t, cpfromfs(t, append(imageArgs(img), "/", out)...), "cpfromfs")
			got := testutil.MustScanDir(t, out)
			want := testutil.MtoolsView(t, img)
			for _, d := range testutil.Compare(want, got, testutil.FATCompare()) {
				t.Errorf("mcopy -s -m vs cpfromfs: %s", d)
			}
			if len(got) != len(want) || len(got) < 74 {
				t.Errorf("cpfromfs copied %d entries, mcopy %d", len(got), len(want))
			}
			for p, e := range got {
				if p != "." && e.Mode != 0o755 {
					t.Errorf("%s: mode %o, want 755", p, e.Mode)
				}
			}

			// One directory by its long name, into an existing one.
			sub := t.TempDir()
			mustRun(t, cpfromfs(t, append(imageArgs(img), "/Nested Directory/deeper", sub)...), "cpfromfs subdirectory")
			for _, d := range testutil.Compare(want.Sub("Nested Directory/deeper"), testutil.MustScanDir(t, filepath.Join(sub, "deeper")), testutil.FATCompare()) {
				t.Errorf("subdirectory: %s", d)
			}
		})
	}
}

// TestFATTo copies a host tree into empty FAT volumes with cptofs: what
// FAT holds (files, directories, long and non-ASCII names, times) must be
// what mtools then extracts, and fsck.fat -n must find the volume clean;
// what it cannot hold (symbolic links, device nodes, FIFOs, hard links,
// owners other than the mount's, extended attributes) is reported entry by entry, with exit
// status 1, and the rest copied. A mode without write permission becomes
// ATTR_RO (fat_setattr); one that FAT cannot show is left out silently,
// as Linux leaves it.
func TestFATTo(t *testing.T) {
	for _, c := range testutil.FATCases() {
		t.Run(c.Name, func(t *testing.T) {
			root := t.TempDir()
			src := filepath.Join(root, "src")
			if err := os.Mkdir(src, 0o755); err != nil {
				t.Fatal(err)
			}
			testutil.MakeFATTree(t, src)
			want := testutil.MustScanDir(t, src)
			// What FAT cannot hold, beside it.
			odd := filepath.Join(root, "odd")
			writeFile(t, filepath.Join(odd, "owned.txt"), "owned by 1000\n")
			writeFile(t, filepath.Join(odd, "readonly.txt"), "no write bits\n")
			writeFile(t, filepath.Join(odd, "private.txt"), "0600: FAT cannot show it\n")
			writeFile(t, filepath.Join(odd, "xattr.txt"), "with an xattr\n")
			for _, err := range []error{
				os.Chown(filepath.Join(odd, "owned.txt"), 1000, 1000),
				os.Chmod(filepath.Join(odd, "readonly.txt"), 0o555),
				os.Chmod(filepath.Join(odd, "private.txt"), 0o600),
				os.Symlink("readonly.txt", filepath.Join(odd, "link")),
				syscall.Mkfifo(filepath.Join(odd, "fifo"), 0o644),
				syscall.Mknod(filepath.Join(odd, "null"), syscall.S_IFCHR|0o666, 1<<8|3),
				os.Link(filepath.Join(odd, "private.txt"), filepath.Join(odd, "private-link.txt")),
				unix.Setxattr(filepath.Join(odd, "xattr.txt"), "user.test", []byte("v"), 0),
			} {
				if err != nil {
					t.Fatal(err)
				}
			}

			img := testutil.MakeEmptyFAT(t, c)
			var args []string
			ents, _ := os.ReadDir(src)
			for _, e := range ents {
				args = append(args, filepath.Join(src, e.Name()))
			}
			mustRun(t, cptofs(t, append(append(imageArgs(img), args...), "/")...), "cptofs")
			r := cptofs(t, append(imageArgs(img), odd, "/")...)
			if r.code != 1 {
				t.Errorf("cptofs of what FAT cannot hold: exit %d, want 1", r.code)
			}
			wantErrs := []string{
				"cptofs: " + odd + "/fifo: create: EPERM (vfat: FAT holds no device nodes, FIFOs or sockets)",
				"cptofs: " + odd + "/link: create: EPERM (vfat: FAT holds no symbolic links)",
				"cptofs: " + odd + "/null: create: EPERM (vfat: FAT holds no device nodes, FIFOs or sockets)",
				"cptofs: " + odd + "/owned.txt: chown: EPERM (vfat: owners are the mount's (uid=0, gid=0))",
				"cptofs: " + odd + "/xattr.txt: setxattr user.test: EOPNOTSUPP",
				"cptofs: some entries could not be copied: 6 failed",
			}
			gotErrs := lines(r.stderr)
			// The hard link is the second name met of the pair.
			var link string
			for i, l := range gotErrs {
				if strings.HasSuffix(l, ": link: EPERM (vfat: FAT holds no hard links)") {
					link = l
					gotErrs = slices.Delete(gotErrs, i, i+1)
					break
				}
			}
			slices.Sort(gotErrs)
			if !slices.Equal(gotErrs, wantErrs) || link == "" {
				t.Errorf("cptofs's messages:\n%s\nwant (and a hard link's):\n%s", r.stderr, strings.Join(wantErrs, "\n"))
			}
			testutil.FsckFATClean(t, img)

			got := testutil.MtoolsView(t, img)
			for _, d := range testutil.Compare(want, got, testutil.CompareOptions{
				Ignore: []string{"mode", "uid", "gid", "xattrs", "links"}, SkipPaths: []string{".", "odd"}, MtimeUnit: 2e9,
			}) {
				t.Errorf("source vs mcopy -s -m: %s", d)
			}
			var oddNames []string
			for p := range got.Sub("odd") {
				oddNames = append(oddNames, p)
			}
			slices.Sort(oddNames)
			private := "private.txt"
			if slices.Contains(oddNames, "private-link.txt") {
				private = "private-link.txt"
			}
			if want := []string{".", "owned.txt", private, "readonly.txt", "xattr.txt"}; !slices.Equal(oddNames, want) {
				t.Errorf("odd/ holds %q, want %q", oddNames, want)
			}
			flags := testutil.MattribFlags(t, img)
			if flags["odd/readonly.txt"] != "AR" || flags["odd/"+private] != "A" || flags["lower.txt"] != "A" {
				t.Errorf("attributes: readonly.txt %q, %s %q, lower.txt %q; want AR, A, A",
					flags["odd/readonly.txt"], private, flags["odd/"+private], flags["lower.txt"])
			}

			// And back out: cpfromfs shows the read-only file 0555.
			out := filepath.Join(t.TempDir(), "out")
			mustRun(t, cpfromfs(t, append(imageArgs(img), "/odd", out)...), "cpfromfs")
			if st, err := os.Stat(filepath.Join(out, "readonly.txt")); err != nil || st.Mode().Perm() != 0o555 {
				t.Errorf("readonly.txt out: %v %v, want mode 0555", st.Mode(), err)
			}
		})
	}
}

// TestFATToNoSpace fills a FAT12 floppy: cptofs stops with status 1 and
// the image named, and what it wrote leaves the volume clean.
func TestFATToNoSpace(t *testing.T) {
	img := testutil.MakeEmptyFAT(t, testutil.FATCase{Name: "floppy", Size: "1440K", Mkfs: []string{"-F", "12"}})
	src := t.TempDir()
	for _, n := range []string{"one.bin", "two.bin", "three.bin"} {
		writeFile(t, filepath.Join(src, n), strings.Repeat(n, 600<<10/len(n)))
	}
	r := cptofs(t, "-i", img.Path, src, "/")
	if r.code != 1 || !strings.Contains(r.stderr, "cptofs: no space left on device in "+img.Path+" while copying "+src+"/") {
		t.Errorf("cptofs onto a full floppy: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	testutil.FsckFATClean(t, img)
}
