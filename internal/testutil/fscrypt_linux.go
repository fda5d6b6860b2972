package testutil

import (
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// UnlockEncrypted adds EncryptDir's key to the keyring of the filesystem
// the host's Linux has mounted at mnt (read-only will do), so that it
// shows the plaintext of the directories EncryptDir made, and returns the
// key's identifier. It skips the test when the kernel cannot add the key.
func UnlockEncrypted(t testing.TB, mnt string) [unix.FSCRYPT_KEY_IDENTIFIER_SIZE]byte {
	t.Helper()
	root, err := os.Open(mnt)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	// struct fscrypt_add_key_arg is followed by the raw key.
	const keySize = 64
	buf := make([]byte, unsafe.Sizeof(unix.FscryptAddKeyArg{})+keySize)
	arg := (*unix.FscryptAddKeyArg)(unsafe.Pointer(&buf[0]))
	arg.Key_spec.Type = unix.FSCRYPT_KEY_SPEC_TYPE_IDENTIFIER
	arg.Raw_size = keySize
	for i := range keySize {
		buf[unsafe.Sizeof(*arg)+uintptr(i)] = byte(i*7 + 1)
	}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, root.Fd(), unix.FS_IOC_ADD_ENCRYPTION_KEY, uintptr(unsafe.Pointer(&buf[0]))); e != 0 {
		Skip(t, "FS_IOC_ADD_ENCRYPTION_KEY: %v (a kernel without CONFIG_FS_ENCRYPTION?)", e)
	}
	var id [unix.FSCRYPT_KEY_IDENTIFIER_SIZE]byte
	copy(id[:], arg.Key_spec.U[:])
	return id
}

// EncryptDir makes the empty directory dir, on a filesystem the host's
// Linux has mounted at mnt, an encrypted one (Documentation/filesystems/
// fscrypt.rst): a fixed 64-byte key is added to the filesystem's keyring
// (FS_IOC_ADD_ENCRYPTION_KEY; it goes at umount) and a v2 policy
// (AES-256-XTS contents, AES-256-CTS names, 32-byte name padding) naming
// it is set (FS_IOC_SET_ENCRYPTION_POLICY). It skips the test when the
// kernel cannot add the key (no CONFIG_FS_ENCRYPTION).
func EncryptDir(t testing.TB, mnt, dir string) {
	t.Helper()
	id := UnlockEncrypted(t, mnt)
	policy := unix.FscryptPolicyV2{
		Version:                   unix.FSCRYPT_POLICY_V2,
		Contents_encryption_mode:  unix.FSCRYPT_MODE_AES_256_XTS,
		Filenames_encryption_mode: unix.FSCRYPT_MODE_AES_256_CTS,
		Flags:                     unix.FSCRYPT_POLICY_FLAGS_PAD_32,
		Master_key_identifier:     id,
	}
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, _, e := unix.Syscall(unix.SYS_IOCTL, d.Fd(), unix.FS_IOC_SET_ENCRYPTION_POLICY, uintptr(unsafe.Pointer(&policy)))
	d.Close()
	if e != 0 {
		t.Fatalf("FS_IOC_SET_ENCRYPTION_POLICY: %v", e)
	}
}

// LoopViewUnlocked is LoopView with EncryptDir's key added first: the
// host kernel's view of img with its encrypted directories in plaintext.
func LoopViewUnlocked(t testing.TB, img string) Tree {
	t.Helper()
	return loopView(t, img, func(mnt string) { UnlockEncrypted(t, mnt) })
}

// MakeEncryptedDir mounts the ext4 image img (made with -O encrypt)
// read-write on the host and makes /secret there an encrypted directory
// (EncryptDir) holding a file, a directory with a file and a symlink,
// the files a block and a few bytes long.
func MakeEncryptedDir(t testing.TB, img string) {
	t.Helper()
	NeedLoop(t)
	mnt := t.TempDir()
	Run(t, "mount", "-o", "loop", img, mnt)
	defer umountBusy(t, mnt)
	dir := mnt + "/secret"
	for _, step := range []func() error{
		func() error { return os.Mkdir(dir, 0o755) },
		func() error { EncryptDir(t, mnt, dir); return nil },
		func() error { return os.WriteFile(dir+"/plans.txt", []byte("the secret plans\n"), 0o600) },
		func() error { return os.Mkdir(dir+"/sub", 0o700) },
		func() error { return os.WriteFile(dir+"/sub/deeper", make([]byte, 5000), 0o644) },
		func() error { return os.Symlink("plans.txt", dir+"/link") },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
}
