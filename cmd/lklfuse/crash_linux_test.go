package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lklimg/lklimg/internal/testutil"
)

// crashKills is how many times TestCrash kills the server.
const crashKills = 6

// TestCrash kills the server (SIGKILL, as a crash would) at random
// moments while cp -a writes a tree through the mount. The image is then
// recovered twice, from two copies: by our kernel (lklimg's read-write
// mount replays the journal) and by the host's (mount -o loop, umount);
// e2fsck -fn must find both clean: journal replay alone must be enough.
func TestCrash(t *testing.T) {
	testutil.NeedFUSE(t)
	testutil.NeedLoop(t)
	lklimg, err := testutil.BuildInto(t.TempDir(), "../lklimg", "lklimg")
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.MakeTree(t, src)
	for d := range 20 {
		dir := filepath.Join(src, fmt.Sprintf("many/d%02d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f := range 40 {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%03d", f)), []byte(strings.Repeat("x", f*97)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	work := t.TempDir()
	template := filepath.Join(work, "template.img")
	testutil.MkfsExt4(t, template, "", "64M")
	img := filepath.Join(work, "crash.img")
	mnt := filepath.Join(work, "mnt")
	loop := filepath.Join(work, "loop")
	for _, d := range []string{mnt, loop} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// copyIn mounts a fresh image and starts cp -a into it.
	copyIn := func() (server int, cp *exec.Cmd) {
		testutil.Run(t, "cp", "--sparse=always", template, img)
		if r := lklfuse(t, img, mnt); r.Code != 0 {
			t.Fatalf("exit %d: %s", r.Code, r.Stderr)
		}
		server = serverPid(t, mnt)
		cp = exec.Command("cp", "-a", src+"/.", mnt+"/")
		if err := cp.Start(); err != nil {
			t.Fatal(err)
		}
		return server, cp
	}

	// A whole copy, to know how long one takes.
	start := time.Now()
	server, cp := copyIn()
	if err := cp.Wait(); err != nil {
		t.Fatalf("cp -a into the mount: %v", err)
	}
	whole := time.Since(start)
	testutil.Run(t, "fusermount3", "-u", mnt)
	waitGone(t, server, mnt)
	testutil.E2fsckClean(t, img)

	rnd := rand.New(rand.NewPCG(14, crashKills))
	dirty := 0
	for i := range crashKills {
		at := time.Duration(rnd.Int64N(int64(whole)))
		server, cp := copyIn()
		time.Sleep(at)
		syscall.Kill(server, syscall.SIGKILL)
		waitGone(t, server, "")
		// The dead server's mount: detached, as fusermount3 -u -z.
		exec.Command("umount", "-l", mnt).Run()
		cp.Wait()
		if out, _ := exec.Command("dumpe2fs", "-h", img).CombinedOutput(); strings.Contains(string(out), "needs_recovery") {
			dirty++
		}
		ours, host := img+".ours", img+".host"
		testutil.Run(t, "cp", "--sparse=always", img, ours)
		testutil.Run(t, "cp", "--sparse=always", img, host)
		// Our kernel's recovery: a read-write mount replays the log.
		if out, err := exec.Command(lklimg, "mkdir", ours, "/after-crash").CombinedOutput(); err != nil {
			t.Errorf("kill %d at %v: lklimg on the image: %v\n%s", i, at, err, out)
		}
		// The host kernel's.
		testutil.Run(t, "mount", "-o", "loop", host, loop)
		testutil.Run(t, "umount", loop)
		for _, who := range []string{ours, host} {
			if out, err := exec.Command("e2fsck", "-fn", who).CombinedOutput(); err != nil {
				keep := filepath.Join(os.TempDir(), fmt.Sprintf("lklfuse-crash-%d-%s.img", i, filepath.Ext(who)[1:]))
				exec.Command("cp", "--sparse=always", who, keep).Run()
				t.Errorf("kill %d at %v of %v: e2fsck -fn after %s replay: %v (kept as %s)\n%s",
					i, at, whole, filepath.Ext(who)[1:], err, keep, out)
			}
		}
	}
	t.Logf("%d kills at random moments of a %v copy through the mount; %d left the journal needing recovery",
		crashKills, whole.Round(time.Millisecond), dirty)
}
