/*
 * gcdn's purge job from C (gcdn_job_run), and the shared-pacing workers.
 *
 *   bench_job BASE_URL job URL_MS PATTERN_MS RESOURCES URLS PATTERNS FIRST_ID
 *       one job: RESOURCES resources (ids FIRST_ID...), each URLS paths /job/u<i>.png and
 *       PATTERNS patterns /job/p<j>/<star> (covering none of the paths), the client paced at
 *       one URL purge per URL_MS and one pattern purge per PATTERN_MS, or, with 0 0, at the
 *       account's own limits (the emulator reports its windows, N per W); prints
 *       {"makespan_ms", "status", "report": <the report's JSON>}.
 *   bench_job BASE_URL batches URL_MS RESOURCE BATCHES URLS_PER STORE [no-coalesce]
 *       BATCHES purges (gcdn_purge_urls) of URLS_PER distinct URLs each on one resource; STORE
 *       is a redis:// URL for gcdn_options_set_rate_store, or "-" for none; URL_MS 0: the
 *       account's own limits; `no-coalesce` turns coalescing off (gcdn_options_set_coalesce;
 *       the library's default is on); prints
 *       {"start_unix_ns", "end_unix_ns", "failures", "statuses"} (wall clock, so that the
 *       makespan of several processes can be taken).
 *   bench_job BASE_URL verify EDGE_URL RESOURCES URLS FIRST_ID
 *       one job of RESOURCES resources (ids FIRST_ID...) × URLS paths /verify/u<i>.png, at the
 *       account's limits, run with verification (gcdn_run_set_verify, every URL: the verify
 *       limit is URLS) at the edge EDGE_URL (gcdn_run_add_edge); prints {"makespan_ms",
 *       "status", "verified", "fresh", "stale", "error"}.
 *   bench_job BASE_URL callers CALLERS RESOURCE WARM WAIT_MS [no-coalesce]
 *       one client at the account's limits, waiting at most WAIT_MS for a slot: WARM one-URL
 *       purges in turn on RESOURCE (/coalesce/warm<i>.png, filling its window), then CALLERS
 *       threads purge one URL each (/coalesce/t<i>.png, gcdn_purge_urls), started together;
 *       prints {"makespan_ms" (the first warm-up call to the last return), "callers", "failed",
 *       "warm_failed"}.
 *   bench_job BASE_URL probe
 *       {"job": bool, "rate_store": bool}: what this library has.
 *   bench_job BASE_URL purge1|job1 N WARMUP
 *       N timed calls of a one-URL purge: gcdn_purge_urls, or a one-URL job through
 *       gcdn_job_run (built once, run N times); the resource turns over ids 100..999 so
 *       that no call waits for the pacer; prints the result line of common.h.
 *
 * Exit status 1 if any call failed; 3 if the library lacks what the mode needs (the job ABI, or
 * the rate store): those functions are declared weak below, so that one program builds
 * against a library that has either, and says at run time what is missing.
 */
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "gcdn.h"

/* The job ABI (issue 10, its prototypes exact) and the rate store (issue 14), weak: NULL when
   the library does not have them. Repeating a declaration the header has is allowed. */
typedef struct gcdn_job gcdn_job;
typedef struct gcdn_run gcdn_run;
typedef struct gcdn_report gcdn_report;
#define WEAK __attribute__((weak))
WEAK gcdn_job *gcdn_job_new(void);
WEAK void gcdn_job_free(gcdn_job *job);
WEAK int32_t gcdn_job_add_urls(gcdn_job *, int64_t resource_id, const char *const *urls, size_t n,
                               char **error_out);
WEAK int32_t gcdn_job_add_patterns(gcdn_job *, int64_t resource_id, const char *const *patterns,
                                   size_t n, char **error_out);
WEAK int32_t gcdn_job_run(const gcdn_client *, const gcdn_job *, const gcdn_run *,
                          gcdn_report **report_out, char **error_out);
WEAK int32_t gcdn_report_json(const gcdn_report *, char **json_out, char **error_out);
WEAK void gcdn_report_free(gcdn_report *);
WEAK int32_t gcdn_options_set_rate_store(gcdn_options *options, const char *url, char **error_out);
WEAK int32_t gcdn_options_set_coalesce(gcdn_options *options, int32_t coalesce, char **error_out);

static void need(int have, const char *what) {
    if (!have) {
        fprintf(stderr, "bench_job: this libgcdn has no %s\n", what);
        exit(3);
    }
}

static void die(const char *what, int32_t status, char *err) {
    fprintf(stderr, "bench_job: %s: %s (%s)\n", what, err ? err : "", gcdn_status_str(status));
    gcdn_string_free(err);
    exit(1);
}

static uint64_t unix_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int coalesce_off; /* batches ... no-coalesce */
static uint64_t max_wait_ms = 600000;

