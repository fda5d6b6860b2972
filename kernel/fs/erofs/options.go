package erofs

import (
	"strings"

	"github.com/lklimg/lklimg/kernel/abi"
)

// Mount options (Documentation/filesystems/erofs.rst, erofs_fs_parameters
// in fs/erofs/super.c). Two change what is shown: user_xattr and acl,
// both on by default (CONFIG_EROFS_FS_XATTR, CONFIG_EROFS_FS_POSIX_ACL).
// The others tune Linux's caches and DAX, or name extra devices this
// driver does not read: they are accepted and change nothing; an unknown
// one is EINVAL, as Linux's parser refuses it.
type options struct {
	userXattr bool // user.* xattrs shown (nouser_xattr hides them)
	acl       bool // POSIX ACLs shown (noacl hides them)
}

func parseOptions(data string) (options, error) {
	o := options{userXattr: true, acl: true}
	for _, opt := range strings.Split(data, ",") {
		name, val, hasVal := strings.Cut(opt, "=")
		bad := func() (options, error) {
			return o, abi.Errorf(abi.EINVAL, "erofs: Bad value for '%s'", name)
		}
		switch name {
		case "", "ro", "rw", "defaults", "noatime", "relatime", "strictatime", "nodiratime":
			// Mount flags, not erofs's.
		case "user_xattr", "nouser_xattr", "acl", "noacl", "directio", "nodirectio":
			if hasVal {
				return bad()
			}
			switch name {
			case "user_xattr", "nouser_xattr":
				o.userXattr = name == "user_xattr"
			case "acl", "noacl":
				o.acl = name == "acl"
			}
		case "cache_strategy":
			if val != "disabled" && val != "readahead" && val != "readaround" {
				return bad()
			}
		case "dax":
			if hasVal && val != "always" && val != "never" {
				return bad()
			}
		case "device", "fsid", "domain_id":
			if !hasVal {
				return bad()
			}
		default:
			return o, abi.Errorf(abi.EINVAL, "erofs: Unknown parameter '%s'", name)
		}
	}
	return o, nil
}
