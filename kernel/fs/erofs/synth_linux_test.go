package erofs_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz/lzma"
	"golang.org/x/sys/unix"

	disk "github.com/lklimg/lklimg/format/erofs"
	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// mkfs.erofs 1.5, the oracle tool here, makes LZ4 only. Images with the
// other algorithms the host kernel reads (DEFLATE, Zstandard, MicroLZMA)
// are written by the test itself, as small as the format allows: a root
// directory inline after its inode, compact inodes of compressed files
// with full lcluster indexes, each 4 KiB lcluster its own extent in a
// one-block pcluster (the stream at its end after zeros, 0padding, or
// the data as is, a PLAIN lcluster, when it does not shrink), and the
// compression configurations after the superblock (COMPR_CFGS). The host
// kernel mounting them is the judge: what it shows, and what the library
// kernel shows, must be the files given.

const synthBlock = 4096

// synthFile is a file of a synthetic image and its algorithm; frag puts
// its data in the packed inode: all of it (fragWhole) or its last
// lcluster (fragTail).
type synthFile struct {
	name string
	alg  int
	data []byte
	frag int
	// flat stores the file uncompressed (FLAT_PLAIN); nlink1 marks its
	// compact inode EROFS_I_NLINK_1_BIT (i_nb then not the link count).
	flat, nlink1 bool
	// nullAddr gives a flat file of zeros no block: EROFS_NULL_ADDR.
	nullAddr bool
	// size and chunks, when size is set, make a chunk-based file of
	// that size (an extended inode) of chunkBits-sized chunks: those of
	// chunks (by index) hold their bytes, the others are holes.
	size      int64
	chunkBits uint
	chunks    map[int64][]byte
	// extents, when set, cut the file into extents of its own (each
	// ending where the next starts, the last at the end of the data),
	// an extent's head anywhere in its lcluster: compressed, or plain
	// (stored as is: interlaced, or shifted when that is not set).
	extents []synthExtent
	// alg2, when head2 is set, compresses the odd lclusters (HEAD2).
	alg2  int
	head2 bool
	// interlaced marks the file's PLAIN lclusters interlaced.
	interlaced bool
	// partialOf names a file whose first pcluster this one's only
	// lcluster refers to, as a prefix (dedupe: PARTIAL_REF).
	partialOf string
	// xattrs are inline entries: a name index (bit 7: a long prefix),
	// the name after the prefix, the value.
	xattrs []synthXattr
}

type synthExtent struct {
	end   int
	plain bool
}

type synthXattr struct {
	index       uint8
	name, value string
}

// xattrBody returns the inline xattr body of xs (no shared ones), and
// its i_xattr_icount.
func xattrBody(xs []synthXattr) ([]byte, uint16) {
	if len(xs) == 0 {
		return nil, 0
	}
	b := make([]byte, disk.XattrIbodyHeaderSize)
	for _, x := range xs {
		e := []byte{byte(len(x.name)), x.index, byte(len(x.value)), byte(len(x.value) >> 8)}
		e = append(append(e, x.name...), x.value...)
		b = append(b, e...)
		b = append(b, make([]byte, -len(b)&3)...)
	}
	return b, uint16((len(b)-disk.XattrIbodyHeaderSize)/4 + 1)
}

// synthPrefixes are the long xattr name prefixes of every synthetic
// image, kept in the packed inode, or in block 0 at synthPrefixStart
// when Linux has none (no FRAGMENTS) and reads them from the metadata.
var synthPrefixes = []struct {
	base  uint8
	infix string
}{{disk.XattrIndexUser, "long.prefix."}, {disk.XattrIndexTrusted, "overlay."}}

const synthPrefixStart = 2048

const (
	fragNone = iota
	fragWhole
	fragTail
)

