package squashfs

import (
	"bytes"
	"errors"
	"github.com/lklimg/lklimg/internal/lzo"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// The decoders' fuzz targets, seeded with the structures of small images
// mksquashfs makes (testutil.SmallSquashfs), uncompressed (-noI -noD -noF
// -noX) so that the inode and directory tables are there to cut seeds
// from, and LZO-compressed for the LZO decoder. Each target checks that
// a decoder fails with an errno, never a panic, and keeps within its
// bounds.

// seedImage is the uncompressed image and its superblock.
func seedImage(f *testing.F, args ...string) ([]byte, *Superblock) {
	img := testutil.SmallSquashfs(f, args...)
	s, err := DecodeSuperblock(img)
	if err != nil {
		f.Fatal(err)
	}
	return img, s
}

// tableBytes returns the decompressed bytes of the uncompressed metadata
// blocks from start to end.
func tableBytes(img []byte, start, end uint64) []byte {
	var out []byte
	for pos := start; pos+2 <= end && pos+2 <= uint64(len(img)); {
		size, _, err := DecodeMetadataHeader(img[pos:])
		if err != nil || pos+2+uint64(size) > uint64(len(img)) {
			break
		}
		out = append(out, img[pos+2:pos+2+uint64(size)]...)
		pos += 2 + uint64(size)
	}
	return out
}

// mustErrno fails unless err is nil or carries an errno.
func mustErrno(t *testing.T, err error) {
	var e *abi.Error
	var n abi.Errno
	if err != nil && !errors.As(err, &e) && !errors.As(err, &n) {
		t.Fatalf("error without an errno: %v", err)
	}
}

func FuzzSuperblock(f *testing.F) {
	img, _ := seedImage(f)
	f.Add(img[:SuperblockSize])
	f.Fuzz(func(t *testing.T, p []byte) {
		s, err := DecodeSuperblock(p)
		mustErrno(t, err)
		if err == nil && (s.BlockSize < MinBlockSize || s.BlockSize > MaxBlockSize || s.InodeTableStart >= s.DirectoryTableStart) {
			t.Fatalf("accepted %+v", s)
		}
	})
}

func FuzzMetadataBlock(f *testing.F) {
	img, s := seedImage(f)
	f.Add(img[s.InodeTableStart:s.DirectoryTableStart])
	lzoImg, ls := seedImage(f, "-comp", "lzo")
	f.Add(lzoImg[ls.InodeTableStart:ls.DirectoryTableStart])
	f.Fuzz(func(t *testing.T, p []byte) {
		size, compressed, err := DecodeMetadataHeader(p)
		mustErrno(t, err)
		if err != nil {
			return
		}
		if size < 1 || size > MetadataSize {
			t.Fatalf("size %d", size)
		}
		if compressed && size <= len(p)-2 {
			dst := make([]byte, MetadataSize)
			n, err := lzo.Decompress(dst, p[2:2+size])
			if err == nil && n > MetadataSize {
				t.Fatalf("%d bytes", n)
			}
		}
	})
}

func FuzzInode(f *testing.F) {
	img, s := seedImage(f, "-noI", "-noD", "-noF", "-noX")
	inodes := tableBytes(img, s.InodeTableStart, s.DirectoryTableStart)
	// Every inode's start, found by decoding them one after another.
	r := bytes.NewReader(inodes)
	for r.Len() > 0 {
		at := len(inodes) - r.Len()
		i, err := DecodeInode(r)
		if err != nil {
			break
		}
		end := len(inodes) - r.Len()
		if i.BasicType() == TypeReg {
			end += int(i.Blocks(s.BlockLog)) * 4
			r.Seek(int64(end), 0)
		}
		f.Add(inodes[at:end])
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		i, err := DecodeInode(bytes.NewReader(p))
		mustErrno(t, err)
		if err == nil && len(i.Target) > MaxSymlink {
			t.Fatalf("target of %d bytes", len(i.Target))
		}
	})
}

