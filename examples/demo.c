/*
 * demo.c: the main job end to end, from C. Purges by URL, by pattern and everything,
 * deactivates and deletes, and shows what comes back when something is refused; then purges
 * a deploy's changed URLs over several hosts as one job: progress, the report, resuming what
 * failed, and confirming that the purges took effect.
 *
 * The key and the API address come from GCORE_API_KEY and GCORE_BASE_URL, as for the
 * official SDKs; `make demo` points them at the bundled emulator (no account, no network).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gcdn.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Print one step's outcome, free the message, and return the status. */
static int32_t report(const char *step, int32_t status, char *error, double started) {
    printf("%-58s %s (%.2f s)\n", step, status == GCDN_OK ? "ok" : gcdn_status_str(status),
           now() - started);
    if (error != NULL) {
        printf("    %s\n", error);
        gcdn_string_free(error);
    }
    return status;
}

/* `call` writes its message, if any, to `&error`: evaluate it before reading `error`. */
#define STEP(description, call)                                   \
    do {                                                          \
        char *error = NULL;                                       \
        double started = now();                                   \
        int32_t status = (call);                                  \
        report(description, status, error, started);              \
    } while (0)

/* ---- A deploy's changed URLs, over several hosts, as one job ---- */

static const char *kind_name(int32_t kind) {
    return kind == GCDN_KIND_URLS ? "urls" : kind == GCDN_KIND_PATTERNS ? "patterns" : "all";
}

static const char *reason_name(int32_t reason) {
    switch (reason) {
    case GCDN_SKIP_DUPLICATE: return "duplicate";
    case GCDN_SKIP_COVERED: return "covered";
    case GCDN_SKIP_NO_RESOURCE: return "no_resource";
    case GCDN_SKIP_INACTIVE: return "inactive";
    case GCDN_SKIP_URL_PURGE_DISABLED: return "url_purge_disabled";
    default: return "?";
    }
}

/* Called on this thread, one event at a time, while gcdn_job_run works. */
static int32_t show_progress(const gcdn_event *event, void *user_data) {
    double started = *(const double *)user_data;
    printf("    [%5.2f s] ", now() - started);
    switch (gcdn_event_kind(event)) {
    case GCDN_EVENT_SENT:
        printf("send     request %lld: resource %lld, %zu %s\n",
               (long long)gcdn_event_request(event) + 1, (long long)gcdn_event_resource_id(event),
               gcdn_event_item_count(event), kind_name(gcdn_event_purge_kind(event)));
        break;
    case GCDN_EVENT_ANSWERED:
        printf("purged   request %lld (HTTP %d); %llu of %llu requests, %llu items so far\n",
               (long long)gcdn_event_request(event) + 1, (int)gcdn_event_http_status(event),
               (unsigned long long)gcdn_event_total(event, GCDN_TOTAL_PURGED),
               (unsigned long long)gcdn_event_total(event, GCDN_TOTAL_REQUESTS),
               (unsigned long long)gcdn_event_total(event, GCDN_TOTAL_ITEMS_PURGED));
        break;
    case GCDN_EVENT_FAILED:
        printf("FAILED   request %lld: %s\n", (long long)gcdn_event_request(event) + 1,
               gcdn_event_message(event) ? gcdn_event_message(event) : "");
        break;
    case GCDN_EVENT_WAIT: {
        int32_t why = gcdn_event_wait_reason(event);
        printf("wait     %llu ms on resource %lld: %s\n",
               (unsigned long long)gcdn_event_wait_ms(event),
               (long long)gcdn_event_resource_id(event),
               why == GCDN_WAIT_PACER          ? "its rate window"
               : why == GCDN_WAIT_BACKOFF      ? "backing off before a retry"
               : why == GCDN_WAIT_RATE_LIMITED ? "after a 429"
               : why == GCDN_WAIT_RETRY_AFTER  ? "as Retry-After asked"
                                               : "between polls");
        break;
    }
    case GCDN_EVENT_RETRY:
        printf("retry    request %lld: %s\n", (long long)gcdn_event_request(event) + 1,
               gcdn_event_message(event) ? gcdn_event_message(event) : "");
        break;
    case GCDN_EVENT_CONFIRM_POLL:
        printf("poll     purge statuses: %zu request(s) still in progress\n",
               gcdn_event_item_count(event));
        break;
    case GCDN_EVENT_CONFIRMED:
        printf("done     request %lld: %s\n", (long long)gcdn_event_request(event) + 1,
               gcdn_event_completion(event) == GCDN_COMPLETION_SUCCESSFUL ? "successful"
                                                                          : "not successful");
        break;
    case GCDN_EVENT_TICK: break; /* the run is waiting: the wait was shown */
    default: printf("event %d\n", (int)gcdn_event_kind(event));
    }
    return 0; /* non-zero would stop the run */
}

