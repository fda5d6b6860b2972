//go:build linux

package main

import (
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
)

// crashPointsDefault is how many kills TestCrash makes unless
// LKLIMG_CRASH_POINTS says otherwise.
const crashPointsDefault = 12

// TestCrash kills cptofs (SIGKILL, as a crash or a power cut would stop
// it) at random moments while it copies a tree into a journaled image.
// After each kill the host kernel recovers the image (mount -o loop
// replays the journal; umount) and e2fsck -fn must then find it clean:
// journal replay alone must be enough, at any moment.
func TestCrash(t *testing.T) {
	testutil.NeedLoop(t)
	testutil.Need(t, "dumpe2fs")
	n := crashPointsDefault
	if s := os.Getenv("LKLIMG_CRASH_POINTS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("LKLIMG_CRASH_POINTS=%q: want a count", s)
		}
	}
	src := filepath.Join(t.TempDir(), "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.MakeTree(t, src)
	// Many small files and directories: many transactions to stop in.
	for d := range 40 {
		dir := filepath.Join(src, fmt.Sprintf("many/d%02d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := range 60 {
			writeFile(t, filepath.Join(dir, fmt.Sprintf("f%03d", f)), strings.Repeat("x", f*37))
		}
	}
	work := t.TempDir()
	template := filepath.Join(work, "template.img")
	testutil.MkfsExt4(t, template, "", "64M")
	img := filepath.Join(work, "crash.img")
	fresh := func() {
		testutil.Run(t, "cp", "--sparse=always", template, img)
	}

	// A whole run, to know how long one takes.
	fresh()
	start := time.Now()
	mustRun(t, cptofs(t, "-i", img, src+"/.", "/"), "cptofs")
	whole := time.Since(start)
	testutil.E2fsckClean(t, img)

	rnd := rand.New(rand.NewPCG(5, uint64(n)))
	mnt := filepath.Join(work, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	var dirty, unclean int
	for i := range n {
		fresh()
		at := time.Duration(rnd.Int64N(int64(whole)))
		cmd := exec.Command(cptofsBin, "-i", img, src+"/.", "/")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(at)
		cmd.Process.Kill()
		cmd.Wait()
		if out, _ := exec.Command("dumpe2fs", "-h", img).CombinedOutput(); strings.Contains(string(out), "needs_recovery") {
			dirty++
		}
		// The host kernel's recovery: a read-write mount replays the
		// journal (and the orphan list); umount leaves it clean.
		if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
			t.Errorf("kill %d at %v: the kernel does not mount the image: %v\n%s", i, at, err, out)
			unclean++
			continue
		}
		testutil.Run(t, "umount", mnt)
		if out, err := exec.Command("e2fsck", "-fn", img).CombinedOutput(); err != nil {
			unclean++
			keep := filepath.Join(os.TempDir(), fmt.Sprintf("lklimg-crash-%d.img", i))
			exec.Command("cp", "--sparse=always", img, keep).Run()
			t.Errorf("kill %d at %v of %v: e2fsck -fn after the kernel's journal replay: %v (image kept as %s)\n%s",
				i, at, whole, err, keep, out)
		}
	}
	t.Logf("%d kills at random moments of a %v copy; %d left the journal needing recovery; %d needed more than journal replay",
		n, whole.Round(time.Millisecond), dirty, unclean)
}
