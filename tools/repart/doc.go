// Package repart is systemd-repart's image build (systemd 252, the
// version Debian 12 ships): repart.d definition files read (Read), the
// GPT laid out from them as systemd-repart lays out a new image with
// --empty=create (Plan: sizes by minimum, maximum and weight, --size=auto,
// partitions dropped by priority), and the identities it derives from
// --seed (the disk GUID, each partition's UUID, default labels, the
// filesystems' UUIDs and FAT volume IDs). The result is a tools/fdisk
// Table, written as sfdisk would write it (systemd-repart writes through
// libfdisk too); making and filling the filesystems is the caller's
// (lklimg disk build), through the library kernel.
//
// The facts come from systemd 252.38's src/partition/repart.c and
// src/shared/{gpt,conf-parser,specifier,mkfs-util}.c, and the layouts are
// checked against the installed systemd-repart (repart_test.go). Where a
// later systemd differs, the comments say how.
package repart
