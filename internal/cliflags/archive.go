package cliflags

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/lklimg/lklimg/archive"
	"github.com/urfave/cli/v2"
)

// Rewrite holds the flags that change what an archive says of its
// entries, as GNU tar spells them where it has them.
type Rewrite struct {
	// Owner and Group force every entry's owner: "N" or "NAME:N".
	Owner, Group string
	// OwnerNames fills uname and gname from the image's /etc/passwd and
	// /etc/group; NumericOwner (the default) leaves them empty.
	OwnerNames, NumericOwner bool
	// MtimeClamp is the latest mtime an entry may have: "@SECONDS" or an
	// RFC 3339 date. Empty means SOURCE_DATE_EPOCH's, if it is set.
	MtimeClamp string
	// NoXattrs, NoACLs and NoSELinux leave those attributes out.
	NoXattrs, NoACLs, NoSELinux bool
	// Format is the tar format: "pax" (the default) or "gnu".
	Format string
}

// Flags returns the flag definitions, bound to r.
func (r *Rewrite) Flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "owner", Destination: &r.Owner,
			Usage: "give every entry the owner `N` (a number, or NAME:N)"},
		&cli.StringFlag{Name: "group", Destination: &r.Group,
			Usage: "give every entry the group `N` (a number, or NAME:N)"},
		&cli.BoolFlag{Name: "numeric-owner", Destination: &r.NumericOwner,
			Usage: "owners as numbers only, no names (the default)"},
		&cli.BoolFlag{Name: "owner-names", Destination: &r.OwnerNames,
			Usage: "also name owners and groups, from the image's /etc/passwd and /etc/group"},
		&cli.StringFlag{Name: "mtime-clamp", Destination: &r.MtimeClamp,
			Usage: "entries newer than `TIME` (@SECONDS or RFC 3339) get TIME; default: $SOURCE_DATE_EPOCH if set"},
		&cli.BoolFlag{Name: "no-xattrs", Destination: &r.NoXattrs, Usage: "leave out extended attributes"},
		&cli.BoolFlag{Name: "no-acls", Destination: &r.NoACLs, Usage: "leave out POSIX ACLs (system.posix_acl_*)"},
		&cli.BoolFlag{Name: "no-selinux", Destination: &r.NoSELinux, Usage: "leave out SELinux labels (security.selinux)"},
		&cli.StringFlag{Name: "format", Value: "pax", Destination: &r.Format,
			Usage: "tar `FORMAT`: pax, or gnu (no xattrs, whole-second times) for old readers"},
	}
}

// Options returns the archive.Rewrite the flags ask for. getenv reads
// SOURCE_DATE_EPOCH (os.Getenv); names reads the image's user and group
// names, and is called only for --owner-names.
func (r *Rewrite) Options(getenv func(string) string, names func() (users, groups map[uint32]string, err error)) (archive.Rewrite, error) {
	var rw archive.Rewrite
	if r.OwnerNames && r.NumericOwner {
		return rw, errors.New("--owner-names and --numeric-owner contradict each other")
	}
	rw.NoXattrs, rw.NoACLs, rw.NoSELinux = r.NoXattrs, r.NoACLs, r.NoSELinux
	if r.OwnerNames {
		users, groups, err := names()
		if err != nil {
			return rw, fmt.Errorf("--owner-names: %w", err)
		}
		rw.Uname, rw.Gname = users, groups
	}
	setID := func(flag, value string, id **uint32, names *map[uint32]string) error {
		if value == "" {
			return nil
		}
		n, name, err := ParseOwner(value)
		if err != nil {
			return fmt.Errorf("--%s %s: %w", flag, value, err)
		}
		*id = &n
		if name != "" {
			// The name given wins, and no other name can appear.
			*names = map[uint32]string{n: name}
		}
		return nil
	}
	if err := setID("owner", r.Owner, &rw.Uid, &rw.Uname); err != nil {
		return rw, err
	}
	if err := setID("group", r.Group, &rw.Gid, &rw.Gname); err != nil {
		return rw, err
	}
	switch {
	case r.MtimeClamp != "":
		t, err := ParseTime(r.MtimeClamp)
		if err != nil {
			return rw, fmt.Errorf("--mtime-clamp %s: %w", r.MtimeClamp, err)
		}
		rw.MtimeClamp = &t
	case getenv("SOURCE_DATE_EPOCH") != "":
		// reproducible-builds.org/specs/source-date-epoch: a decimal
		// number of seconds; anything else must be an error.
		s := getenv("SOURCE_DATE_EPOCH")
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil || sec < 0 {
			return rw, fmt.Errorf("SOURCE_DATE_EPOCH=%q: not a number of seconds since 1970", s)
		}
		rw.MtimeClamp = &archive.Time{Sec: sec}
	}
	return rw, nil
}

