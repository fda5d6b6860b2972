package isofs_test

import (
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/format/iso9660"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Damaged images: 300 seeded mutations of a small image holding every
// structure the driver reads (Rock Ridge with continuation areas and
// relocated directories, Joliet, El Torito, zisofs, a symlink, long
// names), each mounted and exported whole by the library kernel as
// fs2tar exports. Nothing may panic or hang (each export must end within
// a deadline); a mount or an export that fails must fail with an errno.
func TestCorruptImages(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	deep := filepath.Join(src, "d1/d2/d3/d4/d5/d6/d7/d8/d9/d10")
	mkdir(t, deep)
	for i, n := range []string{"a.txt", "Long File Name With Spaces.data", "d1/inner.bin", "d1/d2/x", deep + "/bottom", "z/compressible.txt"} {
		p := n
		if !filepath.IsAbs(p) {
			p = filepath.Join(src, n)
		}
		mkdir(t, filepath.Dir(p))
		if err := os.WriteFile(p, []byte(strings.Repeat("data ", i*2000+3)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../a.txt", filepath.Join(src, "d1", "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "boot.img"), make([]byte, 2048), 0o644); err != nil {
		t.Fatal(err)
	}
	imgPath := testutil.XorrisoNative(t, src, []string{"-joliet", "on", "-compliance", "deep_paths_off", "-rr_reloc_dir", "RR_MOVED", "-zisofs", "default"},
		[]string{"-find", "/z", "-type", "f", "-exec", "set_filter", "--zisofs", "--",
			"-boot_image", "any", "bin_path=/boot.img", "-boot_image", "any", "emul_type=no_emulation"})
	orig, err := os.ReadFile(imgPath)
	if err != nil {
		t.Fatal(err)
	}
	// The undamaged image exports whole.
	if n := len(kernelView(t, imgPath, "")); n < 20 {
		t.Fatalf("the undamaged image exports %d entries", n)
	}
	// Where to hit: the descriptors, the directories and continuation
	// areas, the zisofs file's header and pointers; now and then
	// anywhere.
	spots := metadata(t, orig)
	r := rand.New(rand.NewPCG(16, 3))
	work := filepath.Join(t.TempDir(), "damaged.iso")
	want := mountAndExport(imgPath)
	if want.mountErr || len(want.errs) > 0 {
		t.Fatalf("the undamaged image: %v", want.errs)
	}
	failed, partial, changed, errnos := 0, 0, 0, map[string]int{}
	const mutations = 300
	for i := range mutations {
		img := append([]byte(nil), orig...)
		for range 1 + r.IntN(8) {
			sp := spots[r.IntN(len(spots))]
			at := sp[0] + r.Int64N(sp[1]-sp[0])
			if r.IntN(8) == 0 {
				at = r.Int64N(int64(len(img)))
			}
			switch r.IntN(4) {
			case 0:
				img[at] = 0
			case 1:
				img[at] = 0xff
			default:
				img[at] = byte(r.Uint32())
			}
		}
		if err := os.WriteFile(work, img, 0o644); err != nil {
			t.Fatal(err)
		}
		done := make(chan result, 1)
		go func() { done <- mountAndExport(work) }()
		select {
		case res := <-done:
			for _, err := range res.errs {
				var e abi.Errno
				if !errors.As(err, &e) {
					t.Errorf("mutation %d: an error without an errno: %v", i, err)
					continue
				}
				errnos[e.Error()]++
			}
			switch {
			case res.mountErr:
				failed++
			case len(res.errs) > 0:
				partial++
			case res.sum != want.sum:
				changed++
			}
		case <-time.After(20 * time.Second):
			os.WriteFile(filepath.Join(os.TempDir(), "isofs-hang.iso"), img, 0o644)
			t.Fatalf("mutation %d: the export hangs (image kept as %s)", i, filepath.Join(os.TempDir(), "isofs-hang.iso"))
		}
	}
	t.Logf("%d mutations: %d did not mount, %d exported with entries failing, %d exported another tree, the rest the same tree; errnos %v",
		mutations, failed, partial, changed, errnos)
	if failed+partial+changed < mutations/4 {
		t.Errorf("only %d of %d mutations changed anything: the test hits too little", failed+partial+changed, mutations)
	}
}

// result is what a mount and export of a damaged image gave: the errors
// (the mount's, or every entry's that failed), and the archive's hash.
type result struct {
	mountErr bool
	errs     []error
	sum      [32]byte
}

// mountAndExport boots a kernel, mounts the image and exports it, not
// strict: an entry that cannot be read is reported and left out.
func mountAndExport(img string) (res result) {
	fail := func(err error) result {
		res.mountErr = true
		res.errs = append(res.errs, err)
		return res
	}
	k, err := kernel.Boot(kernel.Config{})
	if err != nil {
		return fail(err)
	}
	defer k.Halt()
	if _, err := k.AddDisk(img, kernel.DiskOptions{ReadOnly: true}); err != nil {
		return fail(err)
	}
	if err := k.Mkdirat(abi.AT_FDCWD, "/mnt", 0o755); err != nil && !errors.Is(err, abi.EEXIST) {
		return fail(err)
	}
	if err := k.Mount("/dev/vda", "/mnt", "iso9660", abi.MS_RDONLY, ""); err != nil {
		return fail(err)
	}
	h := sha256.New()
	archive.Export(k, "/mnt", h, archive.Options{Report: func(err error) { res.errs = append(res.errs, err) }})
	copy(res.sum[:], h.Sum(nil))
	return res
}

// metadata returns the byte ranges of the image's structures: its
// volume descriptors, every directory of the primary and Joliet trees,
// the continuation areas their records name, the start of every file
// (the zisofs header and pointers).
func metadata(t *testing.T, img []byte) [][2]int64 {
	var spots [][2]int64
	var dirs []iso9660.DirRecord
	for s := int64(16); (s+1)*2048 <= int64(len(img)); s++ {
		p := img[s*2048 : (s+1)*2048]
		spots = append(spots, [2]int64{s * 2048, s*2048 + 200})
		if !iso9660.IsDescriptor(p) || p[0] == iso9660.TypeTerminator {
			break
		}
		if d, err := iso9660.DecodeVolumeDescriptor(p); err == nil {
			dirs = append(dirs, d.Root)
		}
	}
	seen := map[uint32]bool{}
	for len(dirs) > 0 {
		d := dirs[0]
		dirs = dirs[1:]
		start, end := int64(d.Extent)*2048, int64(d.Extent)*2048+int64(d.DataLength)
		if seen[d.Extent] || end > int64(len(img)) {
			continue
		}
		seen[d.Extent] = true
		spots = append(spots, [2]int64{start, end})
		for off := start; off < end; {
			if img[off] == 0 {
				off = (off + 2048) &^ 2047
				continue
			}
			r, err := iso9660.DecodeDirRecord(img[off:end])
			if err != nil {
				t.Fatalf("the undamaged image: %v", err)
			}
			if r.IsDir() && !r.IsDot() && !r.IsDotDot() {
				dirs = append(dirs, r)
			} else if !r.IsDir() && r.DataLength > 0 {
				spots = append(spots, [2]int64{int64(r.Extent) * 2048, int64(r.Extent)*2048 + min(64, int64(r.DataLength))})
			}
			for su := r.SystemUse; ; {
				e, rest, ok, err := iso9660.NextEntry(su)
				if !ok || err != nil {
					break
				}
				if ce, err := iso9660.DecodeCE(e); e.Sig == iso9660.SigCE && err == nil {
					spots = append(spots, [2]int64{int64(ce.Block)*2048 + int64(ce.Offset), int64(ce.Block)*2048 + int64(ce.Offset+ce.Length)})
				}
				su = rest
			}
			off += int64(r.Len)
		}
	}
	return spots
}
