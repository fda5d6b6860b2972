//go:build darwin || freebsd || windows

package hostcopy

import (
	"errors"

	"github.com/lklimg/lklimg/archive"
)

var errHost = errors.New("hostcopy: a host directory as a source works only on linux for now")

// DirSource is a host directory as an archive.Source (see
// source_linux.go); here its stream fails at once.
type DirSource struct{}

// NewDirSource returns a Source whose Next fails.
func NewDirSource(dir string, report func(error)) *DirSource { return &DirSource{} }

func (*DirSource) Next() (*archive.Header, error) { return nil, errHost }
func (*DirSource) Read(p []byte) (int, error)     { return 0, errHost }
func (*DirSource) Close() error                   { return nil }
