// Package abi holds the Linux kernel ABI as data: errno values, open and
// *at flags, file types, struct stat and struct statx, linux_dirent64,
// struct statfs and struct file_handle. The library kernel speaks this
// ABI whatever the host is, so a program sees the same numbers on linux,
// darwin and windows.
//
// Values are those of the generic Linux ABI (include/uapi/asm-generic/*.h and
// include/uapi/linux/*.h), which x86_64 and arm64 share for everything here.
package abi
