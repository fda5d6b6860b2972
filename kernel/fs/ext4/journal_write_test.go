package ext4

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	disk "github.com/lklimg/lklimg/format/ext4"
	jbd2disk "github.com/lklimg/lklimg/format/jbd2"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// Tests of the write side's crash safety: the journal (or its absence)
// and the superblock's state across mounts, crashes and replays.

// crashDev is a writable device that loses every write after the first
// limit ones (0: none lost), as a power cut would. Writes reach the file
// at once, so that reads see them (as a page cache would); each one made
// since the last Sync keeps the contents it overwrote, so that crash can
// take back the ones a disk cache could still have lost.
type crashDev struct {
	rwDev
	st *crashRun
}

type crashRun struct {
	limit   int
	writes  int
	pending []pendingWrite // writes since the last Sync, in order
}

type pendingWrite struct {
	off      int64
	old, new []byte
}

func (d crashDev) WriteAt(p []byte, off int64) (int, error) {
	st := d.st
	st.writes++
	if st.limit > 0 && st.writes > st.limit {
		return len(p), nil
	}
	old := make([]byte, len(p))
	if _, err := d.f.ReadAt(old, off); err != nil {
		return 0, err
	}
	st.pending = append(st.pending, pendingWrite{off, old, append([]byte(nil), p...)})
	return d.rwDev.WriteAt(p, off)
}

// Sync makes the writes so far durable, unless the crash came.
func (d crashDev) Sync() error {
	if d.st.limit == 0 || d.st.writes < d.st.limit {
		d.st.pending = d.st.pending[:0]
	}
	return nil
}

// Crash modes: which of the writes made since the last Sync before the
// crash survive it.
const (
	keepAll  = iota // all of them, in order: the disk wrote as asked
	keepNone        // none: the disk's cache was lost
	keepLast        // only the last one: the disk wrote out of order
)

// crash takes back the unflushed writes the mode loses.
func (d crashDev) crash(mode int) {
	p := d.st.pending
	if mode == keepAll || len(p) == 0 {
		return
	}
	for i := len(p) - 1; i >= 0; i-- {
		d.f.WriteAt(p[i].old, p[i].off)
	}
	if mode == keepLast {
		d.f.WriteAt(p[len(p)-1].new, p[len(p)-1].off)
	}
}

// setLabel sets the volume label (s_volume_name) in the transaction's copy
// of the superblock, with its checksum.
func setLabel(h *handle, label string) error {
	f := h.f
	blk := uint64(disk.SuperblockOffset) >> f.BlockBits
	b, err := h.metaBlock(blk)
	if err != nil {
		return err
	}
	s := b[disk.SuperblockOffset-int(blk<<f.BlockBits):][:disk.SuperblockSize]
	clear(s[0x78:0x88])
	copy(s[0x78:0x88], label)
	f.SetSuperCsum(s)
	return nil
}

// setMtime sets i_mtime of inode ino in the transaction's copy of its
// inode table block, with the inode's checksum.
func setMtime(h *handle, ino uint32, sec uint32) error {
	f := h.f
	ip, err := f.iget(ino)
	if err != nil {
		return err
	}
	g, idx := (ino-1)/f.Super.SInodesPerGroup, (ino-1)%f.Super.SInodesPerGroup
	off := uint64(idx) * uint64(f.InodeSize)
	b, err := h.metaBlock(f.Groups[g].BgInodeTable + off>>f.BlockBits)
	if err != nil {
		return err
	}
	raw := b[off&uint64(f.BlockSize-1):][:f.InodeSize]
	le.PutUint32(raw[0x10:], sec)
	if !f.Super.MetadataCsum() {
		return nil
	}
	// The inode checksum (Documentation/filesystems/ext4/inodes.rst):
	// crc32c over the inode with both checksum fields read as zero,
	// seeded with the inode's seed.
	hasHi := f.InodeSize > disk.GoodOldInodeSize && le.Uint16(raw[disk.GoodOldInodeSize:]) >= 4
	le.PutUint16(raw[disk.OffIChecksumLo:], 0)
	if hasHi {
		le.PutUint16(raw[disk.OffIChecksumHi:], 0)
	}
	c := disk.Csum32(f.CrcTab, ip.csumSeed, raw)
	le.PutUint16(raw[disk.OffIChecksumLo:], uint16(c))
	if hasHi {
		le.PutUint16(raw[disk.OffIChecksumHi:], uint16(c>>16))
	}
	return nil
}

