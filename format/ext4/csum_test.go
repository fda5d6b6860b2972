package ext4

import (
	"bytes"
	"hash/crc32"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// TestCrc16 checks Crc16 against the check value of CRC-16/ARC (the
// polynomial 0x8005 reflected, initial 0, as lib/crc16.c), and the
// crc32c helper against the Castagnoli check value.
func TestCrc16(t *testing.T) {
	if got := Crc16(0, []byte("123456789")); got != 0xBB3D {
		t.Errorf("Crc16(123456789) = %#04x, want 0xbb3d", got)
	}
	tab := crc32.MakeTable(crc32.Castagnoli)
	if got := Csum32(tab, ^uint32(0), []byte("123456789")); got != ^uint32(0xE3069283) {
		// ext4_chksum is the raw crc32c: no final inversion.
		t.Errorf("Csum32(~0, 123456789) = %#08x, want %#08x", got, ^uint32(0xE3069283))
	}
	// Continuing a crc over two parts equals the crc of the whole.
	if a, b := Csum32(tab, 7, []byte("1234")), Csum32(tab, 7, []byte("12")); Csum32(tab, b, []byte("34")) != a {
		t.Error("Csum32 does not continue")
	}
}

// TestChecksumsAgainstMke2fs reads images mke2fs made and checks that
// every checksum this package computes is the one e2fsprogs stored: the
// superblock's, every group descriptor's (crc32c with metadata_csum,
// crc16 with uninit_bg, in 32- and 64-byte descriptors), the inodes' and
// the root directory block's tail, and the orphan file's blocks.
func TestChecksumsAgainstMke2fs(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		seed bool // metadata_csum_seed, and a new UUID since
	}{
		{"metadata_csum", nil, false},
		{"metadata_csum-32byte", []string{"-O", "^64bit"}, false},
		{"metadata_csum-1k", []string{"-b", "1024"}, false},
		{"metadata_csum-inode128", []string{"-I", "128"}, false},
		{"metadata_csum_seed", []string{"-O", "metadata_csum_seed"}, true},
		{"orphan_file", []string{"-O", "orphan_file"}, false},
		{"gdt_csum", []string{"-O", "^metadata_csum,uninit_bg"}, false},
		{"gdt_csum-32byte", []string{"-O", "^metadata_csum,^64bit,uninit_bg"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := testutil.Mke2fsImage(t, "32M", append([]string{"-g", "4096", "-N", "2048"}, c.args...)...)
			if c.seed {
				testutil.Need(t, "tune2fs")
				// With metadata_csum_seed the seed stays when the UUID
				// changes: the checksums no longer follow the UUID.
				testutil.Run(t, "tune2fs", "-U", "9e1f0c2a-7d3b-4c5e-8f60-718293a4b5c6", path)
			}
			im := openImage(t, path)
			if len(im.Groups) < 2 {
				t.Fatalf("%d groups", len(im.Groups))
			}
			checkSeed(t, im, c.seed)
			checkSuperCsum(t, im)
			checkGroupCsums(t, im)
			checkInodeCsums(t, im)
			checkDirTailCsum(t, im)
			checkOrphanBlocks(t, im)
		})
	}
}

func checkSeed(t *testing.T, im *testImage, seed bool) {
	sb := im.Super
	if !sb.MetadataCsum() {
		if im.CrcTab != nil || !im.HasGroupCsum() {
			t.Errorf("gdt_csum image: crc table %v, HasGroupCsum %v", im.CrcTab != nil, im.HasGroupCsum())
		}
		return
	}
	fromUUID := Csum32(im.CrcTab, ^uint32(0), sb.SUUID[:])
	switch {
	case seed && (!sb.HasIncompat(IncompatCsumSeed) || im.CsumSeed != sb.SChecksumSeed || im.CsumSeed == fromUUID):
		t.Errorf("metadata_csum_seed: seed %#x, s_checksum_seed %#x, crc of the UUID %#x", im.CsumSeed, sb.SChecksumSeed, fromUUID)
	case !seed && im.CsumSeed != fromUUID:
		t.Errorf("seed %#x, want the crc of the UUID %#x", im.CsumSeed, fromUUID)
	}
}

func checkSuperCsum(t *testing.T, im *testImage) {
	if !im.Super.MetadataCsum() {
		return
	}
	s := bytes.Clone(im.raw)
	le.PutUint32(s[OffSChecksum:], 0)
	im.SetSuperCsum(s)
	if !bytes.Equal(s, im.raw) || im.Super.SChecksum == 0 {
		t.Errorf("superblock checksum %#x, mke2fs stored %#x", le.Uint32(s[OffSChecksum:]), im.Super.SChecksum)
	}
}

