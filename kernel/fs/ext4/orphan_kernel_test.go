package ext4_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Orphans in the orphan file, through the kernel's syscalls: files
// unlinked while open, a crash (a copy of the image, or SIGKILL), and the
// recovery by the host kernel and by ours.

// bootRW boots a kernel with img mounted read-write at /mnt.
func bootRW(t *testing.T, img string) *kernel.Kernel {
	t.Helper()
	k, err := kernel.Boot(kernel.Config{Now: func() abi.Timespec { return abi.Timespec{Sec: 1700000000} }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.AddDisk(img, kernel.DiskOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := k.Mkdirat(abi.AT_FDCWD, "/mnt", 0o755); err != nil && !errors.Is(err, abi.EEXIST) {
		t.Fatal(err)
	}
	if err := k.Mount("/dev/vda", "/mnt", "ext4", 0, ""); err != nil {
		t.Fatalf("mount: %v\n%s", err, k.Dmesg())
	}
	return k
}

// TestOrphanFileSyscalls opens files, unlinks them while open and writes
// to them: after a sync their inodes are in the orphan file, as debugfs
// reads it once the journal's committed transactions are replayed; a copy of the image then (a crash) is recovered clean by the
// host kernel; closing them frees them and empties the orphan file, and
// the unmounted image is clean.
func TestOrphanFileSyscalls(t *testing.T) {
	testutil.Need(t, "mkfs.ext4", "e2fsck", "debugfs")
	img := filepath.Join(t.TempDir(), "img")
	testutil.Run(t, "mkfs.ext4", "-q", "-F", "-O", "orphan_file,metadata_csum_seed", img, "32M")
	k := bootRW(t, img)
	defer k.Halt()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v\n%s", what, err, k.Dmesg())
		}
	}
	var fds []int
	want := map[uint32]bool{}
	for i := range 3 {
		p := fmt.Sprintf("/mnt/f%d", i)
		fd, err := k.Openat(abi.AT_FDCWD, p, abi.O_CREAT|abi.O_RDWR, 0o644)
		must("create", err)
		var st abi.Stat
		must("fstat", k.Fstat(fd, &st))
		want[uint32(st.Ino)] = true
		must("unlink", k.Unlinkat(abi.AT_FDCWD, p, 0))
		_, err = k.Write(fd, make([]byte, 100000))
		must("write after unlink", err)
		fds = append(fds, fd)
	}
	must("sync", k.Sync())
	got := testutil.Ext4OrphanFileEntries(t, replayedCopy(t, img))
	if len(got) != len(want) {
		t.Errorf("orphan file holds %v, want %v", got, want)
	}
	for _, n := range got {
		if !want[n] {
			t.Errorf("orphan file holds inode %d, want %v", n, want)
		}
	}
	crashed := filepath.Join(t.TempDir(), "crashed")
	testutil.Run(t, "cp", "--sparse=always", img, crashed)
	if out, err := exec.Command("e2fsck", "-fn", crashed).CombinedOutput(); err == nil {
		t.Errorf("e2fsck -fn finds nothing in the crashed image:\n%s", out)
	}
	if os.Geteuid() == 0 {
		testutil.NeedLoop(t)
		mnt := t.TempDir()
		testutil.Run(t, "mount", "-o", "loop", crashed, mnt)
		testutil.Run(t, "umount", mnt)
		e2fsckOK(t, crashed)
	}

	for _, fd := range fds {
		must("close", k.Close(fd))
	}
	must("sync", k.Sync())
	if got := testutil.Ext4OrphanFileEntries(t, replayedCopy(t, img)); len(got) != 0 {
		t.Errorf("orphan file after close holds %v", got)
	}
	must("umount", k.Umount("/mnt", 0))
	must("halt", k.Halt())
	e2fsckOK(t, img)
}

// replayedCopy returns a copy of the image of a mounted filesystem with
// its journal replayed by e2fsck (-E journal_only): what the disk holds
// after a sync, the log's committed transactions included, which a
// checkpoint writes home only later.
func replayedCopy(t *testing.T, img string) string {
	t.Helper()
	c := filepath.Join(t.TempDir(), "replayed")
	testutil.Run(t, "cp", "--sparse=always", img, c)
	// e2fsck's replay alone, which e2fsck, the kernel and we agree on
	// (debugfs's jr left the orphan file empty now and then).
	out, err := exec.Command("e2fsck", "-y", "-E", "journal_only", c).CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) { // 1: replayed
		t.Fatalf("e2fsck -E journal_only %s: %v\n%s", c, err, out)
	}
	return c
}

func e2fsckOK(t *testing.T, img string) {
	t.Helper()
	if out, err := exec.Command("e2fsck", "-fn", img).CombinedOutput(); err != nil {
		t.Fatalf("e2fsck -fn: %v\n%s", err, out)
	}
}

