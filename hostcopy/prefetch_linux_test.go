package hostcopy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/lklimg/lklimg/kernel/abi"
)

// TestPrefetchSizes: files around prefetchFileMax, empty, sparse and
// hard-linked, in nested directories, copy with their bytes whether the
// prefetcher read them or the copy did.
func TestPrefetchSizes(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	want := map[string][]byte{}
	for d := range 3 {
		dir := filepath.Join(src, fmt.Sprintf("d%d", d), "sub")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, size := range []int{0, 1, 4095, prefetchFileMax - 1, prefetchFileMax, prefetchFileMax + 1, 3 << 20} {
			b := bytes.Repeat([]byte{byte(d*16 + i + 1)}, size)
			for _, p := range []string{filepath.Join(dir, fmt.Sprint("f", i)), filepath.Join(dir, "..", fmt.Sprint("g", i))} {
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
				want[p] = b
			}
		}
	}
	// A small sparse file (a hole, then one byte) and a hard link.
	sparse := filepath.Join(src, "d0", "sparse")
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{7}, 100<<10); err != nil {
		t.Fatal(err)
	}
	f.Close()
	want[sparse] = append(make([]byte, 100<<10), 7)
	link := filepath.Join(src, "d1", "link")
	if err := os.Link(filepath.Join(src, "d0", "g1"), link); err != nil {
		t.Fatal(err)
	}
	want[link] = want[filepath.Join(src, "d0", "g1")]

	img := filepath.Join(base, "img")
	if err := os.Mkdir(img, 0o755); err != nil {
		t.Fatal(err)
	}
	var errs []string
	if err := To(hostKernel{}, img, []string{src}, "/", collect(&errs)); err != nil || len(errs) > 0 {
		t.Fatalf("To: %v %q", err, errs)
	}
	for p, b := range want {
		rel, _ := filepath.Rel(base, p)
		got, err := os.ReadFile(filepath.Join(img, rel))
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("%s: %d bytes (%v), want %d", rel, len(got), err, len(b))
		}
	}
}

// TestPrefetchStop: a copy stopped by ENOSPC in a nested directory ends
// every prefetcher (none is left blocked handing what it read ahead).
func TestPrefetchStop(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "src")
	for d := range 4 {
		dir := filepath.Join(src, fmt.Sprint("d", d), "e")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range 2 * prefetchDepth {
			for _, p := range []string{filepath.Join(dir, fmt.Sprint(i)), filepath.Join(dir, "..", fmt.Sprint(i))} {
				if err := os.WriteFile(p, make([]byte, 10<<10), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	img := filepath.Join(base, "img")
	if err := os.Mkdir(img, 0o755); err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	var errs []string
	err := To(&failing{budget: 700 << 10}, img, []string{src}, "/", collect(&errs))
	if !errors.Is(err, abi.ENOSPC) {
		t.Fatalf("To: %v %q, want ENOSPC", err, errs)
	}
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > before; {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after the copy stopped, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