static gcdn_client *make_client(const char *base_url, uint64_t url_ms, uint64_t pattern_ms,
                                const char *store) {
    char *err = NULL;
    gcdn_options *o = gcdn_options_new();
    int32_t st = gcdn_options_set_base_url(o, base_url, &err);
    if (st != GCDN_OK) die("base URL", st, err);
    /* 0 0: the account's own limits (GET /cdn/clients/me/limits: the emulator reports its
       windows, N per W); else one request per interval. */
    if (url_ms || pattern_ms) {
        st = gcdn_options_set_purge_intervals_ms(o, url_ms, pattern_ms, &err);
        if (st != GCDN_OK) die("purge intervals", st, err);
    }
    /* A whole job waits for its windows: let the pacer wait as long as the run needs. */
    st = gcdn_options_set_max_rate_limit_wait_ms(o, max_wait_ms, &err);
    if (st != GCDN_OK) die("rate-limit wait", st, err);
    if (store && strcmp(store, "-") && gcdn_options_set_rate_store &&
        (st = gcdn_options_set_rate_store(o, store, &err)) != GCDN_OK)
        die("rate store", st, err);
    if (coalesce_off) {
        if (!gcdn_options_set_coalesce) die("no-coalesce", GCDN_ERR_INVALID_ARGUMENT, NULL);
        st = gcdn_options_set_coalesce(o, 0, &err);
        if (st != GCDN_OK) die("coalesce", st, err);
    }
    gcdn_client *c = NULL;
    st = gcdn_client_new(BENCH_API_KEY, o, &c, &err);
    if (st != GCDN_OK) die("client", st, err);
    gcdn_options_free(o);
    return c;
}

static char **numbered(const char *fmt, size_t n) {
    char **v = calloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; v && i < n; i++) {
        v[i] = malloc(48);
        if (!v[i]) exit(1);
        snprintf(v[i], 48, fmt, i);
    }
    if (!v) exit(1);
    return v;
}

static int job(const char *base, uint64_t url_ms, uint64_t pattern_ms, size_t resources,
               size_t urls, size_t patterns, int64_t first_id) {
    gcdn_client *c = make_client(base, url_ms, pattern_ms, NULL);
    char **u = numbered("/job/u%zu.png", urls), **p = numbered("/job/p%zu/*", patterns);
    gcdn_job *j = gcdn_job_new();
    char *err = NULL;
    for (size_t r = 0; r < resources; r++) {
        int64_t id = first_id + (int64_t)r;
        int32_t st;
        if (urls && (st = gcdn_job_add_urls(j, id, (const char *const *)u, urls, &err)) != GCDN_OK)
            die("add URLs", st, err);
        if (patterns &&
            (st = gcdn_job_add_patterns(j, id, (const char *const *)p, patterns, &err)) != GCDN_OK)
            die("add patterns", st, err);
    }
    gcdn_report *report = NULL;
    uint64_t t = now_ns();
    int32_t st = gcdn_job_run(c, j, NULL, &report, &err);
    uint64_t wall = now_ns() - t;
    char *json = NULL, *jerr = NULL;
    if (report && gcdn_report_json(report, &json, &jerr) != GCDN_OK) die("report JSON", 1, jerr);
    if (st != GCDN_OK) fprintf(stderr, "bench_job: run: %s (%s)\n", err ? err : "", gcdn_status_str(st));
    printf("{\"makespan_ms\":%.3f,\"status\":%d,\"report\":%s}\n", wall / 1e6, st, json ? json : "null");
    gcdn_string_free(json);
    gcdn_string_free(err);
    gcdn_report_free(report);
    gcdn_job_free(j);
    gcdn_client_free(c);
    for (size_t i = 0; i < urls; i++) free(u[i]);
    for (size_t i = 0; i < patterns; i++) free(p[i]);
    free(u);
    free(p);
    return st != GCDN_OK;
}

static int batches(const char *base, uint64_t url_ms, int64_t resource, size_t n, size_t per,
                   const char *store) {
    gcdn_client *c = make_client(base, url_ms, url_ms, store);
    char tag[32];
    snprintf(tag, sizeof tag, "%ld", (long)getpid());
    size_t failures = 0;
    char statuses[256] = "";
    uint64_t start = unix_ns();
    for (size_t b = 0; b < n; b++) {
        char **u = calloc(per ? per : 1, sizeof *u);
        if (!u) return 1;
        for (size_t i = 0; i < per; i++) {
            u[i] = malloc(96);
            if (!u[i]) return 1;
            snprintf(u[i], 96, "/shared/%s/b%zu/u%zu.png", tag, b, i);
        }
        char *err = NULL;
        int32_t st = gcdn_purge_urls(c, resource, (const char *const *)u, per, &err);
        if (st != GCDN_OK) {
            failures++;
            fprintf(stderr, "bench_job: batch %zu: %s (%s)\n", b, err ? err : "", gcdn_status_str(st));
        }
        gcdn_string_free(err);
        size_t len = strlen(statuses);
        snprintf(statuses + len, sizeof statuses - len, "%s%d", b ? "," : "", st);
        for (size_t i = 0; i < per; i++) free(u[i]);
        free(u);
    }
    uint64_t end = unix_ns();
    printf("{\"start_unix_ns\":%llu,\"end_unix_ns\":%llu,\"failures\":%zu,\"statuses\":[%s]}\n",
           (unsigned long long)start, (unsigned long long)end, failures, statuses);
    gcdn_client_free(c);
    return failures != 0;
}

