package jbd2

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	disk "github.com/lklimg/lklimg/format/jbd2"
	"github.com/lklimg/lklimg/kernel/abi"
)

func TestCRCs(t *testing.T) {
	// CRC-32/MPEG-2 (crc32_be from ~0, no final inversion) and the raw
	// crc32c from ~0 (CRC-32C's check value, not inverted).
	if got := disk.Crc32BE(^uint32(0), []byte("123456789")); got != 0x0376E6E7 {
		t.Errorf("crc32_be = %#08x", got)
	}
	if got := disk.Crc32c(^uint32(0), []byte("123456789")); got != ^uint32(0xE3069283) {
		t.Errorf("crc32c = %#08x", got)
	}
}

func fill(bs int, v byte) []byte { return bytes.Repeat([]byte{v}, bs) }

var featureSets = []struct {
	name             string
	compat, incompat uint32
}{
	{"none", 0, disk.FeatureIncompatRevoke},
	{"64bit", 0, disk.FeatureIncompatRevoke | disk.FeatureIncompat64bit},
	{"v1", disk.FeatureCompatChecksum, disk.FeatureIncompatRevoke},
	{"v2", 0, disk.FeatureIncompatRevoke | disk.FeatureIncompatCsumV2},
	{"v2-64bit", 0, disk.FeatureIncompatRevoke | disk.FeatureIncompatCsumV2 | disk.FeatureIncompat64bit},
	{"v3", 0, disk.FeatureIncompatRevoke | disk.FeatureIncompatCsumV3},
	{"v3-64bit", 0, disk.FeatureIncompatRevoke | disk.FeatureIncompatCsumV3 | disk.FeatureIncompat64bit},
}

// TestSynthWrapped replays many transactions through a tiny journal, so
// that the log wraps several times before the part that is replayed, and
// checks the overlay against a model of the replay.
func TestSynthWrapped(t *testing.T) {
	const bs, n = 1024, 40
	for _, fs := range featureSets {
		t.Run(fs.name, func(t *testing.T) {
			s := newSynth(bs, n, fs.compat, fs.incompat, 1)
			// Fill the ring with old transactions, then log the ones
			// to replay from where the log now is.
			for k := 0; k < 20; k++ {
				s.txn([]uint64{9}, [][]byte{fill(bs, 0xEE)}, nil, true)
			}
			start, startSeq := s.pos, s.seq
			big := uint64(1) << 33
			if fs.incompat&disk.FeatureIncompat64bit == 0 {
				big = 77
			}
			esc := fill(bs, 3)
			binary.BigEndian.PutUint32(esc, disk.MagicNumber)
			s.txn([]uint64{100, 101, big}, [][]byte{fill(bs, 1), fill(bs, 2), esc}, nil, true)
			s.txn([]uint64{102, 100}, [][]byte{fill(bs, 4), fill(bs, 5)}, []uint64{101}, true)
			s.txn([]uint64{103}, [][]byte{fill(bs, 6)}, []uint64{102}, true)
			s.txn([]uint64{104}, [][]byte{fill(bs, 7)}, nil, false) // torn
			j := s.finish(start)
			binary.BigEndian.PutUint32(j.b[0x18:], startSeq)
			if (&disk.Superblock{FeatureIncompat: fs.incompat}).CsumV2orV3() {
				binary.BigEndian.PutUint32(j.b[disk.SbChecksumOff:], disk.SuperblockCsum(j.b))
			}
			ov, err := Recover(j, bs, t.Logf)
			if err != nil {
				t.Fatal(err)
			}
			want := map[uint64][]byte{100: fill(bs, 5), big: esc, 103: fill(bs, 6)}
			if ov.Len() != len(want) {
				t.Errorf("overlay has %v, want %d blocks", ov.Blocks(), len(want))
			}
			p := make([]byte, bs)
			for b, w := range want {
				ok, err := ov.Read(b, p)
				if err != nil || !ok || !bytes.Equal(p, w) {
					t.Errorf("block %d: ok %v err %v, content %x..., want %x...", b, ok, err, p[:6], w[:6])
				}
			}
			if s, e := ov.Transactions(); e-s != 3 || s != startSeq {
				t.Errorf("transactions %d..%d", s, e)
			}
		})
	}
}

