#if defined(__linux__)
#define _GNU_SOURCE
#include <fcntl.h>
#endif
#include <errno.h>

#include "CSpateFileIO.h"

int spate_preallocate_keep_size(int fd, long long offset, long long length) {
#if defined(__linux__)
    int result;
    do {
        result = fallocate(fd, FALLOC_FL_KEEP_SIZE, (off_t)offset, (off_t)length);
    } while (result != 0 && errno == EINTR);
    return result == 0 ? 0 : errno;
#else
    (void)fd;
    (void)offset;
    (void)length;
    return EOPNOTSUPP;
#endif
}
