package ext4

import (
	"bytes"
	"fmt"
	"os"
	"testing"
)

// TestNewInodeSkipsFreeBlock: a new inode whose inode table block holds
// no other inode in use starts from a zeroed block, not read from the
// disk, as __ext4_get_inode_loc skips the read ("all other inodes are
// free"): junk left in a free slot of that block is gone afterwards, and
// the image stays clean. Once the block holds an inode in use, it is read
// for the next new inode: junk then put in a free slot stays.
func TestNewInodeSkipsFreeBlock(t *testing.T) {
	for _, args := range [][]string{{"-b", "4096", "-I", "256"}, {"-b", "1024", "-I", "128"}} {
		t.Run(fmt.Sprint(args), func(t *testing.T) {
			img := mkfsTree(t, "16M", args, nil)
			f, _ := mountImageRW(t, img)
			table := int64(f.Groups[0].BgInodeTable) << f.BlockBits
			isize, per := int64(f.InodeSize), uint32(f.BlockSize/f.InodeSize)
			first := f.Super.SFirstIno
			umountRW(t, f)

			// The first table block past the reserved inodes and
			// lost+found: its first inode (target) is the next one
			// handed out once the inodes before it are.
			target := (first+per)/per*per + 1
			junk := bytes.Repeat([]byte{0xA5}, int(isize))
			slot := func(ino uint32) int64 { return table + int64(ino-1)*isize }
			poke := func(ino uint32) {
				fh, err := os.OpenFile(img, os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer fh.Close()
				if _, err := fh.WriteAt(junk, slot(ino)); err != nil {
					t.Fatal(err)
				}
			}
			read := func(ino uint32) []byte {
				b := make([]byte, isize)
				fh, err := os.Open(img)
				if err != nil {
					t.Fatal(err)
				}
				defer fh.Close()
				if _, err := fh.ReadAt(b, slot(ino)); err != nil {
					t.Fatal(err)
				}
				return b
			}
			poke(target + 1) // free, in a block with none in use

			f, _ = mountImageRW(t, img)
			root := rwDir(t, f, "")
			var last uint32
			for i := 0; last < target; i++ {
				ip, err := root.Create(nowCtx, fmt.Sprintf("f%d", i), 0o644)
				if err != nil {
					t.Fatal(err)
				}
				last = uint32(ip.Ino())
			}
			umountRW(t, f)
			if last != target {
				t.Fatalf("the files took inodes up to %d, want %d: the test misses the block", last, target)
			}
			if got := read(target + 1); !bytes.Equal(got, make([]byte, isize)) {
				t.Errorf("free inode %d, beside new inode %d in a block of free inodes: % x..., want zeros (the block not read)", target+1, target, got[:8])
			}
			e2fsckClean(t, img)

			poke(target + 3) // free, in the block now holding target
			f, _ = mountImageRW(t, img)
			ip, err := rwDir(t, f, "").Create(nowCtx, "next", 0o644)
			if err != nil {
				t.Fatal(err)
			}
			if ip.Ino() != uint64(target+1) {
				t.Fatalf("next file: inode %d, want %d", ip.Ino(), target+1)
			}
			umountRW(t, f)
			if got := read(target + 3); !bytes.Equal(got, junk) {
				t.Errorf("free inode %d in a block with inodes in use: % x..., want its bytes kept (the block read)", target+3, got[:8])
			}
			e2fsckClean(t, img)
		})
	}
}
