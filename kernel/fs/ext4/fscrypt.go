package ext4

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"

	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// Encrypted directories and symlinks without their key, as Linux shows
// them (fs/crypto/fname.c, fscrypt_fname_disk_to_usr; Documentation/
// filesystems/fscrypt.rst, "Access semantics"): the driver never has a key,
// so each encrypted name is shown in its no-key form, a base64url encoding
// (RFC 4648 section 5, no padding) of struct fscrypt_nokey_name:
//
//	u32 dirhash[2]  the entry's htree hash and minor hash when readdir goes
//	                in hash order, else zeros (CPU order: little-endian)
//	u8  bytes[149]  the ciphertext name, or its first 149 bytes
//	u8  sha256[32]  for a longer name, SHA-256 of the rest
//
// truncated after the ciphertext for names of at most 149 bytes. Lookups of
// such a name find the entry whose ciphertext it encodes. Regular files
// still cannot be opened (ENOKEY); an encrypted symlink reads as the no-key
// form of its ciphertext target.
const (
	nokeyBytesMax = 149
	nokeyNameMax  = 8 + nokeyBytesMax + sha256.Size // 189 bytes: 252 characters
	// fscryptNameMin is FSCRYPT_FNAME_MIN_MSG_LEN: every ciphertext name
	// is padded to at least one cipher block.
	fscryptNameMin = 16
)

func (ip *inode) isEncrypted() bool { return ip.flags&disk.InodeEncryptFl != 0 }

// noKeyName returns the no-key form of ciphertext name (its dirhash
// fields set to hash and minor), or EUCLEAN for a name shorter than a
// cipher block, as fscrypt_fname_disk_to_usr refuses it.
func noKeyName(name []byte, hash, minor uint32) (string, error) {
	if len(name) < fscryptNameMin {
		return "", abi.Errorf(abi.EUCLEAN, "encrypted name of %d bytes, shorter than %d", len(name), fscryptNameMin)
	}
	var n [nokeyNameMax]byte
	binary.LittleEndian.PutUint32(n[0:], hash)
	binary.LittleEndian.PutUint32(n[4:], minor)
	size := 8 + copy(n[8:8+nokeyBytesMax], name)
	if len(name) > nokeyBytesMax {
		sum := sha256.Sum256(name[nokeyBytesMax:])
		size = 8 + nokeyBytesMax + copy(n[8+nokeyBytesMax:], sum[:])
	}
	return base64.RawURLEncoding.EncodeToString(n[:size]), nil
}

// noKeyMatcher returns a function reporting whether a ciphertext name is
// the one the no-key name encodes (fscrypt_match_name without the key); a
// name that is no valid no-key name matches nothing.
func noKeyMatcher(name string) func(entry []byte) bool {
	n, err := base64.RawURLEncoding.DecodeString(name)
	switch {
	case err != nil || len(n) < 8+fscryptNameMin || len(n) > nokeyNameMax:
		return func([]byte) bool { return false }
	case len(n) <= 8+nokeyBytesMax:
		return func(entry []byte) bool { return bytes.Equal(entry, n[8:]) }
	case len(n) == nokeyNameMax:
		prefix, sum := n[8:8+nokeyBytesMax], n[8+nokeyBytesMax:]
		return func(entry []byte) bool {
			if len(entry) <= nokeyBytesMax || !bytes.Equal(entry[:nokeyBytesMax], prefix) {
				return false
			}
			s := sha256.Sum256(entry[nokeyBytesMax:])
			return bytes.Equal(s[:], sum)
		}
	}
	return func([]byte) bool { return false }
}

// userName is the name readdir reports for an entry of directory ip: the
// name itself, or its no-key form in an encrypted directory.
func (ip *inode) userName(name []byte, hash, minor uint32) (string, error) {
	// fscrypt_fname_disk_to_usr: "." and ".." are never encrypted.
	if !ip.isEncrypted() || disk.IsDot(name) {
		return string(name), nil
	}
	return noKeyName(name, hash, minor)
}

