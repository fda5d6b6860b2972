package isofs_test

import (
	"bytes"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lklimg/lklimg/format/iso9660"
	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// The read side is checked against xorriso, the oracle for ISO 9660 here
// (this host's kernel has no iso9660): images are made with xorriso's
// mkisofs emulation from testutil.MakeTree's tree, and what the library
// kernel shows of them (through fs2tar's export) must be what xorriso
// extracts from them (-osirrox on ... -extract), entry by entry. xorriso
// reads an image as Linux does: Rock Ridge if present, else Joliet, else
// the ISO 9660 names (-read_fs auto), the latter lowercased with ";1"
// stripped as Linux's map=normal (-ecma119_map lowercase).

// kernelView exports the image's tree through the library kernel, the
// type probed.
func kernelView(t *testing.T, img, opts string) testutil.Tree {
	return kerneltest.ExportTree(t, img, "", abi.MS_RDONLY, opts)
}

func compare(t *testing.T, want, got testutil.Tree, o testutil.CompareOptions) int {
	t.Helper()
	diffs := testutil.Compare(want, got, o)
	for i, d := range diffs {
		if i == 40 {
			t.Errorf("... %d more", len(diffs)-i)
			break
		}
		t.Error(d)
	}
	return len(want)
}

func TestReadXorrisoImages(t *testing.T) {
	testutil.Need(t, "xorriso")
	src, srcTree := shared.Get(t)
	// What is compared. With Rock Ridge: names, types, permissions and
	// owners (PX), modification times (TF, whole seconds: xorriso
	// writes the 7-byte form), contents, symlink targets (SL), device
	// numbers (PN). Not compared: hard links (Linux gives each record
	// an inode of its own, with PX's link count, while xorriso links
	// them again), xattrs (not written without AAIP), the root's own
	// entry (the extraction directory's). Without Rock Ridge (Joliet,
	// plain): names, types, times and contents; permissions and owners
	// are the mount's (0555, root), not the image's.
	rr := testutil.CompareOptions{
		Ignore:    []string{"links", "xattrs"},
		SkipPaths: []string{"."},
		SkipTypes: []string{testutil.TypeSocket},
		MtimeUnit: time.Second,
		HoleUnit:  1 << 40,
	}
	plain := rr
	plain.Ignore = append(plain.Ignore, "mode", "uid", "gid")
	for _, c := range []struct {
		name string
		args []string
		opts string
		read []string // xorriso's reading options
		cmp  testutil.CompareOptions
	}{
		{"rockridge", []string{"-R"}, "", nil, rr},
		{"rockridge-joliet", []string{"-R", "-J", "-joliet-long"}, "", nil, rr},
		{"rockridge-level3", []string{"-R", "-iso-level", "3"}, "", nil, rr},
		{"joliet", []string{"--norock", "-J", "-joliet-long"}, "", nil, plain},
		{"joliet-over-rockridge", []string{"-R", "-J", "-joliet-long"}, "norock", []string{"-read_fs", "norock"}, plain},
		{"joliet-nojoliet", []string{"--norock", "-J", "-joliet-long"}, "nojoliet", []string{"-read_fs", "ecma119"}, plain},
		// Level 4 (ISO 9660:1999): identifiers of up to 207 bytes, no
		// version; Linux reads them as any (the 1999 descriptor is
		// supplementary without Joliet's escapes, and passed over).
		{"plain-level4", []string{"--norock", "-iso-level", "4"}, "", nil, plain},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := testutil.XorrisoImage(t, src, c.args...)
			want := testutil.XorrisoView(t, img, c.read...)
			got := kernelView(t, img, c.opts)
			gotBsd := maps.Clone(got)
			longNames(t, want, got)
			if c.opts == "" && slices.Contains(c.args, "-R") {
				linuxDevices(want)
				symlinkAttrs(t, srcTree, want, got)
			}
			n := compare(t, want, got, c.cmp)
			t.Logf("%s: %d entries compared", c.name, n)
			if c.opts == "" && slices.Contains(c.args, "-R") {
				n := compare(t, bsdtarView(t, img, gotBsd), gotBsd, bsdtarOptions(c.cmp))
				t.Logf("%s: %d entries compared with bsdtar's", c.name, n)
			}
		})
	}
}