// compressChunk encodes one lcluster's data with alg; nil when it does
// not fit a block with room to spare.
func compressChunk(t testing.TB, alg int, data []byte, bs int) []byte {
	var buf bytes.Buffer
	switch alg {
	case disk.CompressionDeflate:
		w, err := flate.NewWriter(&buf, 9)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
	case disk.CompressionZstd:
		enc, err := zstd.NewWriter(nil, zstd.WithWindowSize(1<<17), zstd.WithEncoderCRC(false), zstd.WithSingleSegment(true))
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(enc.EncodeAll(data, nil))
	case disk.CompressionLZMA:
		w, err := lzma.WriterConfig{DictCap: 1 << 16, Size: int64(len(data))}.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		// MicroLZMA: no header; the first byte, the range coder's
		// zero, holds the properties inverted.
		b := buf.Bytes()
		props := b[0]
		b = b[lzma.HeaderLen:]
		if b[0] != 0 {
			t.Fatalf("lzma stream starts with %#x", b[0])
		}
		b[0] = ^props
		buf = *bytes.NewBuffer(b)
	default:
		t.Fatalf("algorithm %d", alg)
	}
	// A stream must not start with a zero byte, which 0padding would
	// take for padding (a deflate stored block does).
	if buf.Len() >= bs-16 || buf.Bytes()[0] == 0 {
		return nil
	}
	return buf.Bytes()
}

