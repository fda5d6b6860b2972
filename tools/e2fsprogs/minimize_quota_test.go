//go:build linux

package e2fsprogs_test

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/tools/e2fsprogs"
)

// TestMinimizeQuota is tar2fs's path on a filesystem with quota and
// project quota, made by mke2fs (lklimg's mkfs does not make them on this
// branch): filled through the kernel by many owners and projects (the
// quota files grow past their first blocks), minimized, given a journal
// and an orphan file, and cut. The quota inodes (3, 4 and
// s_prj_quota_inum) keep as many blocks, all below the new end (Minimize
// moves those past it), then keep them through AddJournal and
// AddOrphanFile, and every id's usage as
// debugfs lists it stays what it was: e2fsck -fn, which counts every
// inode from s_first_ino but the quota inodes and the orphan file (as
// mke2fs's own orphan file shows: it is charged to nobody), finds the
// quota files exact after each step, so neither the journal (inode 8)
// nor the orphan file may be charged.
func TestMinimizeQuota(t *testing.T) {
	testutil.Need(t, "debugfs", "tune2fs")
	for _, tc := range []struct {
		name, size string
		args       []string
	}{
		{"4k", "16G", []string{"-O", "^has_journal,quota,project"}},
		{"1k-g1024", "2G", []string{"-b", "1024", "-g", "1024", "-O", "^has_journal,quota,project"}},
		{"4k-bigalloc-C16k", "16G", []string{"-O", "^has_journal,quota,project,bigalloc", "-C", "16384"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := testutil.Mke2fsImage(t, tc.size, append([]string{"-I", "256"}, tc.args...)...)
			kerneltest.WithKernel(t, img, "alloc=pack", func(k *kernel.Kernel, must func(string, error)) {
				writeMix(k, must)
				// 300 owners and 40 projects: quota trees of more than
				// one leaf block each.
				must("mkdir", k.Mkdirat(abi.AT_FDCWD, "/mnt/owners", 0o755))
				for i := range 300 {
					p := fmt.Sprintf("/mnt/owners/f%d", i)
					fd, err := k.Openat(abi.AT_FDCWD, p, abi.O_CREAT|abi.O_WRONLY, 0o644)
					must("create "+p, err)
					_, err = k.Write(fd, make([]byte, 1000*(i%7)))
					must("write "+p, err)
					must("close", k.Close(fd))
					must("chown "+p, k.Fchownat(abi.AT_FDCWD, p, 1000+i, 2000+i%50, 0))
					if i%7 == 0 {
						must("project "+p, k.FileSetattr(abi.AT_FDCWD, p, abi.Fsxattr{Projid: uint32(100 + i/7)}, 0))
					}
				}
			})
			testutil.E2fsckClean(t, img)
			want := quotas(t, img)
			if len(want["user"]) < 300 || len(want["project"]) < 40 {
				t.Fatalf("quota ids: %d users, %d projects", len(want["user"]), len(want["project"]))
			}
			qinos := quotaInodes(t, img)

			n := minimizeFile(t, img, 8192)
			testutil.E2fsckClean(t, img)
			// Blocks past the end moved: as many, all below it.
			moved := quotaInodes(t, img)
			for ino, blocks := range qinos {
				if len(moved[ino]) != len(blocks) {
					t.Errorf("after Minimize: quota inode %d: blocks %v, were %v", ino, moved[ino], blocks)
				}
			}
			qinos = moved
			expectQuotas(t, img, "after Minimize", want, qinos)
			f, err := os.OpenFile(img, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			err = e2fsprogs.AddJournal(f, 0)
			if err == nil {
				err = e2fsprogs.AddOrphanFile(f, 0)
			}
			f.Close()
			if err != nil {
				t.Fatalf("AddJournal, AddOrphanFile: %v", err)
			}
			bs := readDump(t, img).num(t, "Block size")
			if err := os.Truncate(img, int64(n*bs)); err != nil {
				t.Fatal(err)
			}
			testutil.E2fsckClean(t, img)
			expectQuotas(t, img, "with the journal and the orphan file", want, qinos)
			for ino, blocks := range qinos {
				for _, b := range blocks {
					if b >= n {
						t.Errorf("quota inode %d: block %d past the end %d", ino, b, n)
					}
				}
			}
			d := readDump(t, img)
			t.Logf("%s -> %d blocks; quota inodes %v; %s", tc.size, n, keys(qinos), d.head["Orphan file inode"])
		})
	}
}

// quotas lists each quota type's usage by id, as debugfs's list_quota
// prints it ("id space quota limit inodes quota limit").
func quotas(t *testing.T, img string) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for _, typ := range []string{"user", "group", "project"} {
		lines := strings.Split(testutil.DebugfsOut(t, img, "lq "+typ), "\n")
		m := map[string]string{}
		for _, l := range lines[1:] {
			if f := strings.Fields(l); len(f) == 7 {
				m[f[0]] = strings.Join(f[1:], " ")
			}
		}
		out[typ] = m
	}
	return out
}

// quotaInodes returns the quota inodes dumpe2fs names with their blocks
// (debugfs blocks).
func quotaInodes(t *testing.T, img string) map[uint64][]uint64 {
	t.Helper()
	out := map[uint64][]uint64{}
	d := readDump(t, img)
	for _, k := range []string{"User quota inode", "Group quota inode", "Project quota inode"} {
		ino, err := strconv.ParseUint(d.head[k], 10, 64)
		if err != nil {
			t.Fatalf("dumpe2fs: %s: %q", k, d.head[k])
		}
		var blocks []uint64
		for _, f := range strings.Fields(testutil.DebugfsOut(t, img, fmt.Sprintf("blocks <%d>", ino))) {
			b, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				t.Fatalf("debugfs blocks <%d>: %q", ino, f)
			}
			blocks = append(blocks, b)
		}
		if len(blocks) == 0 {
			t.Fatalf("quota inode %d has no blocks", ino)
		}
		out[ino] = blocks
	}
	return out
}

// expectQuotas compares img's quota usage and quota inodes with want
// and inos.
func expectQuotas(t *testing.T, img, when string, want map[string]map[string]string, inos map[uint64][]uint64) {
	t.Helper()
	got := quotas(t, img)
	for typ, m := range want {
		for id, v := range m {
			if got[typ][id] != v {
				t.Errorf("%s: %s quota of %s: %q, was %q", when, typ, id, got[typ][id], v)
			}
		}
		if len(got[typ]) != len(m) {
			t.Errorf("%s: %d %s ids, were %d", when, len(got[typ]), typ, len(m))
		}
	}
	now := quotaInodes(t, img)
	for ino, blocks := range inos {
		if fmt.Sprint(now[ino]) != fmt.Sprint(blocks) {
			t.Errorf("%s: quota inode %d: blocks %v, were %v", when, ino, now[ino], blocks)
		}
	}
	out, err := exec.Command("e2fsck", "-fn", img).CombinedOutput()
	if err != nil || regexp.MustCompile(`(?i)quota`).MatchString(strings.ReplaceAll(string(out), img, "IMAGE")) {
		t.Errorf("%s: e2fsck -fn: %v\n%s", when, err, out)
	}
}

// keys lists a map's keys.
func keys[V any](m map[uint64]V) []uint64 {
	var out []uint64
	for k := range m {
		out = append(out, k)
	}
	return out
}
