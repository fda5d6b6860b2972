package archive

import (
	"bytes"
	"errors"
	"slices"
	"strconv"
	"testing"

	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// listDir returns the names in a kernel directory, sorted.
func listDir(t *testing.T, k *kernel.Kernel, dir string) []string {
	t.Helper()
	fd, err := k.Openat(abi.AT_FDCWD, dir, abi.O_RDONLY|abi.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close(fd)
	buf := make([]byte, 8192)
	var names []string
	for {
		n, err := k.Getdents64(fd, buf)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		for _, d := range abi.ParseDirents(buf[:n], nil) {
			if d.Name != "." && d.Name != ".." {
				names = append(names, d.Name)
			}
		}
	}
	slices.Sort(names)
	return names
}

// FuzzImport imports fuzzed archives into the library kernel's ramfs,
// each under a directory of its own, with and without whiteouts: Import
// may report failures and stop, never panic, and nothing may appear
// outside that directory, whatever names, links and symlinks the archive
// holds.
func FuzzImport(f *testing.F) {
	for _, entries := range [][]entry{replaceEntries(), whiteoutEntries(), {
		{h: Header{Name: "up", Typeflag: TypeSymlink, Linkname: "../../.."}},
		{h: Header{Name: "up/x", Typeflag: TypeReg, Size: 1}, data: []byte("x")},
		{h: Header{Name: "/abs/../..", Typeflag: TypeDir}},
		{h: Header{Name: "root", Typeflag: TypeSymlink, Linkname: "/"}},
		{h: Header{Name: "root/.wh.imp", Typeflag: TypeReg}},
		{h: Header{Name: "l", Typeflag: TypeLink, Linkname: "root/x"}},
		{h: Header{Name: ".wh.", Typeflag: TypeReg}},
		{h: Header{Name: "sp", Typeflag: TypeReg, Size: 1 << 40, Sparse: []Extent{{1 << 30, 512}}}, data: nil},
	}} {
		var buf bytes.Buffer
		tw := NewWriterSize(&buf, 4096)
		for _, e := range entries {
			h := e.h
			if tw.WriteHeader(&h) != nil {
				continue
			}
			if h.Sparse != nil {
				tw.Write(make([]byte, 512))
			} else {
				tw.Write(e.data)
			}
		}
		tw.Close()
		f.Add(buf.Bytes(), true)
		f.Add(buf.Bytes(), false)
	}
	k, err := kernel.Boot(kernel.Config{Memory: 8 << 20})
	if err != nil {
		f.Fatal(err)
	}
	defer k.Halt()
	if err := k.Mkdirat(abi.AT_FDCWD, "/imp", 0o755); err != nil {
		f.Fatal(err)
	}
	var top []string
	n := 0
	f.Fuzz(func(t *testing.T, data []byte, whiteouts bool) {
		if top == nil {
			top = listDir(t, k, "/")
		}
		n++
		root := "/imp/" + strconv.Itoa(n)
		if err := k.Mkdirat(abi.AT_FDCWD, root, 0o755); err != nil {
			t.Fatal(err)
		}
		opts := ImportOptions{BufferSize: 4096}
		if whiteouts {
			opts.Whiteouts = "overlay"
		}
		err := Import(k, root, bytes.NewReader(data), opts)
		var stop *ImportStoppedError
		var inc *ImportIncompleteError
		if err != nil && !errors.As(err, &stop) && !errors.As(err, &inc) {
			t.Fatalf("Import: %v (%T)", err, err)
		}
		if got := listDir(t, k, "/"); !slices.Equal(got, top) {
			t.Fatalf("the kernel's root holds %q, before %q", got, top)
		}
		if got := listDir(t, k, "/imp"); !slices.Equal(got, []string{strconv.Itoa(n)}) {
			t.Fatalf("/imp holds %q", got)
		}
		im := &importer{sys: k, root: "/imp"}
		if err := im.remove(root, true); err != nil {
			t.Fatalf("cleaning up: %v", err)
		}
	})
}

// TestImportKernelRoot imports into the kernel's own root ("/", its
// ramfs): the root entry's metadata lands on "/", files below it.
func TestImportKernelRoot(t *testing.T) {
	k, err := kernel.Boot(kernel.Config{Memory: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Halt()
	a := writeArchive(t, []entry{
		{h: Header{Name: "./", Typeflag: TypeDir, Mode: 0o711, Mtime: Time{1234, 5}}},
		{h: Header{Name: "./a/b", Typeflag: TypeReg, Mode: 0o640, Size: 2, Uid: 3}, data: []byte("hi")},
	})
	if err := Import(k, "/", bytes.NewReader(a), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	var st abi.Stat
	if err := k.Fstatat(abi.AT_FDCWD, "/", &st, 0); err != nil || st.Mode&0o7777 != 0o711 || st.Mtim.Sec != 1234 {
		t.Errorf("/: %+v %v", st, err)
	}
	if err := k.Fstatat(abi.AT_FDCWD, "/a/b", &st, 0); err != nil || st.Size != 2 || st.Uid != 3 || st.Mode&0o7777 != 0o640 {
		t.Errorf("/a/b: %+v %v", st, err)
	}
}
