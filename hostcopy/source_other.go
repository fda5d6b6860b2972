//go:build darwin || freebsd || windows

package hostcopy

// DirSource is a host directory as an archive.Source, for the image
// writers (mkfs -t squashfs|erofs -d DIR): here walked through the host
// layer (walkSource, see source_walk.go), where Linux walks it with
// archive.Export through hostsys (source_linux.go). An entry the walk
// cannot read, or a socket, is reported to report (an
// *archive.PathError) and left out; the directory missing, or not one,
// is the error of the first Next.
type DirSource struct{ *walkSource }

// NewDirSource starts the walk of dir; report may be nil.
func NewDirSource(dir string, report func(error)) *DirSource {
	return &DirSource{newWalkSource(dir, report)}
}
