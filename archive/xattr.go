package archive

import (
	"bytes"
	"errors"
	"slices"
	"strings"

	"github.com/lklimg/lklimg/kernel/abi"
)

// xattrs returns every extended attribute of rel, not following a final
// symlink, sorted by name: from fd when rel is open there (fd is not
// AT_FDCWD), else by its path. Each list and value is read in one call
// into a buffer of the largest size the ABI allows (XATTR_LIST_MAX,
// XATTR_SIZE_MAX), reused for every entry: an entry without xattrs costs
// one call and no allocation. ERANGE means the list or a value grew
// between the size query and the read; the read is retried. A filesystem
// without xattrs (EOPNOTSUPP) has none. On an error the attributes read
// so far are returned with it.
func (x *exporter) xattrs(fd int, rel string) ([]Xattr, error) {
	if x.xlist == nil {
		x.xlist = make([]byte, abi.XATTR_LIST_MAX)
		x.xval = make([]byte, abi.XATTR_SIZE_MAX)
	}
	var p string
	list := func(b []byte) (int, error) { return x.sys.Flistxattr(fd, b) }
	get := func(name string, b []byte) (int, error) { return x.sys.Fgetxattr(fd, name, b) }
	if fd == abi.AT_FDCWD {
		p = x.kpath(rel)
		list = func(b []byte) (int, error) { return x.sys.Llistxattr(p, b) }
		get = func(name string, b []byte) (int, error) { return x.sys.Lgetxattr(p, name, b) }
	}
	names, err := readInto(x.xlist, list)
	if errors.Is(err, abi.EOPNOTSUPP) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Xattr
	for len(names) > 0 {
		end := bytes.IndexByte(names, 0)
		if end < 0 {
			end = len(names)
		}
		name := string(names[:end])
		names = names[min(end+1, len(names)):]
		if name == "" {
			continue
		}
		v, err := readInto(x.xval, func(b []byte) (int, error) { return get(name, b) })
		if errors.Is(err, abi.ENODATA) {
			continue // removed since it was listed
		}
		if err != nil {
			return out, &xattrError{name, err}
		}
		out = append(out, Xattr{Name: name, Value: bytes.Clone(v)})
	}
	slices.SortFunc(out, func(a, b Xattr) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// readInto calls a listxattr/getxattr-style function with buf, and
// returns what it wrote there; only when buf is too small (ERANGE, which
// the ABI's limits leave to a host with larger ones) does it fall back to
// sizedRead's allocated buffer.
func readInto(buf []byte, call func([]byte) (int, error)) ([]byte, error) {
	n, err := call(buf)
	if errors.Is(err, abi.ERANGE) {
		return sizedRead(call)
	}
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// xattrError names the attribute that could not be read.
type xattrError struct {
	name string
	err  error
}

func (e *xattrError) Error() string { return e.name + ": " + e.err.Error() }
func (e *xattrError) Unwrap() error { return e.err }

// sizedRead calls a listxattr/getxattr-style function first with no buffer
// for the size, then with a buffer of that size, retrying on ERANGE.
func sizedRead(call func([]byte) (int, error)) ([]byte, error) {
	for range 5 {
		n, err := call(nil)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return []byte{}, nil
		}
		buf := make([]byte, n)
		n, err = call(buf)
		if errors.Is(err, abi.ERANGE) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
	return nil, abi.ERANGE
}
