package hostcopy

import (
	"errors"
	"sync"

	"github.com/lklimg/lklimg/archive"
	"github.com/lklimg/lklimg/internal/hostsys"
)

// DirSource is a host directory as an archive.Source, for the image
// writers (mkfs -t squashfs|erofs -d DIR): the directory itself first
// ("./", its owner, mode and times), then every entry as fs2tar gives an
// image's (archive.Export's walk: sorted names, hard links, holes, every
// xattr), walked through the host's own syscalls (hostsys.Sys).
//
// The walk runs on a goroutine of its own and hands the tar stream to
// the Source through an archive.Pipe, a buffer at a time: the walk's
// reads overlap the writer's compression, and the data is copied once on
// the way (out of the pipe's buffer into the reader's). An entry the walk cannot read is reported to report
// (an *archive.PathError) and left out, as fs2tar leaves it; the stream
// then ends as usual. So is a socket (archive.ErrSocket), which the tar
// stream between the two cannot carry. A failure of the walk itself (dir missing, not a
// directory) is the error Next returns.
//
// Close stops the walk if the Source was not read to its end, and waits
// for it.
type DirSource struct {
	*archive.Reader
	pr   *archive.PipeReader
	done sync.WaitGroup
}

// NewDirSource starts the walk of dir; report may be nil.
func NewDirSource(dir string, report func(error)) *DirSource {
	pr, pw := archive.Pipe(archive.DefaultBufferSize)
	s := &DirSource{Reader: archive.NewReader(pr), pr: pr}
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		err := archive.Export(hostsys.Sys{}, dir, pw, archive.Options{Report: report})
		if errors.Is(err, archive.ErrIncomplete) {
			err = nil // each failed entry was reported
		}
		pw.CloseWithError(err)
	}()
	return s
}

// Close ends the walk and waits for its goroutine.
func (s *DirSource) Close() error {
	s.pr.CloseWithError(errors.New("hostcopy: the source was closed"))
	s.done.Wait()
	return nil
}
