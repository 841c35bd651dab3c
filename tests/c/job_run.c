/*
 * job_run.c: the purge job from C, against the emulator that tests/c_harness.rs starts
 * (resources 1-3 as h1/h2/h3.example.com, h2 also www.h2.example.com; resource 3's first
 * purge answers 503; windows of one request per 100 ms). Every report field is read through
 * the accessors, never by parsing JSON.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gcdn.h"

static int passed, failed;

#define CHECK(cond)                                                              \
    do {                                                                         \
        if (cond) {                                                              \
            passed++;                                                            \
        } else {                                                                 \
            failed++;                                                            \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                        \
    } while (0)

struct progress {
    pthread_t caller;
    int events, on_other_thread, sent, answered, failed_events, waits, confirmed;
    uint64_t last_purged;
    int out_of_order;
    int stop_at_answered; /* non-zero: stop the run at the first answer */
};

static int32_t on_event(const gcdn_event *event, void *user_data) {
    struct progress *p = user_data;
    p->events++;
    if (!pthread_equal(pthread_self(), p->caller)) p->on_other_thread++;
    uint64_t purged = gcdn_event_total(event, GCDN_TOTAL_PURGED);
    if (purged < p->last_purged) p->out_of_order++;
    p->last_purged = purged;
    switch (gcdn_event_kind(event)) {
    case GCDN_EVENT_SENT: p->sent++; break;
    case GCDN_EVENT_ANSWERED:
        p->answered++;
        if (gcdn_event_http_status(event) != 201 || gcdn_event_resource_id(event) <= 0)
            p->out_of_order++;
        if (p->stop_at_answered) return 1;
        break;
    case GCDN_EVENT_FAILED: p->failed_events++; break;
    case GCDN_EVENT_WAIT:
        p->waits++;
        if (gcdn_event_wait_reason(event) == GCDN_WAIT_NONE) p->out_of_order++;
        break;
    case GCDN_EVENT_CONFIRMED: p->confirmed++; break;
    default: break;
    }
    return 0;
}

static int32_t run_job(const gcdn_client *client, const gcdn_job *job, const gcdn_run *run,
                       gcdn_report **report) {
    char *error = NULL;
    *report = NULL;
    int32_t status = gcdn_job_run(client, job, run, report, &error);
    if (error != NULL) {
        printf("    run: %s: %s\n", gcdn_status_str(status), error);
        gcdn_string_free(error);
    }
    return status;
}

static int find_skip(const gcdn_report *r, const char *item, int32_t reason) {
    size_t n = gcdn_report_skipped_count(r);
    for (size_t i = 0; i < n; i++) {
        const char *it = gcdn_report_skipped_item(r, i);
        if (it != NULL && strcmp(it, item) == 0 && gcdn_report_skipped_reason(r, i) == reason)
            return (int)i;
    }
    return -1;
}

