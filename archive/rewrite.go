package archive

// Rewrite changes what the archive says of every entry, for archives that
// must not depend on who built the image or when (reproducible builds),
// or that leave out metadata the consumer cannot use. The zero Rewrite
// changes nothing. It is applied in one step (exporter.writeHeader) to
// the header of every entry, after the kernel's view was read.
type Rewrite struct {
	// Uid and Gid, when set, replace every entry's owner (GNU tar's
	// --owner and --group).
	Uid, Gid *uint32
	// Uname and Gname, when set, name owners: an owner found there gets
	// its name in the header, others stay numeric. Nil maps mean numeric
	// owners only (GNU tar's --numeric-owner).
	Uname, Gname map[uint32]string
	// MtimeClamp, when set, gives every entry newer than it that time
	// (GNU tar's --clamp-mtime --mtime=TIME; SOURCE_DATE_EPOCH's use in
	// reproducible builds). Atime and ctime, when written, are clamped
	// too.
	MtimeClamp *Time
	// NoXattrs leaves out every extended attribute; NoACLs those holding
	// POSIX ACLs (system.posix_acl_access, system.posix_acl_default);
	// NoSELinux the SELinux label (security.selinux). Options.SELinuxFile
	// still sees the labels.
	NoXattrs, NoACLs, NoSELinux bool
}

// The xattr names GNU tar keeps apart from --xattrs: --acls and --selinux.
const (
	xattrACLAccess  = "system.posix_acl_access"
	xattrACLDefault = "system.posix_acl_default"
	xattrSELinux    = "security.selinux"
)

// apply rewrites h in place.
func (r *Rewrite) apply(h *Header) {
	if r.Uid != nil {
		h.Uid = *r.Uid
	}
	if r.Gid != nil {
		h.Gid = *r.Gid
	}
	if r.Uname != nil {
		h.Uname = r.Uname[h.Uid]
	}
	if r.Gname != nil {
		h.Gname = r.Gname[h.Gid]
	}
	if c := r.MtimeClamp; c != nil {
		clamp(&h.Mtime, *c)
		if h.Atime != nil {
			clamp(h.Atime, *c)
		}
		if h.Ctime != nil {
			clamp(h.Ctime, *c)
		}
	}
	if r.NoXattrs {
		h.Xattrs = nil
	} else if r.NoACLs || r.NoSELinux {
		kept := h.Xattrs[:0:0]
		for _, x := range h.Xattrs {
			acl := x.Name == xattrACLAccess || x.Name == xattrACLDefault
			if acl && r.NoACLs || x.Name == xattrSELinux && r.NoSELinux {
				continue
			}
			kept = append(kept, x)
		}
		h.Xattrs = kept
	}
}

// clamp sets t to c if t is later.
func clamp(t *Time, c Time) {
	if t.Sec > c.Sec || t.Sec == c.Sec && t.Nsec > c.Nsec {
		*t = c
	}
}

// writeHeader is the one place every entry's header goes through: the
// Rewrite, the writer, then Options.OnEntry. It returns the writer's
// error.
func (x *exporter) writeHeader(h *Header) error {
	x.opts.Rewrite.apply(h)
	if err := x.tw.WriteHeader(h); err != nil {
		return err
	}
	if x.opts.OnEntry != nil {
		x.opts.OnEntry(h)
	}
	return nil
}

// excluded reports whether an entry (rel as "/a/b") matches one of
// Options.Exclude. The root is never excluded.
func (x *exporter) excluded(rel string) bool {
	return rel != "" && x.exclude.Match(tarName(rel))
}
