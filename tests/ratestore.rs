//! The Redis rate store (src/engine/ratestore.rs) against a real redis-server started here.

#[path = "common/redis_server.rs"]
mod redis_server;

use redis_server::RedisServer;

#[test]
fn helper_starts_and_stops_a_real_server() {
    let mut server = RedisServer::start();
    assert!(server.ping());
    assert!(server.raw("CONFIG GET save").contains("save"));
    server.kill();
    assert!(!server.ping(), "killed server still answers");

    let locked = RedisServer::with_password("helper-pw-31");
    assert!(locked.ping());
    assert!(locked.raw("PING").contains("PONG"));
}
