//go:build linux

package ext4

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
)

// debugfsInt runs a debugfs request and returns the first integer the
// pattern captures.
func debugfsInt(t *testing.T, img, req, pattern string) int64 {
	t.Helper()
	out := string(testutil.Run(t, "debugfs", "-R", req, img))
	m := regexp.MustCompile(pattern).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("debugfs %q: no %q in\n%s", req, pattern, out)
	}
	n, err := strconv.ParseInt(m[1], 0, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// patched copies img and XORs the byte at off with 0xFF.
func patched(t *testing.T, img string, off int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bad.img")
	testutil.Run(t, "cp", "--sparse=always", img, p)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [1]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xFF
	if _, err := f.WriteAt(b[:], off); err != nil {
		t.Fatal(err)
	}
	return p
}

func wantErr(t *testing.T, what string, err error, errno abi.Errno, substr ...string) {
	t.Helper()
	if !errors.Is(err, errno) {
		t.Errorf("%s: error %v, want %v", what, err, errno)
		return
	}
	for _, s := range substr {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("%s: error %q does not mention %q", what, err, s)
		}
	}
}

// TestChecksums damages one structure at a time in a metadata_csum image
// and checks the error names it.
func TestChecksums(t *testing.T) {
	testutil.Need(t, "mkfs.ext4", "debugfs", "e2fsck", "tune2fs")
	src := getSource(t)
	img := makeImage(t, src, variant{name: "csum", index: true})
	base, _ := mountImage(t, img)
	st, _ := base.Statfs()
	bs := st.Bsize
	mount := func(p string) vfs.Superblock {
		t.Helper()
		sb, err := NewType().Mount(openDev(t, p), abi.MS_RDONLY, "", nil)
		if err != nil {
			t.Fatalf("mount: %v", err)
		}
		return sb
	}

	t.Run("superblock", func(t *testing.T) {
		_, err := NewType().Mount(openDev(t, patched(t, img, 1024+0x30)), abi.MS_RDONLY, "", nil)
		// EFSBADCRC, as the host refuses e2fsprogs' f_super_bad_csum.
		wantErr(t, "mount", err, abi.EBADMSG, "superblock", "checksum")
	})
	t.Run("group descriptor", func(t *testing.T) {
		// Like Linux, a read-only mount logs the bad checksum and goes
		// on, and reads the group's inodes all the same (the host
		// kernel does: see cmd/fs2tar's damage sweep).
		log := &testLog{}
		sb, err := NewType().Mount(openDev(t, patched(t, img, bs+0x0E)), abi.MS_RDONLY, "", log)
		if err != nil {
			t.Fatalf("mount: %v", err)
		}
		if !strings.Contains(log.String(), "Checksum for group 0 failed") {
			t.Errorf("log: %s", log)
		}
		if _, err = lookupPath(sb, "small"); err != nil {
			t.Errorf("lookup in group 0: %v", err)
		}
	})
	t.Run("inode", func(t *testing.T) {
		blk := debugfsInt(t, img, "imap /small", `located at block (\d+)`)
		off := debugfsInt(t, img, "imap /small", `offset (0x[0-9a-f]+)`)
		sb := mount(patched(t, img, blk*bs+off+0x08))
		_, err := lookupPath(sb, "small")
		// __ext4_iget: EFSBADCRC.
		wantErr(t, "lookup", err, abi.EBADMSG, "inode", "checksum")
	})
	t.Run("extent block", func(t *testing.T) {
		blk := debugfsInt(t, img, "stat /frag", `\(ETB0\):(\d+)`)
		// A byte of the last, unused entry slot: covered by the
		// checksum, checked by nothing else (__ext4_ext_check checks
		// the entries first).
		sb := mount(patched(t, img, blk*bs+bs-8))
		ip, err := lookupPath(sb, "frag")
		if err != nil {
			t.Fatal(err)
		}
		_, err = ip.(vfs.FileReader).ReadAt(make([]byte, 10), 0)
		// EFSBADCRC in the map, EIO from read as filemap_read_folio.
		wantErr(t, "read", err, abi.EIO, "EBADMSG", "extent block "+strconv.FormatInt(blk, 10), "checksum")
	})
	t.Run("directory block", func(t *testing.T) {
		blk := debugfsInt(t, img, "blocks /dir/sub", `(?m)^(\d+)`)
		sb := mount(patched(t, img, blk*bs+8))
		ip, err := lookupPath(sb, "dir/sub")
		if err != nil {
			t.Fatal(err)
		}
		// One block with dir_index: read in hash order, where
		// ext4_read_dirblock fails with EFSBADCRC, as does
		// __ext4_find_entry.
		_, err = readDirAll(ip)
		wantErr(t, "readdir", err, abi.EBADMSG, "directory block 0", "checksum")
		_, err = ip.(vfs.Lookuper).Lookup("file")
		wantErr(t, "lookup", err, abi.EBADMSG, "directory block 0", "checksum")
	})
	t.Run("htree block", func(t *testing.T) {
		blk := debugfsInt(t, img, "blocks /big", `(?m)^(\d+)`)
		sb := mount(patched(t, img, blk*bs+0x28))
		ip, err := lookupPath(sb, "big")
		if err != nil {
			t.Fatal(err)
		}
		_, err = ip.(vfs.Lookuper).Lookup("entry-0001-q")
		wantErr(t, "lookup", err, abi.EBADMSG, "htree block 0", "checksum")
	})
	t.Run("xattr block", func(t *testing.T) {
		blk := debugfsInt(t, img, "stat /xattrs", `File ACL: (\d+)`)
		sb := mount(patched(t, img, blk*bs+bs-10))
		ip, err := lookupPath(sb, "xattrs")
		if err != nil {
			t.Fatal(err)
		}
		_, err = ip.(vfs.Xattrer).Getxattr("user.big")
		wantErr(t, "getxattr", err, abi.EBADMSG, "xattr block", "checksum")
	})
}

