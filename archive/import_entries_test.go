package archive

// The archives the importer's tests share (host, kernel, fuzz seeds).

// replaceEntries are archives where later entries replace earlier ones:
// a file over a file (a hard link to the first keeps its content), a
// directory over a directory (merged, the second's metadata), a file
// over an empty directory, a directory over a file, a symlink over a
// file and the reverse, a device over a FIFO, a hard link over a file,
// a hard link to a file replaced since, a symlink over an empty
// directory, and a file over one that is not empty (refused, as GNU tar
// does).
func replaceEntries() []entry {
	reg := func(name, data string, mode uint32, sec int64) entry {
		return entry{h: Header{Name: name, Typeflag: TypeReg, Mode: mode, Size: int64(len(data)), Mtime: Time{sec, 0}, Uid: 7, Gid: 8}, data: []byte(data)}
	}
	dir := func(name string, mode uint32, sec int64, uid uint32) entry {
		return entry{h: Header{Name: name, Typeflag: TypeDir, Mode: mode, Mtime: Time{sec, 5}, Uid: uid, Gid: uid,
			Xattrs: []Xattr{{"user.dir", []byte(name)}}}}
	}
	return []entry{
		dir("./", 0o755, 1000, 0),
		reg("./f", "first", 0o644, 2000),
		{h: Header{Name: "./f-link", Typeflag: TypeLink, Linkname: "./f"}},
		reg("./f", "second, longer", 0o600, 3000),
		dir("./d", 0o700, 4000, 1),
		reg("./d/in", "in d", 0o644, 4500),
		dir("./d", 0o751, 5000, 2),
		dir("./empty", 0o755, 5500, 0),
		reg("./empty", "now a file", 0o640, 6000),
		reg("./was-file", "a file", 0o644, 6500),
		dir("./was-file", 0o711, 7000, 3),
		reg("./s", "file", 0o644, 7500),
		{h: Header{Name: "./s", Typeflag: TypeSymlink, Linkname: "target", Mtime: Time{8000, 0}, Uid: 4, Gid: 5}},
		{h: Header{Name: "./s2", Typeflag: TypeSymlink, Linkname: "target2", Mtime: Time{8000, 0}}},
		reg("./s2", "over a symlink", 0o644, 8500),
		{h: Header{Name: "./node", Typeflag: TypeFifo, Mode: 0o600, Mtime: Time{9000, 0}}},
		{h: Header{Name: "./node", Typeflag: TypeChar, Mode: 0o620, Devmajor: 4, Devminor: 64, Mtime: Time{9500, 0}}},
		reg("./g", "g", 0o644, 10000),
		reg("./h", "h", 0o644, 10500),
		{h: Header{Name: "./h", Typeflag: TypeLink, Linkname: "./g"}},
		reg("./k", "k1", 0o644, 11000),
		{h: Header{Name: "./k2", Typeflag: TypeLink, Linkname: "k"}},
		reg("./k", "k2", 0o644, 11500),
		{h: Header{Name: "./k3", Typeflag: TypeLink, Linkname: "k"}},
		reg("./d/setuid", "suid", 0o4755, 12000),
		reg("missing/parents/made", "deep", 0o644, 12500),
		dir("./empty2", 0o755, 13000, 0),
		{h: Header{Name: "./empty2", Typeflag: TypeSymlink, Linkname: "x", Mtime: Time{13500, 0}}},
		dir("./full", 0o750, 14000, 0),
		reg("./full/inside", "in", 0o644, 14100),
		reg("./full", "over a directory that is not empty", 0o644, 14500), // refused
	}
}

// whiteoutEntries is an OCI layer's whiteouts: of a file, of a
// directory with contents, of a name never there, and an opaque
// directory.
func whiteoutEntries() []entry {
	return []entry{
		{h: Header{Name: "etc/", Typeflag: TypeDir, Mode: 0o755, Mtime: Time{100, 0}}},
		{h: Header{Name: "etc/gone", Typeflag: TypeReg, Mode: 0o644, Size: 1}, data: []byte("x")},
		{h: Header{Name: "etc/tree/", Typeflag: TypeDir, Mode: 0o755}},
		{h: Header{Name: "etc/tree/sub/f", Typeflag: TypeReg, Mode: 0o644}},
		{h: Header{Name: "etc/.wh.gone", Typeflag: TypeReg, Mode: 0o644, Uid: 5, Gid: 6, Mtime: Time{200, 0}}},
		{h: Header{Name: "etc/.wh.tree", Typeflag: TypeReg, Mode: 0o644, Mtime: Time{300, 0}}},
		{h: Header{Name: "etc/.wh.never-there", Typeflag: TypeReg, Mode: 0o644, Mtime: Time{400, 0}}},
		{h: Header{Name: "opaque/.wh..wh..opq", Typeflag: TypeReg, Mode: 0o644}},
		{h: Header{Name: "opaque/kept", Typeflag: TypeReg, Mode: 0o644}},
	}
}