// synthImage writes an image of files (in the root directory) with
// blocks of bs bytes, its superblock checksummed when csum is set.
func synthImage(t testing.TB, bs int, csum bool, files []synthFile) []byte {
	slices.SortFunc(files, func(a, b synthFile) int { return strings.Compare(a.name, b.name) })
	le := binary.LittleEndian
	algs := uint16(0)
	for _, f := range files {
		if f.flat || f.size > 0 {
			continue
		}
		algs |= 1 << f.alg
		if f.head2 {
			algs |= 1 << f.alg2
		}
	}
	pblk0 := map[string]int{} // the first pcluster of each file written
	// Metadata from block 1 (meta_blkaddr): the root (nid 0) and its
	// entries inline, then each file's inode and indexes, 32-aligned.
	meta := make([]byte, 32)
	names := []string{".", ".."}
	for _, f := range files {
		names = append(names, f.name)
	}
	dirSize := 12 * len(names)
	for _, n := range names {
		dirSize += len(n)
	}
	metaEnd := (32 + dirSize + 31) &^ 31
	nids := make([]uint64, len(files))
	pos := metaEnd
	for i, f := range files {
		nids[i] = uint64(pos / 32)
		n := (len(f.data) + bs - 1) / bs
		xb, _ := xattrBody(f.xattrs)
		if f.flat {
			n = -2 // no map header, no indexes
		}
		if f.size > 0 {
			// An extended inode and the block map.
			n = (int((f.size+1<<f.chunkBits-1)>>f.chunkBits)+1)/2 + 4
		}
		pos += ((32+len(xb)+7)&^7 + 16 + 8*n + 31) &^ 31
	}
	packedNid := uint64(pos / 32)
	pos += 32
	metaBlocks := (pos + bs - 1) / bs
	meta = make([]byte, metaBlocks*bs)
	if 32+dirSize > bs {
		t.Fatalf("a root directory of %d bytes does not fit a block of %d", dirSize, bs)
	}
	// The root: a compact FLAT_INLINE directory.
	le.PutUint16(meta[0:], disk.InodeFlatInline<<1)
	le.PutUint16(meta[4:], 0o40755)
	le.PutUint16(meta[6:], 2)
	le.PutUint32(meta[8:], uint32(dirSize))
	dir := meta[32 : 32+dirSize]
	nameoff := 12 * len(names)
	for i, n := range names {
		nid, ft := uint64(0), uint8(disk.FTDir)
		if i >= 2 {
			nid, ft = nids[i-2], disk.FTRegFile
		}
		le.PutUint64(dir[12*i:], nid)
		le.PutUint16(dir[12*i+8:], uint16(nameoff))
		dir[12*i+10] = ft
		copy(dir[nameoff:], n)
		nameoff += len(n)
	}
	var data, packed []byte
	// The superblock's area (4 KiB, with the configurations and the
	// prefixes) comes first, then the metadata, then the data.
	head := 4096 / bs
	dataStart := head + metaBlocks
	compressed := map[int]int{}
	incompat := uint32(disk.FeatureIncompatZeroPadding)
	if algs != 0 {
		incompat |= disk.FeatureIncompatComprCfgs
	}
	for i, f := range files {
		ip := meta[nids[i]*32:]
		n := (len(f.data) + bs - 1) / bs
		le.PutUint16(ip[0:], disk.InodeCompressedFull<<1)
		le.PutUint16(ip[4:], 0o100644)
		le.PutUint16(ip[6:], 1)
		le.PutUint32(ip[8:], uint32(len(f.data)))
		le.PutUint32(ip[16:], uint32(n))
		le.PutUint32(ip[20:], uint32(nids[i]))
		xb, icount := xattrBody(f.xattrs)
		le.PutUint16(ip[2:], icount)
		copy(ip[32:], xb)
		if f.size > 0 {
			nchunks := (f.size + 1<<f.chunkBits - 1) >> f.chunkBits
			le.PutUint16(ip[0:], disk.InodeChunkBased<<1|1)
			le.PutUint16(ip[2:], 0)
			le.PutUint64(ip[8:], uint64(f.size))
			le.PutUint16(ip[16:], uint16(f.chunkBits-uint(bits.TrailingZeros(uint(bs)))))
			le.PutUint32(ip[44:], 1)
			for c := range nchunks {
				addr := uint32(disk.NullAddr)
				if b, ok := f.chunks[c]; ok {
					addr = uint32(dataStart + len(data)/bs)
					chunk := make([]byte, 1<<f.chunkBits)
					copy(chunk, b)
					data = append(data, chunk...)
				}
				le.PutUint32(ip[64+4*c:], addr)
			}
			continue
		}
		if f.flat {
			le.PutUint16(ip[0:], disk.InodeFlatPlain<<1)
			if f.nlink1 {
				// EROFS_I_NLINK_1_BIT: one link, i_nb free for
				// other uses (48-bit block numbers).
				le.PutUint16(ip[0:], disk.InodeFlatPlain<<1|1<<disk.INlink1Bit)
				le.PutUint16(ip[6:], 0)
			}
			if f.nullAddr {
				le.PutUint32(ip[16:], disk.NullAddr)
				continue
			}
			le.PutUint32(ip[16:], uint32(dataStart+len(data)/bs))
			data = append(data, f.data...)
			data = append(data, make([]byte, -len(data)&(bs-1))...)
			continue
		}
		if len(xb) > 0 {
			// The map header follows the xattrs, 8-aligned.
			ip = ip[(32+len(xb)+7)&^7-32:]
		}
		ip[32+6] = uint8(f.alg) // h_algorithmtype; h_advise 0, lclusters of a block
		if f.head2 {
			ip[32+6] |= uint8(f.alg2) << 4
			incompat |= disk.FeatureIncompatComprHead2
		}
		if f.interlaced {
			le.PutUint16(ip[32+4:], disk.AdviseInterlacedPcluster)
		}
		if len(f.extents) > 0 {
			heads := 0
			headAt := map[int]bool{}
			start := 0
			for e, x := range f.extents {
				hl := start / bs
				idx := ip[48+8*hl:]
				blk := make([]byte, bs)
				part := f.data[start:x.end]
				typ := uint16(disk.LclusterTypeHead1)
				if x.plain {
					typ = disk.LclusterTypePlain
					for i, b := range part {
						if f.interlaced {
							blk[(start+i)%bs] = b
						} else {
							blk[i] = b
						}
					}
				} else if z := compressChunk(t, f.alg, part, bs); z != nil {
					copy(blk[bs-len(z):], z)
					compressed[f.alg]++
				} else {
					t.Fatalf("%s: extent %d does not compress into a block", f.name, e)
				}
				if headAt[hl] || len(part) > bs && x.plain {
					t.Fatalf("%s: extent %d: two heads in lcluster %d, or a plain extent over a block", f.name, e, hl)
				}
				headAt[hl] = true
				le.PutUint16(idx[0:], typ)
				le.PutUint16(idx[2:], uint16(start%bs))
				le.PutUint32(idx[4:], uint32(dataStart+len(data)/bs))
				data = append(data, blk...)
				heads++
				// The lclusters the extent covers past its head:
				// NONHEAD, their distances to it and to the next
				// head (the lcluster where it ends, or past the
				// last).
				next := x.end / bs
				if e+1 == len(f.extents) {
					next = n
				}
				for l := hl + 1; l < next; l++ {
					d := ip[48+8*l:]
					le.PutUint16(d[0:], disk.LclusterTypeNonhead)
					le.PutUint16(d[4:], uint16(l-hl))
					le.PutUint16(d[6:], uint16(next-l))
				}
				start = x.end
			}
			if start != len(f.data) {
				t.Fatalf("%s: extents end at %d, the data at %d", f.name, start, len(f.data))
			}
			le.PutUint32(ip[16:], uint32(heads))
			if f.interlaced {
				le.PutUint16(ip[32+4:], disk.AdviseInterlacedPcluster)
			}
			continue
		}
		if f.partialOf != "" {
			b, ok := pblk0[f.partialOf]
			if !ok || n != 1 {
				t.Fatalf("%s: no pcluster of %s to refer to", f.name, f.partialOf)
			}
			le.PutUint16(ip[48:], disk.LclusterTypeHead1|disk.LiPartialRef)
			le.PutUint32(ip[48+4:], uint32(b))
			le.PutUint32(ip[16:], 1)
			incompat |= disk.FeatureIncompatDedupe
			continue
		}
		if f.frag != fragNone {
			incompat |= disk.FeatureIncompatFragments
		}
		if f.frag == fragWhole {
			// The map header is the fragment's offset with bit 63.
			le.PutUint64(ip[32:], uint64(len(packed))|1<<63)
			le.PutUint32(ip[16:], 0)
			packed = append(packed, f.data...)
			continue
		}
		for l := range n {
			if f.frag == fragTail && l == n-1 {
				// The tail extent: a head whose data is in the
				// packed inode (h_fragmentoff; the index's
				// blkaddr the offset's high half).
				le.PutUint16(ip[32+4:], disk.AdviseFragmentPcluster)
				le.PutUint32(ip[32:], uint32(len(packed)))
				le.PutUint16(ip[48+8*l:], disk.LclusterTypeHead1)
				packed = append(packed, f.data[l*bs:]...)
				le.PutUint32(ip[16:], uint32(n-1))
				break
			}
			chunk := f.data[l*bs : min(len(f.data), (l+1)*bs)]
			blk := make([]byte, bs)
			idx := ip[48+8*l:]
			alg, typ := f.alg, uint16(disk.LclusterTypeHead1)
			if f.head2 && l%2 == 1 {
				alg, typ = f.alg2, disk.LclusterTypeHead2
			}
			if l == 0 {
				pblk0[f.name] = dataStart + len(data)/bs
			}
			if z := compressChunk(t, alg, chunk, bs); z != nil {
				copy(blk[bs-len(z):], z)
				le.PutUint16(idx[0:], typ)
				compressed[alg]++
			} else {
				copy(blk, chunk)
				le.PutUint16(idx[0:], disk.LclusterTypePlain)
			}
			le.PutUint32(idx[4:], uint32(dataStart+len(data)/bs))
			data = append(data, blk...)
		}
	}
	for alg := range disk.CompressionMax {
		if algs&(1<<alg) != 0 && compressed[alg] == 0 {
			t.Fatalf("no lcluster compressed with algorithm %d", alg)
		}
	}
	// The long prefix records (a u16 size, the base index, the infix,
	// 4-aligned): in the packed inode when Linux reads it (FRAGMENTS),
	// else in block 0.
	var prefixes []byte
	for _, p := range synthPrefixes {
		r := []byte{byte(1 + len(p.infix)), 0, p.base}
		prefixes = append(append(prefixes, r...), p.infix...)
		prefixes = append(prefixes, make([]byte, -len(prefixes)&3)...)
	}
	prefixStart := synthPrefixStart
	if incompat&disk.FeatureIncompatFragments != 0 {
		packed = append(packed, make([]byte, -len(packed)&3)...)
		prefixStart = len(packed)
		packed = append(packed, prefixes...)
	}
	// The packed inode: a plain file after the pclusters.
	pp := meta[packedNid*32:]
	le.PutUint16(pp[0:], disk.InodeFlatPlain<<1)
	le.PutUint16(pp[4:], 0o100644)
	le.PutUint16(pp[6:], 1)
	le.PutUint32(pp[8:], uint32(len(packed)))
	le.PutUint32(pp[16:], uint32(dataStart+len(data)/bs))
	data = append(data, packed...)
	data = append(data, make([]byte, -len(data)&(bs-1))...)
	img := make([]byte, head*bs)
	sb := img[disk.SuperOffset:]
	le.PutUint32(sb[0:], disk.SuperMagicV1)
	for bs > 1<<sb[12] {
		sb[12]++
	}
	le.PutUint64(sb[16:], uint64(len(files)+1))
	le.PutUint64(sb[24:], 1700000000)
	le.PutUint32(sb[36:], uint32(dataStart+len(data)/bs))
	le.PutUint32(sb[40:], uint32(head))
	le.PutUint32(sb[80:], incompat|disk.FeatureIncompatXattrPrefixes)
	le.PutUint64(sb[96:], packedNid)
	sb[91] = byte(len(synthPrefixes))
	le.PutUint32(sb[92:], uint32(prefixStart/4))
	if incompat&disk.FeatureIncompatFragments == 0 {
		copy(img[synthPrefixStart:], prefixes)
	}
	le.PutUint16(sb[84:], algs)
	// The configurations, one per algorithm in order: a u16 size and
	// the record, each 4-aligned (erofs_read_metadata).
	at := disk.SuperBlockSize
	for alg := range disk.CompressionMax {
		if algs&(1<<alg) == 0 {
			continue
		}
		var rec []byte
		switch alg {
		case disk.CompressionLZ4:
			rec = make([]byte, 14)
		case disk.CompressionLZMA:
			rec = make([]byte, 14)
			le.PutUint32(rec, 1<<16) // dict_size
		case disk.CompressionDeflate:
			rec = []byte{15, 0, 0, 0, 0, 0} // windowbits
		case disk.CompressionZstd:
			rec = []byte{0, 17 - 10, 0, 0, 0, 0} // windowlog - 10
		}
		at = (at + 3) &^ 3
		le.PutUint16(sb[at:], uint16(len(rec)))
		copy(sb[at+2:], rec)
		at += 2 + len(rec)
	}
	if csum {
		le.PutUint32(sb[8:], disk.FeatureCompatSbChksum)
		d, err := disk.DecodeSuperBlock(sb)
		if err != nil {
			t.Fatal(err)
		}
		le.PutUint32(sb[4:], disk.SuperChecksum(sb[:d.ChecksumLen()]))
	}
	img = append(img, meta...)
	return append(img, data...)
}

