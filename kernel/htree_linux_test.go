//go:build linux

package kernel

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Directories read in hash order compared with the host kernel: the host
// builds an ext4 directory (so Linux itself lays out the htree), then the
// records getdents64 returns (name, inode, type, d_off), with buffers of
// one to a few records and of 32 KiB, and the records after lseek to
// saved d_off values, must be the same on a read-only loop mount and on
// our kernel. Names sharing a hash (legacy's minor hash is always 0, so
// its 31-bit hash collides among a few thousand names) exercise Linux's
// collision chains.

// htreeDirCase is one directory to build.
type htreeDirCase struct {
	name  string
	mkfs  []string // extra mkfs.ext4 arguments
	hash  string   // s_def_hash_version, set with tune2fs -E hash_alg
	flags string   // s_flags to set with debugfs: 1 signed, 2 unsigned hash
	names []string
	// unlink, if set, removes every unlink-th name once all are made:
	// deleted entries are skipped and merged into their neighbours.
	unlink int
	big    bool // skipped with -short
	// continued requires a leaf that continues a hash (debugfs htree
	// shows an odd hash in the index).
	continued bool
}

// continuedHash matches an index entry of debugfs's htree listing whose
// hash has the continuation bit.
var continuedHash = regexp.MustCompile(`Hash 0x[0-9a-f]*[13579bdf][ ,]`)

// seqNames returns n names; every seventh has a byte above 0x7f, where
// signed and unsigned hashes differ.
func seqNames(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%06d", prefix, i)
		if i%7 == 3 {
			out[i] += "\u00e9t\u00e9"
		}
	}
	return out
}

func TestHtreeReaddirHost(t *testing.T) {
	testutil.NeedLoop(t)
	tools := testutil.Need(t, "mkfs.ext4", "debugfs", "tune2fs")
	collide := testutil.LegacyCollisions("", 1<<21)
	var triples int
	for i := 2; i < len(collide); i++ {
		if testutil.LegacyHash(collide[i]) == testutil.LegacyHash(collide[i-2]) {
			triples++
		}
	}
	if triples == 0 {
		t.Fatalf("no three names share a legacy hash among %d colliding ones", len(collide))
	}
	// The first name of each group first, then the second ones...: a
	// full leaf then splits between two names of one hash.
	var longCollide []string
	groups := testutil.LegacyCollisions(strings.Repeat("x", 240), 1<<20)
	for round := 0; len(longCollide) < len(groups); round++ {
		for i := 0; i < len(groups); {
			j := i + 1
			for j < len(groups) && testutil.LegacyHash(groups[j]) == testutil.LegacyHash(groups[i]) {
				j++
			}
			if i+round < j {
				longCollide = append(longCollide, groups[i+round])
			}
			i = j
		}
	}
	cases := []htreeDirCase{
		{name: "legacy-collisions", hash: "legacy", names: append(collide, seqNames("f", 3000)...)},
		// Names of 250 bytes, three to a 1 KiB leaf: pairs and triples
		// that share a hash are split across leaves, the later ones
		// marked as continuing the hash (low bit set in the index).
		{name: "legacy-continued", mkfs: []string{"-b", "1024"}, hash: "legacy", names: longCollide, continued: true},
		{name: "legacy", hash: "legacy", flags: "1", names: seqNames("file_", 50000), big: true},
		{name: "legacy-unsigned", hash: "legacy", flags: "2", names: seqNames("file_", 50000), big: true},
		{name: "half_md4", hash: "half_md4", flags: "1", names: seqNames("n", 50000), big: true},
		{name: "half_md4-unsigned", hash: "half_md4", flags: "2", names: seqNames("n", 50000), unlink: 3, big: true},
		{name: "tea", hash: "tea", flags: "1", names: seqNames("n", 50000), big: true},
		{name: "tea-unsigned", hash: "tea", flags: "2", names: seqNames("n", 50000), big: true},
		{name: "single-block", names: seqNames("s", 40)},
		{name: "inline", mkfs: []string{"-O", "inline_data"}, names: seqNames("i", 3)},
		// Without dir_index Linux reads in block order, "." and ".."
		// first, positions being byte offsets.
		{name: "linear", mkfs: []string{"-O", "^dir_index"}, names: seqNames("l", 2000), unlink: 4},
		{name: "inline-linear", mkfs: []string{"-O", "inline_data,^dir_index"}, names: seqNames("i", 3), unlink: 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.big && testing.Short() {
				t.Skip("50,000 names: skipped with -short")
			}
			start := time.Now()
			img := buildHtreeImage(t, tools, c)
			built := time.Since(start)
			if c.continued && !continuedHash.Match(testutil.Run(t, tools[1], "-R", "htree /d", img)) {
				t.Fatal("no leaf continues a hash")
			}
			host := hostListings(t, img)
			ours := kernelListings(t, img)
			compareListings(t, host, ours)
			t.Logf("%d names: image %v, listings %v", len(c.names), built.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		})
	}
}