// checkGroupCsums recomputes every descriptor's checksum (LoadGroupDescs
// did too, and would have failed the test), and checks that a flipped
// bit anywhere but in bg_checksum changes it.
func checkGroupCsums(t *testing.T, im *testImage) {
	if !im.HasGroupCsum() {
		t.Fatal("no group descriptor checksums")
	}
	for g := range im.Groups {
		raw := bytes.Clone(im.descRaw(t, uint32(g)))
		want := le.Uint16(raw[OffBgChecksum:])
		if got := im.GroupDescCsum(uint32(g), raw); got != want {
			t.Errorf("group %d: checksum %#04x, mke2fs stored %#04x", g, got, want)
		}
		if g == 0 {
			continue
		}
		// The group number is part of the sum.
		if im.GroupDescCsum(uint32(g-1), raw) == want {
			t.Errorf("group %d: checksum does not depend on the group number", g)
		}
		offs := []int{0, OffBgChecksum - 1}
		if len(raw) > MinDescSize {
			offs = append(offs, len(raw)-1) // the bytes after bg_checksum count too
		}
		for _, off := range offs {
			raw[off] ^= 0x10
			if im.GroupDescCsum(uint32(g), raw) == want {
				t.Errorf("group %d: a flipped bit at byte %d keeps the checksum", g, off)
			}
			raw[off] ^= 0x10
		}
	}
}

// checkInodeCsums recomputes the checksums of the root directory, lost+found
// and the journal.
func checkInodeCsums(t *testing.T, im *testImage) {
	if !im.Super.MetadataCsum() {
		return
	}
	for _, ino := range []uint32{RootIno, 7, 8, 11} {
		raw := im.inode(t, ino)
		hasHi := im.InodeSize > GoodOldInodeSize && im.ExtraIsize(raw) >= OffIChecksumHi+2-GoodOldInodeSize
		seed := im.InodeCsumSeed(ino, le.Uint32(raw[OffIGeneration:]))
		c := bytes.Clone(raw)
		le.PutUint16(c[OffIChecksumLo:], 0)
		if hasHi {
			le.PutUint16(c[OffIChecksumHi:], 0)
		}
		im.SetInodeCsum(seed, c, hasHi)
		if !bytes.Equal(c, raw) {
			t.Errorf("inode %d (hi %v): checksum %#04x %#04x, mke2fs stored %#04x %#04x", ino, hasHi,
				le.Uint16(c[OffIChecksumLo:]), le.Uint16(c[OffIChecksumHi:]),
				le.Uint16(raw[OffIChecksumLo:]), le.Uint16(raw[OffIChecksumHi:]))
		}
	}
}

// checkDirTailCsum checks the root directory's block: its entries parse,
// it ends in the checksum tail, and the tail holds the crc32c of the block
// from the root inode's seed.
func checkDirTailCsum(t *testing.T, im *testImage) {
	raw := im.inode(t, RootIno)
	b := im.block(t, im.firstBlock(t, raw))
	var names []string
	err := ParseDirBlock(b, im.BlockSize, true, func(off int, d Dirent) bool {
		if d.Inode != 0 {
			names = append(names, string(d.Name))
		}
		return true
	})
	if err != nil || len(names) != 3 || names[0] != "." || names[1] != ".." || names[2] != "lost+found" {
		t.Errorf("root directory: %q, %v", names, err)
	}
	if !im.Super.MetadataCsum() {
		if IsDirTail(b) {
			t.Error("a directory tail without metadata_csum")
		}
		return
	}
	if !IsDirTail(b) {
		t.Fatal("no directory tail")
	}
	n := len(b) - DirTailSize
	seed := im.InodeCsumSeed(RootIno, le.Uint32(raw[OffIGeneration:]))
	if got, want := Csum32(im.CrcTab, seed, b[:n]), le.Uint32(b[n+8:]); got != want {
		t.Errorf("directory tail checksum %#08x, mke2fs stored %#08x", got, want)
	}
}

// checkOrphanBlocks rebuilds each empty orphan file block as mke2fs
// wrote it.
func checkOrphanBlocks(t *testing.T, im *testImage) {
	ino := im.Super.SOrphanFileInum
	if !im.Super.HasCompat(CompatOrphanFile) {
		return
	}
	raw := im.inode(t, ino)
	seed := im.InodeCsumSeed(ino, le.Uint32(raw[OffIGeneration:]))
	blk := im.firstBlock(t, raw)
	n := (uint64(le.Uint32(raw[OffISizeLo:])) + uint64(im.BlockSize) - 1) / uint64(im.BlockSize)
	if n == 0 {
		t.Fatal("empty orphan file")
	}
	want := make([]byte, im.BlockSize)
	for i := uint64(0); i < n; i++ {
		// mke2fs allocates the orphan file in one extent.
		im.PutEmptyOrphanBlock(want, blk+i, seed)
		if got := im.block(t, blk+i); !bytes.Equal(got, want) {
			t.Errorf("orphan file block %d: tail %x, want %x", i, got[len(got)-OrphanTailSize:], want[len(want)-OrphanTailSize:])
		}
	}
}
