//go:build linux

package kernel

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// TestEncryptWritesAgainstHost changes an encrypt image without the key,
// as Linux does: an encrypted directory made by the host's Linux (the key
// gone at its umount) is copied to a twin image; the same calls run on
// one through the kernel's ext4 driver and on the twin loop-mounted by
// the host, and their traces must be equal: creating, linking or renaming
// into or out of the directory is ENOKEY, opening or truncating an
// encrypted file ENOKEY, while chmod, chown, xattrs, times, links out,
// unlink and rmdir of no-key names work. Both images then pass e2fsck -fn
// and the host, mounting each afresh, sees the same trees.
func TestEncryptWritesAgainstHost(t *testing.T) {
	tools := testutil.Need(t, "mkfs.ext4", "e2fsck")
	testutil.NeedLoop(t)
	dir := t.TempDir()
	kimg, himg := dir+"/kernel.img", dir+"/host.img"
	testutil.Run(t, tools[0], "-q", "-F", "-O", "encrypt", kimg, "32M")
	host := dir + "/mnt"
	if err := os.Mkdir(host, 0o755); err != nil {
		t.Fatal(err)
	}
	fill := func() {
		testutil.Run(t, "mount", "-o", "loop", kimg, host)
		defer testutil.Run(t, "umount", host)
		secret := host + "/secret"
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(os.Mkdir(secret, 0o755))
		testutil.EncryptDir(t, host, secret)
		must(os.WriteFile(secret+"/plans.txt", []byte("the secret plans\n"), 0o600))
		must(os.Mkdir(secret+"/sub", 0o700))
		must(os.WriteFile(secret+"/sub/deeper", []byte("deeper\n"), 0o600))
		must(os.Mkdir(secret+"/empty", 0o700))
		must(os.Symlink("plans.txt", secret+"/link"))
		must(os.WriteFile(secret+"/"+strings.Repeat("n", 200), nil, 0o600))
		// Enough names for an indexed directory.
		for i := range 120 {
			must(os.WriteFile(fmt.Sprintf("%s/file-%03d", secret, i), []byte{byte(i)}, 0o644))
		}
		must(os.WriteFile(host+"/plain", []byte("plain\n"), 0o644))
	}
	fill()
	b, err := os.ReadFile(kimg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(himg, b, 0o644); err != nil {
		t.Fatal(err)
	}

	runTwins(t, kimg, himg, host, encryptScenario)
	var views [2][]string
	for i, img := range []string{kimg, himg} {
		if out, err := exec.Command(tools[1], "-fn", img).CombinedOutput(); err != nil {
			t.Errorf("e2fsck -fn %s: %v\n%s", img, err, out)
		}
		testutil.Run(t, "mount", "-o", "loop,ro", img, host)
		r := &tracer{s: &hostSys{dir: host}}
		viewTrace(r, ".")
		testutil.Run(t, "umount", host)
		views[i] = r.trace
	}
	compareTraces(t, views[1], views[0], nil)
}

// TestFeatureWritesAgainstHost runs the write scenarios of
// TestWriteSyscallsOnExt4AgainstHost on an image with each feature of
// testutil.Ext4Features (the feature matrix) that the host's Linux mounts
// read-write: the traces must be equal and e2fsck -fn clean. The others
// (casefold without CONFIG_UNICODE, quota without CONFIG_QUOTA, blocks
// larger than pages) are named in the log; the encrypted directories'
// calls are TestEncryptWritesAgainstHost's.
func TestFeatureWritesAgainstHost(t *testing.T) {
	for _, f := range testutil.Ext4Features() {
		t.Run(f.Name, func(t *testing.T) {
			if f.LogHostView(t, true, "no oracle for the syscalls' results") {
				ext4AgainstHost(t, f.Opts...)
			}
		})
	}
}

// runTwins runs scenario on kimg through the kernel's ext4 driver and on
// himg loop-mounted by the host at host, compares the traces, then halts
// the kernel and unmounts himg.
func runTwins(t *testing.T, kimg, himg, host string, scenario func(*tracer)) {
	t.Helper()
	testutil.Run(t, "mount", "-o", "loop", himg, host)
	hostMounted := true
	defer func() {
		if hostMounted {
			exec.Command("umount", host).Run()
		}
	}()
	k, mnt, halt := bootExt4(t, kimg)
	hr := &tracer{s: &hostSys{dir: host}}
	kr := &tracer{s: &kernelSys{k: k, dir: mnt}}
	scenario(hr)
	scenario(kr)
	compareTraces(t, hr.trace, kr.trace, nil)
	halt()
	testutil.Run(t, "umount", host)
	hostMounted = false
}

// encryptScenario runs the calls on the encrypted directory "secret",
// whose no-key names it takes from a listing.
func encryptScenario(r *tracer) {
	r.ls("secret")
	ents, _ := r.s.List("secret")
	var files, dirs, links []string
	for _, e := range ents {
		name, typ, _ := strings.Cut(e, ":")
		switch typ {
		case fmt.Sprint(abi.DT_REG):
			files = append(files, "secret/"+name)
		case fmt.Sprint(abi.DT_DIR):
			dirs = append(dirs, "secret/"+name)
		case fmt.Sprint(abi.DT_LNK):
			links = append(links, "secret/"+name)
		}
	}
	r.add("%d files, %d dirs, %d links", len(files), len(dirs), len(links))
	if len(files) < 4 || len(dirs) != 2 || len(links) != 1 {
		return
	}
	f0, f1, f2 := files[0], files[1], files[2]
	r.stat(f0, abi.AT_SYMLINK_NOFOLLOW)
	r.close(r.open(f0, abi.O_RDONLY, 0))
	r.close(r.open(f0, abi.O_WRONLY, 0))
	r.close(r.open(f0, abi.O_RDONLY|abi.O_TRUNC, 0))
	r.e("truncate", r.s.Truncate(f0, 0))
	r.close(r.open("secret", abi.O_RDONLY|abi.O_DIRECTORY, 0))
	r.close(r.open("secret/new", abi.O_CREAT|abi.O_WRONLY, 0o644))
	r.e("mkdir", r.s.Mkdir("secret/newdir", 0o755))
	r.e("symlink", r.s.Symlink("t", "secret/newlink"))
	r.e("mknod", r.s.Mknod("secret/fifo", abi.S_IFIFO|0o644, 0))
	r.e("link in", r.s.Link("plain", "secret/in", 0))
	r.e("link out", r.s.Link(f0, "out", 0))
	r.stat("out", 0)
	r.e("rename out", r.s.Rename(f1, "moved", 0))
	r.e("rename in", r.s.Rename("plain", "secret/x", 0))
	r.e("rename within", r.s.Rename(f1, f2, 0))
	r.e("exchange", r.s.Rename(f1, f2, abi.RENAME_EXCHANGE))
	r.e("chmod", r.s.Chmod(f1, 0o640, 0))
	r.e("chown", r.s.Chown(f1, 12, 34, 0))
	r.e("setxattr", r.s.Setxattr(f1, "user.note", []byte("noted"), 0))
	r.getxattr(f1, "user.note")
	r.e("utimens", r.s.Utimens(f1, &[2]abi.Timespec{{Sec: 1000}, {Sec: 2000}}, 0))
	r.times(f1, 0)
	r.stat(f1, 0)
	target, err := r.s.Readlink(links[0])
	r.add("readlink: %q %s", target, errName(err))
	r.stat(links[0], abi.AT_SYMLINK_NOFOLLOW)
	r.e("unlink", r.s.Unlink(f0, 0))
	r.stat(f0, 0)
	r.stat("out", 0)
	for _, d := range dirs {
		r.e("rmdir", r.s.Unlink(d, abi.AT_REMOVEDIR))
	}
	r.e("unlink link", r.s.Unlink(links[0], 0))
	r.e("unlink absent", r.s.Unlink("secret/"+strings.Repeat("A", 43), 0))
	for _, f := range files[3 : len(files)-10] {
		r.e("unlink "+f, r.s.Unlink(f, 0))
	}
	r.ls("secret")
}

// viewTrace records the tree under p: listings, stat fields, link
// targets, the xattr the scenario sets.
func viewTrace(r *tracer, p string) {
	ents, err := r.s.List(p)
	if err != nil {
		r.e("ls "+p, err)
		return
	}
	r.add("ls %s: %s", p, strings.Join(ents, " "))
	for _, e := range ents {
		name, typ, _ := strings.Cut(e, ":")
		q := p + "/" + name
		r.stat(q, unix.AT_SYMLINK_NOFOLLOW)
		switch typ {
		case fmt.Sprint(abi.DT_DIR):
			viewTrace(r, q)
		case fmt.Sprint(abi.DT_LNK):
			target, err := r.s.Readlink(q)
			r.add("readlink %s: %q %s", q, target, errName(err))
		case fmt.Sprint(abi.DT_REG):
			r.getxattr(q, "user.note")
		}
	}
}
