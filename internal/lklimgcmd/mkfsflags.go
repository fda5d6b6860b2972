package lklimgcmd

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lklimg/lklimg/internal/cliflags"
	"github.com/lklimg/lklimg/tools"
	"github.com/lklimg/lklimg/tools/e2fsprogs"
	"github.com/urfave/cli/v2"
)

// fsFlags are mke2fs's options that say what filesystem to make, shared
// by mkfs and tar2fs (each adds its own: the size, the input, -q, -m).
type fsFlags struct {
	fsType, label, uuid, ext, features, journal, timestamp string
	cluster                                                string
	blockSize, inodes, inodeSize, inodeRatio, flexSize     int
	// reserved is -m PERCENT, mkfs's only (tar2fs's -m is its memory);
	// below 0: mke2fs's default.
	reserved float64
}

// cliFlags returns the options bound to f, mke2fs's letters (and a long
// name each).
func (f *fsFlags) cliFlags() []cli.Flag {
	f.reserved = -1
	return []cli.Flag{
		&cli.StringFlag{Name: "t", Aliases: []string{"type"}, Value: "ext4", Destination: &f.fsType,
			Usage: "filesystem `TYPE`: " + strings.Join(tools.MkfsTypes(), ", ")},
		&cli.IntFlag{Name: "b", Aliases: []string{"block-size"}, Destination: &f.blockSize, DefaultText: "by size",
			Usage: "block size in `BYTES` (1024, 2048, 4096, 65536; as mke2fs.conf)"},
		&cli.StringFlag{Name: "C", Aliases: []string{"cluster-size"}, Destination: &f.cluster, DefaultText: "16 blocks",
			Usage: "cluster `SIZE` with bigalloc (bytes, or with K, M)"},
		&cli.IntFlag{Name: "N", Aliases: []string{"inodes"}, Destination: &f.inodes, DefaultText: "from -i",
			Usage: "`N` inodes"},
		&cli.IntFlag{Name: "I", Aliases: []string{"inode-size"}, Destination: &f.inodeSize, DefaultText: "256",
			Usage: "inode size in `BYTES`"},
		&cli.IntFlag{Name: "i", Aliases: []string{"bytes-per-inode"}, Destination: &f.inodeRatio, DefaultText: "by size",
			Usage: "`BYTES` per inode (as mke2fs.conf)"},
		&cli.IntFlag{Name: "G", Aliases: []string{"flex-size"}, Destination: &f.flexSize, DefaultText: "16",
			Usage: "`N` groups per flex group (flex_bg)"},
		&cli.StringFlag{Name: "L", Aliases: []string{"label"}, Destination: &f.label,
			Usage: "volume `LABEL` (16 bytes at most)"},
		&cli.StringFlag{Name: "U", Aliases: []string{"uuid"}, Destination: &f.uuid,
			Usage: "filesystem `UUID`, random or clear (not given: see SOURCE_DATE_EPOCH)"},
		&cli.StringFlag{Name: "E", Aliases: []string{"extended"}, Destination: &f.ext,
			Usage: "extended `OPTIONS`: hash_seed=UUID,root_owner=UID:GID,orphan_file_size=BLOCKS,quotatype=usrquota:grpquota:prjquota,encoding=utf8,encoding_flags=strict"},
		&cli.StringFlag{Name: "O", Aliases: []string{"features"}, Destination: &f.features,
			Usage: "`FEATURES` to set, or clear with ^ (mke2fs's names)"},
		&cli.StringFlag{Name: "J", Aliases: []string{"journal"}, Destination: &f.journal,
			Usage: "journal `OPTIONS`: size=MiB"},
		&cli.StringFlag{Name: "timestamp", Destination: &f.timestamp,
			Usage: "the `TIME` of every stamp (@SECONDS or a date), as SOURCE_DATE_EPOCH"},
	}
}

// reservedFlag is mkfs's -m PERCENT.
func (f *fsFlags) reservedFlag() cli.Flag {
	return &cli.Float64Flag{Name: "m", Value: -1, Destination: &f.reserved, DefaultText: "5",
		Usage: "`PERCENT` of blocks reserved for root"}
}

