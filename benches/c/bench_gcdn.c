/*
 * gcdn from C: sequential calls through one client (one keep-alive connection), one client
 * shared by several threads, and a bulk purge.
 *
 *   bench_gcdn BASE_URL purge   N WARMUP [count] purge by URL, 2 URLs, N timed calls (resources
 *                                                100..999 in turn, see common.h)
 *   bench_gcdn BASE_URL delete  N WARMUP [count] delete resource 100, N timed calls
 *   bench_gcdn BASE_URL threads TOTAL THREADS    TOTAL purges by 1 thread, then by THREADS
 *                                                sharing one client, then by THREADS with a
 *                                                client each (the control)
 *   bench_gcdn BASE_URL bulk    RESOURCE_ID      one purge of 10,000 URLs, 10 % repeated
 *
 * Prints one JSON line (see common.h). Exit status 1 if any call failed. With `count`, the
 * calls are neither timed nor sorted: for counting instructions under callgrind, where
 * only the calls themselves may grow with N.
 */
#include <pthread.h>

#include "common.h"
#include "gcdn.h"

static const char *const PURGE_URLS[2] = {BENCH_URL_1, BENCH_URL_2};

static void die(const char *what, int32_t status, char *err) {
    fprintf(stderr, "bench_gcdn: %s: %s (%s)\n", what, err ? err : "", gcdn_status_str(status));
    gcdn_string_free(err);
    exit(1);
}

static gcdn_client *make_client(const char *base_url) {
    char *err = NULL;
    gcdn_options *o = gcdn_options_new();
    int32_t st = gcdn_options_set_base_url(o, base_url, &err);
    if (st != GCDN_OK) die("base URL", st, err);
    /* The fastest pacing the options allow; the purges turn over resources (common.h). */
    st = gcdn_options_set_purge_intervals_ms(o, 1, 1, &err);
    if (st != GCDN_OK) die("purge intervals", st, err);
    /* For an https:// server with a certificate of its own. */
    const char *ca_file = getenv("BENCH_CA_FILE");
    if (ca_file && (st = gcdn_options_set_ca_file(o, ca_file, &err)) != GCDN_OK) die("CA file", st, err);
    gcdn_client *c = NULL;
    st = gcdn_client_new(BENCH_API_KEY, o, &c, &err);
    if (st != GCDN_OK) die("client", st, err);
    gcdn_options_free(o);
    return c;
}

/* The next resource of the turn-over (see common.h); shared by the threads. */
static int64_t next_rid(void) {
    static unsigned long turn;
    return BENCH_FIRST_RID + (int64_t)(__atomic_fetch_add(&turn, 1, __ATOMIC_RELAXED) % BENCH_RIDS);
}

static int one_call(const gcdn_client *c, int purge) {
    char *err = NULL;
    int32_t st = purge ? gcdn_purge_urls(c, next_rid(), PURGE_URLS, 2, &err)
                       : gcdn_delete_resource(c, BENCH_RESOURCE_ID, 0, &err);
    if (st != GCDN_OK) {
        static int shown;
        if (!shown++) fprintf(stderr, "bench_gcdn: call failed: %s\n", err ? err : "");
        gcdn_string_free(err);
        return 1;
    }
    return 0;
}

static int sequential(const char *base, int purge, size_t n, size_t warmup, int count_only) {
    gcdn_client *c = make_client(base);
    size_t failures = 0;
    for (size_t i = 0; i < warmup; i++) failures += (size_t)one_call(c, purge);
    if (count_only) {
        for (size_t i = 0; i < n; i++) failures += (size_t)one_call(c, purge);
        printf("{\"calls\":%zu,\"failures\":%zu}\n", n, failures);
        gcdn_client_free(c);
        return failures != 0;
    }
    uint32_t *lat = malloc((n ? n : 1) * sizeof *lat);
    if (!lat) return 1;
    uint64_t cpu0 = cpu_ns(), start = now_ns(), t = start;
    for (size_t i = 0; i < n; i++) {
        failures += (size_t)one_call(c, purge);
        uint64_t t2 = now_ns();
        lat[i] = (uint32_t)(t2 - t);
        t = t2;
    }
    uint64_t loop = t - start, cpu = cpu_ns() - cpu0;
    print_result(purge ? "gcdn-c purge" : "gcdn-c delete", lat, n, loop, cpu, failures);
    free(lat);
    gcdn_client_free(c);
    return failures != 0;
}

struct worker {
    const gcdn_client *client;
    pthread_barrier_t *go;
    uint32_t *lat;
    size_t n;
    size_t failures;
};

static void *work(void *arg) {
    struct worker *w = arg;
    pthread_barrier_wait(w->go);
    uint64_t t = now_ns();
    for (size_t i = 0; i < w->n; i++) {
        w->failures += (size_t)one_call(w->client, 1);
        uint64_t t2 = now_ns();
        w->lat[i] = (uint32_t)(t2 - t);
        t = t2;
    }
    return NULL;
}

