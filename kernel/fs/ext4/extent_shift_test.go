package ext4

import (
	"math/rand"
	"testing"

	"github.com/lklimg/lklimg/kernel/abi"
)

// TestCollapseInsertDeepTree collapses and inserts ranges at random in a
// file of 1,500 extents (a tree of depth 2 with 1 KiB blocks), with
// writes and commits in between, checking the content against a model,
// the refusals Linux makes, the tree's depth, then e2fsck -fn and the
// host kernel's view.
func TestCollapseInsertDeepTree(t *testing.T) {
	img := makeWriteImage(t, []string{"-b", "1024"}, 24, map[string][]byte{"a": nil})
	f, _ := mountImageRW(t, img)
	fi := rwFile(t, f, "a")
	bs := int64(f.BlockSize)
	rnd := rand.New(rand.NewSource(5))
	m := &fileModel{}
	buf := make([]byte, 4*bs)
	for i := int64(0); i < 3000; i += 2 {
		rnd.Read(buf[:bs])
		if _, err := fi.WriteAt(testCtx, buf[:bs], i*bs); err != nil {
			t.Fatal(err)
		}
		m.write(buf[:bs], i*bs)
	}
	if d := le.Uint16(fi.iBlock[6:]); d < 2 {
		t.Fatalf("tree depth %d, want at least 2", d)
	}
	for _, c := range []struct {
		mode   uint32
		off, n int64
		want   abi.Errno
	}{
		{abi.FALLOC_FL_COLLAPSE_RANGE, 1, bs, abi.EINVAL},
		{abi.FALLOC_FL_COLLAPSE_RANGE, 0, bs + 1, abi.EINVAL},
		{abi.FALLOC_FL_COLLAPSE_RANGE, bs, int64(len(m.data)), abi.EINVAL},
		{abi.FALLOC_FL_INSERT_RANGE, int64(len(m.data)), bs, abi.EINVAL},
		{abi.FALLOC_FL_INSERT_RANGE | abi.FALLOC_FL_KEEP_SIZE, 0, bs, abi.EOPNOTSUPP},
	} {
		if err := fi.Fallocate(testCtx, c.mode, c.off, c.n); abi.ErrnoOf(err) != c.want {
			t.Errorf("fallocate %#x %d %d: %v, want %v", c.mode, c.off, c.n, err, c.want)
		}
	}
	for op := 0; op < 400; op++ {
		size := int64(len(m.data))
		off := rnd.Int63n(size/bs) * bs
		n := (1 + rnd.Int63n(40)) * bs
		var err error
		switch k := rnd.Intn(10); {
		case k < 4:
			if off+n >= size {
				continue
			}
			err = fi.Fallocate(testCtx, abi.FALLOC_FL_COLLAPSE_RANGE, off, n)
			m.data = append(m.data[:off], m.data[off+n:]...)
		case k < 8:
			err = fi.Fallocate(testCtx, abi.FALLOC_FL_INSERT_RANGE, off, n)
			m.data = append(m.data[:off], append(make([]byte, n), m.data[off:]...)...)
		case k < 9:
			w, woff := 1+rnd.Int63n(int64(len(buf))), off+rnd.Int63n(bs)
			rnd.Read(buf[:w])
			_, err = fi.WriteAt(testCtx, buf[:w], woff)
			m.write(buf[:w], woff)
		default:
			err = f.Sync()
		}
		if err != nil {
			t.Fatalf("op %d: %v", op, err)
		}
		if op%50 == 0 {
			checkContent(t, fi, m, "collapse and insert")
		}
	}
	checkContent(t, fi, m, "collapse and insert")
	runs, _ := fi.blockRuns()
	t.Logf("%d runs, depth %d, size %d", len(runs), le.Uint16(fi.iBlock[6:]), len(m.data))
	ino := umountAndCheck(t, f, img, "a", m)
	attr, _ := ino.Getattr()
	checkHost(t, img, "a", m, attr.Blocks, nil)
}
