package xfs

import (
	"strings"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Mount options (Documentation/admin-guide/xfs.rst, xfs_fs_parameters in
// fs/xfs/xfs_super.c). One changes what is served: norecovery, which
// mounts a filesystem with a dirty log as it is on disk. The others tune
// allocation, logging, quotas or I/O that a read-only mount does not do:
// they are accepted and change nothing. logdev= and rtdev= name devices
// this driver does not read: EINVAL. An unknown option is EINVAL, as
// Linux's parser refuses it.
type options struct {
	norecovery bool
}

func parseOptions(data string) (options, error) {
	var o options
	for _, opt := range strings.Split(data, ",") {
		name, _, _ := strings.Cut(opt, "=")
		switch name {
		case "", "ro", "rw", "defaults", "noatime", "relatime", "strictatime", "nodiratime", "lazytime":
			// Mount flags, not xfs's.
		case "norecovery":
			o.norecovery = true
		case "logbufs", "logbsize", "allocsize", "sunit", "swidth", "swalloc", "biosize",
			"wsync", "noalign", "inode32", "inode64", "ikeep", "noikeep", "largeio", "nolargeio",
			"attr2", "noattr2", "filestreams", "quota", "noquota", "usrquota", "grpquota", "prjquota",
			"uquota", "gquota", "pquota", "uqnoenforce", "gqnoenforce", "pqnoenforce", "qnoenforce",
			"discard", "nodiscard", "dax", "grpid", "bsdgroups", "nogrpid", "sysvgroups", "nouuid",
			"barrier", "nobarrier", "inode_lifetime", "max_atomic_write", "lifetime", "nolifetime":
			// Tuning of writes, quotas and I/O: nothing to do here.
		case "logdev", "rtdev":
			return o, abi.Errorf(abi.EINVAL, "xfs: %s: only single-device filesystems are read", name)
		default:
			return o, abi.Errorf(abi.EINVAL, "xfs: Unknown parameter '%s'", name)
		}
	}
	return o, nil
}
