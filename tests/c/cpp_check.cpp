// The header from C++: it must compile under -Wall -Wextra -Werror -pedantic and link,
// and RAII over the handle pair must be natural.
#include <cstdio>
#include <cstring>
#include <memory>

#include "gcdn.h"

struct ClientDeleter {
    void operator()(gcdn_client *c) const noexcept { gcdn_client_free(c); }
};
struct StringDeleter {
    void operator()(char *s) const noexcept { gcdn_string_free(s); }
};

int main() {
    std::unique_ptr<gcdn_options, void (*)(gcdn_options *)> opts(gcdn_options_new(), gcdn_options_free);
    char *raw = nullptr;
    int32_t rc = gcdn_options_set_base_url(opts.get(), "http://example.com", &raw);
    std::unique_ptr<char, StringDeleter> err(raw);
    if (rc != GCDN_ERR_INVALID_ARGUMENT || !err || !std::strstr(err.get(), "loopback")) {
        std::fprintf(stderr, "unexpected: %d %s\n", rc, err ? err.get() : "(null)");
        return 1;
    }
    gcdn_client *out = nullptr;
    rc = gcdn_client_new("key", nullptr, &out, nullptr);
    std::unique_ptr<gcdn_client, ClientDeleter> client(out);
    if (rc != GCDN_OK || !client) return 1;
    std::printf("C++ ok: gcdn %s\n", gcdn_version());
    return 0;
}
