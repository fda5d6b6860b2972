package isofs_test

import (
	"bytes"
	"os"
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

// TestReadPlainNames reads images without Rock Ridge or Joliet: ISO
// level 1 (8.3 names, ";1"), level 2 (31 characters) as map=normal maps
// them (lower case, ";1" dropped: xorriso's -ecma119_map lowercase), and
// as map=off leaves them (xorriso's unmapped).
func TestReadPlainNames(t *testing.T) {
	src, _ := shared.Get(t)
	o := testutil.CompareOptions{
		Ignore: []string{"links", "xattrs", "mode", "uid", "gid"}, SkipPaths: []string{"."},
		SkipTypes: []string{testutil.TypeSocket}, MtimeUnit: time.Second, HoleUnit: 1 << 40,
	}
	for _, c := range []struct {
		name, opts string
		args, read []string
	}{
		{"level1", "", []string{"--norock"}, nil},
		{"level2", "", []string{"--norock", "-iso-level", "2"}, nil},
		{"level1-map-off", "map=off", []string{"--norock"}, []string{"-ecma119_map", "unmapped"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := testutil.XorrisoImage(t, src, c.args...)
			want := testutil.XorrisoView(t, img, c.read...)
			got := kernelView(t, img, c.opts)
			n := compare(t, want, got, o)
			t.Logf("%s: %d entries compared", c.name, n)
		})
	}
}

// TestMountOptions checks the owners and modes the options give: uid=,
// gid=, mode=, dmode= on an image without Rock Ridge (every entry), over
// Rock Ridge (uid= and gid= win; mode= and dmode= only with
// overriderockperm), and check=relaxed's case-blind lookups.
func TestMountOptions(t *testing.T) {
	src, srcTree := shared.Get(t)
	joliet := testutil.XorrisoImage(t, src, "--norock", "-J", "-joliet-long")
	rr := testutil.XorrisoImage(t, src, "-R")
	for _, c := range []struct {
		name, img, opts  string
		uid, gid         uint32
		fmode, dmode     uint32 // 0: the image's (Rock Ridge)
		checkRR, checkID bool   // owners from the image
	}{
		{"joliet-defaults", joliet, "", 0, 0, 0o555, 0o555, false, false},
		{"joliet", joliet, "uid=1234,gid=567,mode=0640,dmode=0750", 1234, 567, 0o640, 0o750, false, false},
		{"rockridge-owners", rr, "uid=1234,gid=567,mode=0640,dmode=0750", 1234, 567, 0, 0, true, false},
		{"rockridge-override", rr, "uid=1234,gid=567,mode=0640,dmode=0750,overriderockperm", 1234, 567, 0o640, 0o750, false, false},
		{"rockridge", rr, "", 0, 0, 0, 0, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := kerneltest.ExportTree(t, c.img, "iso9660", abi.MS_RDONLY, c.opts)
			checked := 0
			for p, e := range got {
				s := srcTree[p]
				if s == nil && (c.checkRR || c.checkID) || strings.HasPrefix(p, "acl/") {
					// Not in the source: a name cut (read_test.go's
					// longNames). Under acl/: xorriso writes the
					// ACL's group entry as the group bits, not the
					// mask stat shows.
					continue
				}
				if c.checkID {
					if e.Uid != s.Uid || e.Gid != s.Gid {
						t.Errorf("%s: owner %d:%d, want the image's %d:%d", p, e.Uid, e.Gid, s.Uid, s.Gid)
					}
				} else if e.Uid != c.uid || e.Gid != c.gid {
					t.Errorf("%s: owner %d:%d, want %d:%d", p, e.Uid, e.Gid, c.uid, c.gid)
				}
				want := c.fmode
				if e.Type == testutil.TypeDir {
					want = c.dmode
				}
				if e.Type != testutil.TypeDir && e.Type != testutil.TypeFile || want == 0 {
					want = s.Mode
				}
				if e.Mode != want {
					t.Errorf("%s: mode %04o, want %04o", p, e.Mode, want)
				}
				checked++
			}
			t.Logf("%s: %d entries checked", c.name, checked)
		})
	}
	// check=relaxed (the default with Joliet) finds names whatever
	// their case; check=strict does not.
	for _, c := range []struct {
		img, opts string
		found     bool
	}{{joliet, "", true}, {joliet, "check=strict", false}, {rr, "", false}, {rr, "check=relaxed", true}} {
		kerneltest.WithMount(t, c.img, "iso9660", abi.MS_RDONLY, c.opts, func(k *kernel.Kernel, must func(string, error)) {
			var st abi.Stat
			err := k.Fstatat(abi.AT_FDCWD, "/mnt/SMALL.TXT", &st, 0)
			if (err == nil) != c.found {
				t.Errorf("%s: stat SMALL.TXT: %v, want found %v", c.opts, err, c.found)
			}
		})
	}
}