/* TOTAL calls split over `k` threads, thread i using c[i]; returns the wall time. */
static uint64_t run_threads(gcdn_client *const *c, size_t k, size_t total, uint32_t *lat,
                            size_t *failures) {
    pthread_t tid[64];
    struct worker w[64];
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, (unsigned)k + 1);
    for (size_t i = 0; i < k; i++) {
        w[i] = (struct worker){c[i], &go, lat + i * (total / k), total / k, 0};
        pthread_create(&tid[i], NULL, work, &w[i]);
    }
    pthread_barrier_wait(&go);
    uint64_t start = now_ns();
    for (size_t i = 0; i < k; i++) {
        pthread_join(tid[i], NULL);
        *failures += w[i].failures;
    }
    uint64_t wall = now_ns() - start;
    pthread_barrier_destroy(&go);
    return wall;
}

static int threads(const char *base, size_t total, size_t k) {
    if (k < 1 || k > 64) return 2;
    total -= total % k;
    gcdn_client *shared[64], *own[64];
    shared[0] = make_client(base);
    for (size_t i = 0; i < k; i++) {
        shared[i] = shared[0];
        own[i] = make_client(base);
    }
    uint32_t *lat = malloc(total * sizeof *lat);
    if (!lat) return 1;
    size_t failures = 0;
    /* Warm-up: k connections into each pool, so no timed run pays for connecting. */
    run_threads(shared, k, k * 50, lat, &failures);
    run_threads(own, k, k * 50, lat, &failures);
    uint64_t one = run_threads(shared, 1, total, lat, &failures);
    uint64_t separate = run_threads(own, k, total, lat, &failures);
    uint64_t many = run_threads(shared, k, total, lat, &failures);
    qsort(lat, total, sizeof lat[0], cmp_u32);
    size_t p99 = (total * 99 + 99) / 100;
    double cps1 = (double)total * 1e9 / (double)one, cpsk = (double)total * 1e9 / (double)many;
    double cps_own = (double)total * 1e9 / (double)separate;
    printf("{\"name\":\"gcdn-c threads\",\"threads\":%zu,\"calls\":%zu,\"one_thread_calls_per_s\":%.1f,"
           "\"calls_per_s\":%.1f,\"ratio\":%.3f,\"client_each_calls_per_s\":%.1f,"
           "\"median_us\":%.3f,\"p99_us\":%.3f,\"failures\":%zu}\n",
           k, total, cps1, cpsk, cpsk / cps1, cps_own, lat[total / 2] / 1000.0,
           lat[p99 - 1] / 1000.0, failures);
    free(lat);
    gcdn_client_free(shared[0]);
    for (size_t i = 0; i < k; i++) gcdn_client_free(own[i]);
    return failures != 0;
}

/* xorshift64*: a fixed, portable shuffle. */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint64_t rng(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Du;
}

static int bulk(const char *base, int64_t resource_id) {
    enum { TOTAL = 10000, UNIQUE = 9000 };
    static char buf[UNIQUE][48];
    static const char *urls[TOTAL];
    for (size_t i = 0; i < UNIQUE; i++) {
        snprintf(buf[i], sizeof buf[i], "/static/bulk/asset-%05zu.js?v=3", i);
        urls[i] = buf[i];
    }
    /* 10 % of the list repeats URLs already in it. */
    for (size_t j = 0; j < TOTAL - UNIQUE; j++) urls[UNIQUE + j] = buf[(j * 7919) % UNIQUE];
    for (size_t i = TOTAL - 1; i > 0; i--) {
        size_t r = (size_t)(rng() % (i + 1));
        const char *tmp = urls[i];
        urls[i] = urls[r];
        urls[r] = tmp;
    }
    gcdn_client *c = make_client(base);
    char *err = NULL;
    uint64_t t = now_ns();
    int32_t st = gcdn_purge_urls(c, resource_id, urls, TOTAL, &err);
    uint64_t wall = now_ns() - t;
    if (st != GCDN_OK) die("bulk purge", st, err);
    printf("{\"name\":\"gcdn-c bulk\",\"items\":%d,\"unique\":%d,\"per_request\":100,"
           "\"expected_requests\":%d,\"wall_ms\":%.3f}\n",
           TOTAL, UNIQUE, (UNIQUE + 99) / 100, wall / 1e6);
    gcdn_client_free(c);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bench_gcdn BASE_URL purge|delete N WARMUP | threads TOTAL K | bulk ID\n");
        return 2;
    }
    const char *base = argv[1], *mode = argv[2];
    size_t a = strtoull(argv[3], NULL, 10), b = argc > 4 ? strtoull(argv[4], NULL, 10) : 0;
    int count_only = argc > 5 && !strcmp(argv[5], "count");
    if (!strcmp(mode, "purge")) return sequential(base, 1, a, b, count_only);
    if (!strcmp(mode, "delete")) return sequential(base, 0, a, b, count_only);
    if (!strcmp(mode, "threads")) return threads(base, a, b ? b : 8);
    if (!strcmp(mode, "bulk")) return bulk(base, (int64_t)a);
    fprintf(stderr, "bench_gcdn: unknown mode %s\n", mode);
    return 2;
}