// longNames checks the names of 254 bytes and more, which Linux cuts
// (get_rock_ridge_filename stops adding NM pieces before 254 bytes,
// where xorriso splits a name into pieces of its own choosing): the
// kernel must show, for each, one name that is a prefix of it, shorter
// than 254 bytes; both are then left out of the comparison.
func longNames(t *testing.T, want, got testutil.Tree) {
	t.Helper()
	for _, p := range want.Paths() {
		base := path.Base(p)
		if len(base) < 254 || want[p] == nil {
			continue
		}
		dir := path.Dir(p)
		var found string
		for _, q := range got.Paths() {
			if got[q] != nil && path.Dir(q) == dir && len(path.Base(q)) < 254 && strings.HasPrefix(base, path.Base(q)) && got[q].Type == want[p].Type {
				found = q
			}
		}
		if found == "" {
			t.Errorf("%s: no name cut from it in the kernel's view", p)
			continue
		}
		for _, tr := range []struct {
			tree testutil.Tree
			p    string
		}{{want, p}, {got, found}} {
			for _, q := range tr.tree.Paths() {
				if q == tr.p || strings.HasPrefix(q, tr.p+"/") {
					delete(tr.tree, q)
				}
			}
		}
	}
}

// linuxDevices turns the extracted device numbers into those Linux
// shows: xorriso writes PN as high 0 and low the number in Linux's
// new_encode_dev form, which Linux reads as an old 8:8 number whenever
// low has more than 8 bits (MKDEV(low >> 8, low & 0xff), in a dev_t of
// 12 major and 20 minor bits): 300:70000 is shown as 300:112.
func linuxDevices(tr testutil.Tree) {
	for _, e := range tr {
		if e.Type != testutil.TypeChar && e.Type != testutil.TypeBlock {
			continue
		}
		low := e.RdevMinor&0xff | e.RdevMajor<<8 | (e.RdevMinor&^0xff)<<12
		if low&^0xff != 0 {
			dev := (low>>8)<<20 | low&0xff
			e.RdevMajor, e.RdevMinor = dev>>20, dev&0xfffff
		}
	}
}

// symlinkAttrs compares the owners and times of symlinks with the
// source (xorriso does not set them on the links it extracts), then
// gives the extraction's links the kernel's, so that Compare passes
// over them.
func symlinkAttrs(t *testing.T, src, want, got testutil.Tree) {
	t.Helper()
	for p, w := range want {
		g, s := got[p], src[p]
		if w.Type != testutil.TypeSymlink || g == nil || s == nil {
			continue
		}
		if g.Uid != s.Uid || g.Gid != s.Gid || g.Mtime/1e9 != s.Mtime/1e9 {
			t.Errorf("%s: symlink owner %d:%d mtime %d, the source's %d:%d %d", p, g.Uid, g.Gid, g.Mtime/1e9, s.Uid, s.Gid, s.Mtime/1e9)
		}
		w.Uid, w.Gid, w.Mtime = g.Uid, g.Gid, g.Mtime
	}
}

// TestReadRelocated reads a tree of 30 levels written with Rock Ridge's
// relocation (RRIP §4.1.5): past the eighth level directories are moved
// to RR_MOVED and left a CL record, their "." a PL; RR_MOVED itself
// carries RE, and Linux, as xorriso, hides it and shows every
// directory where it belongs. Compared as the Rock Ridge images are.
func TestReadRelocated(t *testing.T) {
	src, srcTree := shared.Get(t)
	img := testutil.XorrisoNative(t, src, []string{"-compliance", "deep_paths_off", "-rr_reloc_dir", "RR_MOVED"}, nil)
	if b, err := os.ReadFile(img); err != nil || !bytes.Contains(b, []byte("RR_MOVED")) {
		t.Fatalf("no RR_MOVED in the image (%v)", err)
	}
	want := testutil.XorrisoView(t, img)
	got := kernelView(t, img, "")
	if got["deep/level-0/level-1/level-2/level-3/level-4/level-5/level-6/level-7/level-8/level-9"] == nil {
		t.Fatal("the relocated directories are missing")
	}
	longNames(t, want, got)
	linuxDevices(want)
	symlinkAttrs(t, srcTree, want, got)
	n := compare(t, want, got, testutil.CompareOptions{
		Ignore: []string{"links", "xattrs"}, SkipPaths: []string{"."}, MtimeUnit: time.Second,
	})
	t.Logf("relocated: %d entries compared", n)
}

