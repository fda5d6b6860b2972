package btrfs_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	disk "github.com/lklimg/lklimg/format/btrfs"
	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Images with a log tree: a filesystem filled and committed (sync) on the
// host, then changed with each change fsynced, and the image copied while
// it is still mounted, before any commit (commit=300) would fold the log
// into the trees. The host's replay is the oracle: a read-write loop mount
// of a copy (on read-only media Linux refuses, "log replay required on RO
// media"); with rescue=nologreplay, the read-only mount of the last
// commit.

// logBase is the committed state every log image starts from.
const logBase = `
mkdir -p d e
echo base > d/base; seq 1 1000 > d/old; seq 1 5000 > d/over
head -c 100000 /dev/zero > e/z; ln d/base e/baselink
echo gone > d/gone; echo mv > d/mvme; head -c 1000000 /dev/urandom > d/big
echo a > d/attrs; setfattr -n user.gone -v x d/attrs; setfattr -n user.keep -v y d/attrs
btrfs -q subvolume create sv; seq 1 100 > sv/f
`

// logCases are changes fsynced after the commit: what the log holds.
var logCases = []struct{ name, script string }{
	{"append", `echo appended >> d/old; sync d/old`},
	{"overwrite", `printf 'OVERWRITTEN' | dd of=d/over bs=1 seek=10000 conv=notrunc 2>/dev/null; sync d/over`},
	{"new-file", `echo new > d/new; sync d/new`},
	{"new-random", `head -c 300000 /dev/urandom > e/rand; sync e/rand`},
	{"truncate", `truncate -s 5000 d/big; sync d/big`},
	{"xattrs", `setfattr -n user.added -v value d/attrs; setfattr -x user.gone d/attrs; sync d/attrs`},
	{"unlink-link-symlink-prealloc", `rm d/gone; ln d/old e/oldlink; sync d/old
chmod 600 e/z; fallocate -o 0 -l 1M -n e/z; sync e/z
ln -s target d/sym; sync d`},
	{"rename", `mv d/mvme d/renamed; sync d/renamed`},
	{"rename-dir", `mv d/old d/old2; sync d`},
	{"move-to-dir", `mv d/mvme e/moved; sync e`},
	{"unlink", `rm d/gone d/mvme; sync d`},
	{"many-new", `for i in $(seq 1 300); do echo $i > d/n$i; done; sync d`},
	{"punch-hole", `fallocate -p -o 100000 -l 300000 d/big; sync d/big`},
	{"overwrite-middle", `dd if=/dev/urandom of=d/big bs=4096 seek=50 count=20 conv=notrunc 2>/dev/null; sync d/big`},
	{"subvolume", `echo more >> sv/f; echo new > sv/g; sync sv/f sv/g`},
	{"rmdir-tree", `rm -rf e; sync .`},
	{"replace-by-rename", `echo newer > d/tmp; sync d/tmp; mv d/tmp d/base; sync d/base`},
}

// logImage makes an image with logBase committed and script's fsynced
// changes in its log tree, and returns its path. The test fails if the
// image has no log tree.
func logImage(t *testing.T, script string) string {
	return logImageWith(t, "", script)
}

// logImageWith is logImage with the host's mount options opts too. The
// host may commit on its own (memory pressure, a busy machine): the
// image is made again, three times at most.
func logImageWith(t *testing.T, opts, script string) string {
	t.Helper()
	return logImageFrom(t, logBase, opts, script)
}

// logImageFrom is logImageWith from the committed state base made.
func logImageFrom(t *testing.T, base, opts, script string) string {
	t.Helper()
	testutil.Need(t, "mkfs.btrfs", "btrfs", "setfattr", "fallocate")
	for try := 1; ; try++ {
		img := mkfsBtrfs(t)
		logged := filepath.Join(t.TempDir(), "logged.img")
		mnt, umount := testutil.HostMount(t, img, "rw,commit=300"+opts)
		sh(t, "cd "+mnt+"\n"+base+"\nsync -f .\n"+script)
		testutil.Run(t, "cp", "--sparse=always", img, logged)
		umount()
		if hasLog(t, logged) {
			return logged
		}
		if try == 3 {
			t.Fatalf("the image has no log tree: the host committed the changes, %d times", try)
		}
		t.Logf("the host committed the changes: made again")
	}
}

// hasLog reports whether img's superblock has a log tree.
func hasLog(t *testing.T, img string) bool {
	t.Helper()
	b := make([]byte, disk.SuperInfoSize)
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadAt(b, disk.SuperInfoOffset); err != nil {
		t.Fatal(err)
	}
	sb, err := disk.DecodeSuperBlock(b)
	if err != nil {
		t.Fatal(err)
	}
	return sb.LogRoot != 0
}

// hostReplayed returns a copy of img whose log the host replayed: a
// read-write mount of it, unmounted (the replay committed), and the
// time before the replay (nanoseconds).
func hostReplayed(t *testing.T, img string) (string, int64) {
	t.Helper()
	cp := filepath.Join(t.TempDir(), "replayed.img")
	testutil.Run(t, "cp", "--sparse=always", img, cp)
	at := time.Now().UnixNano()
	_, umount := testutil.HostMount(t, cp, "rw")
	umount()
	return cp, at
}