// identityHelp is what mkfs's help says of time stamps and identity
// (tar2fs's: tar2fsIdentityHelp).
const identityHelp = "With SOURCE_DATE_EPOCH set (or --timestamp), every time stamp the filesystem is made with is\n" +
	"that time, and the UUID and hash seed not given (-U, -E hash_seed=) are derived from the time,\n" +
	"the parameters and the input archive's bytes: the same inputs make the same image. Without it,\n" +
	"they are random."

// given says what of the filesystem's identity the flags give: the
// UUID (-U UUID, or clear), the hash seed (-E hash_seed=), or a random
// UUID (-U random).
type given struct{ uuid, hashSeed, randomUUID bool }

// mkfsParams turns the flags into e2fsprogs.MkfsParams for a device of size
// bytes, the time of the stamps being epoch (nil: now). The UUID and
// hash seed the flags do not give are set by identity afterwards.
func mkfsParams(f *fsFlags, size int64, epoch *int64) (p e2fsprogs.MkfsParams, g given, err error) {
	if s, err := tools.ForMkfs(f.fsType); err != nil {
		return p, g, fmt.Errorf("-t %s: %w", f.fsType, err)
	} else if s.Name != "e2fsprogs" {
		return p, g, fmt.Errorf("-t %s: only mke2fs's types (ext4, ext3, ext2) are filled from a tar yet", f.fsType)
	}
	p, err = e2fsprogs.DefaultMkfsParams(size, f.fsType)
	if err != nil {
		return p, g, fmt.Errorf("-t %s: %w", f.fsType, err)
	}
	if f.blockSize != 0 {
		if err := p.SetBlockSize(size, uint32(f.blockSize)); err != nil {
			return p, g, fmt.Errorf("-b %d: invalid block size (1024, 2048, 4096 or 65536)", f.blockSize)
		}
	}
	if f.features != "" {
		if err := p.SetFeatures(f.features); err != nil {
			return p, g, fmt.Errorf("-O %s: %w", f.features, err)
		}
	}
	if f.flexSize != 0 {
		if f.flexSize < 1 || f.flexSize&(f.flexSize-1) != 0 || f.flexSize > 1<<31 {
			return p, g, fmt.Errorf("-G %d: flex_bg size must be a power of 2", f.flexSize)
		}
		if !p.HasFeature("flex_bg") {
			return p, g, fmt.Errorf("-G %d: flex_bg feature not enabled, so flex_bg size may not be specified", f.flexSize)
		}
		p.FlexBGSize = uint32(f.flexSize)
	}
	if f.cluster != "" {
		n, err := parseSize(f.cluster)
		if err != nil || n <= 1024 || n > 1<<29 {
			return p, g, fmt.Errorf("-C %s: invalid cluster size", f.cluster)
		}
		if !p.HasFeature("bigalloc") {
			return p, g, fmt.Errorf("-C %s: specifying a cluster size requires the bigalloc feature", f.cluster)
		}
		p.ClusterSize = uint32(n)
	}
	// mke2fs's default inode ratio is at least a cluster.
	p.RaiseInodeRatio()
	if f.inodeRatio != 0 {
		if f.inodeRatio < 1024 || f.inodeRatio > 65536*1024 {
			return p, g, fmt.Errorf("-i %d: invalid inode ratio (1024-67108864)", f.inodeRatio)
		}
		p.InodeRatio = uint32(f.inodeRatio)
	}
	if f.inodes < 0 || f.inodes > 1<<32-1 {
		return p, g, fmt.Errorf("-N %d: invalid number of inodes", f.inodes)
	}
	p.Inodes = uint32(f.inodes)
	if f.inodeSize != 0 {
		p.InodeSize = uint16(f.inodeSize)
		if f.inodeSize < 128 || f.inodeSize > int(p.BlockSize) || f.inodeSize&(f.inodeSize-1) != 0 {
			return p, g, fmt.Errorf("-I %d: invalid inode size (min 128/max %d)", f.inodeSize, p.BlockSize)
		}
	}
	if f.reserved >= 0 {
		if f.reserved > 50 {
			return p, g, fmt.Errorf("-m %v: invalid reserved blocks percent", f.reserved)
		}
		p.ReservedPercent = f.reserved
	}
	if len(f.label) > 16 {
		return p, g, fmt.Errorf("-L %q: a label has 16 bytes at most", f.label)
	}
	p.Label = f.label
	if f.journal != "" {
		v, ok := strings.CutPrefix(f.journal, "size=")
		mib, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return p, g, fmt.Errorf("-J %s: only size=MiB is supported", f.journal)
		}
		p.JournalBlocks = uint32(mib << 20 / uint64(p.BlockSize))
		if err := p.SetFeatures("has_journal"); err != nil { // -J asks for one
			return p, g, err
		}
		if p.JournalBlocks == 0 {
			return p, g, fmt.Errorf("-J %s: journal too small", f.journal)
		}
	}
	if f.ext != "" {
		for _, o := range strings.Split(f.ext, ",") {
			k, v, _ := strings.Cut(o, "=")
			switch k {
			case "hash_seed":
				u, err := parseUUID(v)
				if err != nil {
					return p, g, fmt.Errorf("-E %s: %w", o, err)
				}
				p.HashSeed, g.hashSeed = u, true
			case "root_owner":
				us, gs, ok := strings.Cut(v, ":")
				uid, err1 := strconv.ParseUint(us, 10, 32)
				gid, err2 := strconv.ParseUint(gs, 10, 32)
				if !ok || err1 != nil || err2 != nil {
					return p, g, fmt.Errorf("-E %s: root_owner is UID:GID", o)
				}
				p.RootUID, p.RootGID = uint32(uid), uint32(gid)
			case "orphan_file_size":
				// Blocks, or bytes with a suffix (mke2fs's parse_num_blocks2).
				n, err := strconv.ParseUint(v, 10, 32)
				if err != nil {
					b, serr := parseSize(v)
					if serr != nil {
						return p, g, fmt.Errorf("-E %s: orphan_file_size is BLOCKS or SIZE", o)
					}
					n = uint64(b) / uint64(p.BlockSize)
				}
				if n == 0 {
					return p, g, fmt.Errorf("-E %s: invalid size of orphan file", o)
				}
				p.OrphanFileBlocks = n
			case "quotatype":
				// parse_quota_types: usr[quota], grp[quota], prj[quota],
				// ':'-separated; prjquota turns project on.
				var bits uint8
				for _, q := range strings.Split(v, ":") {
					switch q {
					case "usr", "usrquota":
						bits |= e2fsprogs.QuotaUsrBit
					case "grp", "grpquota":
						bits |= e2fsprogs.QuotaGrpBit
					case "prj", "prjquota":
						bits |= e2fsprogs.QuotaPrjBit
					default:
						return p, g, fmt.Errorf("-E %s: unknown quota type %q (usrquota, grpquota, prjquota)", o, q)
					}
				}
				p.QuotaTypes = bits
			case "encoding":
				// mke2fs: naming the encoding turns casefold on;
				// utf8 (12.1) is the only one.
				if v != "utf8" && v != "utf8-12.1" {
					return p, g, fmt.Errorf("-E %s: unknown encoding (utf8)", o)
				}
				if err := p.SetFeatures("casefold"); err != nil {
					return p, g, err
				}
			case "encoding_flags":
				switch v {
				case "strict":
					p.EncodingFlags = 1 // EXT4_ENC_STRICT_MODE_FL
				case "nostrict":
					p.EncodingFlags = 0
				default:
					return p, g, fmt.Errorf("-E %s: unknown encoding flags (strict, nostrict)", o)
				}
			default:
				return p, g, fmt.Errorf("-E %s: unknown extended option (hash_seed=UUID, root_owner=UID:GID, orphan_file_size=BLOCKS, quotatype=TYPES, encoding=utf8, encoding_flags=strict)", o)
			}
		}
	}
	switch f.uuid {
	case "":
	case "random":
		g.randomUUID = true
	case "clear", "null":
		p.UUID, g.uuid = [16]byte{}, true
	default:
		u, err := parseUUID(f.uuid)
		if err != nil {
			return p, g, fmt.Errorf("-U %s: %w", f.uuid, err)
		}
		p.UUID, g.uuid = u, true
	}
	p.Time = time.Now().Unix()
	if epoch != nil {
		p.Time = *epoch
	}
	return p, g, nil
}

