package repart

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzRead: any bytes as a definition file are read or refused with an
// error, never a panic; what is read lays out or is refused too.
func FuzzRead(f *testing.F) {
	f.Add([]byte("[Partition]\nType=esp\nFormat=vfat\nCopyFiles=/a:/b\nSizeMinBytes=1M 512K\n"))
	f.Add([]byte("[Partition]\nType=root\nLabel=x\\\ny\nWeight=0x10\nPaddingWeight=010\nFlags=0b101\nUUID=null\n"))
	f.Add([]byte("\ufeff[X-Mine]\nA=b\n[Partition]\nType=linux-generic\nMakeDirectories=\"/a b\" /c\nMinimize=guess\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "p.conf"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		parts, err := Read([]string{dir}, "amd64", func(string) {})
		if err != nil {
			return
		}
		l, err := Plan(NewPlanned(parts), 0, ID128{1})
		if err == nil && (l.Size%4096 != 0 || len(l.Table.Partitions) > len(parts)) {
			t.Fatalf("layout %d bytes, %d partitions of %d", l.Size, len(l.Table.Partitions), len(parts))
		}
	})
}

// FuzzParseSize: sizes parse or are refused, never panic.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"1M 512K", "1.5G", "0.000001K", "18446744073709551615", "1E 1P", "9999999999E"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { parseSize(s) })
}
