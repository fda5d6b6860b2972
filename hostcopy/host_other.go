//go:build !linux && !darwin && !freebsd && !windows

package hostcopy

import (
	"errors"

	"github.com/lklimg/lklimg/archive"
)

// errHost is what To, From and DirSource return on the hosts without a
// host layer (host_unix.go, host_windows.go): the other unixes, whose
// x/sys/unix lacks some of the *at or xattr calls, and the rest.
var errHost = errors.New("hostcopy: copying between the host and an image works on linux, darwin, freebsd and windows")

// To copies host files into the kernel's tree (see to.go).
func To(k Kernel, root string, srcs []string, dst string, opts Options) error { return errHost }

// From copies the kernel's files to the host (see from.go).
func From(k Kernel, root string, srcs []string, dst string, opts Options) error { return errHost }

// SourceBytes estimates the data To would copy (see to.go).
func SourceBytes(srcs []string) int64 { return 0 }

// DirSource is a host directory as an archive.Source (see
// source_linux.go); here its stream fails at once.
type DirSource struct{}

// NewDirSource returns a Source whose Next fails.
func NewDirSource(dir string, report func(error)) *DirSource { return &DirSource{} }

func (*DirSource) Next() (*archive.Header, error) { return nil, errHost }
func (*DirSource) Read(p []byte) (int, error)     { return 0, errHost }
func (*DirSource) Close() error                   { return nil }