// TestReadZisofs reads an image whose every file is zisofs-compressed
// (xorriso's set_filter --zisofs): the kernel shows them decompressed,
// as Linux does, and as xorriso extracts them.
func TestReadZisofs(t *testing.T) {
	src, srcTree := shared.Get(t)
	for _, c := range []struct {
		name  string
		flags string
		// bsdtar 3.6.2 fails on 128 KiB blocks ("Too much data:
		// Truncating file") and is not asked then.
		bsdtar bool
	}{{"default", "default", true}, {"block-64k", "block_size=64k", true}, {"block-128k", "block_size=128k", false}} {
		t.Run(c.name, func(t *testing.T) {
			img := testutil.XorrisoNative(t, src, []string{"-zisofs", c.flags},
				[]string{"-find", "/", "-type", "f", "-exec", "set_filter", "--zisofs", "--"})
			// The tree holds some 10 MiB of zeros: compressed, the
			// image is far smaller than its files.
			st, err := os.Stat(img)
			if err != nil {
				t.Fatal(err)
			}
			total := int64(0)
			for _, e := range srcTree {
				total += e.Size
			}
			if st.Size() > total/2 {
				t.Fatalf("image of %d bytes for %d bytes of files: not compressed", st.Size(), total)
			}
			want := testutil.XorrisoView(t, img)
			got := kernelView(t, img, "")
			gotBsd := maps.Clone(got)
			longNames(t, want, got)
			linuxDevices(want)
			symlinkAttrs(t, srcTree, want, got)
			o := testutil.CompareOptions{Ignore: []string{"links", "xattrs"}, SkipPaths: []string{"."}, MtimeUnit: time.Second}
			n := compare(t, want, got, o)
			t.Logf("zisofs %s: %d entries compared", c.name, n)
			if c.bsdtar {
				n = compare(t, bsdtarView(t, img, gotBsd), gotBsd, bsdtarOptions(o))
				t.Logf("zisofs %s: %d entries compared with bsdtar's", c.name, n)
			}
			// nocompress shows the files as stored: zisofs's header.
			kerneltest.WithMount(t, img, "iso9660", abi.MS_RDONLY, "nocompress", func(k *kernel.Kernel, must func(string, error)) {
				fd, err := k.Openat(abi.AT_FDCWD, "/mnt/zeros.bin", abi.O_RDONLY, 0)
				must("open", err)
				hdr := make([]byte, iso9660.ZisofsHeaderSize)
				_, err = k.Pread(fd, hdr, 0)
				must("read", err)
				must("close", k.Close(fd))
				if h, err := iso9660.DecodeZisofsHeader(hdr); err != nil || h.Size != 70000 {
					t.Errorf("nocompress: zeros.bin starts % x (%v)", hdr, err)
				}
			})
		})
	}
}

// TestReadElTorito reads a bootable image (El Torito, no emulation): the
// boot image and the boot catalog are files of the tree, as xorriso
// extracts them.
func TestReadElTorito(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	if err := os.MkdirAll(filepath.Join(src, "boot"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "boot", "boot.img"), bytes.Repeat([]byte("boot"), 8192), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "readme"), []byte("bootable\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := testutil.XorrisoImage(t, src, "-R", "-J", "-b", "boot/boot.img", "-no-emul-boot", "-boot-load-size", "4", "-c", "boot/boot.cat")
	want := testutil.XorrisoView(t, img)
	got := kernelView(t, img, "")
	if got["boot/boot.cat"] == nil || got["boot/boot.cat"].Size != 2048 {
		t.Errorf("boot catalog: %+v", got["boot/boot.cat"])
	}
	n := compare(t, want, got, testutil.CompareOptions{Ignore: []string{"links"}, SkipPaths: []string{"."}, MtimeUnit: time.Second})
	t.Logf("El Torito: %d entries compared", n)
}

func mkdir(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// bsdtarView is bsdtar's extraction of a Rock Ridge image, made
// Linux's where they differ: long names cut (as longNames checks them,
// taking them out of got too), device numbers as Linux reads PN.
func bsdtarView(t *testing.T, img string, got testutil.Tree) testutil.Tree {
	t.Helper()
	tree := testutil.BsdtarView(t, img)
	longNames(t, tree, got)
	linuxDevices(tree)
	return tree
}

// bsdtarOptions are o less what bsdtar 3 reads otherwise: a socket,
// which it extracts as a regular file, and a symlink whose SL entries
// go on in a continuation area, whose target it joins without some of
// its slashes (xorriso and Linux's get_symlink_chunk agree).
func bsdtarOptions(o testutil.CompareOptions) testutil.CompareOptions {
	o.SkipPaths = append(slices.Clone(o.SkipPaths), "special/socket", "links/len500")
	return o
}
