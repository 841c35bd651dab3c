//! Shared pacing across processes through a real redis-server (issue 14).
