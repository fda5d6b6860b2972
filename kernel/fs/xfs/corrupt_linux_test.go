package xfs_test

import (
	"errors"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lklimg/lklimg/format/xfs"
	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Damaged images: seeded random bytes written over the metadata of
// generated images (v5, where most damage meets a checksum, and v4,
// where it reaches the decoders), each mounted and exported whole. No
// mutation may panic or hang (a deadline), and every failure must be an
// errno that says the filesystem is damaged (EUCLEAN, EIO) or what was
// refused.

// logRange returns the byte range of img's internal log.
func logRange(t testing.TB, img string) (int64, int64) {
	t.Helper()
	raw := make([]byte, xfs.SuperSize)
	fd, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	if _, err := fd.ReadAt(raw, 0); err != nil {
		t.Fatal(err)
	}
	sb, err := xfs.DecodeSuperblock(raw)
	if err != nil {
		t.Fatal(err)
	}
	agno, agbno := sb.LogStart>>sb.AgBlkLog, sb.LogStart&(1<<sb.AgBlkLog-1)
	start := int64(agno*uint64(sb.AgBlocks)+agbno) << sb.BlockLog
	return start, start + int64(sb.LogBlocks)<<sb.BlockLog
}

// metadataRuns lists the written runs of img (SEEK_DATA, SEEK_HOLE: a
// fresh image is sparse), the log left out: where its metadata lies,
// with the few data blocks of its small files.
func metadataRuns(t testing.TB, img string) [][2]int64 {
	t.Helper()
	fd, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	logStart, logEnd := logRange(t, img)
	st, _ := fd.Stat()
	var runs [][2]int64
	for off := int64(0); off < st.Size(); {
		d, err := unix.Seek(int(fd.Fd()), off, unix.SEEK_DATA)
		if err != nil {
			break
		}
		h, err := unix.Seek(int(fd.Fd()), d, unix.SEEK_HOLE)
		if err != nil {
			t.Fatal(err)
		}
		// The log's first 8 KiB stay in: its head and tail records.
		if d < logEnd && h > logStart+8192 {
			if d < logStart+8192 {
				runs = append(runs, [2]int64{d, logStart + 8192})
			}
			if h > logEnd {
				runs = append(runs, [2]int64{logEnd, h})
			}
		} else {
			runs = append(runs, [2]int64{d, h})
		}
		off = h
	}
	return runs
}

func TestCorruptImages(t *testing.T) {
	testutil.Need(t, "mkfs.xfs")
	counts := map[string]int{}
	for _, c := range []struct {
		name string
		img  func() string
	}{
		{"v5", func() string {
			img := mkfsXFS(t)
			testutil.FillLoop(t, img, shapes(t, true, 4))
			return img
		}},
		{"v4", func() string { return mkfsXFS(t, "-m", "crc=0", "-p", protoTree(t, t.TempDir())) }},
		// A dirty log: damage in its records meets the recovery.
		{"v5-dirty-log", func() string {
			return dirtyImage(t, shapes(t, false, 4), func(mnt string) {
				testutil.Run(t, "xfs_io", "-c", "fsync", mnt) // the log forced, the blocks not written
			})
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := c.img()
			if err := kerneltest.ExportDamaged(img, "xfs"); err != nil {
				t.Fatalf("the undamaged image: %v", err)
			}
			runs := metadataRuns(t, img)
			if c.name == "v5-dirty-log" {
				// The records: the log's first MiB, where a young
				// filesystem writes them.
				start, _ := logRange(t, img)
				runs = [][2]int64{{start, start + 1<<20}}
			}
			f, err := os.OpenFile(img, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r := rand.New(rand.NewPCG(uint64(len(c.name)), 18))
			for i := range 150 {
				// 1 to 4 bytes, each in a run chosen uniformly (not by
				// size: metadata runs are short), in its first 64 KiB.
				type saved struct {
					at int64
					b  [1]byte
				}
				var undo []saved
				for range 1 + r.IntN(4) {
					run := runs[r.IntN(len(runs))]
					at := run[0] + r.Int64N(min(run[1]-run[0], 64<<10))
					if r.IntN(5) == 0 {
						at = r.Int64N(512) // the superblock
					}
					s := saved{at: at}
					f.ReadAt(s.b[:], at)
					undo = append(undo, s)
					f.WriteAt([]byte{byte(r.Uint32())}, at)
				}
				done := make(chan error, 1)
				go func() { done <- kerneltest.ExportDamaged(img, "xfs") }()
				select {
				case err := <-done:
					counts[kerneltest.ErrName(err)]++
					if err != nil && !clearErr(err) {
						t.Errorf("mutation %d: unclear error %v", i, err)
					}
				case <-time.After(30 * time.Second):
					t.Fatalf("mutation %d: mount and export still running after 30s", i)
				}
				for j := len(undo) - 1; j >= 0; j-- {
					f.WriteAt(undo[j].b[:], undo[j].at)
				}
			}
		})
	}
	t.Logf("outcomes of the mutations: %v", counts)
}

// clearErr reports an errno that names damage or a refusal.
func clearErr(err error) bool {
	for _, e := range []abi.Errno{abi.EUCLEAN, abi.EIO, abi.EINVAL, abi.EOPNOTSUPP, abi.ENOENT, abi.ENOTDIR, abi.ELOOP} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
