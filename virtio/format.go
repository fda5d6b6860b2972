package virtio

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/lklimg/lklimg/format/nbd"
)

// Format is a disk image format: a backend the device can serve a disk
// from, and how an image file of it is recognised.
type Format struct {
	// Name is the format's name, as qemu-img's -f names it ("raw",
	// "qcow2", "vpc" for VHD).
	Name string
	// What names the format for a person, in an error: "a qcow2 image".
	What string
	// Probe reports whether an image is of this format from its first
	// bytes (head: probeHead bytes, fewer in a smaller file) and its last
	// sector (tail: empty in a file shorter than a sector). Nil for raw,
	// the format of every file no other format recognises.
	Probe func(head, tail []byte) bool
	// Open opens the image at path as a backend; nil for a format that is
	// recognised, so that it is not read as raw garbage, but not served
	// yet. Convert then says how to make a raw image of it.
	Open    func(path string, o ImageOptions) (Backend, error)
	Convert string
}

// probeHead is how much of an image's start the probes see: every magic
// below lies in its first sector.
const probeHead = SectorSize

// qemuConvert is the way to a raw image from any format qemu-img reads.
const qemuConvert = "qemu-img convert -O raw IMAGE IMAGE.raw"

// Formats returns the disk image formats, in the order OpenImage probes
// them; raw comes last, the fallback. A new backend is its file in this
// package and one line here. The magic numbers are those of the formats'
// own specifications: QEMU's docs/interop/qcow2.txt ("QFI\xfb"), VMware's
// Virtual Disk Format 1.1 (a sparse extent's "KDM V" as a little-endian
// 0x564d444b), Microsoft's VHDX specification ("vhdxfile" at offset 0) and
// VHD specification (the footer's cookie "conectix" in the last sector,
// and at offset 0 in a dynamic disk's copy), VirtualBox's VDI header (its
// signature 0xbeda107f at 0x40, little-endian), and AOSP's
// libsparse/sparse_format.h (SPARSE_HEADER_MAGIC 0xed26ff3a, little-endian).
func Formats() []Format {
	at := func(magic string) func(head, tail []byte) bool {
		return func(head, _ []byte) bool { return strings.HasPrefix(string(head), magic) }
	}
	return []Format{
		{Name: "qcow2", What: "a qcow2 image", Probe: at("QFI\xfb"), Open: OpenQcow2, Convert: qemuConvert},
		{Name: "vmdk", What: "a VMDK image", Probe: func(head, _ []byte) bool {
			return strings.HasPrefix(string(head), "KDMV") || strings.HasPrefix(string(head), "# Disk DescriptorFile")
		}, Open: OpenVmdk, Convert: qemuConvert},
		{Name: "vhdx", What: "a VHDX image", Probe: at("vhdxfile"), Open: OpenVhdx, Convert: qemuConvert},
		{Name: "vpc", What: "a VHD image", Probe: func(head, tail []byte) bool {
			return strings.HasPrefix(string(tail), "conectix") || strings.HasPrefix(string(head), "conectix")
		}, Open: OpenVhd, Convert: qemuConvert},
		{Name: "vdi", What: "a VDI image", Probe: func(head, _ []byte) bool {
			return len(head) >= 0x44 && binary.LittleEndian.Uint32(head[0x40:]) == 0xbeda107f
		}, Convert: qemuConvert},
		{Name: "android-sparse", What: "an Android sparse image", Probe: func(head, _ []byte) bool {
			return len(head) >= 4 && binary.LittleEndian.Uint32(head) == 0xed26ff3a
		}, Open: OpenSparse, Convert: "simg2img IMAGE IMAGE.raw"},
		{Name: "raw", What: "a raw image", Open: func(path string, o ImageOptions) (Backend, error) {
			o.Format = "raw"
			return OpenImage(path, o)
		}},
	}
}

// FormatNames lists the formats' names, for an error: "qcow2, vmdk, ...".
func FormatNames() string {
	var names []string
	for _, f := range Formats() {
		names = append(names, f.Name)
	}
	return strings.Join(names, ", ")
}

// ImageOptions says how OpenImage opens an image file.
type ImageOptions struct {
	// Format is the image's format by name; "" or "auto" probes it.
	Format string
	// ReadOnly, Create, Truncate and Size are RawOptions' (a created,
	// truncated or extended image is raw).
	ReadOnly, Create, Truncate bool
	Size                       int64
	// CacheUnsafe makes Flush a no-op (RawFile.SetCacheUnsafe).
	CacheUnsafe bool
}

// FormatError is OpenImage's refusal of an image in a format it knows
// but cannot serve: reading it as raw would show its metadata as a disk.
type FormatError struct {
	Path   string
	Format Format
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%s, a format this kernel cannot open yet: convert it to a raw image first (%s)",
		e.Format.What, strings.ReplaceAll(e.Format.Convert, "IMAGE", e.Path))
}