// encryptedLink returns the no-key form of an encrypted symlink's target
// (fscrypt_get_symlink without the key): the link's contents are struct
// fscrypt_symlink_data, a little-endian 16-bit length and the ciphertext.
func (ip *inode) encryptedLink(raw []byte) (string, error) {
	if len(raw) < 2 {
		return "", abi.Errorf(abi.EUCLEAN, "ext4: inode %d: encrypted symlink of %d bytes", ip.ino, len(raw))
	}
	n := int(binary.LittleEndian.Uint16(raw))
	if n == 0 || 2+n > len(raw) {
		return "", abi.Errorf(abi.EUCLEAN, "ext4: inode %d: encrypted symlink: bad length %d", ip.ino, n)
	}
	s, err := noKeyName(raw[2:2+n], 0, 0)
	if err != nil {
		return "", abi.Errorf(abi.EUCLEAN, "ext4: inode %d: encrypted symlink: %v", ip.ino, err)
	}
	return s, nil
}

// fscrypt contexts (fs/crypto/policy.c, struct fscrypt_context_v1/v2): a
// version byte, the contents and filenames modes, flags, the key's
// descriptor (8 bytes, v1) or reserved bytes and identifier (4 + 16, v2),
// then a 16-byte nonce that is no part of the policy.
const (
	fscryptContextV1Size = 28
	fscryptContextV2Size = 40
	fscryptNonceSize     = 16
)

// fscryptPolicy returns the encryption policy of an encrypted inode, its
// context without the nonce, with the errors fscrypt_get_encryption_info
// meets without the key: ENODATA for no context, EINVAL for a context
// fscrypt_policy_from_context does not recognise or a policy
// fscrypt_supported_policy refuses (modes, flags).
func (ip *inode) fscryptPolicy() ([]byte, error) {
	ents, err := ip.xattrs()
	if err != nil {
		return nil, err
	}
	var ctx []byte
	for _, e := range ents {
		if e.Index == disk.XattrIndexEncryption && e.Name == "c" && e.Value != nil {
			ctx = e.Value
		}
	}
	if ctx == nil {
		return nil, abi.Errorf(abi.ENODATA, "ext4: inode %d: no encryption context", ip.ino)
	}
	size, flagsOK := 0, uint8(0)
	switch ctx[0] {
	case 1:
		size, flagsOK = fscryptContextV1Size, 0x03|0x04 // padding, DIRECT_KEY
	case 2:
		size, flagsOK = fscryptContextV2Size, 0x03|0x04|0x08|0x10 // and IV_INO_LBLK_64, _32
	}
	if size == 0 || len(ctx) != size {
		return nil, abi.Errorf(abi.EINVAL, "ext4: inode %d: unrecognized or corrupt encryption context", ip.ino)
	}
	// fscrypt_valid_enc_modes_v1/v2: the contents and filenames modes
	// go in pairs (AES-256-XTS with AES-256-CTS or, v2, HCTR2; AES-128
	// CBC/CTS; Adiantum; SM4, v2).
	modes := [2]uint8{ctx[1], ctx[2]}
	valid := modes == [2]uint8{1, 4} || modes == [2]uint8{5, 6} || modes == [2]uint8{9, 9} ||
		ctx[0] == 2 && (modes == [2]uint8{1, 10} || modes == [2]uint8{7, 8})
	if !valid || ctx[3]&^flagsOK != 0 {
		return nil, abi.Errorf(abi.EINVAL, "ext4: inode %d: unrecognized or corrupt encryption policy", ip.ino)
	}
	return ctx[:size-fscryptNonceSize], nil
}

// fscryptPrepareDir is the part of fscrypt_prepare_readdir and
// fscrypt_prepare_lookup a directory without its key meets: an encrypted
// directory without an encryption context is ENODATA (a context it does
// not support is read as no-key names all the same).
func (ip *inode) fscryptPrepareDir() error {
	if !ip.isEncrypted() {
		return nil
	}
	if _, err := ip.fscryptPolicy(); errors.Is(err, abi.ENODATA) {
		return err
	}
	return nil
}

// fscryptPermitted is fscrypt_has_permitted_context without keys: a
// directory or symlink in an encrypted directory must be encrypted with
// the directory's policy (ext4_lookup refuses it with EPERM otherwise).
func (dir *inode) fscryptPermitted(child *inode) bool {
	if !dir.isEncrypted() || !child.isDir() && !child.isLnk() && !child.isReg() {
		return true
	}
	if !child.isEncrypted() {
		return false
	}
	p, err := dir.fscryptPolicy()
	if err != nil {
		return false
	}
	c, err := child.fscryptPolicy()
	return err == nil && bytes.Equal(p, c)
}
