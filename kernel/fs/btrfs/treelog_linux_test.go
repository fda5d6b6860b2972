package btrfs_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	disk "github.com/lklimg/lklimg/format/btrfs"
	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
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
}

// logImage makes an image with logBase committed and script's fsynced
// changes in its log tree, and returns its path. The test fails if the
// image has no log tree.
func logImage(t *testing.T, script string) string {
	t.Helper()
	testutil.Need(t, "mkfs.btrfs", "setfattr", "fallocate")
	img := mkfsBtrfs(t)
	logged := filepath.Join(t.TempDir(), "logged.img")
	mnt, umount := testutil.HostMount(t, img, "rw,commit=300")
	sh(t, "cd "+mnt+"\n"+logBase+"\nsync -f .\n"+script)
	testutil.Run(t, "cp", "--sparse=always", img, logged)
	umount()
	b := make([]byte, disk.SuperInfoSize)
	f, err := os.Open(logged)
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
	if sb.LogRoot == 0 {
		t.Fatalf("the image has no log tree: the host committed the changes")
	}
	return logged
}

// hostReplayed is what the host shows of img once its log is replayed:
// a read-write mount of a copy.
func hostReplayed(t *testing.T, img string) testutil.Tree {
	t.Helper()
	cp := filepath.Join(t.TempDir(), "replayed.img")
	testutil.Run(t, "cp", "--sparse=always", img, cp)
	mnt, umount := testutil.HostMount(t, cp, "rw")
	defer umount()
	return testutil.MustScanDir(t, mnt)
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
			if err := kerneltest.MountErr(t, img, "btrfs", abi.MS_RDONLY, ""); !errors.Is(err, abi.EOPNOTSUPP) {
				t.Errorf("a mount that would replay the log: %v, want EOPNOTSUPP", err)
			}
		})
	}
	t.Logf("%d entries compared", total)
}
