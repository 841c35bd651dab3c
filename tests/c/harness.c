/*
 * C test harness: the real libgcdn through its public header, against the emulator whose
 * base URL and key come from GCDN_TEST_BASE_URL and GCDN_TEST_API_KEY. Resources 1..20
 * exist and are active when it starts. Run by tests/c_harness.rs, also under
 * AddressSanitizer/UBSan and valgrind (see the Makefile).
 *
 * Prints one line per failed check and ends with "N passed, N failed".
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcdn.h"

static int passed, failed;

#define CHECK(cond, ...)                                                         \
    do {                                                                         \
        if (cond) {                                                              \
            passed++;                                                            \
        } else {                                                                 \
            failed++;                                                            \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);      \
            fprintf(stderr, __VA_ARGS__);                                        \
            fputc('\n', stderr);                                                 \
        }                                                                        \
    } while (0)

static const char *base_url, *api_key;

/* Expect `status` with a message containing `needle` (NULL: expect success), and free it. */
static void expect(int32_t got, char *err, int32_t want, const char *needle, const char *what) {
    CHECK(got == want, "%s: status %d (%s), want %d; message: %s", what, got, gcdn_status_str(got),
          want, err ? err : "(none)");
    if (want == GCDN_OK) {
        CHECK(err == NULL, "%s: message on success", what);
    } else {
        CHECK(err != NULL, "%s: no message on failure", what);
        if (err && needle) {
            CHECK(strstr(err, needle) != NULL, "%s: message \"%s\" lacks \"%s\"", what, err, needle);
        }
        if (err && api_key) {
            CHECK(strstr(err, api_key) == NULL, "%s: message shows the key", what);
        }
    }
    gcdn_string_free(err);
}

/* Run `call` (which writes its message to `&err`), then check it as `expect` does. */
#define EXPECT(call, ...)                  \
    do {                                   \
        char *err = NULL;                  \
        int32_t rc_ = (call);              \
        expect(rc_, err, __VA_ARGS__);     \
    } while (0)

static gcdn_client *make_client(const char *key, uint64_t timeout_ms) {
    char *err = NULL;
    gcdn_options *opts = gcdn_options_new();
    CHECK(opts != NULL, "gcdn_options_new");
    EXPECT(gcdn_options_set_base_url(opts, base_url, &err), GCDN_OK, NULL, "set_base_url");
    EXPECT(gcdn_options_set_timeout_ms(opts, timeout_ms, &err), GCDN_OK, NULL, "set_timeout");
    EXPECT(gcdn_options_set_user_agent_suffix(opts, "gcdn-c-harness/1", &err), GCDN_OK, NULL,
           "set_user_agent_suffix");
    /* Paced 1 request per ms per resource: the emulator's unlimited rate is not believed. */
    EXPECT(gcdn_options_set_purge_intervals_ms(opts, 1, 1, &err), GCDN_OK, NULL,
           "set_purge_intervals");
    gcdn_client *out = NULL;
    int32_t rc = gcdn_client_new(key, opts, &out, &err);
    gcdn_options_free(opts); /* the client copied what it needs */
    expect(rc, err, GCDN_OK, NULL, "client_new");
    return out;
}

static void test_statics(void) {
    CHECK(strcmp(gcdn_status_str(GCDN_OK), "ok") == 0, "status_str(OK)");
    CHECK(strcmp(gcdn_status_str(GCDN_ERR_NOT_FOUND), "not found") == 0, "status_str(NOT_FOUND)");
    CHECK(strcmp(gcdn_status_str(12345), "unknown status") == 0, "status_str(unknown)");
    CHECK(strlen(gcdn_version()) >= 5, "version %s", gcdn_version());
    /* The header's compile-time version is the library's. */
    char header_version[48];
    snprintf(header_version, sizeof header_version, "%d.%d.%d", GCDN_VERSION_MAJOR,
             GCDN_VERSION_MINOR, GCDN_VERSION_PATCH);
    CHECK(strcmp(gcdn_version(), header_version) == 0, "library %s, header %s", gcdn_version(),
          header_version);
}