// TestHiddenAndAssociated flags two records of an xorriso image (which
// writes neither flag): a.txt associated (ECMA-119 §9.1.6 bit 2), z.txt
// hidden (bit 0). Linux shows hidden files unless hide, and associated
// ones only with showassoc.
func TestHiddenAndAssociated(t *testing.T) {
	src := mkdir(t, filepath.Join(t.TempDir(), "src"))
	for _, n := range []string{"a.txt", "m.txt", "z.txt"} {
		if err := os.WriteFile(filepath.Join(src, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := testutil.XorrisoImage(t, src, "-R")
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	pvd, err := iso9660.DecodeVolumeDescriptor(b[16*2048 : 17*2048])
	if err != nil {
		t.Fatal(err)
	}
	for off := int(pvd.Root.Extent) * 2048; b[off] != 0; off += int(b[off]) {
		switch string(b[off+33 : off+33+int(b[off+32])]) {
		case "A.TXT;1":
			b[off+25] |= iso9660.FlagAssociated
		case "Z.TXT;1":
			b[off+25] |= iso9660.FlagHidden
		}
	}
	if err := os.WriteFile(img, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		opts string
		want []string
	}{
		{"", []string{"m.txt", "z.txt"}},
		{"unhide", []string{"m.txt", "z.txt"}},
		{"hide", []string{"m.txt"}},
		{"showassoc", []string{"a.txt", "m.txt", "z.txt"}},
		{"hide,showassoc", []string{"a.txt", "m.txt"}},
	} {
		got := kernelView(t, img, c.opts)
		var names []string
		for _, p := range got.Paths() {
			if p != "." {
				names = append(names, p)
			}
		}
		if !slices.Equal(names, c.want) {
			t.Errorf("-o %q: %q, want %q", c.opts, names, c.want)
		}
	}
}

// TestJolietCaseCollision: names that differ only in case, on a Joliet
// image. Linux's default for Joliet is check=relaxed, whose lookups are
// case-blind: both names find the first record in directory order
// (Joliet sorts "X.TXT" before "x.txt") and show its file, as Linux
// shows xt_CONNMARK.h's data under xt_connmark.h on a Joliet disc of
// /usr/include. check=strict tells them apart, as xorriso does.
func TestJolietCaseCollision(t *testing.T) {
	src := mkdir(t, filepath.Join(t.TempDir(), "src"))
	for name, data := range map[string]string{"X.TXT": "upper\n", "x.txt": "lower, longer\n"} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	img := testutil.XorrisoImage(t, src, "--norock", "-J")
	want := testutil.XorrisoView(t, img)
	for _, c := range []struct {
		opts         string
		upper, lower int64 // the sizes shown
	}{{"", 6, 6}, {"check=relaxed", 6, 6}, {"check=strict", 6, 14}} {
		got := kernelView(t, img, c.opts)
		if got["X.TXT"] == nil || got["x.txt"] == nil || got["X.TXT"].Size != c.upper || got["x.txt"].Size != c.lower {
			t.Errorf("-o %q: %+v %+v, want sizes %d and %d", c.opts, got["X.TXT"], got["x.txt"], c.upper, c.lower)
		}
		if c.opts == "check=strict" {
			compare(t, want, got, testutil.CompareOptions{Ignore: []string{"mode", "uid", "gid"}, SkipPaths: []string{"."}, MtimeUnit: time.Second})
		}
	}
}

// TestRockRidgeWithoutER: Linux takes Rock Ridge as present (s_rock 1)
// only when the root's "." has an ER entry naming it. Without ER, Rock
// Ridge's entries are still read where found (s_rock 2), but a Joliet
// descriptor wins over them. The ER of xorriso's images is renamed
// here ("XR", an entry nobody reads).
func TestRockRidgeWithoutER(t *testing.T) {
	src := mkdir(t, filepath.Join(t.TempDir(), "src"))
	if err := os.WriteFile(filepath.Join(src, "Mixed Case Name.txt"), []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string // the name shown
		mode uint32
	}{
		{[]string{"-R"}, "Mixed Case Name.txt", 0o640},
		{[]string{"-R", "-J"}, "Mixed Case Name.txt", 0o555},
	} {
		img := testutil.XorrisoImage(t, src, c.args...)
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		at := bytes.Index(b, []byte("RRIP_1991A"))
		if at < 8 || string(b[at-8:at-6]) != "ER" {
			t.Fatalf("%v: no ER entry found", c.args)
		}
		b[at-8] = 'X'
		if err := os.WriteFile(img, b, 0o644); err != nil {
			t.Fatal(err)
		}
		got := kernelView(t, img, "")
		if e := got[c.want]; e == nil || e.Mode != c.mode {
			t.Errorf("%v: %q is %+v, want mode %04o (entries %q)", c.args, c.want, e, c.mode, got.Paths())
		}
	}
}

// TestEmptyPrimaryRoot: on a disc with Rock Ridge and Joliet whose
// primary root holds only "." and ".." (its files hidden from the ISO
// 9660 tree, mkisofs's -hide), Linux disables Rock Ridge and reads the
// Joliet tree (rootdir_empty).
func TestEmptyPrimaryRoot(t *testing.T) {
	src := mkdir(t, filepath.Join(t.TempDir(), "src"))
	if err := os.WriteFile(filepath.Join(src, "only in Joliet.txt"), []byte("x"), 0o640); err != nil {
		t.Fatal(err)
	}
	img := testutil.XorrisoImage(t, src, "-R", "-J", "-hide", "only in Joliet.txt")
	got := kernelView(t, img, "")
	if e := got["only in Joliet.txt"]; e == nil || e.Mode != 0o555 || len(got) != 2 {
		t.Errorf("entries %q, the file %+v: want it from Joliet (mode 0555)", got.Paths(), e)
	}
	if got := kernelView(t, img, "nojoliet"); len(got) != 1 {
		t.Errorf("nojoliet: entries %q, want the empty root", got.Paths())
	}
}
