package hostcopy

import (
	"errors"
	"path"
	"slices"
	"strings"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/kernel/abi"
)

// The kernel side: listing a directory, and finding sources and
// destinations inside the mounted tree as a process chrooted at its root
// would (archive.Resolve): ".." stops at the root, absolute symlinks start
// again from it.

// readDir returns the names in the kernel directory dir, without "." and
// "..", sorted bytewise. buf is the getdents64 buffer.
func readDir(k Kernel, dir string, buf []byte) ([]string, error) {
	names, err := archive.ReadDirNames(k, dir, buf)
	if err != nil {
		return names, err
	}
	slices.Sort(names)
	return names, nil
}

// join returns the kernel path of name in the kernel directory dir.
func join(dir, name string) string {
	if strings.HasSuffix(dir, "/") {
		return dir + name
	}
	return dir + "/" + name
}

// source is one thing to copy: the path it is known by, and the name it
// gets at the destination ("" when its contents are merged into the
// destination itself: the image's root, or "dir/.").
type source struct {
	path string
	name string
}

// imageSources expands the image paths srcs (relative to root, the mount
// point) into the kernel paths to copy: the directories on the way are
// resolved inside the image; the last component is kept as it is (a
// symlink is copied as a symlink), or, when it holds a shell pattern and
// no entry has that very name, matched against the names of its directory
// with path.Match. A source that cannot be found is reported on its own.
func imageSources(k Kernel, root string, srcs []string, buf []byte, report func(src string, err error)) []source {
	var out []source
	for _, src := range srcs {
		clean := path.Clean("/" + src)
		dot := strings.HasSuffix(src, "/.") || src == "."
		dir, base := path.Split(clean)
		if clean == "/" {
			out = append(out, source{path: strings.TrimSuffix(root, "/"), name: ""})
			continue
		}
		parent, err := archive.Resolve(k, root, dir)
		if err != nil {
			report(src, err)
			continue
		}
		full := join(parent, base)
		var st abi.Stat
		err = k.Fstatat(abi.AT_FDCWD, full, &st, abi.AT_SYMLINK_NOFOLLOW)
		if err == nil {
			if dot {
				// "dir/.": the contents of dir, into the destination itself;
				// dir itself may be a symlink to follow inside the image.
				if full, err = archive.Resolve(k, root, clean); err != nil {
					report(src, err)
					continue
				}
				base = ""
			}
			out = append(out, source{path: full, name: base})
			continue
		}
		if !errors.Is(err, abi.ENOENT) || !hasMeta(base) {
			report(src, err)
			continue
		}
		names, err := readDir(k, parent, buf)
		if err != nil {
			report(src, err)
			continue
		}
		matched, err := match(base, names)
		if err == nil && len(matched) == 0 {
			err = errors.New("no match")
		}
		if err != nil {
			report(src, err)
			continue
		}
		for _, n := range matched {
			if !plainName(n) {
				report(src, abi.Errorf(abi.EINVAL, "the name %q in the image is not a plain name", n))
				continue
			}
			out = append(out, source{path: join(parent, n), name: n})
		}
	}
	return out
}

// imageDest resolves the destination dst inside the image for n sources:
// an existing directory receives them under their own names (into is
// true); otherwise, for one source, dst is the name it gets in its
// (existing) parent directory. It returns the kernel path.
func imageDest(k Kernel, root, dst string, n int) (kpath string, into bool, err error) {
	full, err := archive.Resolve(k, root, dst)
	if err == nil {
		var st abi.Stat
		if err := k.Fstatat(abi.AT_FDCWD, full, &st, 0); err != nil {
			return "", false, err
		}
		if st.Mode&abi.S_IFMT == abi.S_IFDIR {
			return full, true, nil
		}
		if n > 1 {
			return "", false, abi.ENOTDIR
		}
		return full, false, nil
	}
	if !errors.Is(err, abi.ENOENT) || n > 1 || strings.HasSuffix(dst, "/") {
		return "", false, err
	}
	clean := path.Clean("/" + dst)
	dir, base := path.Split(clean)
	parent, err := archive.Resolve(k, root, dir)
	if err != nil {
		return "", false, err
	}
	return join(parent, base), false, nil
}
