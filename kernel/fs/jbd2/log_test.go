package jbd2

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	disk "github.com/lklimg/lklimg/format/jbd2"
)

// Tests of the writing side: transactions a Log writes are replayed block
// for block by Recover (in memory, every feature combination) and by
// e2fsck and debugfs (on real images).

// op is one operation on a recDevice: a block write or a flush (n == -1).
type op struct {
	n    int
	data []byte
}

// recDevice is a Device in memory that records its operations, so that a
// test can replay any prefix of them (a crash).
type recDevice struct {
	memJournal
	ops []op
}

func (m *recDevice) WriteBlock(n uint32, p []byte) error {
	off := int(n) * m.bs
	if off+len(p) > len(m.b) || len(p) != m.bs {
		return fmt.Errorf("block %d out of range", n)
	}
	copy(m.b[off:], p)
	m.ops = append(m.ops, op{int(n), append([]byte(nil), p...)})
	return nil
}

func (m *recDevice) Flush() error {
	m.ops = append(m.ops, op{n: -1})
	return nil
}

// prefix is the journal as the first k operations left it, from base.
func (m *recDevice) prefix(base []byte, k int) *memJournal {
	b := append([]byte(nil), base...)
	for _, o := range m.ops[:k] {
		if o.n >= 0 {
			copy(b[o.n*m.bs:], o.data)
		}
	}
	return &memJournal{b: b, bs: m.bs}
}

// logConfig is a journal format.
type logConfig struct {
	name             string
	compat, incompat uint32
}

var logConfigs = []logConfig{
	{"nocsum-32bit", 0, 0},
	{"nocsum-64bit", 0, disk.FeatureIncompat64bit},
	{"csum-v1", disk.FeatureCompatChecksum, 0},
	{"csum-v2-32bit", 0, disk.FeatureIncompatCsumV2},
	{"csum-v2-64bit", 0, disk.FeatureIncompatCsumV2 | disk.FeatureIncompat64bit},
	{"csum-v3-32bit", 0, disk.FeatureIncompatCsumV3},
	{"csum-v3-64bit", 0, disk.FeatureIncompatCsumV3 | disk.FeatureIncompat64bit},
}

// randomTxn makes a transaction of n blocks from first, every third one
// beginning with the magic (escaped in the log).
func randomTxn(r *rand.Rand, bs int, first uint64, n int) []Block {
	tx := make([]Block, n)
	for i := range tx {
		d := make([]byte, bs)
		for j := range d {
			d[j] = byte(r.Uint32())
		}
		if i%3 == 0 {
			binary.BigEndian.PutUint32(d, disk.MagicNumber)
		}
		tx[i] = Block{Nr: first + uint64(i)*7, Data: d}
	}
	return tx
}

// wantReplay checks that the overlay replays exactly blocks (the newest
// copy of each).
func wantReplay(t *testing.T, ov *Overlay, blocks []Block) {
	t.Helper()
	want := make(map[uint64][]byte)
	for _, b := range blocks {
		want[b.Nr] = b.Data
	}
	if ov.Len() != len(want) {
		t.Fatalf("overlay has %d blocks, want %d", ov.Len(), len(want))
	}
	p := make([]byte, ov.blockSize)
	for nr, d := range want {
		ok, err := ov.Read(nr, p)
		if err != nil || !ok {
			t.Fatalf("Read(%d) = %v, %v", nr, ok, err)
		}
		if !bytes.Equal(p, d) {
			t.Fatalf("block %d: replayed contents differ", nr)
		}
	}
}

