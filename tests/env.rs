//! What the environment can and cannot change. One test, run alone in its own process,
//! because it sets environment variables.

mod common;

use std::net::TcpListener;
use std::ptr;
use std::time::Duration;

use common::*;
use gcdn::ffi::*;

#[test]
fn environment() {
    let emu = emulator();

    // GCORE_API_KEY and GCORE_BASE_URL stand in for a NULL key and an unset base URL.
    std::env::set_var("GCORE_API_KEY", emu.api_key());
    std::env::set_var("GCORE_BASE_URL", emu.base_url());
    let mut client: *mut gcdn_client = ptr::null_mut();
    assert!(call(|e| unsafe { gcdn_client_new(ptr::null(), ptr::null(), &mut client, e) }).ok());
    let c = TestClient(client);
    assert!(c.purge_all(1).ok());
    assert_eq!(
        emu.requests()[0].header("authorization"),
        Some("APIKey test-key")
    );
    drop(c);

    // An unsafe GCORE_BASE_URL is refused, naming where it came from.
    std::env::set_var("GCORE_BASE_URL", "http://api.gcore.com");
    let r = call(|e| unsafe { gcdn_client_new(ptr::null(), ptr::null(), &mut client, e) });
    assert_eq!(r.status, GCDN_ERR_INVALID_ARGUMENT);
    assert!(r.msg().contains("GCORE_BASE_URL"), "{}", r.msg());
    std::env::remove_var("GCORE_BASE_URL");

    // The key from GCORE_API_KEY inside GCORE_BASE_URL, any way: refused, never quoted.
    std::env::set_var("GCORE_API_KEY", URL_KEY);
    for url in [
        format!("https://apikey:{URL_KEY}@127.0.0.1:9"),
        format!("https://{URL_KEY}@127.0.0.1:9"),
        format!("https://127.0.0.1:9/{URL_KEY}"),
        format!("https://127.0.0.1:9/{}", percent_all(URL_KEY, true)),
        format!("https://127.0.0.1:9/?key={URL_KEY}"),
        format!("https://127.0.0.1:9/#{URL_KEY}"),
    ] {
        std::env::set_var("GCORE_BASE_URL", &url);
        let r = call(|e| unsafe { gcdn_client_new(ptr::null(), ptr::null(), &mut client, e) });
        assert_eq!(r.status, GCDN_ERR_INVALID_ARGUMENT, "{url}");
        assert!(r.msg().contains("GCORE_BASE_URL"), "{}", r.msg());
        assert!(!r.msg().contains("uRl$"), "{}", r.msg());
    }
    std::env::set_var("GCORE_API_KEY", emu.api_key());
    std::env::remove_var("GCORE_BASE_URL");

    // No key anywhere.
    std::env::remove_var("GCORE_API_KEY");
    let r = call(|e| unsafe { gcdn_client_new(ptr::null(), ptr::null(), &mut client, e) });
    assert_eq!(r.status, GCDN_ERR_INVALID_ARGUMENT);
    assert!(r.msg().contains("GCORE_API_KEY"), "{}", r.msg());

    // A proxy from the environment never sees a plain-HTTP request: it would see the key.
    let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
    proxy.set_nonblocking(true).unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    for var in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        std::env::set_var(var, &proxy_url);
    }
    std::env::remove_var("NO_PROXY");
    std::env::remove_var("no_proxy");
    let c = common::client(&emu);
    assert!(c.purge_all(2).ok());
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        proxy.accept().is_err(),
        "the request went through the proxy"
    );
}
