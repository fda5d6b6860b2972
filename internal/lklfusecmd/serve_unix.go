//go:build linux || darwin

package lklfusecmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/lklimg/lklimg/fusefs"
	"github.com/lklimg/lklimg/internal/cliflags"
	"github.com/lklimg/lklimg/internal/profile"
	"github.com/lklimg/lklimg/kernel/abi"
)

// serve mounts and serves until the host unmounts, then leaves the image
// clean, calling ready once the mount is there.
func serve(o *options, msgs io.Writer, ready func()) error {
	image, err := filepath.Abs(o.image)
	if err != nil {
		return err
	}
	// The root of the mount is a directory: FUSE would mount it over a
	// file, as a file.
	if fi, err := os.Stat(o.mountpoint); err != nil {
		return err
	} else if !fi.IsDir() {
		return fmt.Errorf("%s: not a directory", o.mountpoint)
	}
	disk := cliflags.Disk{Partition: o.part, FSType: o.fstype, MemoryMB: o.mb, Data: o.fsOpts, Devices: o.devices}
	// Read-only too, the server needs the write headroom: go-fuse's
	// request buffers (MaxWrite, 128 KiB, one per request in flight).
	disk.LimitHeap(os.Getenv)
	m, err := disk.Mount(o.image, o.readOnly, msgs)
	if err != nil && !o.readOnly && writeProtected(err) {
		// As mount(8) does with a write-protected device.
		fmt.Fprintf(msgs, "lklfuse: %s: write-protected, mounted read-only\n", o.image)
		o.readOnly = true
		m, err = disk.Mount(o.image, true, msgs)
	}
	if err != nil {
		return err
	}
	if !o.readOnly {
		if why := m.ReadOnlyReason(); why != "" {
			fmt.Fprintf(msgs, "lklfuse: %s: mounted read-only: %s\n", o.image, why)
			o.readOnly = true
		}
	}
	k := m.Kernel
	root, fopts, err := fusefs.Root(fusefs.Options{
		Kernel: k, Dir: m.Dir, Debug: o.debug,
		AttrTimeout:  seconds(o.attrTimeout),
		EntryTimeout: seconds(o.entryTimeout),
		MaxNodes:     o.maxNodes,
		NoOpen:       o.readOnly,
	})
	if err != nil {
		k.Halt()
		return fmt.Errorf("%s: %w", o.image, err)
	}
	mo := &fopts.MountOptions
	mo.FsName = image
	if o.fsname != "" {
		mo.FsName = o.fsname
	}
	mo.Name = "lklfuse"
	if o.subtype != "" {
		mo.Name = o.subtype
	}
	mo.AllowOther = o.allowOther
	mo.SingleThreaded = o.single
	hostMountOptions(mo, o.readOnly)
	mo.Options = append(mo.Options, o.extra...)
	if o.allowRoot {
		mo.Options = append(mo.Options, "allow_root")
	}
	if o.readOnly {
		mo.Options = append(mo.Options, "ro")
	}
	srv, err := fuse.NewServer(fusefs.NewRawFS(root, fopts), o.mountpoint, mo)
	if err != nil {
		k.Halt()
		return fmt.Errorf("mount %s: %w", o.mountpoint, err)
	}
	go srv.Serve()
	if err := srv.WaitMount(); err != nil {
		// The host has mounted it, but the first look inside failed
		// (go-fuse opens a name in the root, which a user the root's
		// mode shuts out cannot: a FAT mounted with umask=077 and
		// another uid=): take the mount away again rather than leave
		// it dead ("transport endpoint is not connected") once this
		// server exits.
		srv.Unmount()
		k.Halt()
		return fmt.Errorf("mount %s: %w", o.mountpoint, err)
	}
	// Catch the signals before the caller is told the mount is ready:
	// one sent the moment lklfuse returns (a script's kill right after
	// it) would otherwise end this process the default way and leave a
	// dead mount behind.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	ready()
	go func() {
		for s := range sigs {
			fmt.Fprintf(msgs, "lklfuse: %v: unmounting %s\n", s, o.mountpoint)
			unmount(srv, o.mountpoint, msgs)
		}
	}()
	srv.Wait()
	profile.WriteHeap("lklfuse", os.Getenv, msgs)
	signal.Stop(sigs)
	close(sigs)

	// The host has let go of every file (what it did not release is
	// closed here): unmount in the kernel, which commits the journal and
	// marks the filesystem clean.
	fusefs.CloseAll(root)
	err = k.Chdir("/")
	if err == nil {
		err = k.Umount(m.Dir, 0)
	}
	if herr := k.Halt(); err == nil {
		err = herr
	}
	if err != nil {
		return fmt.Errorf("%s: leaving the image: %w", o.image, err)
	}
	return nil
}

// unmount asks the host to unmount; a mount still in use is detached
// (detachFlag: umount -l on Linux, -f on macOS), and the server ends when
// its last user lets go.
func unmount(srv *fuse.Server, mountpoint string, msgs io.Writer) {
	err := srv.Unmount()
	if err == nil {
		return
	}
	fmt.Fprintf(msgs, "lklfuse: unmount %s: %v; detaching it, the image is left when its last user closes it\n", mountpoint, err)
	if err := syscall.Unmount(mountpoint, detachFlag); err != nil && !errors.Is(err, syscall.EINVAL) {
		fmt.Fprintf(msgs, "lklfuse: detach %s: %v\n", mountpoint, err)
	}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// writeProtected reports whether err is the image's refusal to be opened
// for writing: a file the user may only read, or one on a read-only
// filesystem of the host.
func writeProtected(err error) bool {
	return errors.Is(err, abi.EACCES) || errors.Is(err, abi.EROFS) || errors.Is(err, abi.EPERM)
}