// orphanWorkloadEnv names the image TestOrphanCrashWorkload works on when
// TestOrphanCrash runs the test binary as its helper.
const orphanWorkloadEnv = "LKLIMG_ORPHAN_WORKLOAD"

// TestOrphanCrashWorkload is TestOrphanCrash's helper process, run only
// with orphanWorkloadEnv set (otherwise it does nothing): it mounts the
// image and, until it is killed, creates files, writes them, unlinks them
// while they are open, closes them a few unlinks later, and syncs now and
// then, so that a kill finds orphans in the orphan file, in the journal
// or on disk.
func TestOrphanCrashWorkload(t *testing.T) {
	img := os.Getenv(orphanWorkloadEnv)
	if img == "" {
		return
	}
	k := bootRW(t, img)
	var open []int
	buf := make([]byte, 20000)
	for i := 0; ; i++ {
		p := fmt.Sprintf("/mnt/w%d", i%50)
		fd, err := k.Openat(abi.AT_FDCWD, p, abi.O_CREAT|abi.O_RDWR|abi.O_TRUNC, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.Write(fd, buf[:i%len(buf)]); err != nil {
			t.Fatal(err)
		}
		if i%3 != 0 { // every third file stays
			if err := k.Unlinkat(abi.AT_FDCWD, p, 0); err != nil {
				t.Fatal(err)
			}
		}
		open = append(open, fd)
		if len(open) > 8 {
			if err := k.Close(open[0]); err != nil {
				t.Fatal(err)
			}
			open = open[1:]
		}
		if i%7 == 0 {
			if err := k.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// orphanCrashPointsDefault is how many kills TestOrphanCrash makes unless
// LKLIMG_CRASH_POINTS says otherwise.
const orphanCrashPointsDefault = 4

// TestOrphanCrash kills (SIGKILL) a process that unlinks files while they
// are open on an orphan_file image at random moments. Each image left is
// recovered twice: by the host kernel (mount -o loop replays the journal
// and deletes the orphans; umount) and by our kernel (a read-write mount
// and unmount); e2fsck -fn must find both clean.
func TestOrphanCrash(t *testing.T) {
	testutil.NeedLoop(t)
	testutil.Need(t, "mkfs.ext4", "e2fsck", "dumpe2fs")
	n := orphanCrashPointsDefault
	if s := os.Getenv("LKLIMG_CRASH_POINTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("LKLIMG_CRASH_POINTS=%q: want a count", s)
		}
	}
	work := t.TempDir()
	template := filepath.Join(work, "template.img")
	testutil.Run(t, "mkfs.ext4", "-q", "-F", "-O", "orphan_file,metadata_csum_seed", template, "32M")
	img, ours := filepath.Join(work, "crash.img"), filepath.Join(work, "ours.img")
	mnt := filepath.Join(work, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(11, uint64(n)))
	var withOrphans, cleaned int
	for i := range n {
		testutil.Run(t, "cp", "--sparse=always", template, img)
		cmd := exec.Command(os.Args[0], "-test.run=^TestOrphanCrashWorkload$")
		cmd.Env = append(os.Environ(), orphanWorkloadEnv+"="+img)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		at := 300*time.Millisecond + time.Duration(rnd.Int64N(int64(1200*time.Millisecond)))
		time.Sleep(at)
		cmd.Process.Kill()
		if cmd.Wait(); cmd.ProcessState.ExitCode() != -1 {
			t.Fatalf("kill %d: the workload ended by itself (%v):\n%s", i, cmd.ProcessState, out.Bytes())
		}
		testutil.Run(t, "cp", "--sparse=always", img, ours)
		if len(testutil.Ext4OrphanFileEntries(t, replayedCopy(t, img))) > 0 {
			withOrphans++
		}
		if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
			t.Errorf("kill %d at %v: the host kernel does not mount the image: %v\n%s", i, at, err, out)
			continue
		}
		testutil.Run(t, "umount", mnt)
		if out, err := exec.Command("e2fsck", "-fn", img).CombinedOutput(); err != nil {
			t.Errorf("kill %d at %v: e2fsck -fn after the host kernel's recovery: %v\n%s", i, at, err, out)
		}
		k := bootRW(t, ours)
		if strings.Contains(k.Dmesg(), "orphan inodes deleted") {
			cleaned++
		}
		if err := k.Umount("/mnt", 0); err != nil {
			t.Errorf("kill %d: our umount: %v\n%s", i, err, k.Dmesg())
		}
		k.Halt()
		if out, err := exec.Command("e2fsck", "-fn", ours).CombinedOutput(); err != nil {
			t.Errorf("kill %d at %v: e2fsck -fn after our recovery: %v\n%s", i, at, err, out)
		}
	}
	t.Logf("%d kills, %d left orphans in the orphan file, %d had orphans deleted by our mount", n, withOrphans, cleaned)
}