// TestLogRoundTrip writes transactions with a Log and replays them with
// Recover, for every tag format and two block sizes: several transactions
// left in the log, a log that wraps round the journal's end, escaped
// blocks, transactions of several descriptor blocks. It then replays every
// prefix of the writes of one commit (a crash after each write): the
// transaction replays wholly or not at all.
func TestLogRoundTrip(t *testing.T) {
	for _, bs := range []int{1024, 4096} {
		for _, c := range logConfigs {
			t.Run(fmt.Sprintf("%s-%d", c.name, bs), func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(bs), uint64(c.incompat)))
				const n = 300
				s := newSynth(bs, n, c.compat, c.incompat, 1)
				dev := &recDevice{memJournal: *s.finish(0)}
				l, err := OpenLog(dev, bs)
				if err != nil {
					t.Fatal(err)
				}
				if got := l.MaxTransactionBlocks(); got != n/4 {
					t.Errorf("MaxTransactionBlocks = %d, want %d", got, n/4)
				}
				// Go round the log more than once, checkpointing.
				for k := 0; k < 8; k++ {
					tx := randomTxn(r, bs, 100+uint64(k), 70)
					if err := l.Commit(tx, nil, uint64(1000+k), 0); err != nil {
						t.Fatal(err)
					}
					ov, err := Recover(dev, bs, nil)
					if err != nil {
						t.Fatal(err)
					}
					wantReplay(t, ov, tx)
					if err := l.MarkEmpty(); err != nil {
						t.Fatal(err)
					}
					if ov, err := Recover(dev, bs, nil); err != nil || !ov.Clean() {
						t.Fatalf("after MarkEmpty: clean %v, %v", ov.Clean(), err)
					}
				}
				ring := int(l.last - l.first)
				if used := 8 * l.LogBlocks(70, 0); used <= ring || l.head != l.first+uint32(used%ring) || l.Sequence() != 2+8 {
					t.Fatalf("head %d sequence %d after %d log blocks: the log did not wrap", l.head, l.Sequence(), used)
				}
				// Two transactions in the log, the second overwriting
				// part of the first.
				a := randomTxn(r, bs, 5000, 40)
				b := randomTxn(r, bs, 5000+7*20, 40)
				if err := l.Commit(a, nil, 2000, 1); err != nil {
					t.Fatal(err)
				}
				if err := l.Commit(b, nil, 2000, 2); err != nil {
					t.Fatal(err)
				}
				ov, err := Recover(dev, bs, nil)
				if err != nil {
					t.Fatal(err)
				}
				wantReplay(t, ov, append(append([]Block(nil), a...), b...))
				if err := l.MarkEmpty(); err != nil {
					t.Fatal(err)
				}

				// A crash after every write of one commit.
				base := append([]byte(nil), dev.b...)
				dev.ops = nil
				tx := randomTxn(r, bs, 9000, 100)
				if err := l.Commit(tx, nil, 3000, 0); err != nil {
					t.Fatal(err)
				}
				commitAt := -1
				for i, o := range dev.ops {
					if o.n > 0 && binary.BigEndian.Uint32(o.data[4:]) == disk.CommitBlock && binary.BigEndian.Uint32(o.data) == disk.MagicNumber {
						commitAt = i
					}
				}
				if commitAt < 1 || dev.ops[commitAt-1].n != -1 || len(dev.ops) != commitAt+2 || dev.ops[commitAt+1].n != -1 {
					t.Fatalf("the commit block is not written between two flushes, last: %v", commitAt)
				}
				if dev.ops[0].n != 0 {
					t.Fatal("the first write is not the superblock's log tail")
				}
				for k := 0; k <= len(dev.ops); k++ {
					ov, err := Recover(dev.prefix(base, k), bs, nil)
					if err != nil {
						t.Fatalf("crash after %d ops: %v", k, err)
					}
					if k > commitAt {
						wantReplay(t, ov, tx)
					} else if ov.Len() != 0 {
						t.Fatalf("crash after %d ops: %d blocks replayed before the commit block", k, ov.Len())
					}
				}
			})
		}
	}
}

