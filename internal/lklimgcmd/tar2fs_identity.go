package lklimgcmd

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"hash/crc32"
	"io"
	"strings"

	"github.com/lklimg/lklimg/tools/e2fsprogs"
)

// tar2fs's reproducible identity, without a second read of the archive.
// mkfs hashes its -d archive before it makes the filesystem (identity),
// because the UUID seeds metadata checksums and the hash seed orders
// indexed directories, and both are written from the first block on.
// tar2fs reads its input once, from a file or a pipe alike:
//
//   - the hash seed is derived from the time and the parameters only;
//   - the checksum seed too: the image gets metadata_csum_seed (Linux
//     4.4, e2fsprogs 1.43), whose s_checksum_seed is what every checksum
//     starts from, so the UUID can change afterwards, as tune2fs -U does
//     on such a filesystem;
//   - the UUID is derived once the archive has been read: from the time,
//     the parameters and the digest of every byte of the input
//     (inputDigest), and set on the unmounted filesystem
//     (e2fsprogs.SetUUID) before the journal is added.
//
// Where the checksums must start from the UUID (-O ^metadata_csum_seed
// with metadata_csum, or ea_inode without metadata_csum, whose value
// hashes use the UUID's seed) the UUID is derived from the time and the
// parameters alone.

// tar2fsIdentityHelp is what tar2fs's help says of time stamps and
// identity.
const tar2fsIdentityHelp = "With SOURCE_DATE_EPOCH set (or --timestamp), every time stamp the filesystem is made with is\n" +
	"that time, the hash seed not given (-E hash_seed=) is derived from the time and the parameters,\n" +
	"and the UUID not given (-U) from those and the input's bytes, once it has been read (the image\n" +
	"gets metadata_csum_seed, so that its checksums do not depend on the UUID): the same inputs, from a\n" +
	"file or stdin, make the same image. Without it, they are random."

// planIdentity sets p's hash seed and UUID before Mkfs, from the time and
// the parameters (identity without an input), and reports whether the
// UUID is to be derived again once the input has been read (settleUUID):
// then p has metadata_csum_seed when its checksums need a seed.
// features is -O's argument: an explicit ^metadata_csum_seed is obeyed.
func planIdentity(p *e2fsprogs.MkfsParams, g given, epoch *int64, what, features string) (bool, error) {
	later := epoch != nil && !g.uuid && !g.randomUUID
	if later && p.HasFeature("metadata_csum") && !p.HasFeature("metadata_csum_seed") {
		if refusesFeature(features, "metadata_csum_seed") {
			later = false
		} else if err := p.SetFeatures("metadata_csum_seed"); err != nil {
			return false, err
		}
	}
	if later && p.HasFeature("ea_inode") && !p.HasFeature("metadata_csum") {
		later = false
	}
	return later, identity(p, g, epoch, what, nil)
}

// refusesFeature reports whether the -O list spec clears feature name.
func refusesFeature(spec, name string) bool {
	for _, f := range strings.FieldsFunc(spec, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		if strings.EqualFold(f, "^"+name) || strings.EqualFold(f, "-"+name) {
			return true
		}
	}
	return false
}

// settledUUID is the UUID planIdentity left to be derived: from what p
// planned and the input's digest.
func settledUUID(p *e2fsprogs.MkfsParams, what string, digest []byte) [16]byte {
	return deriveUUID("uuid", what, p, digest)
}

// digestChunk is the run of input bytes inputDigest sums in one go.
const digestChunk = 1 << 20

// inputDigest reads r and fingerprints every byte read: the SHA-256 of
// the CRC-32C and CRC-32 (IEEE) of each digestChunk of the input, counted
// from its start, and of its length. The chunks do not depend on the
// reads' sizes, so a file and a pipe give the same digest. Two CRCs of a
// chunk are 64 bits against a chance collision between two inputs, at
// six times the speed of SHA-256 over the bytes (both CRCs have
// instructions of their own on amd64 and arm64); the digest names an
// image, it does not authenticate one.
type inputDigest struct {
	r      io.Reader
	sums   hash.Hash // SHA-256 of the chunks' CRCs
	c, i   uint32    // the current chunk's CRC-32C and CRC-32
	n      int       // its bytes so far
	length uint64
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func newInputDigest(r io.Reader) *inputDigest {
	return &inputDigest{r: r, sums: sha256.New()}
}

func (d *inputDigest) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	for b := p[:max(n, 0)]; len(b) > 0; {
		k := min(len(b), digestChunk-d.n)
		d.c = crc32.Update(d.c, castagnoli, b[:k])
		d.i = crc32.Update(d.i, crc32.IEEETable, b[:k])
		d.n += k
		d.length += uint64(k)
		b = b[k:]
		if d.n == digestChunk {
			d.endChunk()
		}
	}
	return n, err
}

func (d *inputDigest) endChunk() {
	var b [8]byte
	binary.LittleEndian.PutUint32(b[:], d.c)
	binary.LittleEndian.PutUint32(b[4:], d.i)
	d.sums.Write(b[:])
	d.c, d.i, d.n = 0, 0, 0
}

// Finish reads what is left of the input (what follows the archive's
// end, which the import does not read) and returns the digest.
func (d *inputDigest) Finish() ([]byte, error) {
	if _, err := io.Copy(io.Discard, d); err != nil {
		return nil, err
	}
	if d.n > 0 {
		d.endChunk()
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], d.length)
	d.sums.Write(b[:])
	return d.sums.Sum(nil), nil
}
