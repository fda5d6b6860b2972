package jbd2

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	disk "github.com/lklimg/lklimg/format/jbd2"
	"github.com/lklimg/lklimg/internal/testutil"
)

// These tests make dirty journals with debugfs's journal commands
// (journal_open, journal_write, journal_close: debugfs(8)), replay them for
// real with e2fsck -fy and with debugfs journal_run on copies of the
// image, and compare every block with what the Overlay says.

// fileJournal is a Journal over a file holding the journal's logical
// blocks, as `debugfs -R "dump <8> FILE"` writes them.
type fileJournal struct {
	b  []byte
	bs int
}

func (f *fileJournal) ReadBlock(n uint32, p []byte) error {
	off := int64(n) * int64(f.bs)
	if off+int64(len(p)) > int64(len(f.b)) {
		return fmt.Errorf("journal block %d past the end", n)
	}
	copy(p, f.b[off:])
	return nil
}

func (f *fileJournal) Blocks() uint32 { return uint32(len(f.b) / f.bs) }

// txn is one journal_write: blocks written (their contents generated from
// the transaction's index), blocks revoked, with or without a commit.
type txn struct {
	blocks      []uint64 // offsets from the test's base block
	revoke      []uint64 // offsets from the base block
	uncommitted bool     // journal_write -c: no commit block (a torn transaction)
}

// env is one test image.
type env struct {
	dir, img string
	bs       int
	nblocks  uint64
	base     uint64           // first fs block the transactions use
	extents  map[uint32]int64 // journal logical block -> fs block
	tools    []string         // mkfs.ext4 debugfs e2fsck
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	return string(testutil.Run(t, name, args...))
}

func newEnv(t *testing.T, bs int, size string, features string, extra ...string) *env {
	tools := testutil.Need(t, "mkfs.ext4", "debugfs", "e2fsck")
	e := &env{dir: t.TempDir(), bs: bs, tools: tools}
	e.img = filepath.Join(e.dir, "img")
	args := append([]string{"-q", "-F", "-b", strconv.Itoa(bs), "-O", features}, extra...)
	args = append(args, e.img, size)
	run(t, tools[0], args...)
	fi, err := os.Stat(e.img)
	if err != nil {
		t.Fatal(err)
	}
	e.nblocks = uint64(fi.Size()) / uint64(bs)
	e.base = e.nblocks - 200
	e.extents = journalExtents(t, e)
	return e
}

var extentRE = regexp.MustCompile(`\((\d+)(?:-(\d+))?\):(\d+)(?:-(\d+))?`)

// journalExtents maps the journal inode's logical blocks to fs blocks, from
// debugfs stat's EXTENTS list.
func journalExtents(t *testing.T, e *env) map[uint32]int64 {
	out := run(t, e.tools[1], "-R", "stat <8>", e.img)
	_, list, ok := strings.Cut(out, "EXTENTS:")
	if !ok {
		t.Fatalf("no extents for the journal inode:\n%s", out)
	}
	m := make(map[uint32]int64)
	for _, g := range extentRE.FindAllStringSubmatch(list, -1) {
		lo, _ := strconv.ParseUint(g[1], 10, 32)
		hi := lo
		if g[2] != "" {
			hi, _ = strconv.ParseUint(g[2], 10, 32)
		}
		p, _ := strconv.ParseInt(g[3], 10, 64)
		for l := lo; l <= hi; l++ {
			m[uint32(l)] = p + int64(l-lo)
		}
	}
	return m
}

// blockData is the content journal_write logs for block i of transaction
// k: distinct bytes, and the first block of each transaction begins with
// the jbd2 magic so that it is escaped in the log.
func blockData(bs, k, i int) []byte {
	b := make([]byte, bs)
	for j := range b {
		b[j] = byte(k*37 + i*11 + j*7 + j>>8)
	}
	if i == 0 {
		binary.BigEndian.PutUint32(b, disk.MagicNumber)
	}
	return b
}

func joinBlocks(base uint64, offs []uint64) string {
	s := make([]string, len(offs))
	for i, o := range offs {
		s[i] = strconv.FormatUint(base+o, 10)
	}
	return strings.Join(s, ",")
}

