//go:build linux

package ext4_test

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/internal/kerneltest"
	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel"
	"github.com/lklimg/lklimg/kernel/abi"
)

// TestFeatureMixRandomOps makes random changes through the syscalls on
// images where the newly writable features meet: quota and project
// accounting with bigalloc clusters, inline data, ea_inodes and shared
// xattr blocks, the orphan file (files kept open after their unlink),
// whiteouts, collapse and insert ranges, default ACLs, a casefolded
// directory, directories read while they change, a journal small enough
// to fill. After each round the image is unmounted and e2fsck -fn must be
// clean (it recounts the quotas), and so must a copy taken as if the
// machine crashed before the unmount, once our kernel has replayed its
// log and processed its orphans; at the end our kernel's export of the
// tree must be what the host kernel shows. Errors the syscalls may give for a random operation
// (ENOENT, EEXIST, EINVAL, ...) are allowed; EUCLEAN, EIO, ESTALE and
// panics are not. LKLIMG_MIX_SEED=n runs other random sequences.
func TestFeatureMixRandomOps(t *testing.T) {
	testutil.Need(t, "mke2fs", "e2fsck")
	layouts := [][]string{
		{"-b", "4096", "-I", "256", "-O", "quota,project,bigalloc,inline_data,ea_inode,orphan_file", "-C", "16384"},
		{"-b", "1024", "-I", "512", "-O", "quota,project,inline_data,ea_inode,orphan_file"},
		{"-b", "1024", "-I", "256", "-O", "casefold,quota,project,inline_data,ea_inode,bigalloc", "-C", "4096"},
		// A journal of 1024 blocks: checkpoints when the log fills,
		// revoke records across many transactions.
		{"-b", "1024", "-J", "size=1", "-O", "quota,inline_data,ea_inode,orphan_file"},
	}
	rounds := 3
	if testing.Short() {
		layouts, rounds = layouts[:1], 1
	}
	for i, args := range layouts {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			img := testutil.Mke2fsImage(t, "64M", args...)
			casefold := slices.ContainsFunc(args, func(a string) bool { return strings.Contains(a, "casefold") })
			seed := int64(17 + i)
			if s, err := strconv.ParseInt(os.Getenv("LKLIMG_MIX_SEED"), 10, 64); err == nil {
				seed += s
			}
			rnd := rand.New(rand.NewSource(seed))
			for round := 0; round < rounds; round++ {
				crash := filepath.Join(t.TempDir(), "crash")
				kerneltest.WithKernel(t, img, "", func(k *kernel.Kernel, must func(string, error)) {
					mixOps(t, k, must, rnd, 1500, func() {
						// A crash now: the log holds the last
						// transactions, unlinked files are open.
						must("sync", k.Sync())
						testutil.Run(t, "cp", "--sparse=always", img, crash)
					})
				})
				testutil.E2fsckClean(t, img)
				// Our kernel replays the crashed image's log and
				// processes its orphans: e2fsck -fn must be clean. (The
				// host's kernel mounts no quota read-write without
				// CONFIG_QUOTA.)
				kerneltest.WithKernel(t, crash, "", func(*kernel.Kernel, func(string, error)) {})
				testutil.E2fsckClean(t, crash)
			}
			// What our kernel reads of the image is what the host's
			// reads: contents, owners, modes, xattrs, links. (The
			// host's kernel mounts no casefold without CONFIG_UNICODE.)
			if casefold {
				return
			}
			var tarball bytes.Buffer
			kerneltest.WithKernel(t, img, "", func(k *kernel.Kernel, must func(string, error)) {
				must("export", archive.Export(k, "/mnt", &tarball, archive.Options{}))
			})
			ours, err := testutil.ScanTar(&tarball)
			if err != nil {
				t.Fatal(err)
			}
			o := testutil.CompareOptions{SkipPaths: []string{"lost+found"}, Ignore: []string{"data"}}
			testutil.ExpectSame(t, "our view against the host's", testutil.LoopView(t, img), ours, o)
		})
	}
}

