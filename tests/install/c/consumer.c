/* A C program built against an installed gcdn with `pkg-config --cflags --libs gcdn`.
 * Usage: consumer NAME (GCORE_API_KEY and GCORE_BASE_URL point at a gcdn-emulator that has
 * resource 5 and no resource 404). Purges one URL of 5 (must succeed), then one of 404 (must
 * fail with GCDN_ERR_NOT_FOUND): two real requests. */
#include <stdio.h>
#include <string.h>

#include <gcdn.h>

/* Each request is logged through the library's log hook: count the "request" records and
 * print them, as a program would pass them to its own logging. */
static void on_log(const gcdn_log_record *record, void *user_data) {
    int *requests = user_data;
    if (record->event != NULL && strcmp(record->event, "request") == 0) {
        ++*requests;
        printf("log: %s %s -> %d\n", record->method ? record->method : "?",
               record->path ? record->path : "?", (int)record->http_status);
    }
}

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "c";
    gcdn_client *client = NULL;
    char *error = NULL;
    int logged = 0;
    gcdn_options *options = gcdn_options_new();
    if (options == NULL ||
        gcdn_options_set_log(options, on_log, &logged, GCDN_LOG_DEBUG, &error) != GCDN_OK ||
        gcdn_client_new(NULL, options, &client, &error) != GCDN_OK) {
        fprintf(stderr, "%s: gcdn_client_new: %s\n", name, error ? error : "out of memory");
        gcdn_string_free(error);
        gcdn_options_free(options);
        return 1;
    }
    gcdn_options_free(options);
    const char *urls[] = {"/install-test.html"};
    int32_t status = gcdn_purge_urls(client, 5, urls, 1, &error);
    if (status != GCDN_OK) {
        fprintf(stderr, "%s: purge 5: %s: %s\n", name, gcdn_status_str(status), error);
        gcdn_string_free(error);
        gcdn_client_free(client);
        return 1;
    }
    status = gcdn_purge_urls(client, 404, urls, 1, &error);
    if (status != GCDN_ERR_NOT_FOUND || error == NULL || strstr(error, "404") == NULL) {
        fprintf(stderr, "%s: purge 404: want not found, got %s: %s\n", name, gcdn_status_str(status),
                error ? error : "(no message)");
        gcdn_string_free(error);
        gcdn_client_free(client);
        return 1;
    }
    gcdn_string_free(error);
    gcdn_client_free(client);
    if (logged < 2) {
        fprintf(stderr, "%s: want a log record per request, got %d\n", name, logged);
        return 1;
    }
    printf("%s: ok, gcdn %s\n", name, gcdn_version());
    return 0;
}