// fixedTime reads --timestamp, else SOURCE_DATE_EPOCH: the time of every
// stamp of a reproducible image (nil when neither is set).
func fixedTime(f *fsFlags, getenv func(string) string) (*int64, error) {
	what, v := "--timestamp ", f.timestamp
	var n int64
	var err error
	if v != "" {
		var t, perr = cliflags.ParseTime(v)
		n, err = t.Sec, perr
	} else if v = getenv("SOURCE_DATE_EPOCH"); v != "" {
		what = "SOURCE_DATE_EPOCH="
		n, err = strconv.ParseInt(v, 10, 64)
	} else {
		return nil, nil
	}
	if err != nil || n < 0 || n > 1<<32-1 {
		return nil, fmt.Errorf("%s%s: not a time ext4 stores (seconds, 0 to 2^32-1)", what, v)
	}
	return &n, nil
}

// identity sets p's UUID and hash seed, the one place that decides them
// for mkfs and tar2fs:
//   - given (g): -U UUID (or clear: all zeros), -E hash_seed=UUID: kept;
//   - -U random: random (crypto/rand) even in a reproducible run;
//   - otherwise, when the time is fixed (epoch: SOURCE_DATE_EPOCH or
//     --timestamp), derived: a version 4 UUID whose bits are a SHA-256
//     of the purpose ("uuid", "hash_seed"), the command and what else
//     shapes the image (what), every parameter (p, the time among them;
//     the UUID too for the hash seed) and the input's digest (input:
//     the SHA-256 of the archive file, nil for none: a directory, or
//     tar2fs, which derives the UUID again after the import,
//     planIdentity);
//   - otherwise random.
//
// The hash seed must be fixed before any directory is indexed, and the
// UUID seeds metadata checksums, so both are known before Mkfs.
func identity(p *e2fsprogs.MkfsParams, g given, epoch *int64, what string, input func() ([]byte, error)) error {
	var digest []byte
	derive := func(purpose string) ([16]byte, error) {
		if epoch == nil {
			return randomUUID()
		}
		if digest == nil && input != nil {
			d, err := input()
			if err != nil {
				return [16]byte{}, err
			}
			digest = d
		}
		return deriveUUID(purpose, what, p, digest), nil
	}
	var err error
	switch {
	case g.randomUUID:
		p.UUID, err = randomUUID()
	case !g.uuid:
		p.UUID, err = derive("uuid")
	}
	if err == nil && !g.hashSeed {
		p.HashSeed, err = derive("hash_seed")
	}
	return err
}

