package btrfs

import (
	"errors"
	"testing"

	"github.com/lklimg/lklimg/kernel/abi"
)

// leafWith builds a 4 KiB leaf of tree owner holding one item.
func leafWith(owner uint64, k Key, data []byte) *Node {
	b := make([]byte, 4096)
	le.PutUint64(b[48:], 4096*8) // bytenr
	le.PutUint64(b[88:], owner)
	le.PutUint32(b[96:], 1)
	off := len(b) - HeaderSize - len(data)
	p := b[HeaderSize:]
	le.PutUint64(p, k.Objectid)
	p[8] = k.Type
	le.PutUint64(p[9:], k.Offset)
	le.PutUint32(p[17:], uint32(off))
	le.PutUint32(p[21:], uint32(len(data)))
	copy(b[HeaderSize+off:], data)
	n, err := DecodeNodeUnchecked(b, 4096*8, [FsidSize]byte{})
	if err != nil {
		panic(err)
	}
	return n
}

func TestCheckItems(t *testing.T) {
	c := CheckContext{SectorSize: 4096, NodeSize: 4096, CsumSize: 4, Generation: 10, SkinnyMetadata: true}
	inode := func(mode uint32, nlink uint32, gen uint64) []byte {
		b := make([]byte, InodeItemSize)
		le.PutUint64(b, gen)
		le.PutUint32(b[40:], nlink)
		le.PutUint32(b[52:], mode)
		return b
	}
	bg := func(used, flags uint64) []byte {
		b := make([]byte, 24)
		le.PutUint64(b, used)
		le.PutUint64(b[8:], FirstChunkTreeObjectid)
		le.PutUint64(b[16:], flags)
		return b
	}
	for _, tc := range []struct {
		name  string
		owner uint64
		k     Key
		data  []byte
		ok    bool
	}{
		{"file", FsTreeObjectid, Key{257, InodeItemKey, 0}, inode(abi.S_IFREG|0o644, 1, 5), true},
		{"no type", FsTreeObjectid, Key{257, InodeItemKey, 0}, inode(0o644, 1, 5), false},
		{"dir with two links", FsTreeObjectid, Key{257, InodeItemKey, 0}, inode(abi.S_IFDIR|0o755, 2, 5), false},
		{"generation ahead", FsTreeObjectid, Key{257, InodeItemKey, 0}, inode(abi.S_IFREG|0o644, 1, 12), false},
		{"log generation", FsTreeObjectid, Key{257, InodeItemKey, 0}, inode(abi.S_IFREG|0o644, 1, 11), true},
		{"inode 5", FsTreeObjectid, Key{5, InodeItemKey, 0}, inode(abi.S_IFREG|0o644, 1, 5), false},
		{"block group", ExtentTreeObjectid, Key{1 << 20, BlockGroupItemKey, 8 << 20}, bg(4096, BlockGroupData), true},
		{"block group overused", ExtentTreeObjectid, Key{1 << 20, BlockGroupItemKey, 8 << 20}, bg(9<<20, BlockGroupData), false},
		{"block group two profiles", ExtentTreeObjectid, Key{1 << 20, BlockGroupItemKey, 8 << 20}, bg(0, BlockGroupData|BlockGroupDUP|BlockGroupRAID0), false},
		{"csum item", CsumTreeObjectid, Key{ExtentCsumObjectid, ExtentCsumKey, 1 << 20}, make([]byte, 8), true},
		{"csum item cut", CsumTreeObjectid, Key{ExtentCsumObjectid, ExtentCsumKey, 1 << 20}, make([]byte, 6), false},
	} {
		err := leafWith(tc.owner, tc.k, tc.data).CheckItems(c)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
		if err != nil && !errors.Is(err, abi.EUCLEAN) {
			t.Errorf("%s: %v, want EUCLEAN", tc.name, err)
		}
	}
	// A keyed data back reference's offset is its hash: the key
	// (12648448 EXTENT_DATA_REF 1007496934324996751) of root 5, inode
	// 257, offset 540672 in btrfs-progs' fsck-tests/020 keyed_data_ref
	// image, as dump-tree shows it.
	if h := DataRefHash(5, 257, 540672); h != 1007496934324996751 {
		t.Errorf("DataRefHash: %d", h)
	}
	ref := make([]byte, 28)
	le.PutUint64(ref, 5)
	le.PutUint64(ref[8:], 257)
	le.PutUint64(ref[16:], 540672)
	le.PutUint32(ref[24:], 1)
	for _, off := range []uint64{1007496934324996751, 1007496934324996752} {
		err := leafWith(ExtentTreeObjectid, Key{12648448, ExtentDataRefKey, off}, ref).CheckItems(c)
		if (err == nil) != (off == 1007496934324996751) {
			t.Errorf("data ref keyed %d: %v", off, err)
		}
	}
	// Inline data refs go by hash, descending (check_extent_item).
	inlineRef := func(off uint64) []byte {
		b := make([]byte, 29)
		b[0] = ExtentDataRefKey
		le.PutUint64(b[1:], 5)
		le.PutUint64(b[9:], 257)
		le.PutUint64(b[17:], off)
		le.PutUint32(b[25:], 1)
		return b
	}
	a, b := inlineRef(0), inlineRef(4096)
	if DataRefHash(5, 257, 0) < DataRefHash(5, 257, 4096) {
		a, b = b, a
	}
	for _, tc := range []struct {
		refs [][]byte
		ok   bool
	}{{[][]byte{a, b}, true}, {[][]byte{b, a}, false}} {
		item := make([]byte, 24)
		le.PutUint64(item, 2)
		le.PutUint64(item[8:], 5)
		le.PutUint64(item[16:], ExtentFlagData)
		for _, r := range tc.refs {
			item = append(item, r...)
		}
		err := leafWith(ExtentTreeObjectid, Key{12648448, ExtentItemKey, 4096}, item).CheckItems(c)
		if (err == nil) != tc.ok {
			t.Errorf("inline refs in order %v: %v", tc.ok, err)
		}
	}
	// A squota owner ref (the subvolume that made the extent) before
	// a data ref of one reference is no reference itself: refs 1, as
	// Linux writes it.
	owner := make([]byte, 9)
	owner[0] = ExtentOwnerRefKey
	le.PutUint64(owner[1:], 5)
	item := make([]byte, 24)
	le.PutUint64(item, 1)
	le.PutUint64(item[8:], 5)
	le.PutUint64(item[16:], ExtentFlagData)
	item = append(append(item, owner...), inlineRef(0)...)
	if err := leafWith(ExtentTreeObjectid, Key{12648448, ExtentItemKey, 4096}, item).CheckItems(c); err != nil {
		t.Errorf("owner ref: %v", err)
	}
}