// crashState is what the test's transactions change: the label and the
// root directory's mtime.
type crashState struct {
	label string
	mtime int64
}

// crashSteps are the changes, each in its own transaction.
var crashSteps = []crashState{{"first", 1111111}, {"second", 2222222}}

// crashData is the file data step k writes (ordered mode: it must be on
// the disk whenever the step's metadata is), and the block it goes to.
func crashData(f *fsys, k int) ([]byte, uint64) {
	return bytes.Repeat([]byte{byte('A' + k)}, int(f.BlockSize)), f.Super.SBlocksCount - 20 - uint64(k)
}

// crashWorkload mounts img read-write on a device that keeps only the
// first limit writes, makes crashSteps (Sync after each) and unmounts; then
// crashes in mode. Each step writes data to a free block with writeData
// and changes the label and the root's mtime in one handle. It returns how
// many writes the run made. Errors after the crash point are not the
// test's business: the disk no longer answers as the driver expects.
func crashWorkload(t *testing.T, img string, limit, mode int) int {
	t.Helper()
	dev, f, log := crashMount(t, img, limit)
	defer dev.crash(mode)
	if f == nil {
		return dev.st.writes
	}
	fail := func(err error) int {
		if limit == 0 {
			t.Fatalf("%v\nlog:\n%s", err, log)
		}
		return dev.st.writes
	}
	for k, st := range crashSteps {
		h, err := f.begin()
		if err != nil {
			return fail(err)
		}
		data, blk := crashData(f, k)
		h.writeData(data, int64(blk)<<f.BlockBits)
		if err := setLabel(h, st.label); err != nil {
			h.fail(err)
		}
		if err := setMtime(h, disk.RootIno, uint32(st.mtime)); err != nil {
			h.fail(err)
		}
		if err := h.stop(); err != nil {
			return fail(err)
		}
		if err := f.Sync(); err != nil {
			return fail(err)
		}
	}
	if err := f.Unmount(); err != nil {
		return fail(err)
	}
	return dev.st.writes
}

// readState mounts img read-only and returns its label and root mtime,
// and checks the ordered data: the data of every step the image shows is
// on the disk.
func readState(t *testing.T, img string) crashState {
	t.Helper()
	sb, log := mountImage(t, img)
	f := sb.(*fsys)
	if strings.Contains(log.String(), "recovery") {
		t.Errorf("the image still needs recovery:\n%s", log)
	}
	ip, err := f.iget(disk.RootIno)
	if err != nil {
		t.Fatal(err)
	}
	st := crashState{string(bytes.TrimRight(f.Super.SVolumeName[:], "\x00")), ip.mtime.Sec}
	for k := range crashSteps {
		if st == crashSteps[k] {
			for i := 0; i <= k; i++ {
				data, blk := crashData(f, i)
				if !bytes.Equal(testutil.ReadAt(t, img, int64(blk)<<f.BlockBits, int64(len(data))), data) {
					t.Errorf("step %d is on the disk but not the data of step %d", k, i)
				}
			}
		}
	}
	return st
}

var fixedRE = regexp.MustCompile(`\? yes`)