/* The report, field by field (gcdn_report_json gives the same as JSON). */
static void print_report(const gcdn_report *report) {
    printf("  report: %llu requests: %llu purged (%llu items), %llu failed, %llu not sent; "
           "%llu items left out; %llu ms (the limits allow %llu ms at best)\n",
           (unsigned long long)gcdn_report_total(report, GCDN_TOTAL_REQUESTS),
           (unsigned long long)gcdn_report_total(report, GCDN_TOTAL_PURGED),
           (unsigned long long)gcdn_report_total(report, GCDN_TOTAL_ITEMS_PURGED),
           (unsigned long long)gcdn_report_total(report, GCDN_TOTAL_FAILED),
           (unsigned long long)gcdn_report_total(report, GCDN_TOTAL_NOT_SENT),
           (unsigned long long)gcdn_report_total(report, GCDN_TOTAL_SKIPPED),
           (unsigned long long)gcdn_report_total(report, GCDN_TOTAL_ELAPSED_MS),
           (unsigned long long)gcdn_report_total(report, GCDN_TOTAL_ESTIMATED_MS));
    for (size_t i = 0; i < gcdn_report_request_count(report); i++) {
        int32_t outcome = gcdn_report_request_outcome(report, i);
        printf("    request %zu: resource %lld, %s %s", i + 1,
               (long long)gcdn_report_request_resource_id(report, i),
               kind_name(gcdn_report_request_kind(report, i)),
               outcome == GCDN_OUTCOME_PURGED ? "purged" : outcome == GCDN_OUTCOME_FAILED ? "FAILED" : "not sent");
        for (size_t j = 0; j < gcdn_report_request_item_count(report, i); j++)
            printf(" %s", gcdn_report_request_item(report, i, j));
        if (gcdn_report_request_completion(report, i) == GCDN_COMPLETION_SUCCESSFUL)
            printf(" (confirmed, purge id %lld)", (long long)gcdn_report_request_purge_id(report, i));
        printf("\n");
        if (gcdn_report_request_message(report, i) != NULL)
            printf("      %s\n", gcdn_report_request_message(report, i));
    }
    for (size_t i = 0; i < gcdn_report_skipped_count(report); i++) {
        const char *by = gcdn_report_skipped_by(report, i);
        printf("    left out: %s (%s%s%s)\n", gcdn_report_skipped_item(report, i),
               reason_name(gcdn_report_skipped_reason(report, i)), by ? " by " : "", by ? by : "");
    }
}