int main(void) {
    const char *base = getenv("GCDN_TEST_BASE_URL");
    const char *key = getenv("GCDN_TEST_API_KEY");
    if (base == NULL || key == NULL) {
        fprintf(stderr, "GCDN_TEST_BASE_URL and GCDN_TEST_API_KEY must be set\n");
        return 2;
    }
    gcdn_options *o = gcdn_options_new();
    CHECK(gcdn_options_set_base_url(o, base, NULL) == GCDN_OK);
    /* No purge intervals: paced by the emulator's 100 ms windows, as its limits report them. */
    CHECK(gcdn_options_set_max_retries(o, 0, NULL) == GCDN_OK);
    gcdn_client *client = NULL;
    CHECK(gcdn_client_new(key, o, &client, NULL) == GCDN_OK);
    gcdn_options_free(o);

    /* Adding: a bad item is refused with its index, the job unchanged. */
    gcdn_job *job = gcdn_job_new();
    const char *bad[] = {"https://h1.example.com/ok", "https://h1.example.com"};
    char *error = NULL;
    CHECK(gcdn_job_add_full_urls(job, bad, 2, &error) == GCDN_ERR_INVALID_ARGUMENT);
    CHECK(error != NULL && strncmp(error, "full URL 1 ", 11) == 0);
    gcdn_string_free(error);
    CHECK(gcdn_job_item_count(job) == 0);

    /* One job over three hosts, a duplicate, an unmatched host, a purge-all. */
    const char *urls[] = {
        "https://h1.example.com/index.html",  "https://H1.example.com/app.js?v=7",
        "https://www.h2.example.com/a.css",   "https://h2.example.com/a.css",
        "https://h3.example.com/logo.png",    "https://nowhere.example.com/x",
        "https://h1.example.com/index.html",
    };
    CHECK(gcdn_job_add_full_urls(job, urls, 7, NULL) == GCDN_OK);
    const char *more[] = {"/b.png", "/c.png"};
    CHECK(gcdn_job_add_urls(job, 3, more, 2, NULL) == GCDN_OK);
    CHECK(gcdn_job_item_count(job) == 9);

    /* A dry run first: planned, nothing sent. */
    gcdn_run *dry = gcdn_run_new();
    CHECK(gcdn_run_set_dry_run(dry, 1, NULL) == GCDN_OK);
    gcdn_report *report = NULL;
    CHECK(run_job(client, job, dry, &report) == GCDN_ERR_NOT_FOUND);
    CHECK(report != NULL && gcdn_report_dry_run(report) == 1);
    CHECK(gcdn_report_request_count(report) == 3);
    CHECK(gcdn_report_request_outcome(report, 0) == GCDN_OUTCOME_PLANNED);
    CHECK(gcdn_report_request_status(report, 0) == -1);
    gcdn_report_free(report);
    gcdn_run_free(dry);

    /* For real, with progress: resource 3's request meets a 503. */
    struct progress p;
    memset(&p, 0, sizeof p);
    p.caller = pthread_self();
    gcdn_run *run = gcdn_run_new();
    CHECK(gcdn_run_set_progress(run, on_event, &p, NULL) == GCDN_OK);
    CHECK(gcdn_run_set_workers(run, 2, NULL) == GCDN_OK);
    CHECK(run_job(client, job, run, &report) == GCDN_ERR_NOT_FOUND);
    CHECK(report != NULL);
    CHECK(gcdn_report_status(report) == GCDN_ERR_NOT_FOUND);
    CHECK(gcdn_report_request_count(report) == 3);
    CHECK(gcdn_report_total(report, GCDN_TOTAL_REQUESTS) == 3);
    CHECK(gcdn_report_total(report, GCDN_TOTAL_PURGED) == 2);
    CHECK(gcdn_report_total(report, GCDN_TOTAL_FAILED) == 1);
    CHECK(gcdn_report_total(report, GCDN_TOTAL_ITEMS_PURGED) == 3);
    CHECK(gcdn_report_total(report, GCDN_TOTAL_SKIPPED) == 3);
    CHECK(gcdn_report_total(report, 9999) == 0);
    for (size_t i = 0; i < gcdn_report_request_count(report); i++) {
        int64_t id = gcdn_report_request_resource_id(report, i);
        CHECK(gcdn_report_request_kind(report, i) == GCDN_KIND_URLS);
        if (id == 1) {
            CHECK(gcdn_report_request_item_count(report, i) == 2);
            CHECK(strcmp(gcdn_report_request_item(report, i, 0), "/index.html") == 0);
            CHECK(strcmp(gcdn_report_request_item(report, i, 1), "/app.js?v=7") == 0);
            CHECK(gcdn_report_request_outcome(report, i) == GCDN_OUTCOME_PURGED);
            CHECK(gcdn_report_request_status(report, i) == GCDN_OK);
            CHECK(gcdn_report_request_http_status(report, i) == 201);
            CHECK(gcdn_report_request_message(report, i) == NULL);
        } else if (id == 3) {
            CHECK(gcdn_report_request_item_count(report, i) == 3);
            CHECK(gcdn_report_request_outcome(report, i) == GCDN_OUTCOME_FAILED);
            CHECK(gcdn_report_request_status(report, i) == GCDN_ERR_SERVER);
            CHECK(gcdn_report_request_http_status(report, i) == 503);
            CHECK(gcdn_report_request_attempts(report, i) == 1);
            CHECK(gcdn_report_request_message(report, i) != NULL);
        } else {
            CHECK(id == 2);
            CHECK(strcmp(gcdn_report_request_item(report, i, 0), "/a.css") == 0);
        }
        CHECK(gcdn_report_request_item(report, i, 99) == NULL);
        CHECK(gcdn_report_request_completion(report, i) == GCDN_COMPLETION_NONE);
    }
    CHECK(gcdn_report_request_item(report, 99, 0) == NULL);
    CHECK(gcdn_report_request_status(report, 99) == -1);
    int s = find_skip(report, "https://nowhere.example.com/x", GCDN_SKIP_NO_RESOURCE);
    CHECK(s >= 0 && gcdn_report_skipped_resource_id(report, (size_t)s) == 0);
    s = find_skip(report, "https://h2.example.com/a.css", GCDN_SKIP_DUPLICATE);
    CHECK(s >= 0 && gcdn_report_skipped_resource_id(report, (size_t)s) == 2);
    CHECK(s >= 0 && gcdn_report_skipped_by(report, (size_t)s) == NULL);
    CHECK(find_skip(report, "https://h1.example.com/index.html", GCDN_SKIP_DUPLICATE) >= 0);
    char *json = NULL;
    CHECK(gcdn_report_json(report, &json, NULL) == GCDN_OK);
    CHECK(json != NULL && strstr(json, "\"version\":1") != NULL);
    CHECK(json != NULL && strstr(json, key) == NULL);
    gcdn_string_free(json);
    /* Progress: on this thread, in order, one sent and one answer or failure per request. */
    CHECK(p.on_other_thread == 0);
    CHECK(p.out_of_order == 0);
    CHECK(p.sent == 3 && p.answered == 2 && p.failed_events == 1);

    /* Resume: the failed request is the remaining job; a second run finishes it, confirmed. */
    gcdn_job *rest = gcdn_report_remaining(report);
    CHECK(rest != NULL && gcdn_job_item_count(rest) == 3);
    gcdn_report_free(report);
    memset(&p, 0, sizeof p);
    p.caller = pthread_self();
    CHECK(gcdn_run_set_wait_ms(run, 10000, NULL) == GCDN_OK);
    CHECK(run_job(client, rest, run, &report) == GCDN_OK);
    CHECK(report != NULL && gcdn_report_total(report, GCDN_TOTAL_PURGED) == 1);
    CHECK(gcdn_report_request_completion(report, 0) == GCDN_COMPLETION_SUCCESSFUL);
    CHECK(gcdn_report_request_purge_id(report, 0) > 0);
    CHECK(gcdn_report_total(report, GCDN_TOTAL_CONFIRMED) == 1);
    CHECK(p.confirmed == 1);
    CHECK(gcdn_report_remaining(report) == NULL);
    gcdn_report_free(report);
    gcdn_job_free(rest);

    /* The callback stops a run: CANCELLED, and the report is still written. */
    gcdn_job *big = gcdn_job_new();
    static char storage[300][32];
    const char *many[300];
    for (int i = 0; i < 300; i++) {
        snprintf(storage[i], sizeof storage[i], "/stop/%d.js", i);
        many[i] = storage[i];
    }
    CHECK(gcdn_job_add_urls(big, 1, many, 300, NULL) == GCDN_OK);
    memset(&p, 0, sizeof p);
    p.caller = pthread_self();
    p.stop_at_answered = 1;
    gcdn_run *stopping = gcdn_run_new();
    CHECK(gcdn_run_set_progress(stopping, on_event, &p, NULL) == GCDN_OK);
    CHECK(run_job(client, big, stopping, &report) == GCDN_ERR_CANCELLED);
    CHECK(report != NULL && gcdn_report_total(report, GCDN_TOTAL_PURGED) == 1);
    CHECK(gcdn_report_total(report, GCDN_TOTAL_NOT_SENT) == 2);
    CHECK(gcdn_report_request_status(report, 2) == GCDN_ERR_CANCELLED);
    rest = gcdn_report_remaining(report);
    CHECK(rest != NULL && gcdn_job_item_count(rest) == 200);
    gcdn_job_free(rest);
    gcdn_report_free(report);

    /* A cancel token fired before the run: nothing is sent, the report says why. */
    gcdn_cancel *token = gcdn_cancel_new();
    gcdn_run *cancelled = gcdn_run_new();
    CHECK(gcdn_run_set_cancel(cancelled, token, NULL) == GCDN_OK);
    gcdn_cancel_fire(token);
    gcdn_cancel_free(token);
    CHECK(run_job(client, big, cancelled, &report) == GCDN_ERR_CANCELLED);
    CHECK(report != NULL && gcdn_report_total(report, GCDN_TOTAL_PURGED) == 0);
    gcdn_report_free(report);
    /* The single calls take a run's settings too. */
    CHECK(gcdn_purge_all_with(client, cancelled, 1, NULL) == GCDN_ERR_CANCELLED);
    CHECK(gcdn_purge_all_with(client, NULL, 2, NULL) == GCDN_OK);

    /* NULLs are refused, never a crash. */
    CHECK(gcdn_job_run(client, NULL, NULL, &report, NULL) == GCDN_ERR_INVALID_ARGUMENT);
    CHECK(gcdn_job_run(client, big, NULL, NULL, NULL) == GCDN_ERR_INVALID_ARGUMENT);
    CHECK(gcdn_run_set_wait_ms(NULL, 1, NULL) == GCDN_ERR_INVALID_ARGUMENT);
    CHECK(gcdn_report_json(NULL, &json, NULL) == GCDN_ERR_INVALID_ARGUMENT);
    CHECK(gcdn_report_remaining(NULL) == NULL);
    gcdn_job_free(NULL);
    gcdn_run_free(NULL);
    gcdn_report_free(NULL);

    gcdn_run_free(cancelled);
    gcdn_run_free(stopping);
    gcdn_run_free(run);
    gcdn_job_free(big);
    gcdn_job_free(job);
    gcdn_client_free(client);
    printf("job_run: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