static void test_null_safety(void) {
    gcdn_client *out = (gcdn_client *)0x1;
    EXPECT(gcdn_client_new("", NULL, &out, &err), GCDN_ERR_INVALID_ARGUMENT, "empty", "empty key");
    CHECK(out == (gcdn_client *)0x1, "client_out written on failure");
    EXPECT(gcdn_client_new("k", NULL, NULL, &err), GCDN_ERR_INVALID_ARGUMENT, "client_out", "NULL out");
    EXPECT(gcdn_purge_all(NULL, 1, &err), GCDN_ERR_INVALID_ARGUMENT, "client is NULL", "NULL client");
    EXPECT(gcdn_options_set_base_url(NULL, "https://x", &err), GCDN_ERR_INVALID_ARGUMENT, "options", "NULL options");
    CHECK(gcdn_purge_all(NULL, 1, NULL) == GCDN_ERR_INVALID_ARGUMENT, "NULL error_out allowed");
    gcdn_options_free(NULL);
    gcdn_client_free(NULL);
    gcdn_string_free(NULL);
    EXPECT(gcdn_debug_panic(&err), GCDN_ERR_PANIC, "gcdn_debug_panic", "panic boundary");

    /* A key that would smuggle a header in. */
    EXPECT(gcdn_client_new("key\r\nX-Evil: 1", NULL, &out, &err), GCDN_ERR_INVALID_ARGUMENT,
           "control character", "CRLF key");
    /* A plain-HTTP remote host would carry the key in clear. */
    gcdn_options *opts = gcdn_options_new();
    EXPECT(gcdn_options_set_base_url(opts, "http://api.gcore.com", &err),
           GCDN_ERR_INVALID_ARGUMENT, "loopback", "plain http remote");
    gcdn_options_free(opts);
}

static void test_purges(gcdn_client *c) {
    const char *urls[] = {"/index.html", "/img/logo.png?v=3", "/index.html"};
    EXPECT(gcdn_purge_urls(c, 1, urls, 3, &err), GCDN_OK, NULL, "purge_urls");

    /* 250 URLs, 20 of them repeats: three requests. */
    static char storage[250][32];
    const char *many[250];
    for (int i = 0; i < 250; i++) {
        snprintf(storage[i], sizeof storage[i], "/asset/%d.js", i % 230);
        many[i] = storage[i];
    }
    EXPECT(gcdn_purge_urls(c, 2, many, 250, &err), GCDN_OK, NULL, "purge 250 urls");

    const char *patterns[] = {"/images/*", "/css"};
    EXPECT(gcdn_purge_patterns(c, 1, patterns, 2, &err), GCDN_OK, NULL, "purge_patterns");
    EXPECT(gcdn_purge_all(c, 3, &err), GCDN_OK, NULL, "purge_all");

    const char *full[] = {"https://cdn.example.com/a.png"};
    EXPECT(gcdn_purge_urls(c, 1, full, 1, &err), GCDN_ERR_INVALID_ARGUMENT, "use \"/a.png\"", "full URL");
    EXPECT(gcdn_purge_urls(c, 1, NULL, 0, &err), GCDN_ERR_INVALID_ARGUMENT, "purge_all", "empty list");
    const char *bad_pattern[] = {"/a*/b"};
    EXPECT(gcdn_purge_patterns(c, 1, bad_pattern, 1, &err), GCDN_ERR_INVALID_ARGUMENT, "last character", "star");
    const char *with_null[] = {"/a", NULL};
    EXPECT(gcdn_purge_urls(c, 1, with_null, 2, &err), GCDN_ERR_INVALID_ARGUMENT, "URL 1 is NULL", "NULL item");
    const char bad_utf8[] = {'/', (char)0xff, 0};
    const char *invalid[] = {bad_utf8};
    EXPECT(gcdn_purge_urls(c, 1, invalid, 1, &err), GCDN_ERR_INVALID_ARGUMENT, "UTF-8", "bad UTF-8");
    EXPECT(gcdn_purge_all(c, 0, &err), GCDN_ERR_INVALID_ARGUMENT, "positive", "id 0");
}

