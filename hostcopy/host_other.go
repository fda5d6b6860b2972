//go:build !linux

package hostcopy

import (
	"errors"

	"github.com/lklimg/lklimg/archive"
)

// errHost is what To and From return off Linux: the host side uses Linux's
// lstat, xattr, mknod, utimensat and SEEK_DATA calls.
var errHost = errors.New("hostcopy: copying between the host and an image works only on linux for now")

// To copies host files into the kernel's tree (see to_linux.go).
func To(k Kernel, root string, srcs []string, dst string, opts Options) error { return errHost }

// From copies the kernel's files to the host (see from_linux.go).
func From(k Kernel, root string, srcs []string, dst string, opts Options) error { return errHost }

// SourceBytes estimates the data To would copy (see to_linux.go).
func SourceBytes(srcs []string) int64 { return 0 }

// DirSource is a host directory as an archive.Source (see
// source_linux.go); off Linux its stream fails at once.
type DirSource struct{}

// NewDirSource returns a Source whose Next fails: the walk uses Linux's
// calls.
func NewDirSource(dir string, report func(error)) *DirSource { return &DirSource{} }

func (*DirSource) Next() (*archive.Header, error) { return nil, errHost }
func (*DirSource) Read(p []byte) (int, error)     { return 0, errHost }
func (*DirSource) Close() error                   { return nil }