// TestRecoverCorrupt checks that hostile journals end in errors, not
// panics or loops.
func TestRecoverCorrupt(t *testing.T) {
	const bs = 1024
	s := newSynth(bs, 16, 0, disk.FeatureIncompatCsumV3, 1)
	s.txn([]uint64{5}, [][]byte{fill(bs, 1)}, nil, true)
	good := s.finish(1)
	mod := func(f func(b []byte)) *memJournal {
		b := append([]byte(nil), good.b...)
		f(b)
		return &memJournal{b: b, bs: bs}
	}
	resum := func(b []byte) { binary.BigEndian.PutUint32(b[disk.SbChecksumOff:], disk.SuperblockCsum(b)) }
	cases := map[string]*memJournal{
		"bad sb csum":      mod(func(b []byte) { b[0x30] ^= 1 }),
		"unknown incompat": mod(func(b []byte) { b[0x2B] |= 0x40; resum(b) }),
		"v2 and v3":        mod(func(b []byte) { b[0x2B] |= disk.FeatureIncompatCsumV2; resum(b) }),
		"start past end":   mod(func(b []byte) { binary.BigEndian.PutUint32(b[0x1C:], 99); resum(b) }),
		"maxlen too big":   mod(func(b []byte) { binary.BigEndian.PutUint32(b[0x10:], 17); resum(b) }),
		"first zero":       mod(func(b []byte) { binary.BigEndian.PutUint32(b[0x14:], 0); resum(b) }),
		"block size":       mod(func(b []byte) { binary.BigEndian.PutUint32(b[0x0C:], 4096); resum(b) }),
		"revoke count":     nil,
	}
	// A revoke block whose r_count exceeds the block: EINVAL.
	s2 := newSynth(bs, 16, 0, disk.FeatureIncompatRevoke, 1)
	s2.txn(nil, nil, []uint64{3}, true)
	j2 := s2.finish(1)
	binary.BigEndian.PutUint32(j2.b[bs+disk.RevokeCountOff:], bs+1)
	cases["revoke count"] = j2
	// The same in a transaction whose commit block never came:
	// scan_revoke_records runs in the scan pass (e2fsprogs'
	// j_corrupt_revoke_block, which the host refuses).
	s4 := newSynth(bs, 16, 0, disk.FeatureIncompatRevoke, 1)
	s4.txn([]uint64{5}, [][]byte{fill(bs, 1)}, nil, true)
	s4.txn(nil, nil, []uint64{3}, false)
	j4 := s4.finish(1)
	binary.BigEndian.PutUint32(j4.b[4*bs+disk.RevokeCountOff:], 0xFFFFFFFF)
	cases["revoke count, no commit"] = j4
	for name, j := range cases {
		ov, err := Recover(j, bs, nil)
		if err == nil || ov != nil {
			t.Errorf("%s: Recover = %v, %v", name, ov, err)
		}
		// journal_get_superblock: EFSBADCRC for the checksum, EINVAL
		// for the rest; do_one_pass: EINVAL for the revoke count, and
		// a log start past the journal is damage the scan meets.
		want := abi.EINVAL
		switch name {
		case "bad sb csum":
			want = abi.EBADMSG
		case "start past end":
			want = abi.EUCLEAN
		}
		if !errors.Is(err, want) {
			t.Errorf("%s: error %v, want %v", name, err, want)
		}
	}
	// All-revoke ring with one sequence number and no commit: the scan
	// must stop after one lap.
	s3 := newSynth(bs, 16, 0, disk.FeatureIncompatRevoke, 1)
	for i := 0; i < 15; i++ {
		r := s3.next()
		disk.PutHeader(r, disk.RevokeBlock, 1)
		binary.BigEndian.PutUint32(r[disk.RevokeCountOff:], disk.RevokeHeaderSize)
	}
	ov, err := Recover(s3.finish(1), bs, t.Logf)
	if err != nil || ov.Len() != 0 {
		t.Errorf("revoke ring: %v, %v", ov, err)
	}
}