// TarFormat returns the --format asked for.
func (r *Rewrite) TarFormat() (archive.Format, error) {
	f, err := archive.ParseFormat(r.Format)
	if err != nil {
		return f, fmt.Errorf("--format: %w", err)
	}
	return f, nil
}

// ParseOwner parses "N" or "NAME:N" (GNU tar's --owner=NAME:UID).
func ParseOwner(s string) (id uint32, name string, err error) {
	num := s
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		name, num = s[:i], s[i+1:]
		if name == "" {
			return 0, "", errors.New("empty name before ':'")
		}
	}
	n, err := strconv.ParseUint(num, 10, 32)
	if err != nil || n == math.MaxUint32 {
		return 0, "", errors.New("want a number (N) or NAME:N; names are not looked up")
	}
	return uint32(n), name, nil
}

// ParseTime parses "@SECONDS" (since 1970, as date +%s and GNU tar's
// --mtime accept, with an optional fraction), an RFC 3339 date and time
// ("2024-01-31T12:00:00Z", "2024-01-31T12:00:00.5+01:00") or a date
// alone ("2024-01-31", midnight UTC).
func ParseTime(s string) (archive.Time, error) {
	if rest, ok := strings.CutPrefix(s, "@"); ok {
		whole, frac, _ := strings.Cut(rest, ".")
		sec, err := strconv.ParseInt(whole, 10, 64)
		if err != nil || len(frac) > 9 || strings.HasPrefix(whole, "+") {
			return archive.Time{}, errors.New("want @SECONDS, such as @1700000000")
		}
		var nsec int64
		if frac != "" {
			n, err := strconv.ParseUint(frac, 10, 32)
			if err != nil {
				return archive.Time{}, errors.New("want @SECONDS, such as @1700000000.5")
			}
			nsec = int64(n) * int64(math.Pow10(9-len(frac)))
			if strings.HasPrefix(whole, "-") {
				sec, nsec = sec-1, 1e9-nsec // -1.25 is 1.25 s before the epoch
			}
		}
		return archive.Time{Sec: sec, Nsec: nsec}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return archive.Time{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}, nil
		}
	}
	return archive.Time{}, errors.New("want @SECONDS or an RFC 3339 date (2024-01-31T12:00:00Z, or 2024-01-31)")
}

// Patterns is a repeatable string flag's values, in command-line order.
// urfave/cli v2 refuses a slice flag given under two of its names (-e a
// --exclude b), so a repeatable flag with a short name is two flags
// sharing one Patterns (RepeatableFlags).
type Patterns []string

// Set appends one value (flag.Value).
func (p *Patterns) Set(v string) error {
	*p = append(*p, v)
	return nil
}

// String shows the values (flag.Value).
func (p *Patterns) String() string { return strings.Join(*p, " ") }

// RepeatableFlags defines --name and -short as one repeatable flag
// collecting into p, every value kept as it is (commas included).
func RepeatableFlags(name, short, usage string, p *Patterns) []cli.Flag {
	return []cli.Flag{
		&cli.GenericFlag{Name: name, Value: p, Usage: usage + " (repeatable; also -" + short + ")"},
		&cli.GenericFlag{Name: short, Value: p, Hidden: true},
	}
}
