package ext4

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/internal/testutil"
)

// mmpImage makes a filesystem with multiple mount protection, as mke2fs
// makes it (5 s update interval).
func mmpImage(t *testing.T) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "mmp.img")
	testutil.MkfsExt4(t, img, "", "32M", "-O", "mmp")
	return img
}

// editMmp changes the MMP block of img in the file, as another node
// would.
func editMmp(t *testing.T, img string, edit func(*disk.Mmp)) {
	t.Helper()
	d := openDevRW(t, img)
	sb := make([]byte, disk.SuperblockSize)
	if _, err := d.ReadAt(sb, disk.SuperblockOffset); err != nil {
		t.Fatal(err)
	}
	s, err := disk.DecodeSuperblock(sb)
	if err != nil {
		t.Fatal(err)
	}
	g := disk.NewGeometry(s)
	b := make([]byte, g.BlockSize)
	off := int64(s.SMmpBlock) * int64(g.BlockSize)
	if _, err := d.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	m, err := g.DecodeMmp(b)
	if err != nil {
		t.Fatal(err)
	}
	edit(m)
	g.EncodeMmp(m, b)
	if _, err := d.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// dumpMmp is debugfs's dump_mmp of img: field name to value.
func dumpMmp(t *testing.T, img string) map[string]string {
	t.Helper()
	out, err := exec.Command("debugfs", "-R", "dump_mmp", img).Output()
	if err != nil {
		t.Fatalf("debugfs dump_mmp: %v", err)
	}
	fields := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, ": "); ok {
			fields[k] = strings.TrimSpace(v)
		}
	}
	return fields
}

// TestMMP: a read-write mount of a filesystem with the mmp feature claims
// the MMP block as ext4_multi_mount_protect does (a wait of 2 × the check
// interval + 1 s, 11 s here: shortened by the test) and keeps it while
// mounted; e2fsprogs reads what it wrote (dump_mmp, e2fsck -fn), and the
// unmount leaves it clean. A block fsck holds, or one another node moves
// during the wait, leaves the mount read-only, saying why; one left by a
// node that stopped is taken after a second wait. Read-only mounts leave
// the block alone.
func TestMMP(t *testing.T) {
	testutil.Need(t, "mkfs.ext4", "debugfs", "e2fsck")
	var waits []time.Duration
	during := func() {}
	mmpSleep = func(d time.Duration) { waits = append(waits, d); during() }
	t.Cleanup(func() { mmpSleep = time.Sleep })
	host, _ := os.Hostname()

	t.Run("clean", func(t *testing.T) {
		img := mmpImage(t)
		waits = nil
		f, _ := mountImageRW(t, img)
		if len(waits) != 1 || waits[0] != 11*time.Second {
			t.Errorf("waits %v, want one of 11s", waits)
		}
		held := dumpMmp(t, img)
		if held["sequence"] == "ff4d4d50" || held["node_name"] != host || held["check_interval"] != "10" {
			t.Errorf("while mounted, dump_mmp shows %v: want a sequence of our own, node %q, check interval 10", held, host)
		}
		time.Sleep(100 * time.Millisecond)
		umountRW(t, f)
		if got := dumpMmp(t, img)["sequence"]; got != "ff4d4d50" {
			t.Errorf("after the unmount the sequence is %s, want ff4d4d50 (clean)", got)
		}
		e2fsckClean(t, img)
	})

	for _, c := range []struct {
		name    string
		seq     uint32
		moves   bool // another node updates it during the wait
		rw      bool
		message string
		waits   int
		after   string // the sequence after the unmount
	}{
		{"fsck", disk.MmpSeqFsck, false, false, "fsck is running on the filesystem", 0, "e24d4d50"},
		{"active", 0x1234, true, false, "Device is already active on another node", 1, "1235"},
		{"stopped", 0x1234, false, true, "not left clean", 2, "ff4d4d50"},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := mmpImage(t)
			editMmp(t, img, func(m *disk.Mmp) {
				m.Seq = c.seq
				copy(m.Nodename[:], "othernode")
			})
			waits = nil
			if c.moves {
				during = func() { editMmp(t, img, func(m *disk.Mmp) { m.Seq++ }) }
			}
			defer func() { during = func() {} }()
			log := &testLog{}
			sb, err := NewType().Mount(openDevRW(t, img), 0, "", log)
			if err != nil {
				t.Fatalf("mount: %v", err)
			}
			f := sb.(*fsys)
			if f.ReadOnly() == c.rw || !strings.Contains(log.String(), c.message) || len(waits) != c.waits {
				t.Errorf("read-only %v after %d waits, log:\n%s\nwant read-only %v after %d, %q", f.ReadOnly(), len(waits), log, !c.rw, c.waits, c.message)
			}
			if !c.rw && !strings.Contains(log.String(), `"othernode"`) {
				t.Errorf("the refusal does not name the node holding the block:\n%s", log)
			}
			if err := f.Unmount(); err != nil {
				t.Fatal(err)
			}
			if got := dumpMmp(t, img)["sequence"]; strings.TrimLeft(got, "0") != c.after {
				t.Errorf("sequence %s after the unmount, want %s", got, c.after)
			}
		})
	}

	t.Run("read-only", func(t *testing.T) {
		img := mmpImage(t)
		editMmp(t, img, func(m *disk.Mmp) { m.Seq = 0x4242 })
		waits = nil
		sb, _ := mountImage(t, img)
		if err := sb.Unmount(); err != nil {
			t.Fatal(err)
		}
		if got := dumpMmp(t, img)["sequence"]; strings.TrimLeft(got, "0") != "4242" || len(waits) != 0 {
			t.Errorf("a read-only mount waited %v and left the sequence %s, want 4242 untouched", waits, got)
		}
	})
}
