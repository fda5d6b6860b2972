package cliflags

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/lklimg/lklimg/internal/compress"
	"github.com/lklimg/lklimg/internal/devfile"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// describeSize is how much of an image describe reads: enough to reach
// the ISO 9660 volume descriptor (32 KiB + 6) and the btrfs superblock
// (64 KiB + 64).
const describeSize = 68 << 10

// describe says what the disk ("vda") seems to be, for the error when no
// filesystem the kernel knows and no partition table was found on it:
// a format we do not read (with what to do about it), blank space, or
// else its first bytes. It reads them through the kernel, as blkid reads
// /dev/vda. The magic numbers are those of the formats' own documents
// (RFC 1952, RFC 8878, the xz specification, ECMA-119, and the superblock
// layouts of squashfs, XFS, btrfs, FAT, LUKS), as blkid(8) and file(1)
// use them; image formats (qcow2, ...) are refused before, by the
// kernel's AddDisk.
func describe(k *kernel.Kernel, disk string) string {
	f, err := devfile.Open(k, disk, abi.O_RDONLY)
	if err != nil {
		return "cannot read it: " + err.Error()
	}
	defer f.Close()
	if f.Size() == 0 {
		// The disk's capacity is the file's size in whole sectors.
		return "an empty file, or one shorter than a sector (512 bytes)"
	}
	head := make([]byte, min(describeSize, f.Size()))
	n, err := f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return "cannot read it: " + err.Error()
	}
	return describeBytes(head[:n])
}

// describeBytes is describe on the first bytes of a file.
func describeBytes(b []byte) string {
	at := func(off int, magic string) bool {
		return len(b) >= off+len(magic) && string(b[off:off+len(magic)]) == magic
	}
	if m := compress.Detect(b); m != compress.None {
		return fmt.Sprintf("%s-compressed data, not a disk image: decompress it first", m)
	}
	switch {
	case len(b) == 0:
		return "an empty file"
	case at(0, "LUKS\xba\xbe"):
		return "a LUKS encrypted volume"
	case at(0, "hsqs"):
		// The squashfs driver's probe refused it: -t squashfs says why.
		return "a squashfs filesystem this kernel does not read (not SquashFS 4.0, or damaged: -t squashfs says why)"
	case at(0, "XFSB"):
		return "an XFS filesystem, which this kernel does not read yet"
	case at(0x10040, "_BHRfS_M"):
		// The btrfs driver's mount refused it: -t btrfs says why.
		return "a btrfs filesystem this kernel does not read (several devices, a RAID profile, or damaged: -t btrfs says why)"
	case at(0x8001, "CD001"):
		return "an ISO 9660 filesystem, which this kernel does not read yet"
	case at(257, "ustar"):
		return "a tar archive, not a disk image"
	case at(510, "\x55\xaa") && (at(54, "FAT") || at(82, "FAT32")):
		return "a FAT filesystem, which this kernel does not read yet"
	case bytes.Count(b, []byte{0}) == len(b):
		return fmt.Sprintf("only zeros in its first %d bytes (a blank image?)", len(b))
	}
	return "no filesystem or partition table found (first bytes: " + firstBytes(b, 16) + ")"
}

// firstBytes shows up to n bytes in hex, and as text when they are
// printable: `6e 6f 74 20 ("not ")`.
func firstBytes(b []byte, n int) string {
	b = b[:min(len(b), n)]
	var hex, text strings.Builder
	printable := true
	for i, c := range b {
		if i > 0 {
			hex.WriteByte(' ')
		}
		fmt.Fprintf(&hex, "%02x", c)
		if c < 0x20 || c >= 0x7f {
			printable = false
		}
		text.WriteByte(c)
	}
	if printable {
		return fmt.Sprintf("%s %q", hex.String(), text.String())
	}
	return hex.String()
}