// mixOps makes n random changes under /mnt, then calls crash before it
// closes the files it kept open.
func mixOps(t *testing.T, k *kernel.Kernel, must func(string, error), rnd *rand.Rand, n int, crash func()) {
	t.Helper()
	dirs := []string{"/mnt", "/mnt/d0", "/mnt/d1", "/mnt/d0/e"}
	for _, d := range dirs[1:] {
		if err := k.Mkdirat(abi.AT_FDCWD, d, 0o755); err != nil && !errors.Is(err, abi.EEXIST) {
			must("mkdir "+d, err)
		}
	}
	if fd, err := k.Openat(abi.AT_FDCWD, "/mnt/d1", abi.O_RDONLY|abi.O_DIRECTORY, 0); err == nil {
		// Casefolded (chattr +F) where the filesystem can, while d1 is
		// empty.
		fl, err := k.Getflags(fd)
		must("getflags d1", err)
		if err := k.Setflags(fd, fl|abi.FS_CASEFOLD_FL); err != nil && !errors.Is(err, abi.EOPNOTSUPP) && !errors.Is(err, abi.ENOTEMPTY) {
			must("casefold d1", err)
		}
		must("close", k.Close(fd))
	}
	path := func() string {
		// "f" and "F": the same name in a casefolded directory.
		return dirs[rnd.Intn(len(dirs))] + "/" + "fF"[rnd.Intn(2):][:1] + strconv.Itoa(rnd.Intn(8))
	}
	// A default ACL: user::rwx, group::r-x, other::r-x, user 1000 rw-,
	// mask rwx (posix_acl_xattr, version 2).
	acl := []byte{2, 0, 0, 0,
		1, 0, 7, 0, 0xff, 0xff, 0xff, 0xff,
		2, 0, 6, 0, 0xe8, 3, 0, 0,
		4, 0, 5, 0, 0xff, 0xff, 0xff, 0xff,
		0x10, 0, 7, 0, 0xff, 0xff, 0xff, 0xff,
		0x20, 0, 5, 0, 0xff, 0xff, 0xff, 0xff}
	refused := map[string]int{}
	defer func() { t.Logf("%d operations; refused: %v", n, refused) }()
	allowed := func(what string, err error) {
		t.Helper()
		if err != nil {
			w, _, _ := strings.Cut(what, " ")
			refused[w+" "+abi.ErrnoOf(err).Error()]++
		}
		for _, ok := range []error{abi.ENOENT, abi.ENOTEMPTY, abi.EINVAL, abi.EEXIST, abi.ENODATA, abi.EISDIR, abi.ENOTDIR, abi.ENOSPC, abi.EOPNOTSUPP, abi.EPERM, abi.EXDEV, abi.ENXIO, abi.ENODEV, abi.ELOOP} {
			if errors.Is(err, ok) {
				return
			}
		}
		must(what, err)
	}
	trace := os.Getenv("LKLIMG_MIX_TRACE") != ""
	var open []int // files kept open, some unlinked: orphans
	values := [][]byte{pattern(30, 1), pattern(700, 2), pattern(5000, 3), pattern(9000, 4)}
	for op := 0; op < n; op++ {
		p := path()
		r := rnd.Intn(100)
		if trace {
			t.Logf("op %d: %d %s", op, r, p)
		}
		switch {
		case r < 25:
			fd, err := k.Openat(abi.AT_FDCWD, p, abi.O_RDWR|abi.O_CREAT, 0o644)
			allowed("open "+p, err)
			if err != nil {
				continue
			}
			off := int64(rnd.Intn(3)) * rnd.Int63n(100*kib)
			size := 1 + rnd.Intn(20*kib)
			if rnd.Intn(3) == 0 {
				size = 1 + rnd.Intn(100) // inline
			}
			_, err = k.Pwrite(fd, pattern(size, byte(op)), off)
			allowed("pwrite "+p, err)
			if rnd.Intn(4) == 0 {
				open = append(open, fd)
			} else {
				must("close", k.Close(fd))
			}
		case r < 30:
			allowed("truncate "+p, k.Truncate(p, rnd.Int63n(40*kib)))
		case r < 38:
			allowed("unlink "+p, k.Unlinkat(abi.AT_FDCWD, p, 0))
		case r < 43:
			q := path()
			flags := uint32(0)
			if rnd.Intn(2) == 0 {
				flags = abi.RENAME_WHITEOUT
			}
			allowed("rename "+p+" "+q, k.Renameat2(abi.AT_FDCWD, p, abi.AT_FDCWD, q, flags))
		case r < 46:
			allowed("link "+p, k.Linkat(abi.AT_FDCWD, p, abi.AT_FDCWD, path(), 0))
		case r < 49:
			allowed("symlink "+p, k.Symlinkat(strings.Repeat("t", 1+rnd.Intn(200)), abi.AT_FDCWD, p))
		case r < 60:
			allowed("setxattr "+p, k.Lsetxattr(p, "user.x"+strconv.Itoa(rnd.Intn(3)), values[rnd.Intn(len(values))], 0))
		case r < 64:
			allowed("removexattr "+p, k.Lremovexattr(p, "user.x"+strconv.Itoa(rnd.Intn(3))))
		case r < 68:
			allowed("chown "+p, k.Fchownat(abi.AT_FDCWD, p, rnd.Intn(3)*1000, rnd.Intn(3)*1000, abi.AT_SYMLINK_NOFOLLOW))
		case r < 72:
			allowed("fsxattr "+p, k.FileSetattr(abi.AT_FDCWD, p, abi.Fsxattr{Projid: uint32(rnd.Intn(3))}, 0))
		case r < 80:
			fd, err := k.Openat(abi.AT_FDCWD, p, abi.O_RDWR, 0)
			allowed("open "+p, err)
			if err != nil {
				continue
			}
			modes := []uint32{abi.FALLOC_FL_COLLAPSE_RANGE, abi.FALLOC_FL_INSERT_RANGE, abi.FALLOC_FL_PUNCH_HOLE | abi.FALLOC_FL_KEEP_SIZE, 0, abi.FALLOC_FL_ZERO_RANGE}
			unit := int64(16 * kib)
			allowed("fallocate "+p, k.Fallocate(fd, modes[rnd.Intn(len(modes))], rnd.Int63n(4)*unit, (1+rnd.Int63n(2))*unit))
			must("close", k.Close(fd))
		case r < 84:
			d := dirs[1+rnd.Intn(len(dirs)-1)] + "/s" + strconv.Itoa(rnd.Intn(3))
			switch rnd.Intn(3) {
			case 0:
				allowed("mkdir "+d, k.Mkdirat(abi.AT_FDCWD, d, 0o755))
			case 1:
				allowed("rmdir "+d, k.Unlinkat(abi.AT_FDCWD, d, abi.AT_REMOVEDIR))
			default:
				// A directory moves: its ".." changes, inline or not.
				q := dirs[1+rnd.Intn(len(dirs)-1)] + "/s" + strconv.Itoa(rnd.Intn(3))
				allowed("rename "+d, k.Renameat2(abi.AT_FDCWD, d, abi.AT_FDCWD, q, 0))
			}
		case r < 90:
			// Many entries: inline directories convert to blocks.
			d := dirs[1+rnd.Intn(len(dirs)-1)]
			for j := 0; j < 1+rnd.Intn(40); j++ {
				q := d + "/m" + strconv.Itoa(rnd.Intn(60))
				if rnd.Intn(3) == 0 {
					allowed("unlink "+q, k.Unlinkat(abi.AT_FDCWD, q, 0))
				} else {
					allowed("mknod "+q, k.Mknodat(abi.AT_FDCWD, q, abi.S_IFREG|0o600, 0))
				}
			}
		case r < 92:
			readdirChanging(t, k, must, rnd, dirs[1+rnd.Intn(len(dirs)-1)], allowed)
		case r < 93:
			d := dirs[rnd.Intn(len(dirs))]
			if rnd.Intn(3) == 0 {
				allowed("default acl "+d, k.Setxattr(d, "system.posix_acl_default", acl, 0))
			} else {
				allowed("setxattr "+d, k.Setxattr(d, "user.d", values[rnd.Intn(len(values))], 0))
			}
		case r < 94:
			// Scattered blocks: an extent tree with blocks of its own.
			fd, err := k.Openat(abi.AT_FDCWD, p, abi.O_RDWR|abi.O_CREAT, 0o644)
			allowed("open "+p, err)
			if err != nil {
				continue
			}
			for j := int64(0); j < 20; j++ {
				_, err = k.Pwrite(fd, pattern(100, byte(j)), j*j*9*kib)
				allowed("pwrite "+p, err)
			}
			must("close", k.Close(fd))
		case r < 95 && len(open) > 0:
			j := rnd.Intn(len(open))
			must("close", k.Close(open[j]))
			open = append(open[:j], open[j+1:]...)
		default:
			must("sync", k.Sync())
		}
	}
	crash()
	for _, fd := range open {
		must("close", k.Close(fd))
	}
}