// ImageError is a backend's refusal of an image in a format it serves:
// one it cannot read (damaged, or with a feature not read), or, with
// ReadOnly, one it reads but was asked to write.
type ImageError struct {
	Path   string
	Format Format
	// ReadOnly: the format is served read-only and a write open was
	// asked (Err is ErrReadOnly), or it is written but not in the way
	// asked (Err says how it is written: errNoResize).
	ReadOnly bool
	Err      error // why it cannot be read
}

func (e *ImageError) Error() string {
	if e.ReadOnly {
		what := "reads but does not write yet"
		if e.Err != nil && e.Err != ErrReadOnly {
			what = e.Err.Error()
		}
		return fmt.Sprintf("%s, which this kernel %s: convert it to a raw image to change it (%s)",
			e.Format.What, what, strings.ReplaceAll(e.Format.Convert, "IMAGE", e.Path))
	}
	return fmt.Sprintf("%s this kernel cannot read: %v", e.Format.What, e.Err)
}

func (e *ImageError) Unwrap() error { return e.Err }

// format returns the format called name.
func format(name string) Format {
	for _, f := range Formats() {
		if f.Name == name {
			return f
		}
	}
	return Format{Name: name, What: "a " + name + " image"}
}

// OpenImage opens the disk image at path as a backend: in the format
// o.Format names, or, for "" or "auto", the one its first and last bytes
// show, raw when none does (as QEMU's probing, without trusting a raw
// file to be anything else). An image of a format that has no backend
// yet is refused with a *FormatError, before anything of it is changed
// (created, truncated or extended). An NBD URI in place of path is the
// export, raw (openNBDImage).
func OpenImage(path string, o ImageOptions) (Backend, error) {
	if nbd.IsURI(path) {
		return openNBDImage(path, o)
	}
	var chosen *Format
	if o.Format != "" && o.Format != "auto" {
		for _, f := range Formats() {
			if f.Name == o.Format {
				chosen = &f
			}
		}
		if chosen == nil {
			return nil, fmt.Errorf("virtio: %s: unknown image format %q (known: auto, %s)", path, o.Format, FormatNames())
		}
		if chosen.Open == nil {
			return nil, &FormatError{Path: path, Format: *chosen}
		}
		if chosen.Name != "raw" {
			return chosen.Open(path, o)
		}
	}
	// Every format's file is opened as raw first, to probe it without
	// changing it (Size is applied once it is known to be raw).
	r, err := OpenRawFile(path, RawOptions{ReadOnly: o.ReadOnly, Create: o.Create, Truncate: o.Truncate})
	if err != nil {
		return nil, err
	}
	if chosen == nil && !o.Truncate {
		f, err := probeFormat(r)
		if err != nil {
			r.Close()
			return nil, err
		}
		if f != nil {
			r.Close()
			if f.Open == nil {
				return nil, &FormatError{Path: path, Format: *f}
			}
			return f.Open(path, o)
		}
	}
	if err := r.grow(o.Size); err != nil {
		r.Close()
		return nil, err
	}
	if o.CacheUnsafe {
		r.SetCacheUnsafe()
	}
	return r, nil
}

// openNBDImage opens the NBD export at uri (OpenNBD) as a raw disk: the
// server serves the disk of an image, whatever its format (qemu-nbd -f
// qcow2), so -f raw (or nbd, or auto) is the only format here, and an export
// whose bytes are another format's image is refused as a file of it
// would be. An export is a device of a fixed size, as a host block
// device: Create and Truncate do not apply, and a Size larger than it
// is refused.
func openNBDImage(uri string, o ImageOptions) (Backend, error) {
	if o.Format != "" && o.Format != "auto" && o.Format != "raw" && o.Format != "nbd" {
		return nil, fmt.Errorf("virtio: %s: image format %q over NBD: the disk is read as it is served (raw); let the server read the format (qemu-nbd -f %s)",
			uri, o.Format, o.Format)
	}
	c, err := OpenNBD(uri, NBDOptions{ReadOnly: o.ReadOnly, CacheUnsafe: o.CacheUnsafe})
	if err != nil {
		return nil, err
	}
	if o.Size > c.Size() {
		c.Close()
		return nil, fmt.Errorf("virtio: %s: the export has %d bytes, fewer than the %d asked for", uri, c.Size(), o.Size)
	}
	if o.Format != "raw" && o.Format != "nbd" {
		f, err := probeFormat(c)
		if err == nil && f != nil {
			err = fmt.Errorf("virtio: %s: the export holds %s, not a disk: serve the image's disk instead (qemu-nbd -f %s IMAGE)", uri, f.What, f.Name)
		}
		if err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// probeFormat returns the first format whose probe recognises the image
// behind r, or nil for raw.
func probeFormat(r Backend) (*Format, error) {
	head := make([]byte, min(probeHead, r.Size()))
	var tail []byte
	if r.Size() >= SectorSize {
		tail = make([]byte, SectorSize)
	}
	if err := r.ReadAt([][]byte{head}, 0); err != nil {
		return nil, err
	}
	if err := r.ReadAt([][]byte{tail}, r.Size()-int64(len(tail))); err != nil {
		return nil, err
	}
	for _, f := range Formats() {
		if f.Probe != nil && f.Probe(head, tail) {
			return &f, nil
		}
	}
	return nil, nil
}