static void test_delete(gcdn_client *c) {
    EXPECT(gcdn_delete_resource(c, 10, 0, &err), GCDN_ERR_REJECTED,
           "HTTP 400: Deletion of this instance is currently not possible as it is in an active state",
           "delete active");
    EXPECT(gcdn_deactivate_resource(c, 10, &err), GCDN_OK, NULL, "deactivate");
    EXPECT(gcdn_delete_resource(c, 10, 0, &err), GCDN_OK, NULL, "delete");
    EXPECT(gcdn_delete_resource(c, 10, 0, &err), GCDN_ERR_NOT_FOUND, "HTTP 404", "delete again");
    EXPECT(gcdn_delete_resource(c, 10, GCDN_DELETE_MISSING_OK, &err), GCDN_OK, NULL, "missing ok");
    EXPECT(gcdn_delete_resource(c, 11, GCDN_DELETE_DEACTIVATE_FIRST, &err), GCDN_OK, NULL,
           "deactivate first");
    EXPECT(gcdn_delete_resource(c, 12, 1u << 9, &err), GCDN_ERR_INVALID_ARGUMENT, "flags", "bad flags");
}

static void test_unauthorized(void) {
    gcdn_client *bad = make_client("not-the-key", 5000);
    EXPECT(gcdn_purge_all(bad, 1, &err), GCDN_ERR_UNAUTHORIZED, "HTTP 401", "wrong key");
    gcdn_client_free(bad);
}

#define THREADS 8
#define CALLS_PER_THREAD 50

struct job {
    const gcdn_client *client;
    int thread;
    int ok;
};

static void *hammer(void *arg) {
    struct job *job = arg;
    char path[64];
    for (int i = 0; i < CALLS_PER_THREAD; i++) {
        snprintf(path, sizeof path, "/thread/%d/%d", job->thread, i);
        const char *urls[] = {path};
        char *err = NULL;
        if (gcdn_purge_urls(job->client, 13 + job->thread, urls, 1, &err) == GCDN_OK) {
            job->ok++;
        } else {
            fprintf(stderr, "thread %d call %d: %s\n", job->thread, i, err);
        }
        gcdn_string_free(err);
    }
    return NULL;
}

static void test_threads(const gcdn_client *c) {
    pthread_t threads[THREADS];
    struct job jobs[THREADS];
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (struct job){c, t, 0};
        CHECK(pthread_create(&threads[t], NULL, hammer, &jobs[t]) == 0, "pthread_create");
    }
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        CHECK(jobs[t].ok == CALLS_PER_THREAD, "thread %d: %d of %d calls succeeded", t, jobs[t].ok,
              CALLS_PER_THREAD);
    }
}

static void test_call_timeout(gcdn_client *c) {
    gcdn_client *bounded = NULL;
    EXPECT(gcdn_client_with_call_timeout_ms(c, 5000, &bounded, &err), GCDN_OK, NULL, "with_call_timeout");
    EXPECT(gcdn_purge_all(bounded, 4, &err), GCDN_OK, NULL, "bounded call");
    /* Either handle may be freed first. */
    gcdn_client_free(bounded);
}

