package e2fsprogs

import (
	disk "github.com/lklimg/lklimg/format/ext4"
	"github.com/lklimg/lklimg/kernel/abi"
)

// SetUUID gives the unmounted, clean filesystem on dev the UUID uuid, as
// tune2fs -U does when it need not rewrite every checksum: the superblock
// and its backups get s_uuid (and their checksums), and without
// metadata_csum the group descriptors' gdt_csum checksums, which cover
// the UUID, are redone in every copy of the table. The internal journal's
// superblock keeps the UUID mkfs gave it, as tune2fs leaves it (nothing
// reads it).
//
// Checksums seeded by the UUID cannot stay valid without a rewrite of
// every block they cover: with metadata_csum (or ea_inode, whose value
// hashes take the same seed, fs/ext4/super.c) the filesystem must have
// metadata_csum_seed, which keeps the seed in s_checksum_seed; EINVAL
// otherwise, before anything is written.
func SetUUID(dev ImageDevice, uuid [16]byte) error {
	im, err := openOffline(dev, "set uuid")
	if err != nil {
		return err
	}
	sb := im.f.Super
	if (sb.MetadataCsum() || sb.HasIncompat(disk.IncompatEAInode)) && !sb.HasIncompat(disk.IncompatCsumSeed) {
		return abi.Errorf(abi.EINVAL, "ext4: set uuid: the checksums are seeded by the UUID (metadata_csum or ea_inode without metadata_csum_seed)")
	}
	sb.SUUID = uuid
	return im.writeMeta(func(s []byte) { copy(s[offSUUID:], uuid[:]) })
}
