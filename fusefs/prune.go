//go:build linux || darwin

package fusefs

import (
	"sync"

	"github.com/hanwen/go-fuse/v2/fs"
)

// Bounding the nodes. go-fuse keeps a node (an fs.Inode, about 550 bytes
// with its maps) for every inode the host has looked up, for as long as
// the host keeps the inode: its dentry cache, which lets names go only
// under memory pressure. A find over a million files would keep a million
// nodes (550 MiB). So the server remembers the last Options.MaxNodes
// nodes it made, and tells the host to drop the name of each older one
// (FUSE_NOTIFY_INVAL_ENTRY, fuse_reverse_inval_entry: the dentry is
// invalidated, a directory's unused subtree with it). The host then sends
// FORGET for the inodes nothing else holds (an open file, a working
// directory keep theirs), and go-fuse drops their nodes. A dropped name
// is looked up again at its next use, as after an entry timeout.

// pruner drops the names of the nodes older than its last max.
type pruner struct {
	mu      sync.Mutex
	ring    []*fs.Inode // the last nodes made; nil for no bound
	next    int         // the oldest, replaced by the next one made
	pending []*fs.Inode // replaced, their names to drop
	wake    chan struct{}
}

func newPruner(max int) *pruner {
	p := &pruner{}
	if max > 0 {
		p.ring = make([]*fs.Inode, max)
		p.wake = make(chan struct{}, 1)
		go p.run()
	}
	return p
}

// made remembers a node go-fuse may add (a lookup's: go-fuse keeps the
// node it knows already for the same inode and discards this one, which
// then has no name to drop), and hands the one it replaces to run. A
// request never waits for the dropping (the host may hold the directory
// whose name run drops until this request is answered): the pending
// nodes are only pointers to nodes go-fuse holds anyway.
func (p *pruner) made(ino *fs.Inode) {
	if p.ring == nil {
		return
	}
	p.mu.Lock()
	old := p.ring[p.next]
	p.ring[p.next] = ino
	p.next = (p.next + 1) % len(p.ring)
	if old != nil {
		p.pending = append(p.pending, old)
	}
	p.mu.Unlock()
	if old != nil {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// run drops the names of the pending nodes, from its own goroutine: a
// notification written while a request of the same directory is served
// waits for that request, which another goroutine answers. A name gone
// already (ENOENT) is no error.
func (p *pruner) run() {
	var batch []*fs.Inode
	for range p.wake {
		p.mu.Lock()
		batch, p.pending = p.pending, batch[:0]
		p.mu.Unlock()
		for i, ino := range batch {
			if name, parent := ino.Parent(); parent != nil {
				parent.NotifyEntry(name)
			}
			batch[i] = nil
		}
	}
}