static void test_cancel(gcdn_client *c) {
    gcdn_cancel *token = gcdn_cancel_new();
    CHECK(token != NULL, "gcdn_cancel_new");
    gcdn_client *cancellable = NULL;
    EXPECT(gcdn_client_with_cancel(c, token, &cancellable, &err), GCDN_OK, NULL, "with_cancel");
    EXPECT(gcdn_purge_all(cancellable, 5, &err), GCDN_OK, NULL, "cancellable call");
    gcdn_cancel_fire(token);
    gcdn_cancel_fire(token); /* idempotent */
    gcdn_cancel_free(token); /* the derived client keeps what it needs */
    EXPECT(gcdn_purge_all(cancellable, 5, &err), GCDN_ERR_CANCELLED, "cancelled", "fired token");
    EXPECT(gcdn_purge_all(c, 5, &err), GCDN_OK, NULL, "original client unaffected");
    gcdn_client_free(cancellable);
    EXPECT(gcdn_client_with_cancel(c, NULL, &cancellable, &err), GCDN_ERR_INVALID_ARGUMENT,
           "cancel is NULL", "NULL token");
    gcdn_cancel_fire(NULL);
    gcdn_cancel_free(NULL);
}

/* ---- Logs: gcdn_options_set_log with a C callback --------------------------------------- */

struct log_tally {
    pthread_mutex_t lock; /* the callback may run on several threads at once */
    int records, requests, bad;
    int last_status;
    unsigned last_attempt;
    int64_t last_resource;
    char last_path[128], last_method[16];
};

static void count_record(const gcdn_log_record *r, void *user_data) {
    struct log_tally *t = user_data;
    pthread_mutex_lock(&t->lock);
    t->records++;
    if (r->level < GCDN_LOG_ERROR || r->level > GCDN_LOG_TRACE || !r->event || !r->message ||
        (api_key && strstr(r->message, api_key))) {
        t->bad++;
    }
    if (r->event && strcmp(r->event, "request") == 0) {
        t->requests++;
        t->last_status = r->http_status;
        t->last_attempt = r->attempt;
        t->last_resource = r->resource_id;
        if (!r->method || !r->path || r->level != GCDN_LOG_DEBUG) {
            t->bad++;
        } else {
            snprintf(t->last_path, sizeof t->last_path, "%s", r->path);
            snprintf(t->last_method, sizeof t->last_method, "%s", r->method);
        }
    }
    pthread_mutex_unlock(&t->lock);
}

static gcdn_client *logged_client(struct log_tally *t, int32_t max_level) {
    char *err = NULL;
    gcdn_options *opts = gcdn_options_new();
    EXPECT(gcdn_options_set_base_url(opts, base_url, &err), GCDN_OK, NULL, "log: base url");
    EXPECT(gcdn_options_set_user_agent_suffix(opts, "gcdn-c-harness/1", &err), GCDN_OK, NULL,
           "log: user agent");
    /* Paced by these intervals, not by the account's limits read from the emulator. */
    EXPECT(gcdn_options_set_purge_intervals_ms(opts, 1, 1, &err), GCDN_OK, NULL, "log: intervals");
    /* Each call its own request, so that request records count calls (threads' calls of one
     * URL would otherwise share requests, as many as their timing allows). */
    EXPECT(gcdn_options_set_coalesce(opts, 0, &err), GCDN_OK, NULL, "log: coalesce off");
    EXPECT(gcdn_options_set_log(opts, count_record, t, max_level, &err), GCDN_OK, NULL,
           "set_log");
    gcdn_client *out = NULL;
    int32_t rc = gcdn_client_new(api_key, opts, &out, &err);
    gcdn_options_free(opts); /* the client keeps the callback and user_data */
    expect(rc, err, GCDN_OK, NULL, "log: client_new");
    return out;
}

/* Returns the purge's status (CHECK counts are not thread-safe: the joiner checks it). */
static void *log_hammer(void *arg) {
    const gcdn_client *c = arg;
    const char *urls[] = {"/logged/thread"};
    char *err = NULL;
    int32_t rc = gcdn_purge_urls(c, 9, urls, 1, &err);
    if (rc != GCDN_OK) {
        fprintf(stderr, "log thread: %s\n", err);
    }
    gcdn_string_free(err);
    return (void *)(intptr_t)rc;
}

