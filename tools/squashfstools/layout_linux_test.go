package squashfstools_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/format/squashfs"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/tools/squashfstools"
)

// image is an image read with format/squashfs's decoders alone, for
// comparing layouts: its superblock and its metadata read through
// references.
type image struct {
	t    *testing.T
	b    []byte
	sb   *squashfs.Superblock
	d    squashfs.Decompressor
	opts []byte
}

func openImage(t *testing.T, path string) *image {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := squashfs.DecodeSuperblock(b)
	if err != nil {
		t.Fatal(err)
	}
	im := &image{t: t, b: b, sb: sb}
	if sb.Flags&squashfs.FlagCompOpt != 0 {
		size, _, err := squashfs.DecodeMetadataHeader(b[squashfs.SuperblockSize:])
		if err != nil {
			t.Fatal(err)
		}
		im.opts = b[squashfs.SuperblockSize+2 : squashfs.SuperblockSize+2+size]
	}
	if im.d, err = squashfs.NewDecompressor(sb.Compression, im.opts, sb.BlockSize); err != nil {
		t.Fatal(err)
	}
	return im
}

// meta returns the decompressed metadata from ref on in the table at
// start, n bytes at least (or to the table's end).
func (im *image) meta(start uint64, ref squashfs.Ref, n int) []byte {
	var out []byte
	pos := start + ref.Block()
	buf := make([]byte, squashfs.MetadataSize)
	for len(out) < ref.Offset()+n && pos < uint64(len(im.b)) {
		size, compressed, err := squashfs.DecodeMetadataHeader(im.b[pos:])
		if err != nil || pos+2+uint64(size) > uint64(len(im.b)) {
			// Past the table's end: what was asked for is an
			// upper bound.
			break
		}
		data := im.b[pos+2 : pos+2+uint64(size)]
		if compressed {
			k, err := im.d.Decompress(buf, data)
			if err != nil {
				if len(out) > ref.Offset() {
					break // past the table's end, as above
				}
				im.t.Fatalf("metadata at %d: %v", pos, err)
			}
			data = buf[:k]
		}
		out = append(out, data...)
		pos += 2 + uint64(size)
	}
	return out[ref.Offset():]
}

// tableEntry returns entry n of a lookup table (its index at start).
func (im *image) tableEntry(start uint64, n uint64, size int) []byte {
	slot, off := squashfs.TableRef(n, size)
	block := le64(im.b[start+8*slot:])
	return im.meta(block, squashfs.MakeRef(0, uint16(off)), size)[:size]
}

func le64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// inode decodes the inode at ref and returns it with its block count.
func (im *image) inode(ref squashfs.Ref) *squashfs.Inode {
	r := bytes.NewReader(im.meta(im.sb.InodeTableStart, ref, 4096+64))
	i, err := squashfs.DecodeInode(r)
	if err != nil {
		im.t.Fatalf("inode at %#x: %v", ref, err)
	}
	return i
}

// layout describes the image's tree as its metadata has it, one line
// per entry: the inode's fields that do not depend on where data went
// (type, number, links, parent, sizes, whether in a fragment, owners,
// xattrs, index entries) and, per directory, its listing's headers.
func (im *image) layout() []string {
	var lines []string
	ids := func(i uint16) uint32 {
		return uint32(le64(append(im.tableEntry(im.sb.IDTableStart, uint64(i), 4), 0, 0, 0, 0)))
	}
	xattrs := func(x uint32) string {
		if x == squashfs.InvalidXattr {
			return "-"
		}
		b := im.b[im.sb.XattrIDTableStart:]
		tab, _ := squashfs.DecodeXattrIDTable(b)
		id, _ := squashfs.DecodeXattrID(im.tableEntry(im.sb.XattrIDTableStart+squashfs.XattrIDTableSize, uint64(x), squashfs.XattrIDEntrySize))
		r := bytes.NewReader(im.meta(tab.XattrTableStart, id.Xattr, int(id.Size)+64*int(id.Count)))
		var kv []string
		name := make([]byte, 256)
		for range id.Count {
			k, err := squashfs.DecodeXattrKey(r, name)
			if err != nil {
				im.t.Fatal(err)
			}
			vs, _ := squashfs.DecodeXattrValueSize(r)
			v := make([]byte, min(int(vs), r.Len()))
			r.Read(v)
			if k.Type&squashfs.XattrValueOOL != 0 {
				ool, _ := squashfs.DecodeXattrOOL(v)
				kv = append(kv, fmt.Sprintf("%d:%s:@%#x", k.Type, k.Name, ool))
				continue
			}
			kv = append(kv, fmt.Sprintf("%d:%s:%d", k.Type, k.Name, vs))
		}
		// Sorted: the tar holds the names sorted, mksquashfs keeps
		// the order llistxattr gives on the host.
		slices.Sort(kv)
		return fmt.Sprintf("id %d@%#x count %d size %d [%s]", x, id.Xattr, id.Count, id.Size, strings.Join(kv, " "))
	}
	var walk func(path string, ref squashfs.Ref)
	walk = func(path string, ref squashfs.Ref) {
		i := im.inode(ref)
		frag := i.Fragment != squashfs.InvalidFrag
		mtime := i.Mtime
		if mtime >= 1<<31 {
			// Before 1970: mksquashfs wraps the time around (Linux
			// shows a date in 2106), Mkfs stores 0 and says so.
			mtime = 0
		}
		lines = append(lines, fmt.Sprintf("%s: type %d mode %o uid %d gid %d mtime %d ino %d nlink %d size %d frag %v sparse %d parent %d index %d xattr %s",
			path, i.Type, i.Mode, ids(i.UID), ids(i.GUID), mtime, i.InodeNumber, i.Nlink, i.FileSize, frag, i.Sparse, i.ParentInode, i.IndexCount, xattrs(i.Xattr)))
		if i.BasicType() != squashfs.TypeDir {
			return
		}
		listing := im.meta(im.sb.DirectoryTableStart, squashfs.MakeRef(i.StartBlock, uint16(i.Offset)), int(i.FileSize))
		r := bytes.NewReader(listing[:i.FileSize-3])
		name := make([]byte, 256)
		var heads []string
		for r.Len() > 0 {
			var p [squashfs.DirHeaderSize]byte
			r.Read(p[:])
			h, err := squashfs.DecodeDirHeader(p[:])
			if err != nil {
				im.t.Fatal(err)
			}
			heads = append(heads, fmt.Sprintf("%d@%d", h.Count, h.InodeNumber))
			for range h.Count {
				e, err := squashfs.DecodeDirEntry(r, name)
				if err != nil {
					im.t.Fatal(err)
				}
				walk(path+"/"+string(e.Name), squashfs.MakeRef(uint64(h.StartBlock), e.Offset))
			}
		}
		lines = append(lines, path+": headers "+strings.Join(heads, " "))
	}
	walk(".", squashfs.Ref(im.sb.RootInode))
	sb := *im.sb
	lines = append(lines, fmt.Sprintf("superblock: inodes %d block %d comp %d flags %#x ids %d fragments>0 %v xattrs %v export %v opts %x",
		sb.Inodes, sb.BlockSize, sb.Compression, sb.Flags, sb.NoIDs, sb.Fragments > 0, sb.XattrIDTableStart != squashfs.InvalidBlk,
		sb.LookupTableStart != squashfs.InvalidBlk, im.opts))
	return lines
}

