package cliflags

import (
	"bytes"
	"strings"
	"testing"
)

func TestDescribeBytes(t *testing.T) {
	put := func(size, off int, magic string) []byte {
		b := make([]byte, size)
		copy(b[off:], magic)
		return b
	}
	fat := put(4096, 54, "FAT16   ")
	copy(fat[510:], "\x55\xaa")
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "an empty file"},
		{"zeros", make([]byte, 4096), "only zeros in its first 4096 bytes"},
		{"gzip", []byte{0x1f, 0x8b, 8, 0}, "gzip-compressed data, not a disk image: decompress it first"},
		{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd, 0}, "zstd-compressed"},
		{"xz", []byte("\xfd7zXZ\x00\x00"), "xz-compressed"},
		{"squashfs", []byte("hsqs...."), "a squashfs filesystem"},
		{"iso", put(40000, 0x8001, "CD001"), "an ISO 9660 filesystem"},
		{"btrfs", put(70000, 0x10040, "_BHRfS_M"), "a btrfs filesystem"},
		{"tar", put(1024, 257, "ustar\x0000"), "a tar archive"},
		{"fat", fat, "a FAT filesystem"},
		{"text", bytes.Repeat([]byte("not a filesystem "), 10),
			`no filesystem or partition table found (first bytes: 6e 6f 74 20 61 20 66 69 6c 65 73 79 73 74 65 6d "not a filesystem")`},
		{"binary", []byte{1, 2, 0xff}, "(first bytes: 01 02 ff)"},
	} {
		if got := describeBytes(tc.b); !strings.Contains(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
