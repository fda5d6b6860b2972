package testutil

import (
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// EncryptDir makes the empty directory dir, on a filesystem the host's
// Linux has mounted at mnt, an encrypted one (Documentation/filesystems/
// fscrypt.rst): a fixed 64-byte key is added to the filesystem's keyring
// (FS_IOC_ADD_ENCRYPTION_KEY; it goes at umount) and a v2 policy
// (AES-256-XTS contents, AES-256-CTS names, 32-byte name padding) naming
// it is set (FS_IOC_SET_ENCRYPTION_POLICY). It skips the test when the
// kernel cannot add the key (no CONFIG_FS_ENCRYPTION).
func EncryptDir(t testing.TB, mnt, dir string) {
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