// TestLayoutAsMksquashfs makes an image of a tree with mksquashfs and
// with Mkfs from the tree's tar, and compares their metadata entry by
// entry: inode numbers, types (basic or extended), links, parents,
// sizes, fragments, sparse bytes, owners through the id table, xattr
// records (out of line where mksquashfs puts them out of line), index
// entries, directory headers, the superblock's counts and flags.
func TestLayoutAsMksquashfs(t *testing.T) {
	testutil.Need(t, "mksquashfs", "tar")
	src, _ := testutil.NewTree(t)
	// What a tar cannot carry as the directory has it: sockets, and
	// the FIFO's second name.
	filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type()&os.ModeSocket != 0 || strings.HasSuffix(p, "hard/fifo-link") {
			os.Remove(p)
		}
		return nil
	})
	// ACLs are not stored by either; mksquashfs warns of them.
	testutil.Run(t, "setfacl", "-R", "-b", src)
	if err := testutil.MakeSquashfsExtras(src); err != nil {
		t.Fatal(err)
	}
	tarPath := filepath.Join(t.TempDir(), "src.tar")
	testutil.Run(t, "tar", "--format=pax", "-S", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-cf", tarPath, "-C", src, ".")
	for _, c := range []struct {
		name string
		args []string
		p    squashfstools.Params
	}{
		{"default", nil, squashfstools.Params{}},
		{"4k-no-dups", []string{"-b", "4K", "-no-duplicates"}, squashfstools.Params{BlockSize: 4096, NoDuplicates: true}},
		{"always-frags-zstd", []string{"-always-use-fragments", "-comp", "zstd", "-Xcompression-level", "3"},
			squashfstools.Params{AlwaysFragments: true, Compressor: squashfs.CompZstd, CompressorOptions: squashfs.CompressorOptions{Level: 3}}},
		{"lz4hc-no-frags-no-exports", []string{"-comp", "lz4", "-Xhc", "-no-fragments", "-no-exports"},
			squashfstools.Params{Compressor: squashfs.CompLz4, CompressorOptions: squashfs.CompressorOptions{HC: true}, NoFragments: true, NoExports: true}},
		{"no-xattrs-all-root", []string{"-no-xattrs", "-all-root"}, squashfstools.Params{NoXattrs: true, AllRoot: true}},
		{"uncompressed-lzo", []string{"-noI", "-noD", "-noF", "-noX", "-comp", "lzo"}, squashfstools.Params{Compressor: squashfs.CompLzo,
			NoInodeCompression: true, NoDataCompression: true, NoFragmentCompression: true, NoXattrCompression: true}},
		{"xz-1m", []string{"-comp", "xz", "-b", "1M"}, squashfstools.Params{Compressor: squashfs.CompXz, BlockSize: 1 << 20}},
	} {
		t.Run(c.name, func(t *testing.T) {
			theirs := openImage(t, testutil.SquashfsImage(t, src, c.args...)).layout()
			img, _ := mkfs(t, tarPath, c.p)
			ours := openImage(t, img).layout()
			diffs := 0
			for i := range max(len(theirs), len(ours)) {
				a, b := "", ""
				if i < len(theirs) {
					a = theirs[i]
				}
				if i < len(ours) {
					b = ours[i]
				}
				if a != b {
					if diffs++; diffs <= 20 {
						t.Errorf("mksquashfs: %s\n          ours: %s", a, b)
					}
				}
			}
			t.Logf("%d lines compared, %d differ", max(len(theirs), len(ours)), diffs)
		})
	}
}