static int verify(const char *base, const char *edge, size_t resources, size_t urls,
                  int64_t first_id) {
    gcdn_client *c = make_client(base, 0, 0, NULL);
    char **u = numbered("/verify/u%zu.png", urls);
    gcdn_job *j = gcdn_job_new();
    gcdn_run *run = gcdn_run_new();
    char *err = NULL;
    int32_t st;
    for (size_t r = 0; r < resources; r++)
        if ((st = gcdn_job_add_urls(j, first_id + (int64_t)r, (const char *const *)u, urls, &err)) !=
            GCDN_OK)
            die("add URLs", st, err);
    if ((st = gcdn_run_set_verify(run, 1, &err)) != GCDN_OK) die("verify", st, err);
    if ((st = gcdn_run_set_verify_limit(run, (uint32_t)urls, &err)) != GCDN_OK)
        die("verify limit", st, err);
    if ((st = gcdn_run_add_edge(run, edge, &err)) != GCDN_OK) die("edge", st, err);
    gcdn_report *report = NULL;
    uint64_t t = now_ns();
    st = gcdn_job_run(c, j, run, &report, &err);
    uint64_t wall = now_ns() - t;
    if (st != GCDN_OK) fprintf(stderr, "bench_job: run: %s (%s)\n", err ? err : "", gcdn_status_str(st));
    size_t n = gcdn_report_verified_count(report), by[3] = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        int32_t v = gcdn_report_verified_result(report, i);
        by[v == GCDN_VERIFY_FRESH ? 0 : v == GCDN_VERIFY_STALE ? 1 : 2]++;
    }
    printf("{\"makespan_ms\":%.3f,\"status\":%d,\"verified\":%zu,\"fresh\":%zu,\"stale\":%zu,"
           "\"error\":%zu}\n",
           wall / 1e6, st, n, by[0], by[1], by[2]);
    gcdn_string_free(err);
    gcdn_report_free(report);
    gcdn_run_free(run);
    gcdn_job_free(j);
    gcdn_client_free(c);
    for (size_t i = 0; i < urls; i++) free(u[i]);
    free(u);
    return st != GCDN_OK;
}

struct caller {
    gcdn_client *client;
    int64_t resource;
    size_t index;
    pthread_barrier_t *go;
    int32_t status;
    uint64_t end;
};

static void *caller_main(void *arg) {
    struct caller *k = arg;
    char url[64];
    snprintf(url, sizeof url, "/coalesce/t%zu.png", k->index);
    const char *one[1] = {url};
    char *err = NULL;
    pthread_barrier_wait(k->go);
    k->status = gcdn_purge_urls(k->client, k->resource, one, 1, &err);
    k->end = now_ns();
    gcdn_string_free(err);
    return NULL;
}

static int callers(const char *base, size_t n, int64_t resource, size_t warm, uint64_t wait_ms) {
    max_wait_ms = wait_ms;
    gcdn_client *c = make_client(base, 0, 0, NULL);
    struct caller *k = calloc(n ? n : 1, sizeof *k);
    pthread_t *t = calloc(n ? n : 1, sizeof *t);
    pthread_barrier_t go;
    if (!k || !t || pthread_barrier_init(&go, NULL, (unsigned)n + 1)) return 1;
    for (size_t i = 0; i < n; i++) {
        k[i] = (struct caller){.client = c, .resource = resource, .index = i, .go = &go};
        if (pthread_create(&t[i], NULL, caller_main, &k[i])) return 1;
    }
    size_t warm_failed = 0, failed = 0;
    uint64_t t0 = now_ns(), end = t0;
    for (size_t i = 0; i < warm; i++) {
        char url[64], *err = NULL;
        snprintf(url, sizeof url, "/coalesce/warm%zu.png", i);
        const char *one[1] = {url};
        if (gcdn_purge_urls(c, resource, one, 1, &err) != GCDN_OK) warm_failed++;
        gcdn_string_free(err);
    }
    pthread_barrier_wait(&go);
    for (size_t i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        if (k[i].status != GCDN_OK) failed++;
        if (k[i].end > end) end = k[i].end;
    }
    printf("{\"makespan_ms\":%.3f,\"callers\":%zu,\"failed\":%zu,\"warm_failed\":%zu}\n",
           (end - t0) / 1e6, n, failed, warm_failed);
    pthread_barrier_destroy(&go);
    free(k);
    free(t);
    gcdn_client_free(c);
    return 0;
}

