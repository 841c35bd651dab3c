/*
 * Shared by the C benchmark programs: a monotonic clock, latency statistics, peak RSS and
 * the one-line JSON result every benchmark program prints (read by benches/run).
 */
#ifndef GCDN_BENCH_COMMON_H
#define GCDN_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/*
 * The request every purge benchmark makes: purge by URL, 2 URLs, resource 100. gcdn paces
 * purges per resource (at the fastest its options allow, 1 per 1 ms plus a 1 ms margin), so
 * gcdn's own rows turn over resources 100..999 (same length, so the same bytes on the wire)
 * and no call ever waits for the pacer; the baselines, which do not pace, stay on 100.
 */
#define BENCH_RESOURCE_ID 100
#define BENCH_FIRST_RID 100
#define BENCH_RIDS 900
#define BENCH_URL_1 "/img/logo.png"
#define BENCH_URL_2 "/index.html?v=2"
#define BENCH_PURGE_BODY "{\"urls\":[\"" BENCH_URL_1 "\",\"" BENCH_URL_2 "\"]}"
#define BENCH_API_KEY "bench-key-0123456789abcdef"

static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* CPU time (user + system) this process has used, in nanoseconds. */
static inline uint64_t cpu_ns(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
           ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

/*
 * Peak resident set size of this program, in KiB: VmHWM, the high-water mark of this
 * address space. (getrusage's ru_maxrss would not do: Linux carries it over exec, so a
 * program started with vfork, as Python's subprocess does, reports its parent's peak.)
 */
static inline long peak_rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1) break;
    if (f) fclose(f);
    return kib;
}

/*
 * Print the result line: per-call median and p99 (nearest rank) in microseconds, calls per
 * second over the whole timed loop, and peak RSS. Sorts `lat` in place.
 */
static inline void print_result(const char *name, uint32_t *lat, size_t n, uint64_t loop_ns,
                                uint64_t cpu, size_t failures) {
    qsort(lat, n, sizeof lat[0], cmp_u32);
    size_t p99 = (n * 99 + 99) / 100; /* ceil(0.99 n), 1-based */
    if (p99 < 1) p99 = 1;
    printf("{\"name\":\"%s\",\"calls\":%zu,\"median_us\":%.3f,\"p99_us\":%.3f,"
           "\"calls_per_s\":%.1f,\"cpu_us\":%.3f,\"failures\":%zu,\"peak_rss_kib\":%ld}\n",
           name, n, n ? lat[n / 2] / 1000.0 : 0.0, n ? lat[p99 - 1] / 1000.0 : 0.0,
           loop_ns ? (double)n * 1e9 / (double)loop_ns : 0.0, n ? cpu / 1000.0 / (double)n : 0.0,
           failures, peak_rss_kib());
    fflush(stdout);
}

#endif
