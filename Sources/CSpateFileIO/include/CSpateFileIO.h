#ifndef CSPATE_FILEIO_H
#define CSPATE_FILEIO_H

/// Reserves disk blocks for `length` bytes of the file from `offset` without changing the file's size (Linux
/// `fallocate` with `FALLOC_FL_KEEP_SIZE`: the blocks past the end are allocated but unwritten, so reads never see
/// them and `fstat` still reports the bytes written). Swift cannot call it directly: glibc declares `fallocate` only
/// under `_GNU_SOURCE`.
/// Returns 0, or the `errno` of the failure (`EOPNOTSUPP` where the file system or platform cannot do it).
int spate_preallocate_keep_size(int fd, long long offset, long long length);

#endif
