package archive

import (
	"errors"
	"slices"
	"strings"

	"github.com/lklimg/lklimg/kernel/abi"
)

// xattrs returns every extended attribute of rel, not following a final
// symlink, sorted by name. ERANGE means the list or a value grew between
// the size query and the read; the read is retried. A filesystem without
// xattrs (EOPNOTSUPP) has none. On an error the attributes read so far are
// returned with it.
func (x *exporter) xattrs(rel string) ([]Xattr, error) {
	p := x.kpath(rel)
	list, err := sizedRead(func(b []byte) (int, error) { return x.sys.Llistxattr(p, b) })
	if errors.Is(err, abi.EOPNOTSUPP) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Xattr
	for _, name := range strings.Split(string(list), "\x00") {
		if name == "" {
			continue
		}
		v, err := sizedRead(func(b []byte) (int, error) { return x.sys.Lgetxattr(p, name, b) })
		if errors.Is(err, abi.ENODATA) {
			continue // removed since it was listed
		}
		if err != nil {
			return out, &xattrError{name, err}
		}
		out = append(out, Xattr{Name: name, Value: v})
	}
	slices.SortFunc(out, func(a, b Xattr) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
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