// TestLogLimits checks the errors: a transaction larger than the log, a
// block number too large for 32-bit tags, a log that needs recovery.
func TestLogLimits(t *testing.T) {
	s := newSynth(1024, 64, 0, 0, 1)
	dev := &recDevice{memJournal: *s.finish(0)}
	l, err := OpenLog(dev, 1024)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	if err := l.Commit(randomTxn(r, 1024, 10, 63), nil, 1, 0); err == nil {
		t.Error("a transaction larger than the log was accepted")
	}
	if err := l.Commit([]Block{{Nr: 1 << 33, Data: make([]byte, 1024)}}, nil, 1, 0); err == nil {
		t.Error("a 33-bit block number was accepted without the 64bit feature")
	}
	if err := l.Commit(randomTxn(r, 1024, 10, 3), nil, 1, 0); err != nil {
		t.Fatal(err)
	}
	// 5 log blocks used of 63: 60 more blocks do not fit until the log
	// is emptied.
	if err := l.Commit(randomTxn(r, 1024, 10, 60), nil, 1, 0); err == nil {
		t.Error("a commit over transactions not checkpointed was accepted")
	}
	if _, err := OpenLog(dev, 1024); err == nil {
		t.Error("OpenLog of a log that needs recovery succeeded")
	}
}

// imageDevice is a Device over the journal of an image file, through the
// journal inode's extents.
type imageDevice struct {
	e *env
	f *os.File
	n uint32
}

// offset is the byte offset in the image of journal block n.
func (d *imageDevice) offset(n uint32) (int64, error) {
	phys, ok := d.e.extents[n]
	if !ok {
		return 0, fmt.Errorf("journal block %d not mapped", n)
	}
	return phys * int64(d.e.bs), nil
}

func (d *imageDevice) ReadBlock(n uint32, p []byte) error {
	off, err := d.offset(n)
	if err == nil {
		_, err = d.f.ReadAt(p, off)
	}
	return err
}

func (d *imageDevice) WriteBlock(n uint32, p []byte) error {
	off, err := d.offset(n)
	if err == nil {
		_, err = d.f.WriteAt(p, off)
	}
	return err
}

func (d *imageDevice) Flush() error   { return d.f.Sync() }
func (d *imageDevice) Blocks() uint32 { return d.n }

var loggedRE = regexp.MustCompile(`FS block (\d+) logged at journal block (\d+) \(flags (0x[0-9a-f]+)\)`)