// readdirChanging reads directory d in small pieces while entries come
// and go between the reads: every entry there all along must be read
// once, and no name twice (as readdir(3) promises across
// changes, and ext4's htree cursor and inline conversions must keep).
func readdirChanging(t *testing.T, k *kernel.Kernel, must func(string, error), rnd *rand.Rand, d string, allowed func(string, error)) {
	t.Helper()
	names := func() map[string]bool {
		fd, err := k.Openat(abi.AT_FDCWD, d, abi.O_RDONLY|abi.O_DIRECTORY, 0)
		must("open "+d, err)
		defer k.Close(fd)
		m := map[string]bool{}
		buf := make([]byte, 4096)
		for {
			n, err := k.Getdents64(fd, buf)
			must("getdents64 "+d, err)
			if n == 0 {
				return m
			}
			for _, e := range abi.ParseDirents(buf[:n], nil) {
				m[e.Name] = true
			}
		}
	}
	before := names()
	fd, err := k.Openat(abi.AT_FDCWD, d, abi.O_RDONLY|abi.O_DIRECTORY, 0)
	must("open "+d, err)
	seen := map[string]int{}
	removed := map[string]bool{}
	buf := make([]byte, 280+rnd.Intn(200)) // a record of 255 bytes fits
	for {
		n, err := k.Getdents64(fd, buf)
		must("getdents64 "+d, err)
		if n == 0 {
			break
		}
		for _, e := range abi.ParseDirents(buf[:n], nil) {
			seen[e.Name]++
		}
		for j := 0; j < rnd.Intn(6); j++ {
			q := "r" + strconv.Itoa(rnd.Intn(80))
			if rnd.Intn(3) == 0 {
				removed[q] = true
				allowed("unlink "+q, k.Unlinkat(abi.AT_FDCWD, d+"/"+q, 0))
			} else {
				allowed("mknod "+q, k.Mknodat(abi.AT_FDCWD, d+"/"+q, abi.S_IFREG|0o600, 0))
			}
		}
	}
	must("close", k.Close(fd))
	after := names()
	for name, c := range seen {
		if c > 1 {
			t.Fatalf("readdir %s: %q read %d times", d, name, c)
		}
	}
	for name := range before {
		// "." and ".." are exempt: a one-block directory lists them at
		// the hashes of their names, an indexed one at hashes 0 and 2
		// (ext4_htree_fill_tree), so that the block's split into an
		// index can move them behind the cursor, on Linux as here.
		if after[name] && !removed[name] && seen[name] == 0 && name != "." && name != ".." {
			t.Fatalf("readdir %s: %q, there all along, not read", d, name)
		}
	}
}
