#!/bin/bash
# Makes the images of this directory with mkfs.erofs 1.9.3 (erofs-utils
# v1.9.3 built with lz4, liblzma, zlib, libdeflate and libzstd), run as
# root: MKFS=/path/to/mkfs.erofs ./make.sh. Each image is a layout
# mkfs.erofs 1.5 cannot make; the expected trees beside them are the
# host kernel's view of each, recorded by
#   EROFS_RECORD=1 go test ./kernel/fs/erofs/ -run TestMkfs19
set -eu
MKFS=${MKFS:-mkfs.erofs}
out=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
src=$work/src
export TZ=UTC

# A tree of every kind of entry, small: files ending on and beside
# block boundaries, compressible and not, a sparse one, hard links,
# symlinks (one long), devices, a fifo, xattrs of every namespace
# (shared ones, long values, long-prefix names, POSIX ACLs), a deep
# path and a directory of many names.
rnd() { python3 -c "import random,sys; r=random.Random($2); sys.stdout.buffer.write(bytes(r.getrandbits(8) for _ in range($1)))"; }
txt() { yes "line of text $2, compressible" | head -c "$1"; }
mkdir -p "$src/sizes" "$src/x" "$src/many" "$src/dup" "$src/special" "$src/hard"
for s in 0 1 511 512 4095 4096 4097 8192 12289; do txt $s $s > "$src/sizes/t$s"; done
for s in 1000 4096 9000; do rnd $s $s > "$src/sizes/r$s"; done
txt 70000 big > "$src/sizes/text70000"
truncate -s 300000 "$src/sizes/sparse"; printf 'middle' | dd of="$src/sizes/sparse" bs=1 seek=150000 conv=notrunc status=none
for i in 1 2 3; do txt 20000 dup > "$src/dup/a$i"; done
{ txt 6000 head; rnd 3000 7; } > "$src/dup/b1"; { rnd 3000 7; txt 6000 head; } > "$src/dup/b2"
for i in $(seq 1 120); do : > "$src/many/name-$i-$(printf '%*s' $((i % 60)) '' | tr ' ' n)"; done
p=$src/deep; for i in $(seq 1 12); do p=$p/d$i; done; mkdir -p "$p"; echo bottom > "$p/leaf"
for i in 1 2 3 4; do
	echo "f$i" > "$src/x/f$i"
	setfattr -n user.shared -v same-value "$src/x/f$i"
	setfattr -n trusted.overlay.origin -v "origin$i" "$src/x/f$i"
	setfattr -n user.long.prefix.name$i -v "v$i" "$src/x/f$i"
done
setfattr -n user.longval -v "$(printf '%*s' 1500 '' | tr ' ' v)" "$src/x/f1"
setfattr -n security.selinux -v "system_u:object_r:bin_t:s0" "$src/x/f2"
setfacl -m u:1234:rwx "$src/x/f3"
setfacl -d -m g:55:rx "$src/x"
ln -s f1 "$src/x/link"
ln -s "$(printf '%*s' 900 '' | tr ' ' L)" "$src/x/longlink"
echo one > "$src/hard/one"; ln "$src/hard/one" "$src/hard/two"; ln "$src/hard/one" "$src/x/three"
mknod "$src/special/chr" c 1 3; mknod "$src/special/blk" b 8 1; mkfifo "$src/special/fifo"
chown 1000:1000 "$src/sizes/t1"; chmod 4755 "$src/sizes/t512"; chmod 1777 "$src/many"
find "$src" -exec touch -h -d @1700000000 {} +
touch -d @1600000000.5 "$src/sizes/t1"

mk() {
	name=$1; shift
	rm -f "$out/$name.img.gz"
	"$MKFS" --quiet -T1700000000 -Uc1b9d5a2-f162-11cf-9ece-0020afc76f16 "$@" "$work/$name.img" "$src"
	gzip -9n < "$work/$name.img" > "$out/$name.img.gz"
}
mk 48bit-lz4 -E48bit -zlz4hc -C16384
mk 48bit-chunks -E48bit --chunksize=8192 -Eforce-chunk-indexes
mk 48bit-lzma-frag -E48bit -zlzma -Efragments -Eztailpacking
mk metabox -m4096 -zlz4hc -x1 --xattr-prefix=user.long.prefix. --xattr-prefix=trusted.overlay.
mk metabox-zstd -m16384:zstd -zzstd -C16384 -Eall-fragments
mk dedupe -zlz4hc -Ededupe -C16384
mk b512-lz4 -b512 -zlz4hc -C4096
mk b1024-zstd -b1024 -zzstd -Eztailpacking
mk b2048-deflate -b2048 -zdeflate,9 -Eall-fragments
mk dot-omitted -Edot-omitted -zlz4
mk digest --xattr-inode-digest -Eplain-xattr-prefixes --xattr-prefix=user.long.prefix.

# An index-only image of a tarball (--tar=i), its data on an extra
# device: with the tar after it (at the device's unified address), the
# image Linux reads whole without device= options.
tar --xattrs --xattrs-include='*' --sort=name --mtime=@1700000000 --owner=0 --group=0 -C "$src" -cf "$work/src.tar" sizes x hard
"$MKFS" --quiet -T1700000000 -Uc1b9d5a2-f162-11cf-9ece-0020afc76f16 --tar=i "$work/tari.img" "$work/src.tar"
cat "$work/tari.img" "$work/src.tar" | gzip -9n > "$out/tar-index-flat.img.gz"
gzip -9n < "$work/tari.img" > "$out/tar-index.img.gz"
ls -l "$out"
