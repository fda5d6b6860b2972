package squashfs

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	sq "github.com/lklimg/lklimg/format/squashfs"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// countingDecompressor counts the blocks of block_size its decompressor
// is handed (data and fragment blocks; metadata blocks are 8 KiB).
type countingDecompressor struct {
	sq.Decompressor
	blocks int
}

func (c *countingDecompressor) Decompress(dst, src []byte) (int, error) {
	if len(dst) != sq.MetadataSize {
		c.blocks++
	}
	return c.Decompressor.Decompress(dst, src)
}

// TestFileReads reads a file of 5000 blocks of 4 KiB (sparse blocks
// among them, a tail in a fragment) in pieces that straddle blocks:
// sequentially, each block is decompressed once; at random offsets, from
// several goroutines at once, the bytes are the source's (the block
// list's kept cursors restore a position behind the current one).
func TestFileReads(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	const blocks = 5000
	data := make([]byte, blocks*4096+1234)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(i/4096) ^ byte(i%7)
	}
	for range 50 { // whole blocks of zeros: sparse blocks
		b := r.IntN(blocks)
		clear(data[b*4096 : (b+1)*4096])
	}
	if err := os.WriteFile(filepath.Join(src, "f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, root := mountSource(t, src, "-b", "4K", "-tailends", "-comp", "gzip")
	count := &countingDecompressor{Decompressor: f.dec}
	f.dec = count
	ip, err := root.Lookup("f")
	if err != nil {
		t.Fatal(err)
	}
	file := ip.(vfs.FileReader)

	got := make([]byte, 0, len(data))
	buf := make([]byte, 3000)
	for off := int64(0); ; off += int64(len(buf)) {
		n, err := file.ReadAt(buf, off)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	if !bytes.Equal(got, data) {
		t.Fatal("the sequential read differs from the source")
	}
	// The data blocks less the sparse ones, and the fragment once.
	sparse := 0
	for b := range blocks {
		if bytes.Count(data[b*4096:(b+1)*4096], []byte{0}) == 4096 {
			sparse++
		}
	}
	if want := int64(blocks - sparse + 1); f.blocksMade.Load() != want {
		t.Errorf("sequential read: %d blocks decompressed (readahead's included), want %d", f.blocksMade.Load(), want)
	}

	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 5))
			p := make([]byte, 20000)
			for range 300 {
				off := r.Int64N(int64(len(data)))
				n := r.IntN(len(p))
				m, _ := file.ReadAt(p[:n], off)
				want := data[off:min(off+int64(n), int64(len(data)))]
				if !bytes.Equal(p[:m], want) {
					t.Errorf("read of %d at %d: %d bytes differ from the source's %d", n, off, m, len(want))
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestReadaheadNextFile reads a file of 3 blocks whose next file on the
// device (in the same directory, looked up before) starts with a data
// block: readahead past the first file's end makes that block, so that
// the reader finds it made as it opens the next file.
func TestReadaheadNextFile(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, name := range []string{"a", "b"} {
		data := make([]byte, 3*4096)
		for i := range data {
			data[i] = byte(r.IntN(4))
		}
		if err := os.WriteFile(filepath.Join(src, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, root := mountSource(t, src, "-b", "4K", "-comp", "gzip", "-no-fragments")
	var files [2]fileInode
	for i, name := range []string{"a", "b"} {
		ip, err := root.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		files[i] = ip.(fileInode)
	}
	a, b := files[0], files[1]
	aEnd, w, err := a.peek(2)
	if err != nil {
		t.Fatal(err)
	}
	size, _ := sq.DataBlockSize(w)
	if b0, _, _ := b.peek(0); b0 != aEnd+int64(size) {
		t.Fatalf("b's data at %d, not after a's (%d): the test needs them in a row", b0, aEnd+int64(size))
	}
	buf := make([]byte, 3*4096)
	if _, err := a.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	b0, _, _ := b.peek(0)
	for {
		f.mu.Lock()
		b := f.inflight[b0]
		made := f.data.has(b0)
		f.mu.Unlock()
		if b == nil {
			if !made {
				t.Errorf("reading a to its end did not make b's first block")
			}
			break
		}
		<-b.done
	}
}

// mountSource makes an image of src by mksquashfs ARGS and mounts it
// from memory through the driver (unmounted at the test's end).
func mountSource(t *testing.T, src string, args ...string) (*fsys, vfs.Lookuper) {
	t.Helper()
	img, err := os.ReadFile(testutil.SquashfsImage(t, src, args...))
	if err != nil {
		t.Fatal(err)
	}
	sb, err := fsType{}.Mount(memDev(img), abi.MS_RDONLY, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Unmount() })
	root, err := sb.Root()
	if err != nil {
		t.Fatal(err)
	}
	return sb.(*fsys), root.(vfs.Lookuper)
}