// fsckAfterCrash checks an image crashed after write n in mode: e2fsck -fy
// must exit below 4, then e2fsck -fn must find nothing. It reports whether
// -fy repaired anything beyond a journal replay (a "? yes" answer), which
// fails the test when journaled.
func fsckAfterCrash(t *testing.T, img string, n, mode int, journaled bool) (repaired bool) {
	t.Helper()
	out, err := exec.Command("e2fsck", "-fy", img).CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() < 4) {
		t.Fatalf("crash after write %d (mode %d): e2fsck -fy: %v\n%s", n, mode, err, out)
	}
	repaired = fixedRE.Match(out)
	if repaired && journaled {
		t.Errorf("crash after write %d (mode %d): e2fsck repaired more than the journal:\n%s", n, mode, out)
	}
	if out, err := exec.Command("e2fsck", "-fn", img).CombinedOutput(); err != nil {
		t.Fatalf("crash after write %d (mode %d): e2fsck -fn after -fy: %v\n%s", n, mode, err, out)
	}
	return repaired
}

// whileReading runs read in n goroutines, over and over, until the stop
// it returns is called; stop returns the first error a reader met.
func whileReading(n int, read func() error) (stop func() error) {
	done := make(chan struct{})
	errs := make(chan error, n)
	for range n {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				if err := read(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	return func() error {
		close(done)
		var first error
		for range n {
			if err := <-errs; err != nil && first == nil {
				first = err
			}
		}
		return first
	}
}

// TestCrashAfterEveryWrite runs crashWorkload once whole, then once for
// every N from 1 to its count of writes, keeping only the first N writes
// (a crash after the Nth), of which the ones since the last flush may be
// kept all, none, or only the last (a disk that reorders its cache).
// After each, e2fsck -fy recovers the image (a journal replay, or a check
// without a journal) and e2fsck -fn then finds it clean; with a journal each transaction is there wholly or not at
// all, and the steps appear in order. The count of images e2fsck had to
// repair beyond the replay is logged (and must be 0 with a journal).
func TestCrashAfterEveryWrite(t *testing.T) {
	tools := testutil.Need(t, "mkfs.ext4", "e2fsck")
	for _, v := range []struct {
		name    string
		args    []string
		journal bool
		modes   []int
	}{
		{"ext4", []string{"-b", "4096"}, true, []int{keepAll, keepNone, keepLast}},
		{"ext3-1k-nocsum", []string{"-t", "ext3", "-b", "1024"}, true, []int{keepAll, keepLast}},
		{"ext4-1k-32bit", []string{"-b", "1024", "-O", "^64bit"}, true, []int{keepAll}},
		{"ext2", []string{"-t", "ext2"}, false, []int{keepAll, keepLast}},
	} {
		t.Run(v.name, func(t *testing.T) {
			dir := t.TempDir()
			pristine := filepath.Join(dir, "pristine.img")
			args := append(append([]string{"-q", "-F", "-L", "orig", "-E", "lazy_itable_init=0"}, v.args...), pristine, "8M")
			testutil.Run(t, tools[0], args...)
			orig := readState(t, pristine)
			img := filepath.Join(dir, "crash.img")
			copyImage(t, pristine, img)
			total := crashWorkload(t, img, 0, keepAll)
			e2fsckClean(t, img)
			if got, want := readState(t, img), crashSteps[len(crashSteps)-1]; got != want {
				t.Fatalf("after a clean run: %+v, want %+v", got, want)
			}
			checkCleanUnmount(t, img, v.journal)
			t.Logf("%d writes in a run", total)

			repaired, points := 0, 0
			for n := 1; n <= total; n++ {
				for _, mode := range v.modes {
					points++
					copyImage(t, pristine, img)
					crashWorkload(t, img, n, mode)
					if fsckAfterCrash(t, img, n, mode, v.journal) {
						repaired++
					}
					if !v.journal {
						continue
					}
					got := readState(t, img)
					ok := got == orig
					for _, st := range crashSteps {
						ok = ok || got == st
					}
					if !ok {
						t.Errorf("crash after write %d (mode %d): label %q mtime %d: a transaction is partly there", n, mode, got.label, got.mtime)
					}
				}
			}
			t.Logf("%d crash images (%d writes, %d modes), %d repaired by e2fsck beyond a journal replay", points, total, len(v.modes), repaired)
		})
	}
}

func copyImage(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// superOf reads the on-disk ext4 superblock of img.
func superOf(t *testing.T, img string) *disk.Superblock {
	t.Helper()
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := disk.DecodeSuperblock(b[disk.SuperblockOffset : disk.SuperblockOffset+disk.SuperblockSize])
	if err != nil {
		t.Fatal(err)
	}
	return sb
}

// journalSuper reads the journal superblock of img through a read-only
// mount.
func journalSuper(t *testing.T, img string) *jbd2disk.Superblock {
	t.Helper()
	sb, _ := mountImage(t, img)
	f := sb.(*fsys)
	j, err := f.openJournal()
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, f.BlockSize)
	if err := j.ReadBlock(0, p); err != nil {
		t.Fatal(err)
	}
	jsb, err := jbd2disk.DecodeSuperblock(p)
	if err != nil {
		t.Fatal(err)
	}
	return jsb
}

// checkCleanUnmount checks what a clean unmount leaves: the journal empty
// (s_start 0), needs_recovery clear, EXT4_VALID_FS set, the times
// stamped.
func checkCleanUnmount(t *testing.T, img string, journal bool) {
	t.Helper()
	sb := superOf(t, img)
	if sb.HasIncompat(disk.IncompatRecover) {
		t.Error("needs_recovery set after a clean unmount")
	}
	if sb.SState&disk.SuperStateValid == 0 {
		t.Errorf("s_state %#x without EXT4_VALID_FS after a clean unmount", sb.SState)
	}
	if sb.SMtime == 0 || sb.SWtime == 0 {
		t.Errorf("s_mtime %d s_wtime %d not stamped", sb.SMtime, sb.SWtime)
	}
	if journal {
		if jsb := journalSuper(t, img); jsb.Start != 0 {
			t.Errorf("journal s_start %d after a clean unmount, want 0 (%v)", jsb.Start, jsb)
		}
	}
}

// TestMountStateWhileMounted checks the superblock while a read-write
// mount is up, after a Sync: needs_recovery set (with a journal) or
// EXT4_VALID_FS clear (without), s_mnt_count one up; and after the
// unmount the state is back, the mount counted, the journal empty, and
// s_kbytes_written up.
func TestMountStateWhileMounted(t *testing.T) {
	testutil.Need(t, "mkfs.ext4", "e2fsck")
	for _, v := range []struct {
		name    string
		args    []string
		journal bool
		jfeat   uint32 // journal incompat features after the mount
	}{
		{"ext4", nil, true, jbd2disk.FeatureIncompatCsumV3 | jbd2disk.FeatureIncompat64bit},
		{"ext3", []string{"-t", "ext3"}, true, 0},
		{"ext2", []string{"-t", "ext2"}, false, 0},
	} {
		t.Run(v.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "x.img")
			testutil.Run(t, "mkfs.ext4", append(append([]string{"-q", "-F"}, v.args...), img, "8M")...)
			before := superOf(t, img)
			kb := le.Uint64(testutil.ReadAt(t, img, disk.SuperblockOffset+0x178, 8))
			f, log := mountImageRW(t, img)
			h, err := f.begin()
			if err != nil {
				t.Fatal(err)
			}
			if err := setLabel(h, "mounted"); err != nil {
				t.Fatal(err)
			}
			if err := h.stop(); err != nil {
				t.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			during := superOf(t, img)
			if v.journal && !during.HasIncompat(disk.IncompatRecover) {
				t.Error("needs_recovery clear while mounted read-write")
			}
			if !v.journal && during.SState&disk.SuperStateValid != 0 {
				t.Error("EXT4_VALID_FS set while mounted read-write without a journal")
			}
			if string(bytes.TrimRight(during.SVolumeName[:], "\x00")) != "mounted" {
				t.Errorf("label %q after Sync", during.SVolumeName)
			}
			if v.journal && !strings.Contains(log.String(), "with ordered data mode") {
				t.Errorf("log:\n%s", log)
			}
			umountRW(t, f)
			after := superOf(t, img)
			if after.SState != before.SState {
				t.Errorf("s_state %#x after unmount, %#x before", after.SState, before.SState)
			}
			if got := le.Uint16(testutil.ReadAt(t, img, disk.SuperblockOffset+0x34, 2)); got != 1 {
				t.Errorf("s_mnt_count %d, want 1", got)
			}
			if got := le.Uint64(testutil.ReadAt(t, img, disk.SuperblockOffset+0x178, 8)); got <= kb {
				t.Errorf("s_kbytes_written %d, was %d", got, kb)
			}
			checkCleanUnmount(t, img, v.journal)
			e2fsckClean(t, img)
			if v.journal {
				if got := journalSuper(t, img).FeatureIncompat; got != v.jfeat {
					t.Errorf("journal incompat features %#x, want %#x", got, v.jfeat)
				}
			}
		})
	}
}

// TestMountRWReplays makes a dirty journal with debugfs (dirtyImage). A read-write mount replays them onto the disk before anything
// else: the blocks are home and the journal empty while still mounted;
// after the unmount e2fsck -fn finds the image clean.
func TestMountRWReplays(t *testing.T) {
	testutil.Need(t, "mkfs.ext4", "debugfs", "e2fsck")
	for _, v := range []struct {
		name string
		args []string
	}{
		{"ext4-4k", nil},
		{"ext4-1k-csum", []string{"-b", "1024", "-O", "metadata_csum"}},
		{"ext3-1k", []string{"-t", "ext3", "-b", "1024"}},
	} {
		t.Run(v.name, func(t *testing.T) {
			dir := t.TempDir()
			img, free, data := dirtyImage(t, dir, v.args)
			bs := int64(len(data))
			f, log := mountImageRW(t, img)
			if !strings.Contains(log.String(), "recovery complete: 2 blocks written") {
				t.Errorf("no replay in the log:\n%s", log)
			}
			if got := string(bytes.TrimRight(f.Super.SVolumeName[:], "\x00")); got != "replayed" {
				t.Errorf("mounted label %q", got)
			}
			// On disk while mounted: the blocks home, the journal empty.
			if got := testutil.ReadAt(t, img, free*bs, int64(bs)); !bytes.Equal(got, data) {
				t.Error("the escaped block is not home after the mount")
			}
			if js := journalSuper2(t, img); js.Start != 0 {
				t.Errorf("journal s_start %d while mounted after the replay", js.Start)
			}
			umountRW(t, f)
			e2fsckClean(t, img)
			checkCleanUnmount(t, img, true)
			if got := readState(t, img).label; got != "replayed" {
				t.Errorf("label %q after unmount", got)
			}
		})
	}
}

// dirtyImage makes an image whose journal needs recovery, with debugfs
// (journal_open, journal_write, journal_close): a copy of the superblock
// block with the label "replayed" (the label on disk is "before"), and a
// free block holding data that begins with the jbd2 magic (escaped in the
// log). It returns the image, the free block and its data.
func dirtyImage(t *testing.T, dir string, mkfsArgs []string) (string, int64, []byte) {
	t.Helper()
	tools := testutil.Need(t, "mkfs.ext4", "debugfs")
	img := filepath.Join(dir, "dirty.img")
	testutil.Run(t, tools[0], append(append([]string{"-q", "-F", "-L", "before"}, mkfsArgs...), img, "8M")...)
	sb := superOf(t, img)
	bs := int64(sb.BlockSize())
	sbBlk := int64(disk.SuperblockOffset) / bs
	free := int64(sb.SBlocksCount) - 10 // a free block near the end
	sbCopy := testutil.ReadAt(t, img, sbBlk*bs, int64(bs))
	s := sbCopy[disk.SuperblockOffset-sbBlk*bs:][:disk.SuperblockSize]
	clear(s[0x78:0x88])
	copy(s[0x78:], "replayed")
	if sb.MetadataCsum() {
		tab := crc32.MakeTable(crc32.Castagnoli)
		le.PutUint32(s[disk.OffSChecksum:], disk.Csum32(tab, ^uint32(0), s[:disk.OffSChecksum]))
	}
	data := bytes.Repeat([]byte("jbd2"), int(bs)/4)
	binary.BigEndian.PutUint32(data, jbd2disk.MagicNumber)
	payload := filepath.Join(dir, "payload")
	if err := os.WriteFile(payload, append(append([]byte(nil), sbCopy...), data...), 0o644); err != nil {
		t.Fatal(err)
	}
	cmds := filepath.Join(dir, "cmds")
	script := fmt.Sprintf("jo\njw -b %d,%d %s\njc\n", sbBlk, free, payload)
	if err := os.WriteFile(cmds, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, tools[1], "-w", "-f", cmds, img)
	if !superOf(t, img).HasIncompat(disk.IncompatRecover) {
		t.Fatal("debugfs left no needs_recovery")
	}
	if js := journalSuper2(t, img); js.Start == 0 {
		t.Fatal("debugfs left an empty journal")
	}
	return img, free, data
}

// TestCrashDuringReplay crashes a read-write mount of a dirty journal
// after each of its writes (the replay, the log emptied, the superblock
// marked), and then unmount: e2fsck -fy replays what is left and e2fsck
// -fn finds the image clean, with the journaled label, every time.
func TestCrashDuringReplay(t *testing.T) {
	testutil.Need(t, "mkfs.ext4", "debugfs", "e2fsck")
	dir := t.TempDir()
	dirty, _, _ := dirtyImage(t, dir, []string{"-b", "1024"})
	img := filepath.Join(dir, "crash.img")
	copyImage(t, dirty, img)
	total := mountUnmount(t, img, 0, keepAll)
	points := 0
	for n := 1; n <= total; n++ {
		for _, mode := range []int{keepAll, keepLast} {
			points++
			copyImage(t, dirty, img)
			mountUnmount(t, img, n, mode)
			fsckAfterCrash(t, img, n, mode, true)
			if got := readState(t, img).label; got != "replayed" {
				t.Errorf("crash after write %d (mode %d): label %q", n, mode, got)
			}
		}
	}
	t.Logf("%d crash images (%d writes)", points, total)
}

// mountUnmount mounts img read-write and unmounts it on a crashDev that
// keeps limit writes, then crashes in mode; it returns the writes made.
func mountUnmount(t *testing.T, img string, limit, mode int) int {
	t.Helper()
	dev, f, _ := crashMount(t, img, limit)
	defer dev.crash(mode)
	if f == nil {
		return dev.st.writes
	}
	if err := f.Unmount(); err != nil && limit == 0 {
		t.Fatal(err)
	}
	return dev.st.writes
}

// crashMount mounts img read-write on a crashDev that keeps limit writes.
// The mount is nil if it failed after the crash point (the test fails if
// it fails without a crash).
func crashMount(t *testing.T, img string, limit int) (crashDev, *fsys, *testLog) {
	t.Helper()
	dev := crashDev{rwDev: openDevRW(t, img), st: &crashRun{limit: limit}}
	log := &testLog{}
	sb, err := NewType().Mount(dev, 0, "", log)
	if err != nil || sb.(*fsys).ReadOnly() {
		if limit == 0 {
			t.Fatalf("mount: %v\n%s", err, log)
		}
		return dev, nil, log
	}
	return dev, sb.(*fsys), log
}

// journalSuper2 reads the journal superblock of img as debugfs sees it
// (logdump's first line), without mounting: the image may need recovery.
func journalSuper2(t *testing.T, img string) *jbd2disk.Superblock {
	t.Helper()
	out := string(testutil.Run(t, "debugfs", "-R", "logdump", img))
	var start, seq uint32
	m := regexp.MustCompile(`Journal starts at block (\d+), transaction (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("debugfs logdump:\n%s", out)
	}
	fmt.Sscan(m[1], &start)
	fmt.Sscan(m[2], &seq)
	return &jbd2disk.Superblock{Start: start, Sequence: seq}
}

// TestAbortedMount checks that a failed commit aborts the mount: later
// handles fail with EROFS and the image keeps needs_recovery.
func TestAbortedMount(t *testing.T) {
	testutil.Need(t, "mkfs.ext4")
	img := filepath.Join(t.TempDir(), "x.img")
	testutil.Run(t, "mkfs.ext4", "-q", "-F", img, "8M")
	f, _ := mountImageRW(t, img)
	f.aborted = abi.Errorf(abi.EIO, "test")
	if _, err := f.begin(); !errors.Is(err, abi.EROFS) {
		t.Errorf("begin after an abort: %v, want EROFS", err)
	}
	if err := f.Unmount(); err == nil {
		t.Error("Unmount after an abort succeeded")
	}
	if !superOf(t, img).HasIncompat(disk.IncompatRecover) {
		t.Error("needs_recovery cleared after an aborted mount")
	}
}

// TestTransactionLargerThanJournal: a handle that takes more blocks than
// the log holds is committed in place, with a warning, and the image stays
// clean; the transaction bound is a quarter of the journal.
func TestTransactionLargerThanJournal(t *testing.T) {
	testutil.Need(t, "mkfs.ext4", "e2fsck")
	img := filepath.Join(t.TempDir(), "x.img")
	testutil.Run(t, "mkfs.ext4", "-q", "-F", "-b", "1024", "-J", "size=1", img, "8M")
	f, log := mountImageRW(t, img)
	if f.max != 1024/4 {
		t.Errorf("transaction bound %d, want %d", f.max, 1024/4)
	}
	h, err := f.begin()
	if err != nil {
		t.Fatal(err)
	}
	// Unchanged copies of 1100 blocks past the metadata, and the label.
	for b := uint64(4000); b < 5100; b++ {
		if _, err := h.metaBlock(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := setLabel(h, "big"); err != nil {
		t.Fatal(err)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	umountRW(t, f)
	if !strings.Contains(log.String(), "does not fit in the journal") {
		t.Errorf("no warning:\n%s", log)
	}
	e2fsckClean(t, img)
	checkCleanUnmount(t, img, true)
	if got := readState(t, img).label; got != "big" {
		t.Errorf("label %q", got)
	}
}

// TestReadersDuringCommits reads the tree from several goroutines while
// handles change metadata and commit: run with -race, the read lock keeps
// readers off the transaction's map and buffers while they change.
func TestReadersDuringCommits(t *testing.T) {
	testutil.Need(t, "mkfs.ext4", "e2fsck")
	img := filepath.Join(t.TempDir(), "x.img")
	testutil.Run(t, "mkfs.ext4", "-q", "-F", img, "8M")
	f, _ := mountImageRW(t, img)
	stop := whileReading(3, func() error {
		root, err := f.Root()
		if err == nil {
			_, err = root.Getattr()
		}
		if err == nil {
			_, err = root.(vfs.Lookuper).Lookup("lost+found")
		}
		if err == nil {
			_, err = f.Statfs()
		}
		return err
	})
	for i := range 50 {
		h, err := f.begin()
		if err != nil {
			t.Fatal(err)
		}
		setLabel(h, fmt.Sprint("l", i))
		setMtime(h, disk.RootIno, uint32(1000+i))
		if err := h.stop(); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := stop(); err != nil {
		t.Error(err)
	}
	umountRW(t, f)
	e2fsckClean(t, img)
	if got := readState(t, img); got.label != "l49" || got.mtime != 1049 {
		t.Errorf("state %+v after the run", got)
	}
}

// TestRevokeReusedBlock leaves a log of several transactions: the first
// logs a metadata block, the second frees it, the third reuses it for file
// data (never logged), the fourth frees it again; then the machine stops
// without an unmount. Every replay (ours in memory, debugfs's, the host
// kernel's) must leave the data: the second transaction's revoke record
// keeps the first one's copy from being written over it. Without the
// record (the control run) the copy comes back, so the scenario reaches
// the case it is about.
func TestRevokeReusedBlock(t *testing.T) {
	testutil.Need(t, "mkfs.ext4", "e2fsck", "debugfs")
	for _, revoke := range []bool{true, false} {
		t.Run(fmt.Sprintf("revoke=%v", revoke), func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "x.img")
			testutil.Run(t, "mkfs.ext4", "-q", "-F", "-b", "1024", img, "8M")
			dev, f, log := crashMount(t, img, 0)
			meta := bytes.Repeat([]byte{'M'}, int(f.BlockSize))
			data := bytes.Repeat([]byte{'D'}, int(f.BlockSize))
			step := func(what string, op func(h *handle) error) {
				t.Helper()
				h, err := f.begin()
				if err != nil {
					t.Fatal(err)
				}
				if err := op(h); err != nil {
					h.fail(err)
				}
				if err := h.stop(); err != nil {
					t.Fatalf("%s: %v\n%s", what, err, log)
				}
				if err := f.Sync(); err != nil {
					t.Fatalf("%s: sync: %v", what, err)
				}
			}
			var blk uint64
			step("log a metadata block", func(h *handle) error {
				var err error
				if blk, err = h.allocBlock(nil, f.Super.SBlocksCount/2); err != nil {
					return err
				}
				b, err := h.newMetaBlock(blk)
				copy(b, meta)
				return err
			})
			if !revoke {
				clear(f.logged)
			}
			step("free it", func(h *handle) error { return h.freeBlocks(nil, blk, 1) })
			step("reuse it for data", func(h *handle) error {
				got, _, err := h.allocBlocks(nil, blk, 1, false)
				if err == nil && got != blk {
					t.Fatalf("the allocator gave block %d, not the freed %d", got, blk)
				}
				return cmp.Or(err, h.writeData(data, int64(blk)<<f.BlockBits))
			})
			step("free it again", func(h *handle) error { return h.freeBlocks(nil, blk, 1) })
			dev.crash(keepAll) // no unmount: the log keeps the four transactions
			if sb := journalSuper2(t, img); sb.Start == 0 {
				t.Fatal("the log is empty: the transactions were checkpointed")
			}
			want := data
			if !revoke {
				want = meta
			}
			// Ours: a read-only mount replays in memory.
			sb, _ := mountImage(t, img)
			got := make([]byte, len(want))
			if _, err := sb.(*fsys).dev.ReadAt(got, int64(blk)<<f.BlockBits); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("our replay: block %d holds %q..., want %q...", blk, got[:4], want[:4])
			}
			// debugfs's recovery, then the host kernel's.
			replayers := [][]string{{"debugfs", "-w", "-R", "jr"}}
			if testutil.CanLoop() {
				replayers = append(replayers, []string{"mount"})
			} else {
				testutil.NeedLoop(t) // skips the rest (fails in CI) with the reason
			}
			for _, r := range replayers {
				c := filepath.Join(t.TempDir(), "c.img")
				copyImage(t, img, c)
				if r[0] == "mount" {
					mnt := t.TempDir()
					testutil.Run(t, "mount", "-o", "loop", c, mnt)
					testutil.Run(t, "umount", mnt)
				} else {
					testutil.Run(t, r[0], append(r[1:], c)...)
				}
				if got := testutil.ReadAt(t, c, int64(blk)<<f.BlockBits, int64(len(want))); !bytes.Equal(got, want) {
					t.Errorf("%s's replay: block %d holds %q..., want %q...", r[0], blk, got[:4], want[:4])
				}
				e2fsckClean(t, c)
			}
		})
	}
}
