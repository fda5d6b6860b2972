package squashfs_test

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// TestReadXzBCJ: mksquashfs -Xbcj x86 compresses each block of machine
// code with the x86 BCJ filter before LZMA2 where that is smaller (the
// test's own executable here); the host kernel's xz decoder undoes it,
// and so must ours.
func TestReadXzBCJ(t *testing.T) {
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "386" {
		t.Skip("the test's executable is not x86 code here")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(filepath.Join(src, "program"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	out.Close()
	plain := testutil.SquashfsImage(t, src, "-comp", "xz")
	img := testutil.SquashfsImage(t, src, "-comp", "xz", "-Xbcj", "x86")
	a, _ := os.Stat(plain)
	b, _ := os.Stat(img)
	if a.Size() == b.Size() {
		t.Fatalf("-Xbcj x86 made an image of the same size (%d bytes): no block used the filter", a.Size())
	}
	want := testutil.LoopView(t, img)
	got := kernelView(t, img, abi.MS_RDONLY)
	testutil.ExpectSame(t, "host vs library kernel", want, got, compareOpts)
	t.Logf("%d bytes without the filter, %d with it; %d entries compared", a.Size(), b.Size(), len(want))
}

// TestReadXzBCJOthers: the ARM, ARM-Thumb, PowerPC and SPARC filters,
// each on a file of the calls it converts (every block's calls all to
// one place, so that the filter makes them alike and mksquashfs keeps
// it), each image smaller than without the filter, and read as the host
// reads it.
func TestReadXzBCJOthers(t *testing.T) {
	const size, block = 512 << 10, 128 << 10
	const target = 0x80000 // the calls' target, from the block's start
	for _, c := range []struct {
		filter string
		put    func(b []byte, i int) // writes into b the call at i in its block
	}{
		{"arm", func(b []byte, i int) {
			rel := uint32(target-(i+8)) >> 2
			b[0], b[1], b[2], b[3] = byte(rel), byte(rel>>8), byte(rel>>16), 0xeb
		}},
		{"armthumb", func(b []byte, i int) {
			rel := uint32(target-(i+4)) >> 1
			b[0], b[1] = byte(rel>>11), 0xf0|byte(rel>>19&7)
			b[2], b[3] = byte(rel), 0xf8|byte(rel>>8&7)
		}},
		{"powerpc", func(b []byte, i int) {
			v := 0x48000000 | uint32(target-i)&0x03fffffc | 1
			b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
		}},
		{"sparc", func(b []byte, i int) {
			v := 0x40000000 | uint32(target-i)>>2
			b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
		}},
	} {
		t.Run(c.filter, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "src")
			if err := os.Mkdir(src, 0o755); err != nil {
				t.Fatal(err)
			}
			b := make([]byte, size)
			for i := 0; i+4 <= len(b); i += 4 {
				c.put(b[i:i+4], i%block)
			}
			if err := os.WriteFile(filepath.Join(src, "calls"), b, 0o644); err != nil {
				t.Fatal(err)
			}
			plain := testutil.SquashfsImage(t, src, "-comp", "xz", "-no-fragments")
			img := testutil.SquashfsImage(t, src, "-comp", "xz", "-no-fragments", "-Xbcj", c.filter)
			a, _ := os.Stat(plain)
			f, _ := os.Stat(img)
			if f.Size() >= a.Size() {
				t.Fatalf("-Xbcj %s: %d bytes, %d without: the filter was not kept", c.filter, f.Size(), a.Size())
			}
			want := testutil.LoopView(t, img)
			got := kernelView(t, img, abi.MS_RDONLY)
			testutil.ExpectSame(t, "host vs library kernel", want, got, compareOpts)
			t.Logf("%s: %d bytes without the filter, %d with it", c.filter, a.Size(), f.Size())
		})
	}
}