func FuzzDirectory(f *testing.F) {
	img, s := seedImage(f, "-noI", "-noD", "-noF", "-noX")
	dirs := tableBytes(img, s.DirectoryTableStart, s.FragmentTableStart)
	f.Add(dirs)
	f.Fuzz(func(t *testing.T, p []byte) {
		r := bytes.NewReader(p)
		var name [NameLen]byte
		for r.Len() >= DirHeaderSize {
			var hb [DirHeaderSize]byte
			r.Read(hb[:])
			h, err := DecodeDirHeader(hb[:])
			mustErrno(t, err)
			if err != nil {
				return
			}
			for range h.Count {
				e, err := DecodeDirEntry(r, name[:])
				mustErrno(t, err)
				if err != nil {
					return
				}
				if len(e.Name) == 0 || len(e.Name) > NameLen {
					t.Fatalf("name of %d bytes", len(e.Name))
				}
			}
		}
		x, err := DecodeDirIndex(bytes.NewReader(p), name[:])
		mustErrno(t, err)
		if err == nil && len(x.Name) > NameLen {
			t.Fatalf("index name of %d bytes", len(x.Name))
		}
	})
}

// FuzzLZO decodes LZO1X streams: the metadata and data blocks of an
// LZO image as seeds (the inode and directory tables). Output never passes dst; a stream that decodes
// decodes the same into a larger buffer.
func FuzzLZO(f *testing.F) {
	img, s := seedImage(f, "-comp", "lzo")
	for pos := s.InodeTableStart; pos < s.FragmentTableStart; {
		size, compressed, err := DecodeMetadataHeader(img[pos:])
		if err != nil || pos+2+uint64(size) > uint64(len(img)) {
			break
		}
		if compressed {
			f.Add(img[pos+2 : pos+2+uint64(size)])
		}
		pos += 2 + uint64(size)
	}
	f.Add([]byte{0x11, 0, 0})
	f.Fuzz(func(t *testing.T, p []byte) {
		dst := make([]byte, 4096)
		n, err := lzo.Decompress(dst, p)
		if n > len(dst) {
			t.Fatalf("%d bytes", n)
		}
		if err != nil {
			return
		}
		big := make([]byte, 8192)
		m, err := lzo.Decompress(big, p)
		if err != nil || m != n || !bytes.Equal(big[:m], dst[:n]) {
			t.Fatalf("decodes differently into a larger buffer: %d %d %v", n, m, err)
		}
	})
}

// FuzzDecompressors runs each compressor's Decompressor on the input:
// errors carry an errno, output stays within dst.
func FuzzDecompressors(f *testing.F) {
	for _, c := range []string{"gzip", "xz", "lzma", "lz4", "zstd", "lzo"} {
		img, s := seedImage(f, "-comp", c)
		if size, compressed, err := DecodeMetadataHeader(img[s.InodeTableStart:]); err == nil && compressed {
			f.Add(uint8(s.Compression), img[s.InodeTableStart+2:s.InodeTableStart+2+uint64(size)])
		}
	}
	f.Fuzz(func(t *testing.T, id uint8, p []byte) {
		d, err := NewDecompressor(uint16(id%7), nil, MinBlockSize)
		if err != nil {
			return
		}
		dst := make([]byte, MetadataSize)
		n, err := d.Decompress(dst, p)
		mustErrno(t, err)
		if n > len(dst) {
			t.Fatalf("%d bytes", n)
		}
	})
}

// FuzzBCJX86 undoes the BCJ filters on any bytes: never a panic, and
// for x86, bytes without an E8 or E9 left alone.
func FuzzBCJX86(f *testing.F) {
	f.Add([]byte{0xe8, 0, 0, 0, 0, 0xe9, 0x10, 0, 0, 0xff, 0xe8, 0xe8, 1, 2, 3, 4})
	f.Add(bytes.Repeat([]byte{0xe8, 0xff}, 40))
	f.Fuzz(func(t *testing.T, p []byte) {
		for _, d := range []func([]byte){BCJARMDecode, BCJARMThumbDecode, BCJPowerPCDecode, BCJSPARCDecode} {
			d(append([]byte(nil), p...))
		}
		b := append([]byte(nil), p...)
		BCJX86Decode(b)
		if bytes.IndexByte(p, 0xe8) < 0 && bytes.IndexByte(p, 0xe9) < 0 && !bytes.Equal(b, p) {
			t.Fatal("changed bytes without a call or jump")
		}
	})
}