// TestFeatures checks that an unknown INCOMPAT feature refuses the mount
// and an unknown RO_COMPAT one is only logged, on an image without
// metadata_csum (whose superblock checksum would fail first).
func TestFeatures(t *testing.T) {
	tools := testutil.Need(t, "mkfs.ext4")
	img := filepath.Join(t.TempDir(), "f.img")
	testutil.Run(t, tools[0], "-q", "-F", "-O", "^metadata_csum", img, "8M")
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	set := func(off int, bit uint32) string {
		c := append([]byte(nil), b...)
		v := binary.LittleEndian.Uint32(c[1024+off:])
		binary.LittleEndian.PutUint32(c[1024+off:], v|bit)
		p := filepath.Join(t.TempDir(), "x.img")
		os.WriteFile(p, c, 0o644)
		return p
	}
	log := &testLog{}
	_, err = NewType().Mount(openDev(t, set(0x60, 0x80000000)), abi.MS_RDONLY, "", log)
	wantErr(t, "mount", err, abi.EINVAL, "unsupported optional features (80000000: FEATURE_I31)")
	if !strings.Contains(log.String(), "unsupported optional features (80000000)") {
		t.Errorf("log: %s", log)
	}
	log = &testLog{}
	if _, err := NewType().Mount(openDev(t, set(0x64, 0x80000000)), abi.MS_RDONLY, "", log); err != nil {
		t.Errorf("unknown ro_compat: %v", err)
	}
	if !strings.Contains(log.String(), "80000000") {
		t.Errorf("log does not report the ro_compat feature: %s", log)
	}
	// A read-write mount stays read-only, as ext4_fill_super refuses
	// one: a feature of a newer kernel is not written around.
	log = &testLog{}
	if _, err := NewType().Mount(openDevRW(t, set(0x64, 0x80000000)), 0, "", log); err != nil {
		t.Errorf("unknown ro_compat, read-write: %v", err)
	}
	if !strings.Contains(log.String(), "write support for feature(s) ro_compat_0x80000000 not available: mounting read-only") {
		t.Errorf("a read-write mount with an unknown ro_compat feature: %s", log)
	}
	if !NewType().Probe(openDev(t, img)) || NewType().Probe(memDev(make([]byte, 4096))) {
		t.Errorf("probe")
	}
}

