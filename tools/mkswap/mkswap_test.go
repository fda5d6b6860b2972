package mkswap

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestLikeMkswap: the first page is mkswap's for the same size, UUID and
// label (the rest of a new file stays zeros for both).
func TestLikeMkswap(t *testing.T) {
	mkswap := testutil.Need(t, "mkswap")[0]
	for i, c := range []Params{
		{Size: 10 << 20, Label: "swap"},
		{Size: 40961 * 1024, Label: "a label of 16 by"},
		{Size: 1 << 30, Label: ""},
		{Size: 64 << 10, Label: "x"},
	} {
		c.UUID = [16]byte{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x47, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, byte(i)}
		dir := t.TempDir()
		theirs, ours := filepath.Join(dir, "theirs"), filepath.Join(dir, "ours")
		for _, f := range []string{theirs, ours} {
			os.WriteFile(f, nil, 0o600)
			os.Truncate(f, c.Size)
		}
		args := []string{"-U", fmt.Sprintf("%x-%x-%x-%x-%x", c.UUID[0:4], c.UUID[4:6], c.UUID[6:8], c.UUID[8:10], c.UUID[10:])}
		if c.Label != "" {
			args = append(args, "-L", c.Label)
		}
		testutil.Run(t, mkswap, append(args, theirs)...)
		f, err := os.OpenFile(ours, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := Mkswap(f, c); err != nil {
			t.Fatal(err)
		}
		f.Close()
		a, _ := os.ReadFile(theirs)
		b, _ := os.ReadFile(ours)
		if !bytes.Equal(a, b) {
			t.Errorf("%+v: differs from mkswap's", c)
		}
	}
	if err := Mkswap(nil, Params{Size: 8 << 10}); err == nil {
		t.Error("a swap area of 2 pages: no error")
	}
}