// With rescue=nologreplay (or its old name norecovery) the last commit
// is shown, as the host's read-only mount with the option shows it; the
// option needs a read-only mount (EINVAL).
func TestLogNoReplay(t *testing.T) {
	testutil.NeedLoop(t)
	total := 0
	for _, c := range logCases {
		t.Run(c.name, func(t *testing.T) {
			img := logImage(t, c.script)
			want, _ := hostView(t, img, "rescue=nologreplay")
			for _, opts := range []string{"rescue=nologreplay", "norecovery", "rescue=all"} {
				testutil.ExpectSame(t, c.name+" "+opts, want, kernelView(t, img, opts), compareOptions())
				total += len(want)
			}
			if err := kerneltest.MountErr(t, img, "btrfs", 0, "rescue=nologreplay"); !errors.Is(err, abi.EINVAL) {
				t.Errorf("rescue=nologreplay on a read-write mount: %v, want EINVAL", err)
			}
		})
	}
	t.Logf("%d entries compared", total)
}

// Without the option the log is replayed in memory: what the library
// kernel shows is what the host shows once its mount replayed the log,
// entry by entry and by lstat.
func TestLogReplay(t *testing.T) {
	testutil.NeedLoop(t)
	total, replayed := 0, 0
	for _, c := range logCases {
		t.Run(c.name, func(t *testing.T) {
			opts := ""
			if c.name == "append" || c.name == "many-new" {
				// Compressed extents in the log, and their checksums.
				opts = ",compress-force=zstd"
			}
			img := logImageWith(t, opts, c.script)
			replayedImg, replayedAt := hostReplayed(t, img)
			want, _ := hostView(t, replayedImg, "")
			if last, _ := hostView(t, img, "rescue=nologreplay"); len(testutil.Compare(want, last, compareOptions())) == 0 {
				t.Errorf("the host shows the same with and without the log's replay")
			}
			if err := kerneltest.MountErr(t, img, "btrfs", abi.MS_RDONLY, ""); err != nil {
				t.Fatalf("mount: %v", err)
			}
			testutil.ExpectSame(t, c.name, want, kernelView(t, img, ""), compareOptions())
			checkDirentsOf(t, replayedImg, img, "", replayedAt)
			total += len(want)
			replayed++
		})
	}
	t.Logf("%d of %d logs replayed, %d entries compared", replayed, len(logCases), total)
}

// A directory of thousands of names over many leaves and two levels,
// and a log of names removed, renamed and added among them: the
// overlay's cursor goes back and forth across leaves.
func TestLogReplayBigTree(t *testing.T) {
	testutil.NeedLoop(t)
	img := logImageFrom(t, `mkdir big; cd big
for i in $(seq 1000 3999); do echo $i > f$i; done
setfattr -n user.a -v 1 f2000; cd ..`, "", `cd big
rm f1*; mv f2000 g2000; mv f3999 a0; for i in $(seq 1 200); do echo $i > n$i; done
ln f2500 l2500; sync .`)
	replayedImg, replayedAt := hostReplayed(t, img)
	want, _ := hostView(t, replayedImg, "")
	testutil.ExpectSame(t, "big tree", want, kernelView(t, img, ""), compareOptions())
	checkDirentsOf(t, replayedImg, img, "", replayedAt)
	t.Logf("%d entries compared", len(want))
}

// The data checksums of the extents a replay brings back are the log's:
// a byte of such an extent changed in the image fails the read with
// EIO, as on the host's replayed mount.
func TestLogReplayChecksum(t *testing.T) {
	testutil.NeedLoop(t)
	img := logImage(t, `head -c 300000 /dev/urandom > e/rand; sync e/rand`)
	var data []byte
	kerneltest.WithMount(t, img, "btrfs", abi.MS_RDONLY, "", func(k *kernel.Kernel, must func(string, error)) {
		fd, err := k.Openat(abi.AT_FDCWD, "/mnt/e/rand", abi.O_RDONLY, 0)
		must("open", err)
		defer k.Close(fd)
		data = make([]byte, 300000)
		n, err := k.Read(fd, data)
		must("read", err)
		data = data[:n]
	})
	if len(data) != 300000 {
		t.Fatalf("the replayed file has %d bytes", len(data))
	}
	damageData(t, img, data, 100)
	replayed, _ := hostReplayed(t, img)
	mnt, umount := testutil.HostMount(t, replayed, "ro")
	if _, err := os.ReadFile(filepath.Join(mnt, "e/rand")); !errors.Is(err, syscall.EIO) {
		t.Errorf("the host reads the damaged file: %v", err)
	}
	umount()
	kerneltest.WithMount(t, img, "btrfs", abi.MS_RDONLY, "", func(k *kernel.Kernel, must func(string, error)) {
		fd, err := k.Openat(abi.AT_FDCWD, "/mnt/e/rand", abi.O_RDONLY, 0)
		must("open", err)
		defer k.Close(fd)
		if _, err := k.Read(fd, make([]byte, 4096)); !errors.Is(err, abi.EIO) {
			t.Errorf("read of the damaged replayed file: %v, want EIO", err)
		}
	})
}