static void purge_a_deploy(const gcdn_client *client) {
    printf("\npurge a deploy: 9 changed URLs over 4 CDN hosts and a pattern, as one job\n");
    /* Resources 1, 2, 5 and 6 are cdn1.example.com ... cdn6.example.com in the emulator; the
       job finds each host's resource from GET /cdn/resources. */
    const char *changed[] = {
        "https://cdn1.example.com/index.html",   "https://cdn1.example.com/app.js?v=42",
        "https://CDN2.example.com/css/site.css", "https://cdn2.example.com/img/logo.png",
        "https://cdn5.example.com/fonts/a.woff2", "https://cdn6.example.com/video/intro.mp4",
        "https://cdn6.example.com/video/outro.mp4", "https://static.example.org/forgotten.js",
        "https://cdn1.example.com/index.html",
    };
    const char *images[] = {"/img/*"};
    gcdn_job *job = gcdn_job_new();
    char *error = NULL;
    if (gcdn_job_add_full_urls(job, changed, sizeof changed / sizeof changed[0], &error) != GCDN_OK ||
        gcdn_job_add_patterns(job, 2, images, 1, &error) != GCDN_OK) {
        printf("  refused: %s\n", error);
        gcdn_string_free(error);
        gcdn_job_free(job);
        return;
    }

    double started = now();
    gcdn_run *run = gcdn_run_new();
    gcdn_run_set_progress(run, show_progress, &started, NULL);
    gcdn_report *report = NULL;
    /* run-demo.sh has the emulator answer resource 6's first purge with a 503. */
    int32_t status = gcdn_job_run(client, job, run, &report, &error);
    printf("  gcdn_job_run: %s\n", gcdn_status_str(status));
    if (error != NULL) {
        printf("    %s\n", error);
        gcdn_string_free(error);
    }
    if (report == NULL) { /* refused before anything was sent */
        gcdn_run_free(run);
        gcdn_job_free(job);
        return;
    }
    print_report(report);

    /* Resume: the job of what was not purged, run again, waiting for confirmation. */
    gcdn_job *rest = gcdn_report_remaining(report);
    gcdn_report_free(report);
    if (rest != NULL) {
        printf("\n  resume: %zu item(s) not purged; run them again and wait up to 15 s for the "
               "purges to complete\n", gcdn_job_item_count(rest));
        started = now();
        gcdn_run_set_wait_ms(run, 15000, NULL);
        status = gcdn_job_run(client, rest, run, &report, &error);
        printf("  gcdn_job_run: %s\n", gcdn_status_str(status));
        if (error != NULL) {
            printf("    %s\n", error);
            gcdn_string_free(error);
        }
        if (report != NULL) {
            print_report(report);
            char *json = NULL;
            if (gcdn_report_json(report, &json, NULL) == GCDN_OK) {
                printf("  as JSON: %.300s%s\n", json, strlen(json) > 300 ? "..." : "");
                gcdn_string_free(json);
            }
            gcdn_report_free(report);
        }
        gcdn_job_free(rest);
    }
    gcdn_run_free(run);
    gcdn_job_free(job);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    gcdn_options *options = gcdn_options_new();
    /* No purge intervals: the client paces by the account's own limits, read from
       GET /cdn/clients/me/limits (the emulator's say 2 URL purges per 2 s and 1 pattern purge
       or purge-all per 2 s, the windows it keeps, not per minute). */
    gcdn_options_set_user_agent_suffix(options, "gcdn-demo/1", NULL);

    gcdn_client *client = NULL;
    char *error = NULL;
    /* NULL key: GCORE_API_KEY; the base URL falls back to GCORE_BASE_URL. */
    if (gcdn_client_new(NULL, options, &client, &error) != GCDN_OK) {
        fprintf(stderr, "cannot create a client: %s\n", error);
        gcdn_string_free(error);
        gcdn_options_free(options);
        return 1;
    }
    gcdn_options_free(options);
    printf("gcdn %s\n\n", gcdn_version());

    const char *urls[] = {"/index.html", "/css/site.css?v=42", "/index.html"};
    STEP("purge 3 URLs (2 unique) of resource 1", gcdn_purge_urls(client, 1, urls, 3, &error));

    static char storage[250][40];
    const char *many[250];
    for (int i = 0; i < 250; i++) {
        snprintf(storage[i], sizeof storage[i], "/assets/chunk-%03d.js", i % 230);
        many[i] = storage[i];
    }
    STEP("purge 250 URLs (230 unique, 3 requests, paced by the window)",
         gcdn_purge_urls(client, 1, many, 250, &error));

    const char *patterns[] = {"/images/*", "/video/"};
    STEP("purge 2 patterns of resource 1", gcdn_purge_patterns(client, 1, patterns, 2, &error));
    STEP("purge everything of resource 2", gcdn_purge_all(client, 2, &error));

    const char *full[] = {"https://cdn.example.com/logo.png"};
    STEP("purge a full URL (refused before sending)", gcdn_purge_urls(client, 1, full, 1, &error));

    STEP("delete resource 3 while it is active", gcdn_delete_resource(client, 3, 0, &error));
    STEP("deactivate resource 3", gcdn_deactivate_resource(client, 3, &error));
    STEP("delete resource 3", gcdn_delete_resource(client, 3, 0, &error));
    STEP("delete resource 3 again", gcdn_delete_resource(client, 3, 0, &error));
    STEP("delete resource 3 again, missing counts as deleted",
         gcdn_delete_resource(client, 3, GCDN_DELETE_MISSING_OK, &error));
    STEP("deactivate and delete resource 4 in one call",
         gcdn_delete_resource(client, 4, GCDN_DELETE_DEACTIVATE_FIRST, &error));

    purge_a_deploy(client);

    gcdn_client_free(client);
    return 0;
}
