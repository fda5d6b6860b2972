package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// WriteFuzzSeed writes a file of the seed corpus of the fuzz target
// (testdata/fuzz/TARGET/NAME, in the package's directory) holding args
// in go test's corpus format: []byte and string quoted, other values as
// TYPE(VALUE).
func WriteFuzzSeed(t testing.TB, target, name string, args ...any) {
	t.Helper()
	s := "go test fuzz v1\n"
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			s += "[]byte(" + strconv.Quote(string(v)) + ")\n"
		case string:
			s += "string(" + strconv.Quote(v) + ")\n"
		default:
			s += fmt.Sprintf("%T(%v)\n", v, v)
		}
	}
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// WriteFiles writes files (path relative to dir: content) under dir,
// making their directories, each with the xattrs given (name: value).
func WriteFiles(t testing.TB, dir string, files, xattrs map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		for k, v := range xattrs {
			Run(t, "setfattr", "-n", k, "-v", v, p)
		}
	}
}