// buildHtreeImage makes an image whose directory /d holds c.names (regular
// files, and a few directories and symlinks for the types), written by
// the host kernel.
func buildHtreeImage(t *testing.T, tools []string, c htreeDirCase) string {
	t.Helper()
	dir := t.TempDir()
	img := filepath.Join(dir, "img")
	args := append([]string{"-q", "-F", "-N", strconv.Itoa(len(c.names) + 1000)}, c.mkfs...)
	testutil.Run(t, tools[0], append(args, img, "256M")...)
	if c.hash != "" {
		testutil.Run(t, tools[2], "-E", "hash_alg="+c.hash, img)
	}
	if c.flags != "" {
		testutil.Run(t, tools[1], "-w", "-R", "ssv flags "+c.flags, img)
	}
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, "mount", "-o", "loop", img, mnt)
	defer exec.Command("umount", mnt).Run()
	d := filepath.Join(mnt, "d")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, name := range c.names {
		p := filepath.Join(d, name)
		var err error
		switch i % 97 {
		case 5:
			err = unix.Mkdir(p, 0o755)
		case 6:
			err = unix.Symlink("target", p)
		default:
			err = unix.Mknod(p, unix.S_IFREG|0o644, 0)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; c.unlink > 0 && i < len(c.names); i += c.unlink {
		p := filepath.Join(d, c.names[i])
		flags := 0
		if i%97 == 5 {
			flags = unix.AT_REMOVEDIR
		}
		if err := unix.Unlinkat(unix.AT_FDCWD, p, flags); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Run(t, "umount", mnt)
	return img
}

// listings are the records of /d read several ways.
type listings struct {
	small, big []abi.Dirent
	// reseek is read with the small buffer, each call followed by an
	// lseek to the d_off of its last record (the file's position: a
	// cursor inside a collision chain stays there, as on Linux).
	reseek []abi.Dirent
	// seeks[i] are the records after lseek to the d_off of record
	// seekPoints(big)[i] of the big listing, read with the small buffer.
	seeks [][]abi.Dirent
}

// Buffer sizes: smallBuf holds one to a few records (a record takes at
// most 280 bytes), so that many calls end inside collision chains.
const (
	smallBuf = 300
	bigBuf   = 32 << 10
)

// seekPoints are the indexes of records whose d_off the tests seek to:
// some spread over the listing, and a few inside collision chains (a
// d_off shared with the next record), where Linux restarts the chain.
func seekPoints(ds []abi.Dirent) []int {
	var out []int
	for i := 0; i < len(ds); i += max(len(ds)/13, 1) {
		out = append(out, i)
	}
	chains := 0
	for i := 0; i+1 < len(ds) && chains < 8; i++ {
		if ds[i].Off == ds[i+1].Off {
			out = append(out, i)
			chains++
		}
	}
	return append(out, len(ds)-1)
}

// dirLister is getdents64 and lseek on one open directory.
type dirLister struct {
	getdents func(buf []byte) (int, error)
	lseek    func(off int64) error
}

func (l dirLister) read(t *testing.T, size, max int, reseek bool) []abi.Dirent {
	t.Helper()
	var ds []abi.Dirent
	buf := make([]byte, size)
	for len(ds) < max {
		n, err := l.getdents(buf)
		if err != nil {
			t.Fatalf("getdents64 after %d records: %v", len(ds), err)
		}
		if n == 0 {
			break
		}
		ds = abi.ParseDirents(buf[:n], ds)
		if reseek {
			if err := l.lseek(ds[len(ds)-1].Off); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ds
}

func (l dirLister) listings(t *testing.T) listings {
	t.Helper()
	var ls listings
	ls.small = l.read(t, smallBuf, 1<<30, false)
	for _, out := range []*[]abi.Dirent{&ls.big, &ls.reseek} {
		if err := l.lseek(0); err != nil {
			t.Fatal(err)
		}
		if out == &ls.big {
			*out = l.read(t, bigBuf, 1<<30, false)
		} else {
			*out = l.read(t, smallBuf, 1<<30, true)
		}
	}
	for _, i := range seekPoints(ls.big) {
		if err := l.lseek(ls.big[i].Off); err != nil {
			t.Fatal(err)
		}
		ls.seeks = append(ls.seeks, l.read(t, smallBuf, 4, false))
	}
	return ls
}

func hostListings(t *testing.T, img string) listings {
	t.Helper()
	mnt := filepath.Join(filepath.Dir(img), "mnt")
	testutil.Run(t, "mount", "-o", "loop,ro", img, mnt)
	defer testutil.Run(t, "umount", mnt)
	fd, err := unix.Open(filepath.Join(mnt, "d"), unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	return dirLister{
		getdents: func(buf []byte) (int, error) { return unix.Getdents(fd, buf) },
		lseek: func(off int64) error {
			_, err := unix.Seek(fd, off, 0)
			return err
		},
	}.listings(t)
}

func kernelListings(t *testing.T, img string) listings {
	t.Helper()
	k, dev := bootImage(t, img)
	if err := k.Mkdirat(abi.AT_FDCWD, "/htree", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := k.Mount("/dev/"+dev, "/htree", "ext4", abi.MS_RDONLY, ""); err != nil {
		t.Fatal(err)
	}
	fd, err := k.Openat(abi.AT_FDCWD, "/htree/d", abi.O_RDONLY|abi.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close(fd)
	return dirLister{
		getdents: func(buf []byte) (int, error) { return k.Getdents64(fd, buf) },
		lseek: func(off int64) error {
			_, err := k.Lseek(fd, off, abi.SEEK_SET)
			return err
		},
	}.listings(t)
}

// compareListings compares the listings record by record.
func compareListings(t *testing.T, host, ours listings) {
	t.Helper()
	same := func(what string, h, o []abi.Dirent) {
		t.Helper()
		for i := range max(len(h), len(o)) {
			if i >= len(h) || i >= len(o) || h[i] != o[i] {
				var hr, or any = "none", "none"
				if i < len(h) {
					hr = h[i]
				}
				if i < len(o) {
					or = o[i]
				}
				t.Errorf("%s: record %d of %d/%d: host %v, ours %v", what, i, len(h), len(o), hr, or)
				return
			}
		}
	}
	same("small buffer", host.small, ours.small)
	same("big buffer", host.big, ours.big)
	same("small buffer, lseek to each call's end", host.reseek, ours.reseek)
	same("host small vs big buffer", host.small, host.big)
	same("host reseek vs big buffer", host.reseek, host.big)
	points := seekPoints(host.big)
	for i := range min(len(host.seeks), len(ours.seeks)) {
		same(fmt.Sprintf("after lseek to d_off of record %d", points[i]), host.seeks[i], ours.seeks[i])
	}
}