// synthContents are data of the kinds a pcluster meets: text, runs,
// random bytes (stored PLAIN), and sizes off the block.
func synthContents(seed uint32) map[string][]byte {
	rnd := randomBytes(seed)
	var text strings.Builder
	for i := 0; text.Len() < 50000; i++ {
		fmt.Fprintf(&text, "%d: the quick brown fox %x\n", i, i*i*7)
	}
	return map[string][]byte{
		"text":   []byte(text.String()),
		"zeros":  make([]byte, 3*synthBlock+5),
		"random": rnd(2*synthBlock + 100),
		"mixed":  append([]byte(text.String()[:9000]), rnd(5000)...),
		"tiny":   []byte("x"),
	}
}

func TestSynthCompressors(t *testing.T) {
	testutil.NeedLoop(t)
	for _, c := range []struct {
		name string
		algs []int
	}{
		{"deflate", []int{disk.CompressionDeflate}},
		{"zstd", []int{disk.CompressionZstd}},
		{"lzma", []int{disk.CompressionLZMA}},
		{"all", []int{disk.CompressionDeflate, disk.CompressionZstd, disk.CompressionLZMA}},
		{"fragments", []int{disk.CompressionZstd, disk.CompressionDeflate}},
		{"head2-interlaced-dedupe", []int{disk.CompressionLZMA, disk.CompressionDeflate}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var files []synthFile
			for i, alg := range c.algs {
				for name, data := range synthContents(uint32(i + 1)) {
					files = append(files, synthFile{name: fmt.Sprintf("%s-%d", name, alg), alg: alg, data: data})
					if name == "text" {
						files[len(files)-1].xattrs = []synthXattr{{disk.XattrIndexUser, "plain", "short prefix"},
							{disk.XattrLongPrefix | 0, "a", "long user prefix"}, {disk.XattrLongPrefix | 1, "upper", "/lower"},
							{disk.XattrLongPrefix | 0, "", "empty name"}}
					}
					if c.name == "head2-interlaced-dedupe" {
						f := &files[len(files)-1]
						f.head2, f.alg2 = true, disk.CompressionZstd
						f.interlaced = true
						if name == "text" {
							files = append(files, synthFile{name: f.name + "-prefix", alg: alg, data: data[:1000], partialOf: f.name})
						}
					}
					if c.name == "fragments" {
						files = append(files, synthFile{name: fmt.Sprintf("%s-%d-whole", name, alg), alg: alg, data: data, frag: fragWhole},
							synthFile{name: fmt.Sprintf("%s-%d-tail", name, alg), alg: alg, data: data, frag: fragTail})
					}
				}
			}
			_, want := checkSynth(t, synthBlock, files)
			for _, f := range files {
				if len(f.xattrs) > 0 && len(want[f.name].Xattrs) != len(f.xattrs) {
					t.Errorf("the host kernel shows %s's xattrs as %q", f.name, want[f.name].Xattrs)
				}
			}
			t.Logf("%d files of %d algorithms agree", len(files), len(c.algs))
		})
	}
}