enum { FIRST_RID = 100, RIDS = 900 };

static int per_call(const char *base, int use_job, size_t n, size_t warmup) {
    /* The fastest pacing the options allow, 1 request per 1 ms (+ 1 ms margin) per
       resource; turning over 900 resources, no call waits for it. */
    gcdn_client *c = make_client(base, 1, 1, NULL);
    static const char *const one[1] = {BENCH_URL_1};
    static gcdn_job *jobs[RIDS];
    char *err = NULL;
    int32_t st;
    if (use_job)
        for (size_t i = 0; i < RIDS; i++) {
            jobs[i] = gcdn_job_new();
            if ((st = gcdn_job_add_urls(jobs[i], FIRST_RID + (int64_t)i, one, 1, &err)) != GCDN_OK)
                die("add URLs", st, err);
        }
    uint32_t *lat = malloc((n ? n : 1) * sizeof *lat);
    if (!lat) return 1;
    size_t failures = 0, k = 0;
    uint64_t cpu0 = 0, start = 0, t = 0;
    for (size_t i = 0; i < warmup + n; i++, k = (k + 1) % RIDS) {
        if (i == warmup) cpu0 = cpu_ns(), start = t = now_ns();
        if (use_job) {
            gcdn_report *r = NULL;
            st = gcdn_job_run(c, jobs[k], NULL, &r, &err);
            gcdn_report_free(r);
        } else {
            st = gcdn_purge_urls(c, FIRST_RID + (int64_t)k, one, 1, &err);
        }
        if (st != GCDN_OK) {
            if (!failures++) fprintf(stderr, "bench_job: call failed: %s\n", err ? err : "");
            gcdn_string_free(err);
            err = NULL;
        }
        if (i >= warmup) {
            uint64_t t2 = now_ns();
            lat[i - warmup] = (uint32_t)(t2 - t);
            t = t2;
        }
    }
    uint64_t loop = t - start, cpu = cpu_ns() - cpu0;
    print_result(use_job ? "gcdn-c job1" : "gcdn-c purge1", lat, n, loop, cpu, failures);
    free(lat);
    if (use_job)
        for (size_t i = 0; i < RIDS; i++) gcdn_job_free(jobs[i]);
    gcdn_client_free(c);
    return failures != 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: see the comment at the top of benches/c/bench_job.c\n");
        return 2;
    }
    const char *base = argv[1], *mode = argv[2];
#define ARG(i) (argc > (i) ? strtoull(argv[i], NULL, 10) : 0)
    if (!strcmp(mode, "batches") && argc == 9 && !strcmp(argv[8], "no-coalesce")) {
        coalesce_off = 1;
        argc = 8;
    }
    if (!strcmp(mode, "callers") && argc == 8 && !strcmp(argv[7], "no-coalesce")) {
        coalesce_off = 1;
        argc = 7;
    }
    if (!strcmp(mode, "callers") && argc == 7)
        return callers(base, ARG(3), (int64_t)ARG(4), ARG(5), ARG(6));
    if (!strcmp(mode, "batches") && argc == 8)
        return batches(base, ARG(3), (int64_t)ARG(4), ARG(5), ARG(6), argv[7]);
    int job_abi = gcdn_job_new && gcdn_job_free && gcdn_job_add_urls && gcdn_job_add_patterns &&
                  gcdn_job_run && gcdn_report_json && gcdn_report_free;
    if (!strcmp(mode, "probe")) {
        printf("{\"job\":%s,\"rate_store\":%s}\n", job_abi ? "true" : "false",
               gcdn_options_set_rate_store ? "true" : "false");
        return 0;
    }
    if (strcmp(mode, "batches")) need(job_abi, "job ABI (gcdn_job_run)");
    else if (strcmp(argv[argc - 1], "-")) need(gcdn_options_set_rate_store != NULL, "gcdn_options_set_rate_store");
    if (!strcmp(mode, "verify") && argc == 7)
        return verify(base, argv[3], ARG(4), ARG(5), (int64_t)ARG(6));
    if (!strcmp(mode, "job") && argc == 9)
        return job(base, ARG(3), ARG(4), ARG(5), ARG(6), ARG(7), (int64_t)ARG(8));
    if ((!strcmp(mode, "purge1") || !strcmp(mode, "job1")) && argc == 5)
        return per_call(base, !strcmp(mode, "job1"), ARG(3), ARG(4));
    fprintf(stderr, "bench_job: bad arguments (see the comment at the top of benches/c/bench_job.c)\n");
    return 2;
}
