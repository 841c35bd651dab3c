/*
 * The C baseline: a plain libcurl loop, one easy handle reused (so one keep-alive
 * connection), making the same requests as bench_gcdn: the same method, path, body and
 * headers (Authorization, Content-Type, Accept, User-Agent).
 *
 *   bench_curl BASE_URL purge|delete N WARMUP [count]
 *
 * Prints one JSON line (see common.h). Exit status 1 if any call failed. With `count`, the
 * calls are neither timed nor sorted (for callgrind, as in bench_gcdn).
 */
#include <curl/curl.h>

#include "common.h"

static size_t discard(char *data, size_t size, size_t nmemb, void *user) {
    (void)data;
    (void)user;
    return size * nmemb;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: bench_curl BASE_URL purge|delete N WARMUP\n");
        return 2;
    }
    const char *base = argv[1];
    int purge = !strcmp(argv[2], "purge");
    size_t n = strtoull(argv[3], NULL, 10), warmup = strtoull(argv[4], NULL, 10);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *h = curl_easy_init();
    char url[512], ua[64];
    snprintf(url, sizeof url, "%s/cdn/resources/%d%s", base, BENCH_RESOURCE_ID, purge ? "/purge" : "");
    struct curl_slist *headers = NULL;
    headers = curl_slist_append(headers, "Authorization: APIKey " BENCH_API_KEY);
    headers = curl_slist_append(headers, "Accept: application/json");
    if (purge) headers = curl_slist_append(headers, "Content-Type: application/json");
    snprintf(ua, sizeof ua, "gcdn/0.1.0");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_USERAGENT, ua);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (purge) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, BENCH_PURGE_BODY);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(BENCH_PURGE_BODY));
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE");
    }

    size_t failures = 0;
    long code = 0;
    long want = purge ? 201 : 204;
    for (size_t i = 0; i < warmup; i++) {
        CURLcode rc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        failures += rc != CURLE_OK || code != want;
    }
    if (argc > 5 && !strcmp(argv[5], "count")) {
        for (size_t i = 0; i < n; i++) {
            CURLcode rc = curl_easy_perform(h);
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
            failures += rc != CURLE_OK || code != want;
        }
        printf("{\"calls\":%zu,\"failures\":%zu}\n", n, failures);
        curl_slist_free_all(headers);
        curl_easy_cleanup(h);
        curl_global_cleanup();
        return failures != 0;
    }
    uint32_t *lat = malloc((n ? n : 1) * sizeof *lat);
    if (!lat) return 1;
    uint64_t cpu0 = cpu_ns(), start = now_ns(), t = start;
    for (size_t i = 0; i < n; i++) {
        CURLcode rc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        if (rc != CURLE_OK || code != want) {
            if (!failures) fprintf(stderr, "bench_curl: %s, HTTP %ld\n", curl_easy_strerror(rc), code);
            failures++;
        }
        uint64_t t2 = now_ns();
        lat[i] = (uint32_t)(t2 - t);
        t = t2;
    }
    uint64_t loop = t - start, cpu = cpu_ns() - cpu0;
    print_result(purge ? "libcurl-c purge" : "libcurl-c delete", lat, n, loop, cpu, failures);
    free(lat);
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    curl_global_cleanup();
    return failures != 0;
}
