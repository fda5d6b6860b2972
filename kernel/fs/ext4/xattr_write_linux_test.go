package ext4

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lklimg/lklimg/internal/testutil"
	"github.com/lklimg/lklimg/kernel/abi"
	"github.com/lklimg/lklimg/kernel/vfs"
	"golang.org/x/sys/unix"
)

// aclXattr builds the posix_acl_xattr form of an ACL from (tag, perm, id)
// triples.
func aclXattr(ents ...[3]uint32) []byte {
	b := le.AppendUint32(nil, posixACLXattrVer)
	for _, e := range ents {
		b = le.AppendUint16(b, uint16(e[0]))
		b = le.AppendUint16(b, uint16(e[1]))
		b = le.AppendUint32(b, e[2])
	}
	return b
}

// hostXattrMap reads every attribute of a file of the loop-mounted image.
func hostXattrMap(t *testing.T, path string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for k, v := range hostXattrs(t, path) {
		m[k] = string(v)
	}
	return m
}

// TestXattrWrite sets, replaces and removes attributes in the inode and
// in the block, fills the block, and sets ACLs, on layouts with and
// without room in the inode; e2fsck and the host kernel check the result.
func TestXattrWrite(t *testing.T) {
	for _, v := range []nameiVariant{
		{"ext4", nil},
		{"ext4-1k", []string{"-b", "1024"}},
		{"nocsum", []string{"-O", "^metadata_csum"}},
		{"ext2-128", []string{"-t", "ext2", "-I", "128"}},
	} {
		t.Run(v.name, func(t *testing.T) { testXattrWrite(t, v) })
	}
}