// write runs, for each transaction, a debugfs session of journal_open,
// journal_write and journal_close; opts are journal_open's options for the
// first session (the others refuse to change the journal's features). One
// session per transaction, because within a session debugfs 1.47 places
// the next transaction from an estimate of the previous one's length that
// leaves out revoke blocks, overwriting its commit block; a new session
// finds the log's head by walking it.
func (e *env) write(t *testing.T, opts string, txns []txn) {
	for k, tx := range txns {
		var cmds strings.Builder
		if k > 0 {
			opts = ""
		}
		fmt.Fprintf(&cmds, "jo %s\n", opts)
		var data []byte
		for i := range tx.blocks {
			data = append(data, blockData(e.bs, k, i)...)
		}
		if len(data) == 0 {
			data = make([]byte, e.bs)
		}
		f := filepath.Join(e.dir, fmt.Sprintf("t%d", k))
		if err := os.WriteFile(f, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c := "jw"
		if len(tx.blocks) > 0 {
			c += " -b " + joinBlocks(e.base, tx.blocks)
		}
		if len(tx.revoke) > 0 {
			c += " -r " + joinBlocks(e.base, tx.revoke)
		}
		if tx.uncommitted {
			c += " -c"
		}
		fmt.Fprintf(&cmds, "%s %s\njc\n", c, f)
		cf := filepath.Join(e.dir, "cmds")
		if err := os.WriteFile(cf, []byte(cmds.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		out := run(t, e.tools[1], "-w", "-f", cf, e.img)
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "while ") || strings.Contains(l, "will not") || strings.Contains(l, "Unknown") {
				t.Fatalf("debugfs: %s\n%s", l, out)
			}
		}
	}
}

// journal dumps the journal inode's contents.
func (e *env) journal(t *testing.T) *fileJournal {
	f := filepath.Join(e.dir, "journal.bin")
	os.Remove(f)
	run(t, e.tools[1], "-R", "dump <8> "+f, e.img)
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return &fileJournal{b: b, bs: e.bs}
}

// putJournalBlock writes logical journal block n into the image.
func (e *env) putJournalBlock(t *testing.T, n uint32, p []byte) {
	phys, ok := e.extents[n]
	if !ok {
		t.Fatalf("journal block %d not mapped", n)
	}
	f, err := os.OpenFile(e.img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(p, phys*int64(e.bs)); err != nil {
		t.Fatal(err)
	}
}

// logBlocks lists the log's metadata blocks from s_start in log order: the
// journal block number and its header, following descriptors' tag counts.
type logBlock struct {
	n uint32
	h disk.Header
}

func (e *env) logBlocks(t *testing.T, j *fileJournal) []logBlock {
	sb, err := disk.DecodeSuperblock(j.b)
	if err != nil {
		t.Fatal(err)
	}
	tf := disk.NewTagFormat(sb)
	var out []logBlock
	n := sb.Start
	for i := 0; i < int(sb.Maxlen); i++ {
		b := j.b[int(n)*e.bs : int(n+1)*e.bs]
		h, _ := disk.DecodeHeader(b)
		if h.Magic != disk.MagicNumber {
			break
		}
		out = append(out, logBlock{n, h})
		skip := uint32(1)
		if h.BlockType == disk.DescriptorBlock {
			skip += uint32(len(disk.DecodeTags(nil, b, tf)))
		}
		n += skip
		if n >= sb.Maxlen {
			n -= sb.Maxlen - sb.First
		}
	}
	return out
}

// find returns the journal block of the i-th block of type typ in the log.
func (e *env) find(t *testing.T, j *fileJournal, typ uint32, i int) uint32 {
	for _, lb := range e.logBlocks(t, j) {
		if lb.h.BlockType == typ {
			if i == 0 {
				return lb.n
			}
			i--
		}
	}
	t.Fatalf("no block of type %d number %d in the log", typ, i)
	return 0
}

// corrupt flips a byte of journal block n in the image.
func (e *env) corrupt(t *testing.T, n uint32, off int) {
	j := e.journal(t)
	b := append([]byte(nil), j.b[int(n)*e.bs:int(n+1)*e.bs]...)
	b[off] ^= 0x5A
	e.putJournalBlock(t, n, b)
}

// rotate moves the log so that it starts shift blocks after s_first,
// wrapping at s_maxlen: the log then straddles the journal's end, as a
// long-used journal does. debugfs never wraps, so the test does it.
func (e *env) rotate(t *testing.T, shift uint32) {
	j := e.journal(t)
	sb, err := disk.DecodeSuperblock(j.b)
	if err != nil {
		t.Fatal(err)
	}
	if sb.Start != sb.First {
		t.Fatalf("log starts at %d, not s_first %d", sb.Start, sb.First)
	}
	ring := sb.Maxlen - sb.First
	for i := uint32(0); i < ring; i++ {
		src := sb.First + i
		dst := sb.First + (i+shift)%ring
		e.putJournalBlock(t, dst, j.b[int(src)*e.bs:int(src+1)*e.bs])
	}
	b := append([]byte(nil), j.b[:e.bs]...)
	binary.BigEndian.PutUint32(b[0x1C:], sb.First+shift)
	if sb.CsumV2orV3() {
		binary.BigEndian.PutUint32(b[disk.SbChecksumOff:], disk.SuperblockCsum(b))
	}
	e.putJournalBlock(t, 0, b)
}

func readFile(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func copyFile(t *testing.T, src, dst string) {
	if err := os.WriteFile(dst, readFile(t, src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// replayed returns the image after a real replay: by e2fsck -fy, or by
// debugfs journal_run.
func (e *env) replayed(t *testing.T, how string) []byte {
	c := filepath.Join(e.dir, "replayed-"+how)
	copyFile(t, e.img, c)
	var cmd *exec.Cmd
	if how == "e2fsck" {
		cmd = exec.Command(e.tools[2], "-fy", c)
	} else {
		cmd = exec.Command(e.tools[1], "-w", "-R", "jr", c)
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() < 8) {
		t.Fatalf("%s: %v\n%s", how, err, out)
	}
	t.Logf("%s: %v\n%s", how, err, out)
	return readFile(t, c)
}

// check compares the overlay with the real replays: each replayed block
// reads as the replay wrote it; every other block is unchanged by
// journal_run (but for the two superblocks it rewrites), and every block
// the transactions name is unchanged by e2fsck.
func (e *env) check(t *testing.T, ov *Overlay, touched []uint64) {
	orig := readFile(t, e.img)
	bs := e.bs
	fsSB := uint64(1024 / bs) // the block holding the ext4 superblock
	jSB := uint64(e.extents[0])
	p := make([]byte, bs)
	for _, how := range []string{"e2fsck", "debugfs"} {
		rep := e.replayed(t, how)
		for b := uint64(0); b < e.nblocks; b++ {
			want := rep[b*uint64(bs) : (b+1)*uint64(bs)]
			ok, err := ov.Read(b, p)
			if err != nil {
				t.Fatalf("Read(%d): %v", b, err)
			}
			if ok {
				if !bytes.Equal(p, want) {
					t.Errorf("%s: block %d: overlay differs from the replayed block", how, b)
				}
				continue
			}
			if how == "e2fsck" {
				continue
			}
			if b != fsSB && b != jSB && !bytes.Equal(orig[b*uint64(bs):(b+1)*uint64(bs)], want) {
				t.Errorf("%s: block %d changed by the replay but not in the overlay", how, b)
			}
		}
		if how == "e2fsck" {
			for _, o := range touched {
				b := e.base + o
				if _, _, ok := ov.Lookup(b); !ok && !bytes.Equal(orig[b*uint64(bs):(b+1)*uint64(bs)], rep[b*uint64(bs):(b+1)*uint64(bs)]) {
					t.Errorf("e2fsck: block %d changed by the replay but not in the overlay", b)
				}
			}
		}
	}
}

func seq(from, n uint64) []uint64 {
	s := make([]uint64, n)
	for i := range s {
		s[i] = from + uint64(i)
	}
	return s
}

// standard is a log of several transactions: overwrites, a revoke that
// cancels an earlier copy, a block revoked then logged again, a
// transaction larger than one descriptor block.
var standard = []txn{
	{blocks: []uint64{0, 1, 2, 3}},
	{blocks: []uint64{4, 1}, revoke: []uint64{2}},
	{blocks: []uint64{2, 5}}, // 2 logged again after its revoke: replays
	{revoke: []uint64{3}},    // revoke only: cancels 3 from transaction 0
	{blocks: seq(10, 90)},    // several descriptor blocks with 1k blocks
	{blocks: []uint64{0}, revoke: []uint64{1}},
}

// noRevokes is a log without revoke blocks.
var noRevokes = []txn{
	{blocks: []uint64{0, 1, 2, 3}},
	{blocks: []uint64{4, 1}},
	{blocks: seq(10, 90)},
	{blocks: []uint64{0, 3}},
}

func touchedBlocks(txns []txn) []uint64 {
	var s []uint64
	for _, tx := range txns {
		s = append(s, tx.blocks...)
		s = append(s, tx.revoke...)
	}
	return s
}

type scenario struct {
	name     string
	bs       int
	size     string
	features string
	mkfs     []string
	open     string // journal_open options
	txns     []txn
	mutate   func(t *testing.T, e *env)
	incompat uint32 // journal features expected (all of them)
	compat   uint32
	wantTx   int  // transactions replayed
	wantErr  bool // Recover reports a failure (with an overlay)
	wantNil  bool // Recover fails with no overlay
}

func TestRecoverAgainstE2fsck(t *testing.T) {
	withTorn := append(append([]txn(nil), standard...), txn{blocks: []uint64{7, 8}, uncommitted: true})
	three := []txn{{blocks: []uint64{0, 1}}, {blocks: []uint64{2, 0}}, {blocks: []uint64{3, 1}}}
	scenarios := []scenario{
		{name: "nocsum-32bit", bs: 1024, size: "8M", features: "has_journal,^metadata_csum,^64bit",
			txns: standard, incompat: disk.FeatureIncompatRevoke, wantTx: 6},
		{name: "nocsum-64bit", bs: 1024, size: "8M", features: "has_journal,^metadata_csum,64bit",
			txns: standard, incompat: disk.FeatureIncompatRevoke | disk.FeatureIncompat64bit, wantTx: 6},
		{name: "csum-v1", bs: 1024, size: "8M", features: "has_journal,^metadata_csum,^64bit", open: "-c",
			txns: noRevokes, compat: disk.FeatureCompatChecksum, wantTx: 4},
		// debugfs 1.47 puts revoke blocks in its v1 checksum, the
		// kernel's commit and recovery leave them out: e2fsck too stops
		// at the first transaction with a revoke block.
		{name: "csum-v1-revoke", bs: 1024, size: "8M", features: "has_journal,^metadata_csum,^64bit", open: "-c",
			txns: standard, incompat: disk.FeatureIncompatRevoke, compat: disk.FeatureCompatChecksum, wantTx: 1, wantErr: true},
		{name: "csum-v2-32bit", bs: 1024, size: "8M", features: "has_journal,metadata_csum,^64bit", open: "-c -v 2",
			txns: standard, incompat: disk.FeatureIncompatRevoke | disk.FeatureIncompatCsumV2, wantTx: 6},
		{name: "csum-v2-64bit", bs: 1024, size: "8M", features: "has_journal,metadata_csum,64bit", open: "-c -v 2",
			txns: standard, incompat: disk.FeatureIncompatRevoke | disk.FeatureIncompatCsumV2 | disk.FeatureIncompat64bit, wantTx: 6},
		{name: "csum-v3-32bit", bs: 1024, size: "8M", features: "has_journal,metadata_csum,^64bit", open: "-c",
			txns: standard, incompat: disk.FeatureIncompatRevoke | disk.FeatureIncompatCsumV3, wantTx: 6},
		{name: "csum-v3-64bit-4k", bs: 4096, size: "16M", features: "has_journal,metadata_csum,64bit", open: "-c",
			txns: standard, incompat: disk.FeatureIncompatRevoke | disk.FeatureIncompatCsumV3 | disk.FeatureIncompat64bit, wantTx: 6},
		{name: "torn-last-nocsum", bs: 1024, size: "8M", features: "has_journal,^metadata_csum",
			txns: withTorn, wantTx: 6},
		{name: "torn-last-v3", bs: 1024, size: "8M", features: "has_journal,metadata_csum", open: "-c",
			txns: withTorn, wantTx: 6},
		{name: "wrapped-nocsum", bs: 1024, size: "8M", features: "has_journal,^metadata_csum", mkfs: []string{"-J", "size=1"},
			txns: standard, wantTx: 6, mutate: func(t *testing.T, e *env) { e.rotate(t, 1023-40) }},
		{name: "wrapped-v3", bs: 1024, size: "8M", features: "has_journal,metadata_csum", mkfs: []string{"-J", "size=1"}, open: "-c",
			txns: standard, wantTx: 6, mutate: func(t *testing.T, e *env) { e.rotate(t, 1023-7) }},
		{name: "bad-commit-magic-nocsum", bs: 1024, size: "8M", features: "has_journal,^metadata_csum",
			txns: three, wantTx: 1, mutate: func(t *testing.T, e *env) {
				e.corrupt(t, e.find(t, e.journal(t), disk.CommitBlock, 1), 0)
			}},
		{name: "bad-commit-csum-v1", bs: 1024, size: "8M", features: "has_journal,^metadata_csum", open: "-c",
			txns: three, compat: disk.FeatureCompatChecksum, wantTx: 1, wantErr: true, mutate: func(t *testing.T, e *env) {
				// a data block of transaction 1: its crc32_be no longer matches
				e.corrupt(t, e.find(t, e.journal(t), disk.DescriptorBlock, 1)+1, 100)
			}},
		{name: "bad-commit-csum-v3", bs: 1024, size: "8M", features: "has_journal,metadata_csum", open: "-c",
			txns: three, wantTx: 1, wantErr: true, mutate: func(t *testing.T, e *env) {
				e.corrupt(t, e.find(t, e.journal(t), disk.CommitBlock, 1), disk.CommitNsecOff)
			}},
		{name: "bad-data-csum-v3", bs: 1024, size: "8M", features: "has_journal,metadata_csum", open: "-c",
			txns: three, wantTx: 3, wantErr: true, mutate: func(t *testing.T, e *env) {
				e.corrupt(t, e.find(t, e.journal(t), disk.DescriptorBlock, 2)+2, 100)
			}},
		{name: "bad-data-csum-v2", bs: 1024, size: "8M", features: "has_journal,metadata_csum", open: "-c -v 2",
			txns: three, wantTx: 3, wantErr: true, mutate: func(t *testing.T, e *env) {
				e.corrupt(t, e.find(t, e.journal(t), disk.DescriptorBlock, 1)+1, 100)
			}},
		{name: "bad-descriptor-csum-v3", bs: 1024, size: "8M", features: "has_journal,metadata_csum", open: "-c",
			txns: three, wantNil: true, mutate: func(t *testing.T, e *env) {
				e.corrupt(t, e.find(t, e.journal(t), disk.DescriptorBlock, 1), 200)
			}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			e := newEnv(t, sc.bs, sc.size, sc.features, sc.mkfs...)
			e.write(t, sc.open, sc.txns)
			if sc.mutate != nil {
				sc.mutate(t, e)
			}
			before := sha256.Sum256(readFile(t, e.img))
			j := e.journal(t)
			var logged []string
			ov, err := Recover(j, e.bs, func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) })
			t.Logf("Recover: %v\n%s", err, strings.Join(logged, "\n"))
			if after := sha256.Sum256(readFile(t, e.img)); after != before {
				t.Fatal("the image changed")
			}
			switch {
			case sc.wantNil:
				if err == nil || ov != nil {
					t.Fatalf("Recover = %v, %v; want nil and an error", ov, err)
				}
				ov = nil // the oracle must then have replayed nothing
			case sc.wantErr:
				if err == nil || ov == nil {
					t.Fatalf("Recover = %v, %v; want an overlay and an error", ov, err)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
			}
			if ov != nil {
				sb := ov.Superblock()
				t.Logf("%v", sb)
				if sc.incompat != 0 && sb.FeatureIncompat != sc.incompat {
					t.Errorf("journal incompat features %#x, want %#x", sb.FeatureIncompat, sc.incompat)
				}
				if sb.FeatureCompat != sc.compat {
					t.Errorf("journal compat features %#x, want %#x", sb.FeatureCompat, sc.compat)
				}
				if ov.Clean() {
					t.Fatal("journal reported clean")
				}
				start, end := ov.Transactions()
				if int(end-start) != sc.wantTx {
					t.Errorf("replayed transactions %d to %d, want %d of them", start, end-1, sc.wantTx)
				}
				if ov.Len() == 0 {
					t.Error("empty overlay")
				}
				escaped := false
				for _, b := range ov.Blocks() {
					if _, esc, _ := ov.Lookup(b); esc {
						escaped = true
					}
				}
				if !escaped {
					t.Error("no escaped block in the overlay")
				}
			}
			e.check(t, ov, touchedBlocks(sc.txns))
		})
	}
}

func TestCleanJournal(t *testing.T) {
	e := newEnv(t, 1024, "8M", "has_journal,metadata_csum")
	ov, err := Recover(e.journal(t), e.bs, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if !ov.Clean() || ov.Len() != 0 {
		t.Fatalf("clean journal: Clean %v Len %d", ov.Clean(), ov.Len())
	}
	if _, err := Recover(e.journal(t), 4096, nil); err == nil {
		t.Fatal("block size mismatch accepted")
	}
}
