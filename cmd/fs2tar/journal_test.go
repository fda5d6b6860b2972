//go:build linux

package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
)

// tarFiles returns the regular files of a tar archive by name ("./a").
func tarFiles(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatalf("reading the archive: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("reading %s: %v", h.Name, err)
		}
		files[h.Name] = data
	}
}

// debugfsBlock returns the first block of path in img, as `debugfs
// -R "blocks PATH"` lists them.
func debugfsBlock(t *testing.T, debugfs, img, path string) int64 {
	t.Helper()
	out, err := exec.Command(debugfs, "-R", "blocks "+path, img).Output() // the banner goes to stderr
	if err != nil {
		t.Fatalf("debugfs blocks %s: %v", path, err)
	}
	f := strings.Fields(string(out))
	if len(f) == 0 {
		t.Fatalf("debugfs blocks %s: no block", path)
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		t.Fatalf("debugfs blocks %s: %q", path, out)
	}
	return n
}

// dirtyImage copies img to dst and writes, with debugfs's journal commands
// (jo, jw -b BLOCK FILE, jc), one committed transaction that logs the
// given blocks with new contents, leaving needs_recovery set: an image as a
// crash after the commit leaves it. csum turns on journal checksums v3.
func dirtyImage(t *testing.T, debugfs, img, dst string, csum bool, blocks map[int64][]byte) {
	t.Helper()
	testutil.Run(t, "cp", img, dst)
	script := "jo\n"
	if csum {
		script = "jo -c\n"
	}
	dir := t.TempDir()
	for blk, data := range blocks {
		f := filepath.Join(dir, strconv.FormatInt(blk, 10))
		if err := os.WriteFile(f, data, 0o644); err != nil {
			t.Fatal(err)
		}
		script += "jw -b " + strconv.FormatInt(blk, 10) + " " + f + "\n"
	}
	script += "jc\n"
	sf := filepath.Join(dir, "script")
	if err := os.WriteFile(sf, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	testutil.Run(t, debugfs, "-w", "-f", sf, dst)
	if out := testutil.Run(t, "dumpe2fs", "-h", dst); !strings.Contains(string(out), "needs_recovery") {
		t.Fatalf("debugfs left no transaction to recover:\n%s", out)
	}
}

// TestDirtyJournal exports images whose journal holds a committed
// transaction not yet written home, made by debugfs: the replayed contents
// (a file's data block, a directory block) must be in the archive, the
// image must not change, --no-journal must show the blocks as on disk,
// and a transaction with a bad checksum must fail the mount (exit 2), as
// Linux's jbd2_journal_load fails it ("error loading journal").
func TestDirtyJournal(t *testing.T) {
	tools := testutil.Need(t, "mkfs.ext4", "debugfs", "dumpe2fs")
	debugfs := tools[1]
	const bs = 4096
	src := t.TempDir()
	orig := bytes.Repeat([]byte("original"), bs/8)
	if err := os.WriteFile(filepath.Join(src, "f"), orig, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(src, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "d", "aaaa"), []byte("in d\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct {
		name string
		mkfs []string
		csum bool
	}{
		// Without metadata_csum, so that the directory block can be
		// edited without recomputing its checksum (TestJournalReplay in
		// kernel/fs/ext4 covers metadata_csum images).
		{"ext4", []string{"-O", "^metadata_csum"}, false},
		{"ext4-journal-csum-v3", []string{"-O", "^metadata_csum"}, true},
		{"ext3", []string{"-t", "ext3"}, false},
	} {
		t.Run(v.name, func(t *testing.T) {
			dir := t.TempDir()
			img := filepath.Join(dir, "img")
			testutil.MkfsExt4(t, img, src, "16M", append([]string{"-b", strconv.Itoa(bs), "-O", "^dir_index"}, v.mkfs...)...)
			fblk := debugfsBlock(t, debugfs, img, "/f")
			dblk := debugfsBlock(t, debugfs, img, "/d")

			// The new directory block: aaaa renamed bbbb, found by its
			// name in the directory's block as mkfs wrote it.
			raw, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}
			dirBlock := append([]byte(nil), raw[dblk*bs:(dblk+1)*bs]...)
			i := bytes.Index(dirBlock, []byte("aaaa"))
			if i < 0 {
				t.Fatalf("no aaaa in block %d of /d", dblk)
			}
			copy(dirBlock[i:], "bbbb")
			replayed := bytes.Repeat([]byte("REPLAYED"), bs/8)

			dirty := filepath.Join(dir, "dirty")
			dirtyImage(t, debugfs, img, dirty, v.csum, map[int64][]byte{fblk: replayed, dblk: dirBlock})
			sum := testutil.FileSum(t, dirty)

			files := tarFiles(t, mustExport(t, dirty))
			if !bytes.Equal(files["./f"], replayed) {
				t.Errorf("./f is not the journal's copy: %.16q", files["./f"])
			}
			if _, ok := files["./d/bbbb"]; !ok {
				t.Errorf("./d/bbbb, renamed in the journal, is missing (have %v)", keys(files))
			}
			if _, ok := files["./d/aaaa"]; ok {
				t.Errorf("./d/aaaa is still there after the replay")
			}
			if testutil.FileSum(t, dirty) != sum {
				t.Fatalf("fs2tar changed the image")
			}

			// noload: the blocks as the device holds them.
			files = tarFiles(t, mustExport(t, "--no-journal", dirty))
			if !bytes.Equal(files["./f"], orig) {
				t.Errorf("--no-journal: ./f is not the on-disk copy: %.16q", files["./f"])
			}
			if _, ok := files["./d/aaaa"]; !ok {
				t.Errorf("--no-journal: ./d/aaaa is missing (have %v)", keys(files))
			}
			r := fs2tar(t, "-p", "--no-journal", dirty, filepath.Join(dir, "out.tar"))
			if r.code != 0 || !strings.Contains(r.stderr, "noload") {
				t.Errorf("--no-journal -p: exit %d, no noload warning in the log:\n%s", r.code, r.stderr)
			}
			if testutil.FileSum(t, dirty) != sum {
				t.Fatalf("fs2tar --no-journal changed the image")
			}

			if !v.csum {
				return
			}
			// A bad commit block checksum: the transaction is corrupt.
			// The first commit block in the log is found by its header
			// (magic, type 2); h_chksum[0] is at byte 16 of it.
			jblk := journalBlock0(t, debugfs, dirty)
			bad := filepath.Join(dir, "bad")
			b, err := os.ReadFile(dirty)
			if err != nil {
				t.Fatal(err)
			}
			commit := int64(-1)
			for n := int64(1); n < 16; n++ {
				off := (jblk + n) * bs
				if bytes.Equal(b[off:off+8], []byte{0xC0, 0x3B, 0x39, 0x98, 0, 0, 0, 2}) {
					commit = off
					break
				}
			}
			if commit < 0 {
				t.Fatalf("no commit block in the first journal blocks")
			}
			b[commit+16] ^= 0xff
			if err := os.WriteFile(bad, b, 0o644); err != nil {
				t.Fatal(err)
			}
			r = fs2tar(t, bad, filepath.Join(dir, "out.tar"))
			if r.code != 2 || !strings.Contains(r.stderr, "corrupt") {
				t.Errorf("bad commit checksum: exit %d, want 2 with the reason:\n%s", r.code, r.stderr)
			}
			// With noload the journal is not read: the export works.
			mustExport(t, "--no-journal", bad)
		})
	}
}

// journalBlock0 returns the filesystem block of the journal inode's first
// block (the journal superblock); the test's journals are contiguous.
func journalBlock0(t *testing.T, debugfs, img string) int64 {
	t.Helper()
	return debugfsBlock(t, debugfs, img, "<8>")
}

func keys(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