// TestSynthBlockSizes: blocks of 512 to 4096 bytes (mkfs.erofs 1.5 makes
// 4096 only), the superblock checksummed, flat files and compressed ones
// in lclusters of a block: the host kernel and the library kernel agree.
func TestSynthBlockSizes(t *testing.T) {
	testutil.NeedLoop(t)
	for _, bs := range []int{512, 1024, 2048, 4096} {
		t.Run(fmt.Sprint(bs), func(t *testing.T) {
			c := synthContents(7)
			files := []synthFile{
				{name: "flat-text", flat: true, data: c["text"], xattrs: []synthXattr{{disk.XattrIndexUser, "k", "v"}}},
				{name: "flat-random", flat: true, data: c["random"]},
				{name: "flat-tiny", flat: true, data: c["tiny"], nlink1: true},
				{name: "flat-null", flat: true, data: make([]byte, 3*bs+7), nullAddr: true},
				{name: "z-text", alg: disk.CompressionDeflate, data: c["text"]},
				{name: "z-mixed", alg: disk.CompressionZstd, data: c["mixed"]},
			}
			img, _ := checkSynth(t, bs, files)
			// flat-tiny's compact inode says one link by its format
			// (EROFS_I_NLINK_1_BIT), its i_nb another thing.
			mnt, umount := testutil.HostMount(t, img, "ro")
			var hs unix.Stat_t
			err := unix.Lstat(filepath.Join(mnt, "flat-tiny"), &hs)
			umount()
			if err != nil {
				t.Fatal(err)
			}
			kerneltest.WithMount(t, img, "erofs", abi.MS_RDONLY, "", func(k *kernel.Kernel, must func(string, error)) {
				var st abi.Stat
				must("stat", k.Fstatat(abi.AT_FDCWD, "/mnt/flat-tiny", &st, 0))
				if st.Nlink != 1 || uint64(hs.Nlink) != 1 {
					t.Errorf("flat-tiny: %d links, host %d, want 1", st.Nlink, hs.Nlink)
				}
			})
		})
	}
}