// TestEncryptedNoKey: encrypted inodes (EXT4_ENCRYPT_FL, set here with
// debugfs, and an fscrypt context poked into the in-inode attributes)
// report ENOKEY at open and read, as Linux does without the key, and
// statx shows them encrypted. A context fscrypt_policy_from_context does
// not recognise fails the open with EINVAL, and an encrypted inode with
// no context at all gives ENODATA at open, readdir and lookup, as
// fscrypt_get_encryption_info fails (the host reads e2fsprogs'
// f_bad_encryption so); an unencrypted file in an encrypted directory
// does not open (EPERM).
func TestEncryptedNoKey(t *testing.T) {
	debugfs := testutil.Need(t, "debugfs")[0]
	img := filepath.Join(t.TempDir(), "enc.img")
	if err := os.WriteFile(img, smallImage(t, "-O", "encrypt"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A v2 context (AES-256-XTS and -CTS, 16-byte padding): version,
	// modes, flags, 4 reserved bytes, key identifier, nonce.
	ctx := append([]byte{2, 1, 4, 2, 0, 0, 0, 0}, bytes.Repeat([]byte{0x5A}, 32)...)
	bad := append([]byte{7}, ctx[1:]...)
	for name, c := range map[string][]byte{"f": ctx, "tiny": bad} {
		v := filepath.Join(t.TempDir(), "ctx")
		if err := os.WriteFile(v, c, 0o644); err != nil {
			t.Fatal(err)
		}
		testutil.Run(t, debugfs, "-w", "-R", "sif /"+name+" flags 0x80800", img)
		testutil.Run(t, debugfs, "-w", "-R", "ea_set -f "+v+" /"+name+" user.c", img)
		// user.c becomes the encryption context: index 9, name "c".
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		bs := int64(1024)
		ib := debugfsInt(t, img, "imap /"+name, `located at block (\d+)`)*bs + debugfsInt(t, img, "imap /"+name, `offset (0x[0-9a-f]+)`)
		ib += 128 + int64(binary.LittleEndian.Uint16(b[ib+128:]))
		if b[ib+4] != 1 || b[ib+4+1] != 1 || b[ib+4+16] != 'c' {
			t.Fatalf("%s: user.c is not the first in-inode attribute", name)
		}
		b[ib+4+1] = 9
		if err := os.WriteFile(img, b, 0o644); err != nil {
			t.Fatal(err)
		}
		testutil.Run(t, debugfs, "-n", "-w", "-R", "sif /"+name+" checksum calc", img)
	}
	testutil.Run(t, debugfs, "-w", "-R", "sif /e flags 0x80800", img)
	sb, _ := mountImage(t, img)
	f, err := lookupPath(sb, "f")
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "open", f.(vfs.Opener).Open(abi.O_RDONLY), abi.ENOKEY, "encrypted")
	_, err = f.(vfs.FileReader).ReadAt(make([]byte, 10), 0)
	wantErr(t, "read", err, abi.ENOKEY, "encrypted")
	if a, _ := f.Getattr(); a.Attributes&abi.STATX_ATTR_ENCRYPTED == 0 {
		t.Errorf("attributes %#x: not encrypted", a.Attributes)
	}
	tiny, err := lookupPath(sb, "tiny")
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "open with a bad context", tiny.(vfs.Opener).Open(abi.O_RDONLY), abi.EINVAL, "encryption context")
	// fscrypt_has_permitted_context, which ext4_lookup applies (EPERM)
	// to a directory or symlink in an encrypted directory: the same
	// policy only; not an unencrypted child or a bad context.
	l, err := lookupPath(sb, "l")
	if err != nil {
		t.Fatal(err)
	}
	fi, ti, li := f.(fileInode).inode, tiny.(fileInode).inode, l.(symlinkInode).inode
	if !fi.fscryptPermitted(fi) || fi.fscryptPermitted(ti) || fi.fscryptPermitted(li) {
		t.Errorf("permitted contexts: same %v, bad context %v, unencrypted %v; want true, false, false",
			fi.fscryptPermitted(fi), fi.fscryptPermitted(ti), fi.fscryptPermitted(li))
	}
	e, err := lookupPath(sb, "e")
	if err != nil {
		t.Fatal(err)
	}
	// fscrypt_file_open: an unencrypted file opened through an
	// encrypted directory is EPERM (f_bad_encryption), through an
	// unencrypted one opens.
	d, err := lookupPath(sb, "d")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := lookupPath(sb, "d/"+strings.Repeat("n", 20)+"A")
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "open in an encrypted directory", plain.(vfs.ParentOpener).OpenIn(e, abi.O_RDONLY), abi.EPERM, "inconsistent encryption")
	if err := plain.(vfs.ParentOpener).OpenIn(d, abi.O_RDONLY); err != nil {
		t.Errorf("open in its directory: %v", err)
	}
	wantErr(t, "readdir", e.(vfs.DirReader).ReadDir(0, func(vfs.DirEntry) bool { return true }), abi.ENODATA, "no encryption context")
	_, err = e.(vfs.Lookuper).Lookup("x")
	wantErr(t, "lookup", err, abi.ENODATA, "no encryption context")
}

// TestNoKeyNames: no-key names encode the ciphertext (and the hash), and
// the matcher finds exactly the entry a name encodes, long names by their
// SHA-256 (the kernel agreement is in cmd/fs2tar's TestFeatures/encrypt).
func TestNoKeyNames(t *testing.T) {
	short := bytes.Repeat([]byte{0xA5}, 32)
	long := bytes.Repeat([]byte{0x5A}, 200)
	longOther := append(bytes.Clone(long[:199]), 0)
	for _, c := range []struct {
		name   []byte
		length int
	}{{short, 54}, {long, 252}} {
		n, err := noKeyName(c.name, 0x12345678, 0x9abcdef0)
		if err != nil || len(n) != c.length {
			t.Fatalf("noKeyName(%d bytes) = %q (%d), %v; want %d characters", len(c.name), n, len(n), err, c.length)
		}
		m := noKeyMatcher(n)
		if !m(c.name) || m(short[:31]) || m(longOther) {
			t.Errorf("matcher of %q: wrong matches", n)
		}
	}
	if _, err := noKeyName(short[:15], 0, 0); !errors.Is(err, abi.EUCLEAN) {
		t.Errorf("15-byte name: %v, want EUCLEAN", err)
	}
	if noKeyMatcher("not base64!")(short) || noKeyMatcher("AAAA")(short) {
		t.Error("a bad no-key name matched")
	}
}
