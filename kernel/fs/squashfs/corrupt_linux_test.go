package squashfs

import (
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
	"github.com/lklimg/lklimg/kernel/vfs/vfstest"
)

// Damaged images: seeded mutations of small images of each compressor
// (and one uncompressed), mounted and walked whole through the driver.
// Nothing may panic or hang (each walk has a deadline), every error
// carries an errno, and the undamaged image walks without one.

// memDev is an image in memory.
type memDev = vfstest.Mem

// walkBudget bounds the inodes one walk visits, and walkNames the names
// it looks up in a directory: a damaged directory may name its own
// ancestors, or one large directory many times, and each lookup scans
// the listing (as Linux's does).
const (
	walkBudget = 300
	walkNames  = 64
)

// walk reads everything under ip and returns the first error (with an
// errno, or the test fails), and how many inodes it saw.
func walk(t *testing.T, ip vfs.Inode, depth int, budget *int) (int, error) {
	if *budget--; *budget < 0 {
		return 0, nil
	}
	var first error
	note := func(err error) {
		if err == nil {
			return
		}
		var e *abi.Error
		var n abi.Errno
		if !errors.As(err, &e) && !errors.As(err, &n) && err != io.EOF {
			t.Fatalf("error without an errno: %v", err)
		}
		if first == nil && err != io.EOF {
			first = err
		}
	}
	count := 1
	_, err := ip.Getattr()
	note(err)
	if x, ok := ip.(vfs.Xattrer); ok {
		names, err := x.Listxattr()
		note(err)
		for _, n := range names {
			_, err := x.Getxattr(n)
			note(err)
		}
	}
	if l, ok := ip.(vfs.Readlinker); ok {
		_, err := l.Readlink()
		note(err)
	}
	if r, ok := ip.(vfs.FileReader); ok {
		buf := make([]byte, 3000) // not a divisor of a block: reads straddle them
		for off := int64(0); off < 1<<20; off += int64(len(buf)) {
			if _, err := r.ReadAt(buf, off); err != nil {
				note(err)
				break
			}
		}
	}
	d, ok := ip.(dirInode)
	if !ok || depth > 8 {
		return count, first
	}
	var names []string
	note(d.ReadDir(0, func(e vfs.DirEntry) bool {
		names = append(names, e.Name)
		return len(names) < walkNames
	}))
	for _, n := range names {
		c, err := d.Lookup(n)
		note(err)
		if err == nil {
			k, err := walk(t, c, depth+1, budget)
			note(err)
			count += k
		}
	}
	return count, first
}

// mountWalk mounts img and walks it, failing the test if that takes
// longer than the deadline.
func mountWalk(t *testing.T, img []byte) (int, error) {
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		sb, err := fsType{}.Mount(memDev(img), abi.MS_RDONLY, "", nil)
		if err != nil {
			done <- result{0, err}
			return
		}
		// Unmounted, its readahead workers end: a fuzzing run mounts
		// thousands of images, whose workers and caches would
		// otherwise stay, until the worker thrashes.
		defer sb.Unmount()
		sb.Statfs()
		root, err := sb.Root()
		if err != nil {
			done <- result{0, err}
			return
		}
		budget := walkBudget
		n, err := walk(t, root, 0, &budget)
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		return r.n, r.err
	case <-time.After(20 * time.Second):
		t.Fatal("mount and walk did not end in 20 s")
		return 0, nil
	}
}

func TestCorruptImages(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
	}{
		{"gzip", nil},
		{"xz", []string{"-comp", "xz"}},
		{"lzo", []string{"-comp", "lzo"}},
		{"lz4", []string{"-comp", "lz4"}},
		{"zstd", []string{"-comp", "zstd"}},
		{"lzma", []string{"-comp", "lzma"}},
		{"uncompressed", []string{"-noI", "-noD", "-noF", "-noX"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			orig := testutil.SmallSquashfs(t, c.args...)
			n, err := mountWalk(t, orig)
			if err != nil || n < 45 {
				t.Fatalf("the undamaged image: %d inodes, %v", n, err)
			}
			r := rand.New(rand.NewPCG(uint64(len(c.name)), 16))
			failed := 0
			for range 300 {
				img := append([]byte(nil), orig...)
				for range 1 + r.IntN(4) {
					// Half the hits in the superblock and the
					// tables at the end, where a byte matters most.
					at := r.IntN(len(img))
					if r.IntN(2) == 0 {
						if r.IntN(2) == 0 {
							at = r.IntN(96)
						} else {
							at = len(img) - 1 - r.IntN(min(len(img), 600))
						}
					}
					img[at] ^= byte(1 + r.IntN(255))
				}
				if _, err := mountWalk(t, img); err != nil {
					failed++
				}
			}
			t.Logf("%s: 300 damaged images, %d gave errors, none panicked or hung", c.name, failed)
		})
	}
}

// FuzzMount mounts and walks an image (seeds: the small images of three
// compressors).
func FuzzMount(f *testing.F) {
	for _, args := range [][]string{nil, {"-comp", "lzo"}, {"-noI", "-noD", "-noF", "-noX"}} {
		f.Add(testutil.SmallSquashfs(f, args...))
	}
	f.Fuzz(func(t *testing.T, img []byte) {
		mountWalk(t, img)
	})
}
