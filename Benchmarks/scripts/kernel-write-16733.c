// The kernel's side of a 16 KiB append, without Spate: 512 MiB per iteration in 16,733-byte pwritev calls of two
// vectors (a 61-byte header and 16,672 bytes, as PartitionLog writes a stamped header and the records), into a fresh
// file. The third argument reserves disk ahead of the writes with fallocate(FALLOC_FL_KEEP_SIZE) in chunks of that
// many bytes (0: none; 1073741824: the whole segment at once, as `preallocate` does). Prints the write-only rate, the
// rate including one fsync at the end, the time spent in fallocate, and the blocks left after ftruncate to the size.
//   cc -O2 -o /tmp/kernel-write-16733 Benchmarks/scripts/kernel-write-16733.c
//   /tmp/kernel-write-16733 /tmp 2 0; /tmp/kernel-write-16733 /tmp 2 1073741824   # alternate a few times
// (BENCHMARKS.md, "Storage appends: Spate's overhead and preallocation".)
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
    const char *dir = argv[1]; int iters = atoi(argv[2]); long chunk = atol(argv[3]);
    size_t bs = 16733; long total = 512L << 20;
    char *buf = malloc(bs); for (size_t i = 0; i < bs; i++) buf[i] = (char)(i * 131 + 7);
    char *head = malloc(61); memcpy(head, buf, 61);
    char path[512]; snprintf(path, sizeof path, "%s/kernel-write-16733.%d", dir, getpid());
    for (int it = 0; it < iters; it++) {
        int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        long off = 0, allocated = 0; double fa = 0; double t0 = now();
        while (off < total) {
            if (chunk > 0 && off + (long)bs > allocated) {
                double f0 = now();
                if (fallocate(fd, FALLOC_FL_KEEP_SIZE, allocated, chunk) != 0) { perror("fallocate"); return 1; }
                fa += now() - f0; allocated += chunk;
            }
            struct iovec v[2] = {{head, 61}, {buf + 61, bs - 61}};
            ssize_t n = pwritev(fd, v, 2, off);
            if (n != (ssize_t)bs) { perror("write"); return 1; }
            off += n;
        }
        double t1 = now(); fsync(fd); double t2 = now();
        ftruncate(fd, off); struct stat st; fstat(fd, &st);
        printf("chunk=%ld: write %.0f MB/s, write+fsync %.0f MB/s, fallocate %.1f ms, blocks after trunc %ld MiB size %ld\n", chunk,
            off / (t1 - t0) / 1e6, off / (t2 - t0) / 1e6, fa * 1e3, (long)st.st_blocks * 512 >> 20, (long)st.st_size);
        fflush(stdout); close(fd); unlink(path);
    }
    return 0;
}
