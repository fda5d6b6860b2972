//go:build linux

package kernel

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// TestEAInodeAgainstHost sets and removes xattrs of many sizes on twin
// ea_inode images (1 and 4 KiB blocks), one through the kernel's ext4 driver,
// one loop-mounted by the host's Linux: the traces (errnos, values read
// back) must be equal, both images pass e2fsck -fn, and they use as many
// inodes and blocks, which they do when each value went where Linux puts
// it (in the inode, in the block, in an ea_inode) and every ea_inode
// freed was freed on both. Equal values set in the mount share one
// ea_inode, as Linux's mbcache has them share it.
func TestEAInodeAgainstHost(t *testing.T) {
	for _, bs := range []string{"1024", "4096"} {
		t.Run(bs, func(t *testing.T) { eaInodeAgainstHost(t, bs) })
	}
}

func eaInodeAgainstHost(t *testing.T, blockSize string) {
	tools := testutil.Need(t, "mkfs.ext4", "e2fsck", "dumpe2fs", "debugfs")
	testutil.NeedLoop(t)
	dir := t.TempDir()
	kimg, himg := dir+"/kernel.img", dir+"/host.img"
	for _, img := range []string{kimg, himg} {
		testutil.Run(t, tools[0], "-q", "-F", "-O", "ea_inode", "-b", blockSize, "-U", "5e6bd9b1-0b1c-4c8e-9f5e-2b8c1a9d3e4f", img, "32M")
	}
	host := dir + "/mnt"
	if err := os.Mkdir(host, 0o755); err != nil {
		t.Fatal(err)
	}
	runTwins(t, kimg, himg, host, eaInodeScenario)
	var counts [2]string
	for i, img := range []string{kimg, himg} {
		if out, err := exec.Command(tools[1], "-fn", img).CombinedOutput(); err != nil {
			t.Errorf("e2fsck -fn %s: %v\n%s", img, err, out)
		}
		for _, l := range strings.Split(string(testutil.Run(t, tools[2], "-h", img)), "\n") {
			if strings.HasPrefix(l, "Free blocks:") || strings.HasPrefix(l, "Free inodes:") {
				counts[i] += l + "\n"
			}
		}
	}
	if counts[0] != counts[1] {
		t.Errorf("kernel's image:\n%shost's image:\n%s", counts[0], counts[1])
	}
	// Inode by inode: which are files, which ea_inodes, with how many
	// links and blocks (Linux's goal for an ea_inode is the inode after
	// its owner's, as ours).
	var cmds []string
	for ino := 12; ino < 32; ino++ {
		cmds = append(cmds, fmt.Sprintf("stat <%d>", ino))
	}
	if err := os.WriteFile(dir+"/cmds", []byte(strings.Join(cmds, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	var inodes [2]string
	for i, img := range []string{kimg, himg} {
		for _, l := range strings.Split(string(testutil.Run(t, tools[3], "-f", dir+"/cmds", img)), "\n") {
			if strings.HasPrefix(l, "Inode:") || strings.HasPrefix(l, "Links:") {
				f := strings.Fields(l)
				if f[0] == "Inode:" {
					f = append(f[:2], f[len(f)-2:]...) // without the generation
				}
				inodes[i] += strings.Join(f, " ") + "\n"
			}
		}
	}
	compareTraces(t, strings.Split(inodes[1], "\n"), strings.Split(inodes[0], "\n"), nil)
}

// eaInodeScenario sets values of sizes around each threshold: what fits
// the inode (256-byte inodes), the block, EXT4_XATTR_MIN_LARGE_EA_SIZE
// (968 bytes with 1 KiB blocks), XATTR_SIZE_MAX; replaces values across
// them and removes some; unlinks a file with ea_inodes.
func eaInodeScenario(r *tracer) {
	seed := byte(0)
	value := func(n int) []byte {
		seed++
		v := make([]byte, n)
		for i := range v {
			v[i] = byte(i*7) + seed
		}
		return v
	}
	set := func(p, name string, v []byte) {
		r.e(fmt.Sprintf("setxattr %s %s %d", p, name, len(v)), r.s.Setxattr(p, name, v, 0))
		got, err := r.s.Getxattr(p, name)
		r.add("getxattr %s %s: same %v %s", p, name, bytes.Equal(got, v), errName(err))
	}
	for i, sizes := range [][]int{
		{40, 60},
		{900},
		{968, 969},
		{500, 500, 500},
		{2000, 30000, abi.XATTR_SIZE_MAX, abi.XATTR_SIZE_MAX + 1},
		{100, 900, 960, 5000},
		{3500, 4040, 4041, 3000},
	} {
		p := fmt.Sprintf("f%d", i)
		r.close(r.open(p, abi.O_CREAT|abi.O_WRONLY, 0o644))
		for j, n := range sizes {
			set(p, fmt.Sprintf("user.v%d", j), value(n))
		}
	}
	set("f0", "user.v0", value(3000)) // from the inode to an ea_inode
	set("f4", "user.v1", value(10))   // from an ea_inode to the inode
	set("f3", "user.v1", value(1200)) // the block is full: an ea_inode
	r.e("removexattr f4 v0", r.s.Removexattr("f4", "user.v0"))
	r.e("removexattr f5 v3", r.s.Removexattr("f5", "user.v3"))
	r.e("unlink f2", r.s.Unlink("f2", 0))
	dup := value(3000)
	for _, p := range []string{"f0", "f1", "f5", "f6"} {
		set(p, "user.dup", dup)
	}
	r.e("removexattr f0 dup", r.s.Removexattr("f0", "user.dup"))
	r.e("unlink f6", r.s.Unlink("f6", 0))
	for i := range 7 {
		p := fmt.Sprintf("f%d", i)
		for _, n := range []string{"v0", "v1", "v2", "v3", "dup"} {
			v, err := r.s.Getxattr(p, "user."+n)
			r.add("getxattr %s %s: %d bytes %s", p, n, len(v), errName(err))
		}
	}
}
