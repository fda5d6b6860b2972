package lklimgcmd

import (
	"fmt"
	"os/user"
	"strconv"
	"time"

	"github.com/lklimg/lklimg/kernel/abi"
)

// cat writes each file's bytes to stdout, as cat: a PATH that cannot be
// opened or read is reported ("lklimg: PATH: reason") and the others are
// still written.
func cat(s *session, args []string) {
	buf := make([]byte, 128<<10)
	for _, p := range args {
		fd, err := s.k.Openat(abi.AT_FDCWD, s.kpath(p), abi.O_RDONLY, 0)
		if err != nil {
			s.warn(exitFail, "%s: %s", p, strerror(err))
			continue
		}
		for {
			n, err := s.k.Read(fd, buf)
			s.out.Write(buf[:n])
			if err != nil {
				s.warn(exitFail, "%s: %s", p, strerror(err))
				break
			}
			if n == 0 {
				break
			}
		}
		s.k.Close(fd)
	}
}

// stat shows each PATH as GNU stat's default format does (coreutils 9:
// "Device: MAJOR,MINOR", times with nanoseconds in UTC). Owner and group
// names are the host's, as they would be for the image mounted.
func stat(s *session, args []string) {
	for _, p := range args {
		var stx abi.Statx
		if err := s.statx(p, abi.AT_SYMLINK_NOFOLLOW, &stx); err != nil {
			s.warn(exitFail, "cannot statx '%s': %s", p, strerror(err))
			continue
		}
		name := p
		if stx.Mode&abi.S_IFMT == abi.S_IFLNK {
			t, err := s.readlinkPath(p)
			if err != nil {
				s.warn(exitFail, "cannot read symbolic link '%s': %s", p, strerror(err))
				continue
			}
			name += " -> " + t
		}
		fmt.Fprintf(s.out, "  File: %s\n", name)
		fmt.Fprintf(s.out, "  Size: %-10d\tBlocks: %-10d IO Block: %-6d %s\n", stx.Size, stx.Blocks, stx.Blksize, fileType(&stx))
		dev := fmt.Sprintf("Device: %d,%d\tInode: %-11d Links: ", stx.DevMajor, stx.DevMinor, stx.Ino)
		if isDevice(stx.Mode) {
			fmt.Fprintf(s.out, "%s%-5d Device type: %d,%d\n", dev, stx.Nlink, stx.RdevMajor, stx.RdevMinor)
		} else {
			fmt.Fprintf(s.out, "%s%d\n", dev, stx.Nlink)
		}
		fmt.Fprintf(s.out, "Access: (%04o/%10.10s)  Uid: (%5d/%8s)   Gid: (%5d/%8s)\n",
			stx.Mode&0o7777, modeString(uint32(stx.Mode)), stx.Uid, userName(stx.Uid), stx.Gid, groupName(stx.Gid))
		fmt.Fprintf(s.out, "Access: %s\nModify: %s\nChange: %s\n", statTime(stx.Atime), statTime(stx.Mtime), statTime(stx.Ctime))
		birth := "-"
		if stx.Mask&abi.STATX_BTIME != 0 {
			birth = statTime(stx.Btime)
		}
		fmt.Fprintf(s.out, " Birth: %s\n", birth)
	}
}

// statTime is stat's %x: nanoseconds and the zone's offset (UTC here).
func statTime(t abi.StatxTimestamp) string {
	return time.Unix(t.Sec, int64(t.Nsec)).UTC().Format("2006-01-02 15:04:05.000000000 -0700")
}

// fileType is stat's %F.
func fileType(stx *abi.Statx) string {
	t := uint32(stx.Mode) & abi.S_IFMT
	if t == abi.S_IFREG && stx.Size == 0 {
		return "regular empty file"
	}
	for _, ft := range fileTypes {
		if t == ft.ifmt {
			return ft.name
		}
	}
	return "weird file"
}

// userName and groupName are the host's names for an id, or "UNKNOWN" as
// stat prints when there is none.
func userName(uid uint32) string {
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		return u.Username
	}
	return "UNKNOWN"
}

func groupName(gid uint32) string {
	if g, err := user.LookupGroupId(strconv.FormatUint(uint64(gid), 10)); err == nil {
		return g.Name
	}
	return "UNKNOWN"
}

// df shows the filesystem's space as df -B1 does, in its columns: each as
// wide as its widest cell (the source at least 14), numbers to the right.
// The source is the kernel's device ("vda", "vda2").
func df(s *session, _ []string) {
	var st abi.Statfs
	if err := s.k.Statfs(s.root, &st); err != nil {
		s.warn(exitFail, "/: %s", strerror(err))
		return
	}
	bs := uint64(st.Frsize)
	if bs == 0 {
		bs = uint64(st.Bsize)
	}
	used := (st.Blocks - st.Bfree) * bs
	avail := st.Bavail * bs
	pct := "-"
	if used+avail > 0 {
		// df rounds the percentage up: a filesystem is never shown as
		// emptier than it is.
		pct = strconv.FormatUint((used*100+used+avail-1)/(used+avail), 10) + "%"
	}
	rows := [][]string{
		{"Filesystem", "1B-blocks", "Used", "Available", "Use%", "Mounted on"},
		{s.dev, strconv.FormatUint(st.Blocks*bs, 10), strconv.FormatUint(used, 10), strconv.FormatUint(avail, 10), pct, "/"},
	}
	widths := []int{14, 5, 5, 5, 4, 0}
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	for _, r := range rows {
		fmt.Fprintf(s.out, "%-*s %*s %*s %*s %*s %s\n", widths[0], r[0], widths[1], r[1], widths[2], r[2],
			widths[3], r[3], widths[4], r[4], r[5])
	}
}