static void test_log(void) {
    CHECK(GCDN_LOG_ERROR == 1 && GCDN_LOG_WARN == 2 && GCDN_LOG_INFO == 3 &&
              GCDN_LOG_DEBUG == 4 && GCDN_LOG_TRACE == 5,
          "GCDN_LOG_* values");
    struct log_tally t;
    memset(&t, 0, sizeof t);
    pthread_mutex_init(&t.lock, NULL);

    gcdn_options *opts = gcdn_options_new();
    EXPECT(gcdn_options_set_log(NULL, count_record, &t, GCDN_LOG_DEBUG, &err),
           GCDN_ERR_INVALID_ARGUMENT, "options is NULL", "set_log NULL options");
    EXPECT(gcdn_options_set_log(opts, count_record, &t, 0, &err), GCDN_ERR_INVALID_ARGUMENT,
           "max_level", "set_log level 0");
    EXPECT(gcdn_options_set_log(opts, count_record, &t, 6, &err), GCDN_ERR_INVALID_ARGUMENT,
           "max_level", "set_log level 6");
    EXPECT(gcdn_options_set_log(opts, NULL, NULL, 0, &err), GCDN_OK, NULL, "set_log NULL clears");
    gcdn_options_free(opts);

    gcdn_client *c = logged_client(&t, GCDN_LOG_DEBUG);
    if (!c) {
        return;
    }
    const char *urls[] = {"/logged.png"};
    EXPECT(gcdn_purge_urls(c, 7, urls, 1, &err), GCDN_OK, NULL, "logged purge");
    CHECK(t.requests == 1, "one request record, got %d", t.requests);
    CHECK(t.last_status == 201 && t.last_attempt == 1, "request record: status %d attempt %u",
          t.last_status, t.last_attempt);
    CHECK(strcmp(t.last_method, "POST") == 0 && strcmp(t.last_path, "/cdn/resources/7/purge") == 0,
          "request record: %s %s", t.last_method, t.last_path);
    CHECK(t.last_resource == 0, "a request record has no resource_id field set");

    /* Several threads, one client: every call is logged, from its own thread. */
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        CHECK(pthread_create(&threads[i], NULL, log_hammer, c) == 0, "pthread_create");
    }
    for (int i = 0; i < 4; i++) {
        void *rc = NULL;
        pthread_join(threads[i], &rc);
        CHECK((intptr_t)rc == GCDN_OK, "log thread %d: status %d", i, (int)(intptr_t)rc);
    }
    CHECK(t.requests == 5, "5 request records after 4 threaded purges, got %d", t.requests);
    gcdn_client_free(c);

    /* Filtered by level: at GCDN_LOG_INFO a plain success logs nothing. */
    int before = t.records;
    c = logged_client(&t, GCDN_LOG_INFO);
    if (c) {
        EXPECT(gcdn_purge_urls(c, 8, urls, 1, &err), GCDN_OK, NULL, "purge at info");
        gcdn_client_free(c);
    }
    CHECK(t.records == before, "records at GCDN_LOG_INFO: %d", t.records - before);
    CHECK(t.bad == 0, "%d malformed records", t.bad);
    pthread_mutex_destroy(&t.lock);
}

int main(void) {
    base_url = getenv("GCDN_TEST_BASE_URL");
    api_key = getenv("GCDN_TEST_API_KEY");
    if (!base_url || !api_key) {
        fprintf(stderr, "set GCDN_TEST_BASE_URL and GCDN_TEST_API_KEY\n");
        return 2;
    }
    test_statics();
    test_null_safety();
    gcdn_client *c = make_client(api_key, 5000);
    if (c) {
        test_purges(c);
        test_delete(c);
        test_threads(c);
        test_call_timeout(c);
        test_cancel(c);
        gcdn_client_free(c);
    }
    test_unauthorized();
    test_log();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
