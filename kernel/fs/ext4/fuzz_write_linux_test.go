package ext4

import (
	"bytes"
	"strings"
	"testing"

	disk "github.com/lklimg/lklimg/format/ext4"
)

// Fuzz targets of the write side's encoders: whatever a damaged block
// holds, adding and removing entries never panics, and a block they
// accept stays well formed.

func FuzzDirWrite(f *testing.F) {
	f.Add(dirBlockSeed(1024, ".", "..", "file"), "new", uint32(12))
	f.Add(dirBlockSeed(1024, "a", strings.Repeat("x", 255)), strings.Repeat("y", 255), uint32(99))
	f.Add(make([]byte, 1024), "z", uint32(1))
	f.Fuzz(func(t *testing.T, b []byte, name string, ino uint32) {
		fs := fakeFS(t, make([]byte, 4096))
		if len(name) == 0 || len(name) > 255 || ino == 0 {
			return
		}
		blk := make([]byte, fs.BlockSize)
		copy(blk, b)
		fs.initDirTail(blk) // the tail is checked before entries are
		filetype := fs.Super.HasIncompat(disk.IncompatFiletype)
		ok, err := fs.insertDirent(blk, []byte(name), ino, 1)
		if err != nil || !ok {
			return
		}
		at := -1
		if err := disk.ParseDirBlock(blk[:fs.dirUsable()], fs.BlockSize, filetype, func(off int, d disk.Dirent) bool {
			if string(d.Name) == name && d.Inode == ino {
				at = off
			}
			return true
		}); err != nil || at < 0 {
			t.Fatalf("after insert: entry at %d, %v", at, err)
		}
		if err := fs.removeDirent(blk, at); err != nil {
			t.Fatalf("remove: %v", err)
		}
		if err := disk.ParseDirBlock(blk[:fs.dirUsable()], fs.BlockSize, filetype, func(off int, d disk.Dirent) bool {
			if off == at && d.Inode != 0 {
				t.Fatalf("entry at %d still used", at)
			}
			return true
		}); err != nil {
			t.Fatalf("after remove: %v", err)
		}
	})
}

func FuzzACLXattr(f *testing.F) {
	f.Add(aclXattr([3]uint32{aclUserObj, 6, aclUndefinedID}, [3]uint32{aclUser, 4, 1000},
		[3]uint32{aclGroupObj, 4, aclUndefinedID}, [3]uint32{aclMask, 4, aclUndefinedID}, [3]uint32{aclOther, 0, aclUndefinedID}))
	f.Add(aclXattr([3]uint32{aclUserObj, 7, 0}, [3]uint32{aclGroupObj, 5, 0}, [3]uint32{aclOther, 4, 0}))
	f.Add([]byte{2, 0, 0, 0})
	f.Fuzz(func(t *testing.T, v []byte) {
		ents, err := parseACLXattr(v)
		if err != nil || ents == nil {
			return
		}
		aclEquivMode(ents, 0o644)
		back, err := aclToXattr(aclToDisk(ents))
		if err != nil {
			t.Fatalf("round trip: %v", err)
		}
		// The ids of the entries without one come back undefined.
		want := bytes.Clone(v)
		for o := posixACLHeaderSize; o+posixACLEntrySize <= len(want); o += posixACLEntrySize {
			if tag := le.Uint16(want[o:]); tag != aclUser && tag != aclGroup {
				le.PutUint32(want[o+4:], aclUndefinedID)
			}
		}
		if !bytes.Equal(back, want) {
			t.Fatalf("round trip %x, want %x", back, want)
		}
	})
}

// FuzzInlineDir: whatever an inline directory's data hold, adding a name
// to its areas, removing it and converting the data to a block never
// panic; data they accept stay well formed, and the block made from them
// holds ".", ".." and every entry.
func FuzzInlineDir(f *testing.F) {
	seed := make([]byte, disk.IBlockLen+68)
	le.PutUint32(seed, 2)
	le.PutUint16(seed[disk.InlineDotdotSize+4:], disk.IBlockLen-disk.InlineDotdotSize)
	le.PutUint16(seed[disk.IBlockLen+4:], 68)
	f.Add(seed, "name", uint32(12))
	f.Add(seed[:disk.IBlockLen], strings.Repeat("n", 60), uint32(13))
	f.Add(make([]byte, disk.IBlockLen), "z", uint32(1))
	f.Fuzz(func(t *testing.T, buf []byte, name string, ino uint32) {
		fs := fakeFS(t, make([]byte, 4096))
		if len(name) == 0 || len(name) > 255 || ino == 0 || len(buf) < disk.IBlockLen || len(buf) > 1024 {
			return
		}
		filetype := fs.Super.HasIncompat(disk.IncompatFiletype)
		for _, r := range inlineRegions(buf) {
			if ok, err := fs.insertDirentIn(r, []byte(name), ino, 1); err != nil || !ok {
				continue
			}
			at := -1
			if err := disk.ParseDirBlock(r, fs.BlockSize, filetype, func(off int, d disk.Dirent) bool {
				if string(d.Name) == name && d.Inode == ino && at < 0 {
					at = off
				}
				return true
			}); err != nil || at < 0 {
				t.Fatalf("after insert: entry at %d, %v", at, err)
			}
			blk := make([]byte, fs.BlockSize)
			if err := fs.convertInlineDir(blk, 11, buf); err == nil {
				names := map[string]bool{}
				if err := disk.ParseDirBlock(blk[:fs.dirUsable()], fs.BlockSize, filetype, func(off int, d disk.Dirent) bool {
					if d.Inode != 0 || disk.IsDot(d.Name) { // ".." is whatever the parent field held
						names[string(d.Name)] = true
					}
					return true
				}); err != nil || !names["."] || !names[".."] || !names[name] {
					t.Fatalf("converted block: %v, names %v", err, names)
				}
			}
			if err := fs.removeDirentIn(r, at); err != nil {
				t.Fatalf("remove: %v", err)
			}
			break
		}
	})
}
