package testutil

import (
	"strings"
	"testing"
	"time"
)

// TestCompareReports checks that each kind of difference gives one
// precise line.
func TestCompareReports(t *testing.T) {
	a := Tree{
		".":      {Path: ".", Type: TypeDir, Mode: 0o755},
		"f":      {Path: "f", Type: TypeFile, Mode: 0o644, Size: 3, SHA256: "aaaa", Mtime: 1500000000123456789, Ino: 1, Xattrs: map[string][]byte{"user.a": []byte("x"), "user.bin": {0, 1}}},
		"g":      {Path: "g", Type: TypeFile, Ino: 1},
		"h":      {Path: "h", Type: TypeFile, Ino: 1},
		"l":      {Path: "l", Type: TypeSymlink, LinkTarget: "f"},
		"dev":    {Path: "dev", Type: TypeChar, RdevMajor: 1, RdevMinor: 3},
		"only-a": {Path: "only-a", Type: TypeFifo},
		"sock":   {Path: "sock", Type: TypeSocket},
		"sp":     {Path: "sp", Type: TypeFile, Size: 8192, Data: []Range{{0, 100}}},
	}
	b := Tree{
		".":      {Path: ".", Type: TypeDir, Mode: 0o755},
		"f":      {Path: "f", Type: TypeFile, Mode: 0o600, Uid: 5, Size: 4, SHA256: "bbbb", Mtime: 1500000000000000000, Ino: 7, Xattrs: map[string][]byte{"user.a": []byte("y")}},
		"g":      {Path: "g", Type: TypeFile, Ino: 7},
		"h":      {Path: "h", Type: TypeFile, Ino: 8},
		"l":      {Path: "l", Type: TypeSymlink, LinkTarget: "g"},
		"dev":    {Path: "dev", Type: TypeBlock},
		"only-b": {Path: "only-b", Type: TypeDir},
		"sp":     {Path: "sp", Type: TypeFile, Size: 8192, Data: []Range{{4096, 4200}}},
	}
	got := strings.Join(Compare(a, b, CompareOptions{SkipTypes: []string{TypeSocket}, HoleUnit: 4096}), "\n")
	want := strings.Join([]string{
		"dev: type: char vs block",
		"f: mode: 0644 vs 0600",
		"f: uid: 0 vs 5",
		"f: mtime: 1500000000123456789 (2017-07-14T02:40:00.123456789Z) vs 1500000000000000000 (2017-07-14T02:40:00Z)",
		"f: size: 3 vs 4",
		"f: content: sha256 aaaa vs bbbb",
		`f: xattr user.a: "x" vs "y"`,
		`f: xattr user.bin: 0x0001 vs missing`,
		`f: hard links: ["f" "g" "h"] vs ["f" "g"]`,
		`l: link target: "f" vs "g"`,
		"only-a: only in a (fifo)",
		"only-b: only in b (dir)",
		"sp: data regions: [{0 4096}] vs [{4096 8192}]",
	}, "\n")
	if got != want {
		t.Errorf("Compare:\n%s\nwant:\n%s", got, want)
	}
	relaxed := CompareOptions{Ignore: []string{"mode", "uid", "size", "content", "xattrs", "links"}, MtimeUnit: time.Second,
		SkipPaths: []string{"only-a", "only-b", "dev", "l"}, SkipTypes: []string{TypeSocket}}
	if d := Compare(a, b, relaxed); len(d) != 0 {
		t.Errorf("relaxed Compare: %q", d)
	}
}