// TestAsyncCommit: with async_commit a commit block that fails its
// checksum ends the replay without marking the transaction as failed
// (recovery.c: the scan goes on, j_failed_commit stays 0).
func TestAsyncCommit(t *testing.T) {
	const bs = 1024
	s := newSynth(bs, 32, 0, disk.FeatureIncompatCsumV3|disk.FeatureIncompatAsyncCommit, 1)
	s.txn([]uint64{1}, [][]byte{fill(bs, 1)}, nil, true)
	s.txn([]uint64{2}, [][]byte{fill(bs, 2)}, nil, true) // commit at block 6
	s.txn([]uint64{3}, [][]byte{fill(bs, 3)}, nil, true)
	j := s.finish(1)
	j.b[6*bs+disk.CommitNsecOff] ^= 1
	for _, async := range []bool{true, false} {
		if !async {
			j.b[0x2B] &^= disk.FeatureIncompatAsyncCommit
			binary.BigEndian.PutUint32(j.b[disk.SbChecksumOff:], disk.SuperblockCsum(j.b))
		}
		ov, err := Recover(j, bs, t.Logf)
		if ov == nil || (err == nil) != async {
			t.Fatalf("async %v: Recover = %v, %v", async, ov, err)
		}
		if tid, failed := ov.FailedCommit(); failed == async || (!async && tid != 2) {
			t.Errorf("async %v: FailedCommit = %d, %v", async, tid, failed)
		}
		if got := ov.Blocks(); len(got) != 1 || got[0] != 1 {
			t.Errorf("async %v: replayed %v, want [1]", async, got)
		}
	}
}

// TestFastCommit: the normal transactions of a journal with fast commits
// replay; the fast commit area is reported as ignored.
func TestFastCommit(t *testing.T) {
	const bs = 1024
	s := newSynth(bs, 1024+disk.DefaultFCBlks+8, 0, disk.FeatureIncompatCsumV3|disk.FeatureIncompatFastCommit, 1)
	s.txn([]uint64{1}, [][]byte{fill(bs, 1)}, nil, true)
	ov, err := Recover(s.finish(1), bs, t.Logf)
	if err != nil || ov.Len() != 1 || !ov.FastCommitIgnored() {
		t.Fatalf("Recover = %v (len %d), %v", ov, ov.Len(), err)
	}
	small := newSynth(bs, 64, 0, disk.FeatureIncompatFastCommit, 1)
	small.txn([]uint64{1}, [][]byte{fill(bs, 1)}, nil, true)
	if _, err := Recover(small.finish(1), bs, nil); err == nil {
		t.Fatal("fast commit area larger than the journal accepted")
	}
}

// memDevice is a vfs.BlockDevice over bytes.
type memDevice []byte

func (m memDevice) Name() string   { return "mem" }
func (m memDevice) Size() int64    { return int64(len(m)) }
func (m memDevice) ReadOnly() bool { return false }
func (m memDevice) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(m)) {
		return 0, io.EOF
	}
	n := copy(p, m[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func TestDevice(t *testing.T) {
	const bs = 1024
	s := newSynth(bs, 32, 0, disk.FeatureIncompatCsumV3, 1)
	esc := fill(bs, 7)
	binary.BigEndian.PutUint32(esc, disk.MagicNumber)
	s.txn([]uint64{2, 5}, [][]byte{fill(bs, 0xAA), esc}, nil, true)
	ov, err := Recover(s.finish(1), bs, nil)
	if err != nil {
		t.Fatal(err)
	}
	dev := memDevice(bytes.Repeat([]byte{0x11}, 8*bs))
	want := append([]byte(nil), dev...)
	copy(want[2*bs:], fill(bs, 0xAA))
	copy(want[5*bs:], esc)
	d := ov.Device(dev)
	if !d.ReadOnly() {
		t.Error("overlay device writable")
	}
	for _, r := range [][2]int{{0, 8 * bs}, {2*bs - 3, 10}, {5*bs + 1, 3}, {1000, 5000}, {7 * bs, 2 * bs}} {
		p := make([]byte, r[1])
		n, err := d.ReadAt(p, int64(r[0]))
		wantN := min(r[1], len(want)-r[0])
		if n != wantN || (err != nil) != (wantN < r[1]) {
			t.Fatalf("ReadAt(%d, %d) = %d, %v", r[0], r[1], n, err)
		}
		if !bytes.Equal(p[:n], want[r[0]:r[0]+n]) {
			t.Errorf("ReadAt(%d, %d): wrong bytes", r[0], r[1])
		}
	}
	if !bytes.Equal(dev[2*bs:3*bs], bytes.Repeat([]byte{0x11}, bs)) {
		t.Error("device modified")
	}
}