// TestLogAgainstE2fsck writes transactions into the journals of real
// images, leaves the last ones uncheckpointed with needs_recovery set,
// and checks that debugfs logdump lists them and that e2fsck replays them
// block for block, leaving a clean filesystem.
func TestLogAgainstE2fsck(t *testing.T) {
	for _, sc := range []struct {
		name, features, open string
		bs                   int
		size                 string
		mkfs                 []string
		incompat, compat     uint32
		rounds               int // checkpointed transactions first (the log moves on)
	}{
		{name: "nocsum-32bit", bs: 1024, size: "8M", features: "has_journal,^metadata_csum,^64bit"},
		{name: "nocsum-64bit", bs: 1024, size: "8M", features: "has_journal,^metadata_csum,64bit", incompat: disk.FeatureIncompat64bit},
		{name: "csum-v1", bs: 1024, size: "8M", features: "has_journal,^metadata_csum,^64bit", open: "-c", compat: disk.FeatureCompatChecksum},
		{name: "csum-v2", bs: 1024, size: "8M", features: "has_journal,metadata_csum,^64bit", open: "-c -v 2", incompat: disk.FeatureIncompatCsumV2},
		{name: "csum-v3-32bit", bs: 1024, size: "8M", features: "has_journal,metadata_csum,^64bit", open: "-c", incompat: disk.FeatureIncompatCsumV3},
		{name: "csum-v3-64bit-4k", bs: 4096, size: "16M", features: "has_journal,metadata_csum,64bit", open: "-c", incompat: disk.FeatureIncompatCsumV3 | disk.FeatureIncompat64bit},
		{name: "wrapped-v3", bs: 1024, size: "8M", features: "has_journal,metadata_csum,^64bit", mkfs: []string{"-J", "size=1"}, open: "-c",
			incompat: disk.FeatureIncompatCsumV3, rounds: 45},
		{name: "wrapped-nocsum", bs: 1024, size: "8M", features: "has_journal,^metadata_csum,^64bit", mkfs: []string{"-J", "size=1"}, rounds: 45},
	} {
		t.Run(sc.name, func(t *testing.T) {
			e := newEnv(t, sc.bs, sc.size, sc.features, sc.mkfs...)
			{
				// journal_open sets the features for good: the
				// checksum version asked, 64bit on a 64bit filesystem.
				cmds := e.dir + "/jocl"
				if err := os.WriteFile(cmds, []byte("jo "+sc.open+"\njc\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				run(t, e.tools[1], "-w", "-f", cmds, e.img)
			}
			f, err := os.OpenFile(e.img, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			dev := &imageDevice{e: e, f: f, n: uint32(len(e.extents))}
			l, err := OpenLog(dev, e.bs)
			if err != nil {
				t.Fatal(err)
			}
			sb := l.Superblock()
			if sb.FeatureIncompat&^disk.FeatureIncompatRevoke != sc.incompat || sb.FeatureCompat != sc.compat {
				t.Fatalf("journal features %s, want incompat %#x compat %#x", sb.Features(), sc.incompat, sc.compat)
			}
			r := rand.New(rand.NewPCG(7, uint64(sc.bs)))
			for k := 0; k < sc.rounds; k++ {
				if err := l.Commit(randomTxn(r, e.bs, e.base, 20), nil, uint64(100+k), 0); err != nil {
					t.Fatal(err)
				}
				if err := l.MarkEmpty(); err != nil {
					t.Fatal(err)
				}
			}
			startHead := l.head
			// Four transactions: the third revokes five blocks of the
			// first (and would skip its own copy of one, as the kernel's
			// recovery does), the fourth logs one of them again.
			a := randomTxn(r, e.bs, e.base, 20)
			b := randomTxn(r, e.bs, e.base+1, 15)
			c := randomTxn(r, e.bs, e.base+3, 4)
			revoked := []uint64{a[2].Nr, a[4].Nr, a[5].Nr, a[11].Nr, a[19].Nr}
			d := []Block{{Nr: a[11].Nr, Data: c[1].Data}}
			home := map[uint64][]byte{} // what the revoked blocks hold now
			for _, nr := range revoked {
				home[nr] = make([]byte, e.bs)
				if _, err := f.ReadAt(home[nr], int64(nr)*int64(e.bs)); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Commit(a, nil, 500, 1); err != nil {
				t.Fatal(err)
			}
			if err := l.Commit(b, nil, 500, 2); err != nil {
				t.Fatal(err)
			}
			if err := l.Commit(c, revoked, 500, 3); err != nil {
				t.Fatal(err)
			}
			if err := l.Commit(d, nil, 500, 4); err != nil {
				t.Fatal(err)
			}
			if !l.Superblock().Has(disk.FeatureIncompatRevoke) {
				t.Error("the journal has revoke records but not the revoke feature")
			}
			if sc.rounds > 0 && l.head >= startHead {
				t.Fatalf("the log did not wrap: head %d from %d", l.head, startHead)
			}
			final := map[uint64][]byte{}
			for _, x := range append(append([]Block(nil), a...), b...) {
				final[x.Nr] = x.Data
			}
			for _, nr := range revoked {
				final[nr] = home[nr]
			}
			for _, x := range append(c, d...) {
				final[x.Nr] = x.Data
			}
			ov, err := Recover(dev, e.bs, nil)
			if err != nil {
				t.Fatal(err)
			}
			if ov.Len() != len(final)-len(revoked)+1 {
				t.Fatalf("Recover replays %d blocks, want %d", ov.Len(), len(final)-len(revoked)+1)
			}
			run(t, e.tools[1], "-w", "-R", "feature needs_recovery", e.img)

			out := run(t, e.tools[1], "-R", "logdump -a", e.img)
			logged := map[uint64]bool{}
			escaped := 0
			for _, m := range loggedRE.FindAllStringSubmatch(out, -1) {
				var nr uint64
				var flags int
				fmt.Sscan(m[1], &nr)
				fmt.Sscanf(m[3], "0x%x", &flags)
				logged[nr] = true
				if flags&disk.FlagEscape != 0 {
					escaped++
				}
			}
			if escaped == 0 {
				t.Errorf("logdump shows no escaped block")
			}
			for nr := range final {
				if !logged[nr] {
					t.Errorf("logdump does not list block %d:\n%s", nr, out)
				}
			}
			if n := strings.Count(out, "(commit block)"); n != 4 {
				t.Errorf("logdump shows %d commit blocks, want 4:\n%s", n, out)
			}
			if n := strings.Count(out, "Revoke FS block"); n != len(revoked) {
				t.Errorf("logdump shows %d revoke records, want %d:\n%s", n, len(revoked), out)
			}

			rep := e.replayed(t, "e2fsck")
			for nr, d := range final {
				if !bytes.Equal(rep[nr*uint64(e.bs):(nr+1)*uint64(e.bs)], d) {
					t.Errorf("block %d: e2fsck replayed other contents", nr)
				}
			}
			img := e.dir + "/replayed-e2fsck"
			if out, err := exec.Command(e.tools[2], "-fn", img).CombinedOutput(); err != nil {
				t.Errorf("e2fsck -fn after the replay: %v\n%s", err, out)
			}
		})
	}
}

// TestCheckpointRecovery writes home what Recover found, through
// Overlay.Checkpoint: every replayed block once, a flush before the log is
// marked empty, then the log opens for writing with a later sequence. With
// a nil home the log is only skipped.
func TestCheckpointRecovery(t *testing.T) {
	for _, home := range []bool{true, false} {
		s := newSynth(1024, 64, 0, disk.FeatureIncompatCsumV3, 1)
		r := rand.New(rand.NewPCG(3, 4))
		a, b := randomTxn(r, 1024, 10, 5), randomTxn(r, 1024, 10, 3)
		for _, tx := range [][]Block{a, b} {
			nrs, data := make([]uint64, len(tx)), make([][]byte, len(tx))
			for i, x := range tx {
				nrs[i], data[i] = x.Nr, x.Data
			}
			s.txn(nrs, data, nil, true)
		}
		dev := &recDevice{memJournal: *s.finish(1)}
		ov, err := Recover(dev, 1024, nil)
		if err != nil {
			t.Fatal(err)
		}
		wantReplay(t, ov, append(append([]Block(nil), a...), b...))
		got := map[uint64][]byte{}
		var fn func(uint64, []byte) error
		if home {
			fn = func(nr uint64, p []byte) error {
				if _, dup := got[nr]; dup {
					t.Errorf("block %d written twice", nr)
				}
				got[nr] = append([]byte(nil), p...)
				dev.ops = append(dev.ops, op{n: -2}) // a home write
				return nil
			}
		}
		if err := ov.Checkpoint(dev, fn); err != nil {
			t.Fatal(err)
		}
		if home && len(got) != ov.Len() {
			t.Errorf("%d blocks written home, want %d", len(got), ov.Len())
		}
		// The superblock write comes after a flush that follows the
		// last home write.
		var kinds []int
		for _, o := range dev.ops {
			kinds = append(kinds, o.n)
		}
		want := []int{0, -1}
		if home {
			want = []int{-2, -2, -2, -2, -2, -1, 0, -1}
		}
		if fmt.Sprint(kinds) != fmt.Sprint(want) {
			t.Errorf("operations %v, want %v (-2 home, 0 the superblock, -1 a flush)", kinds, want)
		}
		l, err := OpenLog(dev, 1024)
		if err != nil {
			t.Fatal(err)
		}
		if _, end := ov.Transactions(); int32(l.Sequence()-end) <= 0 {
			t.Errorf("next sequence %d not after the replayed ones (end %d)", l.Sequence(), end)
		}
		if ov2, err := Recover(dev, 1024, nil); err != nil || !ov2.Clean() {
			t.Errorf("after Checkpoint: clean %v, %v", ov2.Clean(), err)
		}
	}
}

// TestSetFeatures switches a journal's checksums and tag format on an
// empty log, as ext4 does at load, and checks that Recover reads the next
// transaction with the new format; bad combinations and a busy log are
// refused.
func TestSetFeatures(t *testing.T) {
	s := newSynth(1024, 128, disk.FeatureCompatChecksum, 0, 1)
	dev := &recDevice{memJournal: *s.finish(0)}
	l, err := OpenLog(dev, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SetFeatures(0, disk.FeatureIncompatCsumV2, 0, 0); err == nil {
		t.Error("checksum v1 and v2 together accepted")
	}
	if err := l.SetFeatures(0, 0x1000, 0, 0); err == nil {
		t.Error("an unknown feature accepted")
	}
	if err := l.SetFeatures(0, disk.FeatureIncompatCsumV3|disk.FeatureIncompat64bit, disk.FeatureCompatChecksum, 0); err != nil {
		t.Fatal(err)
	}
	tx := randomTxn(rand.New(rand.NewPCG(5, 6)), 1024, 1<<33, 10)
	if err := l.Commit(tx, nil, 1, 0); err != nil {
		t.Fatal(err)
	}
	if err := l.SetFeatures(0, 0, 0, disk.FeatureIncompatCsumV3); err == nil {
		t.Error("features changed on a log with a transaction")
	}
	ov, err := Recover(dev, 1024, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sb := ov.Superblock(); sb.FeatureCompat != 0 || sb.FeatureIncompat != disk.FeatureIncompatCsumV3|disk.FeatureIncompat64bit || sb.ChecksumType != disk.Crc32cChksumType {
		t.Errorf("journal superblock after the switch: %v", sb)
	}
	wantReplay(t, ov, tx)
}

// FuzzLogRoundTrip commits transactions made from the input (the format,
// block numbers, sizes, contents that may begin with the magic) and
// checks that Recover replays the last ones block for block.
func FuzzLogRoundTrip(f *testing.F) {
	f.Add([]byte{0, 3, 1, 2, 3})
	f.Add([]byte{6, 40, 0xC0, 0x3B, 0x39, 0x98, 7, 7, 7})
	f.Add([]byte{2, 100, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 200, 3})
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 2 {
			return
		}
		c := logConfigs[int(in[0])%len(logConfigs)]
		s := newSynth(1024, 96, c.compat, c.incompat, 1)
		dev := &recDevice{memJournal: *s.finish(0)}
		l, err := OpenLog(dev, 1024)
		if err != nil {
			t.Fatal(err)
		}
		in = in[1:]
		var last []Block
		for len(in) > 0 {
			n := int(in[0])%30 + 1
			in = in[1:]
			tx := make([]Block, 0, n)
			seen := map[uint64]bool{}
			for i := 0; i < n; i++ {
				d := make([]byte, 1024)
				nr := uint64(i)
				if len(in) > 0 {
					nr = uint64(in[0]) * 3
					copy(d, in)
					in = in[1:]
				}
				if seen[nr] {
					continue
				}
				seen[nr] = true
				tx = append(tx, Block{Nr: nr, Data: d})
			}
			if err := l.MarkEmpty(); err != nil {
				t.Fatal(err)
			}
			if err := l.Commit(tx, nil, 1, 0); err != nil {
				t.Fatal(err)
			}
			last = tx
		}
		ov, err := Recover(dev, 1024, nil)
		if err != nil {
			t.Fatal(err)
		}
		wantReplay(t, ov, last)
	})
}