// TestSynthExtents: extents that start inside their lclusters
// (clusterofs), an lcluster holding the end of one extent and the head
// of the next, NONHEAD lclusters looked back through, and plain
// extents stored shifted or interlaced at an offset inside the block:
// the host kernel and the library kernel agree.
func TestSynthExtents(t *testing.T) {
	testutil.NeedLoop(t)
	c := synthContents(5)
	data := append(append(append([]byte(nil), c["text"][:6000]...), c["random"][:4000]...), c["text"][6000:16000]...)
	var files []synthFile
	for _, alg := range []int{disk.CompressionDeflate, disk.CompressionZstd, disk.CompressionLZMA} {
		for _, interlaced := range []bool{false, true} {
			files = append(files, synthFile{name: fmt.Sprintf("alg%d-interlaced-%v", alg, interlaced), alg: alg, data: data,
				interlaced: interlaced, extents: []synthExtent{{6000, false}, {10000, true}, {20000, false}}})
		}
	}
	checkSynth(t, synthBlock, files)
}

// checkSynth writes the image of files with blocks of bs bytes; the host
// kernel must show each file's data, and the library kernel what the
// host shows. It returns the image and the host's view.
func checkSynth(t *testing.T, bs int, files []synthFile) (string, testutil.Tree) {
	t.Helper()
	img := filepath.Join(t.TempDir(), "synth.img")
	if err := os.WriteFile(img, synthImage(t, bs, true, files), 0o644); err != nil {
		t.Fatal(err)
	}
	want := testutil.LoopView(t, img)
	for _, f := range files {
		if e := want[f.name]; e == nil || e.SHA256 != fmt.Sprintf("%x", sha256.Sum256(f.data)) {
			t.Fatalf("the host kernel shows %s as %+v", f.name, e)
		}
	}
	testutil.ExpectSame(t, "host vs library kernel", want, kernelView(t, img), compareOptions())
	return img, want
}

