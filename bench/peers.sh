#!/usr/bin/env bash
# Installs the peer tools make bench compares with: hcsshim's tar2ext4 (a
# tar into an ext4 image, Go), built here through the module proxy into
# /usr/local/bin, and the Debian tools the benchmarks and tests call.
#
#   bench/peers.sh
set -euo pipefail
if ! command -v hyperfine >/dev/null || ! command -v zstd >/dev/null || ! command -v fuse2fs >/dev/null; then
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q e2fsprogs libarchive-tools zstd attr acl hyperfine fuse3 fuse2fs >/dev/null
fi
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
cd "$w"
# A command line around hcsshim's ext4/tar2ext4 package: tar2ext4 -i TAR -o IMAGE.
cat >main.go <<'GO'
package main

import (
	"bufio"
	"flag"
	"log"
	"os"

	"github.com/Microsoft/hcsshim/ext4/tar2ext4"
)

func main() {
	in := flag.String("i", "", "the tar archive to read")
	out := flag.String("o", "", "the ext4 image to write")
	flag.Parse()
	src, err := os.Open(*in)
	if err != nil {
		log.Fatal(err)
	}
	dst, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	if err := tar2ext4.Convert(bufio.NewReader(src), dst, tar2ext4.MaximumDiskSize(64<<30)); err != nil {
		log.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		log.Fatal(err)
	}
}
GO
go mod init tar2ext4 >/dev/null 2>&1
go get github.com/Microsoft/hcsshim@v0.15.0 >/dev/null 2>&1
go mod tidy >/dev/null 2>&1
go build -o /usr/local/bin/tar2ext4 .
echo "peers installed: tar2ext4"