func testXattrWrite(t *testing.T, v nameiVariant) {
	img := mkfsTree(t, "32M", v.args, func(src string) {
		mustWrite(t, filepath.Join(src, "f"), "f")
		mustWrite(t, filepath.Join(src, "g"), "g")
		mustWrite(t, filepath.Join(src, "acl"), "acl")
		mustWrite(t, filepath.Join(src, "plain"), "plain")
		os.Mkdir(filepath.Join(src, "dir"), 0o755)
	})
	f, _ := mountImageRW(t, img)
	get := func(p string) *inode {
		vi, err := lookupPath(f, p)
		if err != nil {
			t.Fatalf("lookup %s: %v", p, err)
		}
		ip, _ := f.toInode(vi)
		return ip
	}
	fi, gi, ai, pi, di := get("f"), get("g"), get("acl"), get("plain"), get("dir")
	want := map[string]map[string]string{"f": {}, "g": {}, "acl": {}, "plain": {}, "dir": {}}
	set := func(ip *inode, file, name, value string, flags int, errno abi.Errno) {
		t.Helper()
		err := ip.Setxattr(nowCtx, name, []byte(value), flags)
		wantErrno(t, fmt.Sprintf("setxattr %s %s (%d bytes)", file, name, len(value)), err, errno)
		if err == nil {
			want[file][name] = value
		}
	}
	remove := func(ip *inode, file, name string, errno abi.Errno) {
		t.Helper()
		wantErrno(t, "removexattr "+file+" "+name, ip.Removexattr(nowCtx, name), errno)
		if errno == 0 {
			delete(want[file], name)
		}
	}

	set(fi, "f", "user.small", "v1", 0, 0)
	set(fi, "f", "user.small", "value two", abi.XATTR_REPLACE, 0)
	set(fi, "f", "user.small", "x", abi.XATTR_CREATE, abi.EEXIST)
	set(fi, "f", "user.missing", "x", abi.XATTR_REPLACE, abi.ENODATA)
	set(fi, "f", "trusted.t", "trusted value", 0, 0)
	set(fi, "f", "security.s", "", 0, 0)
	set(fi, "f", "user.big", strings.Repeat("B", 700), 0, 0) // in the block
	set(fi, "f", "other.x", "x", 0, abi.EOPNOTSUPP)
	set(fi, "f", "user."+strings.Repeat("n", 256), "x", 0, abi.ERANGE)
	set(fi, "f", "user.huge", strings.Repeat("h", abi.XATTR_SIZE_MAX+1), 0, abi.E2BIG)
	set(fi, "f", "user.toolarge", strings.Repeat("h", int(f.BlockSize)), 0, abi.ENOSPC)
	remove(fi, "f", "user.missing", abi.ENODATA)
	// Fill g's block until ENOSPC, then empty it again but one.
	var names []string
	for i := 0; ; i++ {
		name := fmt.Sprintf("user.k%03d", i)
		err := gi.Setxattr(nowCtx, name, bytes.Repeat([]byte{byte('a' + i%26)}, 90+i%7), 0)
		if errors.Is(err, abi.ENOSPC) {
			break
		}
		wantErrno(t, "fill "+name, err, 0)
		want["g"][name] = strings.Repeat(string(rune('a'+i%26)), 90+i%7)
		names = append(names, name)
		if i > 1000 {
			t.Fatal("no ENOSPC")
		}
	}
	if gi.fileACL == 0 {
		t.Errorf("g: no xattr block after filling")
	}
	for _, n := range names[1:] {
		remove(gi, "g", n, 0)
	}
	// plain gets a block and loses it.
	set(pi, "plain", "user.only", strings.Repeat("p", 500), 0, 0)
	blocks := pi.blocks
	remove(pi, "plain", "user.only", 0)
	if pi.fileACL != 0 || (blocks == pi.blocks && pi.ibody == nil && f.InodeSize == 128) {
		t.Errorf("plain: block %d, i_blocks %d -> %d after removing its only xattr", pi.fileACL, blocks, pi.blocks)
	}

	// ACLs: a named user's entry is kept (and sets the group bits from
	// the mask); an ACL the mode says all of is not stored.
	acl := aclXattr([3]uint32{aclUserObj, 6, aclUndefinedID}, [3]uint32{aclUser, 4, 1000},
		[3]uint32{aclGroupObj, 4, aclUndefinedID}, [3]uint32{aclMask, 4, aclUndefinedID}, [3]uint32{aclOther, 0, aclUndefinedID})
	set(ai, "acl", "system.posix_acl_access", string(acl), 0, 0)
	if ai.mode&0o777 != 0o640 {
		t.Errorf("acl: mode %o, want 640", ai.mode&0o777)
	}
	if got, err := ai.Getxattr("system.posix_acl_access"); err != nil || !bytes.Equal(got, acl) {
		t.Errorf("acl: getxattr %x, %v; want %x", got, err, acl)
	}
	equiv := aclXattr([3]uint32{aclUserObj, 7, aclUndefinedID}, [3]uint32{aclGroupObj, 5, aclUndefinedID}, [3]uint32{aclOther, 4, aclUndefinedID})
	wantErrno(t, "equivalent ACL", pi.Setxattr(nowCtx, "system.posix_acl_access", equiv, 0), 0)
	if pi.mode&0o777 != 0o754 {
		t.Errorf("plain: mode %o after an equivalent ACL, want 754", pi.mode&0o777)
	}
	if _, err := pi.Getxattr("system.posix_acl_access"); !errors.Is(err, abi.ENODATA) {
		t.Errorf("plain: equivalent ACL stored (%v)", err)
	}
	set(ai, "acl", "system.posix_acl_default", string(equiv), 0, abi.EACCES)
	set(di, "dir", "system.posix_acl_default", string(equiv), 0, 0)
	bad := aclXattr([3]uint32{aclGroupObj, 4, aclUndefinedID}, [3]uint32{aclUserObj, 6, aclUndefinedID}, [3]uint32{aclOther, 0, aclUndefinedID})
	set(di, "dir", "system.posix_acl_access", string(bad), 0, abi.EINVAL)
	set(di, "dir", "system.posix_acl_access", string(acl[:len(acl)-2]), 0, abi.EINVAL)

	for file, m := range want {
		ip := get(file)
		names, err := ip.Listxattr()
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(names)
		wantNames := make([]string, 0, len(m))
		for n := range m {
			wantNames = append(wantNames, n)
		}
		slices.Sort(wantNames)
		if !slices.Equal(names, wantNames) {
			t.Errorf("%s: listxattr %q, want %q", file, names, wantNames)
		}
	}
	umountRW(t, f)
	e2fsckClean(t, img)

	mnt := loopMount(t, img)
	for file, m := range want {
		got := hostXattrMap(t, filepath.Join(mnt, file))
		if len(got) != len(m) {
			t.Errorf("%s: host sees %d xattrs, want %d", file, len(got), len(m))
		}
		for n, v := range m {
			if got[n] != v {
				t.Errorf("%s: host %s = %q (%d bytes), want %d bytes", file, n, head1(got[n]), len(got[n]), len(v))
			}
		}
	}
	if st, _ := hostStat(t, filepath.Join(mnt, "acl")); st.mode&0o777 != 0o640 {
		t.Errorf("host: acl mode %o", st.mode&0o777)
	}
}

