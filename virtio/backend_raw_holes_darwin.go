package virtio

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// hostPunch deallocates [off, off+n) with fcntl(F_PUNCHHOLE) (APFS), whose
// range must be whole blocks of the filesystem: the blocks inside the
// range are punched, the partial ones at its ends written with zeros.
// A filesystem without it (HFS+: ENOTSUP) writes zeros throughout.
func hostPunch(r *RawFile, off, n int64) error {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(r.fd), &st); err != nil {
		return fmt.Errorf("virtio: fstatfs: %w", err)
	}
	bs := int64(st.Bsize)
	if bs <= 0 || bs&(bs-1) != 0 {
		return errors.ErrUnsupported
	}
	start, end := (off+bs-1)&^(bs-1), (off+n)&^(bs-1)
	if start >= end {
		return errors.ErrUnsupported // no whole block: the caller writes zeros
	}
	// struct fpunchhole {fp_flags, reserved uint32; fp_offset, fp_length
	// off_t}: the first 24 bytes of Fstore_t, whose fcntl wrapper takes
	// a pointer as F_PUNCHHOLE does.
	arg := unix.Fstore_t{Offset: start, Length: end - start}
	if err := unix.FcntlFstore(r.fd, unix.F_PUNCHHOLE, &arg); err != nil {
		if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("virtio: F_PUNCHHOLE: %w (%w)", errors.ErrUnsupported, err)
		}
		return fmt.Errorf("virtio: F_PUNCHHOLE at %d+%d: %w", start, end-start, err)
	}
	for _, z := range [][2]int64{{off, start}, {end, off + n}} {
		if err := r.writeZeros(z[0], z[1]-z[0]); err != nil {
			return err
		}
	}
	return nil
}
