package archive

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/lklimg/lklimg/kernel/abi"
)

// maxIDFile bounds what is read of /etc/passwd or /etc/group: a real one
// is kilobytes; a huge one is not worth the memory.
const maxIDFile = 16 << 20

// IDNames reads the user and group names of the system whose root is
// root, from its /etc/passwd and /etc/group (passwd(5), group(5): "name:
// password:ID:..." lines), through sys: the image's names, not the
// host's. When an ID has several names the first wins, as getpwuid(3)
// returns it. A missing file gives an empty map; lines that do not parse
// are skipped, as the C library skips them.
//
// Errors: what opening or reading a file that exists returns; EFBIG for
// one larger than 16 MiB.
func IDNames(sys Syscalls, root string) (users, groups map[uint32]string, err error) {
	users, err = readIDFile(sys, root, "/etc/passwd")
	if err != nil {
		return nil, nil, err
	}
	groups, err = readIDFile(sys, root, "/etc/group")
	if err != nil {
		return nil, nil, err
	}
	return users, groups, nil
}

// readIDFile parses a passwd or group file: the name is field 1, the ID
// field 3 in both.
func readIDFile(sys Syscalls, root, name string) (map[uint32]string, error) {
	names := map[uint32]string{}
	p, err := Resolve(sys, root, name)
	if errors.Is(err, abi.ENOENT) {
		return names, nil
	}
	if err != nil {
		return nil, &PathError{Path: name, Op: "open", Err: err}
	}
	fd, err := sys.Openat(abi.AT_FDCWD, p, abi.O_RDONLY|abi.O_CLOEXEC, 0)
	if err != nil {
		return nil, &PathError{Path: name, Op: "open", Err: err}
	}
	defer sys.Close(fd)
	data, err := io.ReadAll(io.LimitReader(&fdReader{sys: sys, fd: fd}, maxIDFile+1))
	if err != nil {
		return nil, &PathError{Path: name, Op: "read", Err: err}
	}
	if len(data) > maxIDFile {
		return nil, &PathError{Path: name, Op: "read", Err: abi.EFBIG}
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, maxIDFile)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 3 || f[0] == "" || strings.HasPrefix(f[0], "+") || strings.HasPrefix(f[0], "-") {
			continue // NIS compat entries name no local ID
		}
		id, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		if _, dup := names[uint32(id)]; !dup {
			names[uint32(id)] = f[0]
		}
	}
	return names, nil
}