func head1(s string) string {
	if len(s) > 20 {
		return s[:20] + "..."
	}
	return s
}

// TestXattrSharedBlock changes attributes of files whose xattr block the
// host kernel shares (h_refcount 3): the changed file gets its own block,
// the others keep theirs, and the count goes down.
func TestXattrSharedBlock(t *testing.T) {
	testutil.NeedLoop(t)
	testutil.Need(t, "debugfs")
	img := mkfsTree(t, "32M", []string{"-b", "1024", "-I", "128"}, func(src string) {
		for _, n := range []string{"a", "b", "c"} {
			mustWrite(t, filepath.Join(src, n), n)
		}
	})
	mnt := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(mnt, 0o755)
	testutil.Run(t, "mount", "-o", "loop", img, mnt)
	big := strings.Repeat("S", 300)
	for _, n := range []string{"a", "b", "c"} {
		if err := unix.Setxattr(filepath.Join(mnt, n), "user.shared", []byte(big), 0); err != nil {
			exec.Command("umount", mnt).Run()
			t.Fatal(err)
		}
	}
	testutil.Run(t, "umount", mnt)
	e2fsckClean(t, img)

	f, _ := mountImageRW(t, img)
	ips := map[string]*inode{}
	for _, n := range []string{"a", "b", "c"} {
		vi, err := lookupPath(f, n)
		if err != nil {
			t.Fatal(err)
		}
		ips[n], _ = f.toInode(vi)
	}
	shared := ips["a"].fileACL
	if shared == 0 || ips["b"].fileACL != shared || ips["c"].fileACL != shared {
		t.Skipf("the host kernel did not share the block (%d %d %d)", ips["a"].fileACL, ips["b"].fileACL, ips["c"].fileACL)
	}
	refcount := func(blk uint64) uint32 {
		b := make([]byte, f.BlockSize)
		if err := f.readBlock(b, blk); err != nil {
			t.Fatal(err)
		}
		return le.Uint32(b[4:])
	}
	if r := refcount(shared); r != 3 {
		t.Fatalf("refcount %d, want 3", r)
	}
	blocksBefore := ips["a"].blocks
	wantErrno(t, "set on a", ips["a"].Setxattr(nowCtx, "user.more", []byte("a's own"), 0), 0)
	if ips["a"].fileACL == shared || ips["a"].fileACL == 0 || refcount(shared) != 2 || ips["a"].blocks != blocksBefore {
		t.Errorf("a: block %d (shared %d, refcount now %d), i_blocks %d -> %d", ips["a"].fileACL, shared, refcount(shared), blocksBefore, ips["a"].blocks)
	}
	wantErrno(t, "remove from b", ips["b"].Removexattr(nowCtx, "user.shared"), 0)
	if ips["b"].fileACL != 0 || refcount(shared) != 1 {
		t.Errorf("b: block %d, shared refcount %d", ips["b"].fileACL, refcount(shared))
	}
	wantErrno(t, "replace on c", ips["c"].Setxattr(nowCtx, "user.shared", []byte("c"), 0), 0)
	if ips["c"].fileACL != shared {
		t.Errorf("c: block %d, want the now unshared %d changed in place", ips["c"].fileACL, shared)
	}
	umountRW(t, f)
	e2fsckClean(t, img)
	m := loopMount(t, img)
	for n, w := range map[string]map[string]string{
		"a": {"user.shared": big, "user.more": "a's own"},
		"b": {},
		"c": {"user.shared": "c"},
	} {
		got := hostXattrMap(t, filepath.Join(m, n))
		if len(got) != len(w) {
			t.Errorf("%s: host xattrs %d, want %d", n, len(got), len(w))
		}
		for k, v := range w {
			if got[k] != v {
				t.Errorf("%s: host %s = %q, want %q", n, k, head1(got[k]), head1(v))
			}
		}
	}
}

var _ vfs.XattrWriter = (*inode)(nil)
