package testutil

import (
	"encoding/binary"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
)

// Ext4OrphanFileEntries reads the orphan file of the ext4 image img as
// e2fsprogs sees it (its inode and block size from dumpe2fs -h, its blocks
// from debugfs, without a journal replay) and returns the nonzero entries
// in order. Each block must end with the orphan block magic.
func Ext4OrphanFileEntries(t testing.TB, img string) []uint32 {
	t.Helper()
	tools := Need(t, "dumpe2fs", "debugfs")
	hdr, _ := exec.Command(tools[0], "-h", img).Output()
	field := func(name string) int {
		m := regexp.MustCompile(`(?m)^` + name + `:\s+(\d+)$`).FindSubmatch(hdr)
		if m == nil {
			t.Fatalf("dumpe2fs -h %s: no %s in\n%s", img, name, hdr)
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}
	ino, bs := field("Orphan file inode"), field("Block size")
	out, err := exec.Command(tools[1], "-R", fmt.Sprintf("cat <%d>", ino), img).Output()
	if err != nil || len(out) == 0 || len(out)%bs != 0 {
		t.Fatalf("debugfs cat <%d> %s: %d bytes, %v", ino, img, len(out), err)
	}
	const orphanBlockMagic = 0x0b10ca04 // EXT4_ORPHAN_BLOCK_MAGIC
	var inos []uint32
	for b := out; len(b) > 0; b = b[bs:] {
		if m := binary.LittleEndian.Uint32(b[bs-8:]); m != orphanBlockMagic {
			t.Fatalf("%s: orphan file block magic %#x", img, m)
		}
		for j := 0; j+8 < bs; j += 4 {
			if n := binary.LittleEndian.Uint32(b[j:]); n != 0 {
				inos = append(inos, n)
			}
		}
	}
	return inos
}