// deriveUUID is identity's derived UUID.
func deriveUUID(purpose, what string, p *e2fsprogs.MkfsParams, digest []byte) [16]byte {
	h := sha256.New()
	fmt.Fprintf(h, "lklimg %s\x00%s\x00%+v\x00", purpose, what, *p)
	h.Write(digest)
	return v4([16]byte(h.Sum(nil)[:16]))
}

func randomUUID() ([16]byte, error) {
	var u [16]byte
	_, err := rand.Read(u[:])
	return v4(u), err
}

// v4 gives 16 bytes the shape of a random (version 4) UUID (RFC 9562
// section 5.4).
func v4(u [16]byte) [16]byte {
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

// fileDigest returns a function giving the SHA-256 of the regular file
// in's bytes (nil for anything else, which cannot be read twice), read
// from its start and left there.
func fileDigest(in *os.File, name string) func() ([]byte, error) {
	return func() ([]byte, error) {
		fi, err := in.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return nil, nil
		}
		h := sha256.New()
		if _, err := io.Copy(h, in); err != nil {
			return nil, fmt.Errorf("%s: %w", name, unwrapPathErr(err))
		}
		if _, err := in.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("%s: %w", name, unwrapPathErr(err))
		}
		return h.Sum(nil), nil
	}
}

// parseUUID reads the usual 8-4-4-4-12 hex form.
func parseUUID(s string) ([16]byte, error) {
	var u [16]byte
	h := strings.ReplaceAll(s, "-", "")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 16 || len(s) != 36 {
		return u, fmt.Errorf("could not parse UUID: %s", s)
	}
	copy(u[:], b)
	return u, nil
}

func formatUUID(u [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