// TestSynthHugeSparse: a chunk-based file of more than 4 GiB (an
// extended inode's 64-bit size, chunk entries past 2^32 bytes), mostly
// holes; its size and bytes read around its chunks, the holes and the
// 4 GiB mark, agree with the host kernel's.
func TestSynthHugeSparse(t *testing.T) {
	testutil.NeedLoop(t)
	size := int64(5<<30 + 123)
	f := synthFile{name: "huge", size: size, chunkBits: 20, chunks: map[int64][]byte{
		0: []byte("first chunk"), 4095: bytes.Repeat([]byte("just below 4 GiB "), 1000),
		4096: []byte("at 4 GiB"), 5120: []byte("tail"),
	}}
	img := filepath.Join(t.TempDir(), "synth.img")
	if err := os.WriteFile(img, synthImage(t, synthBlock, true, []synthFile{f}), 0o644); err != nil {
		t.Fatal(err)
	}
	mnt, umount := testutil.HostMount(t, img, "ro")
	defer umount()
	host, err := os.Open(filepath.Join(mnt, "huge"))
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	kerneltest.WithMount(t, img, "erofs", abi.MS_RDONLY, "", func(k *kernel.Kernel, must func(string, error)) {
		var st abi.Stat
		must("stat", k.Fstatat(abi.AT_FDCWD, "/mnt/huge", &st, 0))
		if st.Size != size {
			t.Errorf("size %d, want %d", st.Size, size)
		}
		fd, err := k.Openat(abi.AT_FDCWD, "/mnt/huge", abi.O_RDONLY, 0)
		must("open", err)
		defer k.Close(fd)
		for _, off := range []int64{0, 5, 1 << 20, 4095 << 20, 4095<<20 + 16000, 4<<30 - 100, 4 << 30, 4<<30 + 1<<20, 5<<30 - 10, size - 200} {
			want := make([]byte, 1000)
			n, _ := host.ReadAt(want, off)
			got := make([]byte, 1000)
			m, _ := k.Pread(fd, got, off)
			if n != m || !bytes.Equal(want[:n], got[:m]) {
				t.Errorf("at %d: %d bytes %q, host %d %q", off, m, got[:min(m, 40)], n, want[:min(n, 40)])
			}
		}
	})
}
