-- wrk: the purge request every client in the benchmark makes (same method, path, headers
-- and body). Static: wrk builds the request once and runs no Lua per request.
wrk.method = "POST"
wrk.path = "/cdn/resources/100/purge"
wrk.body = '{"urls":["/img/logo.png","/index.html?v=2"]}'
wrk.headers["Authorization"] = "APIKey bench-key-0123456789abcdef"
wrk.headers["User-Agent"] = "gcdn/0.1.0"
wrk.headers["Accept"] = "application/json"
wrk.headers["Content-Type"] = "application/json"
