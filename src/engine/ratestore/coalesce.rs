//! Coalescing purges across processes (and hosts) through the rate store's Redis (issue 21).
//!
//! Callers with the same API key, resource and kind queue their items in Redis; the caller
//! that leads takes the next slot, claims up to a request's worth of the queued items, sends
//! them in one request and publishes the outcome to every caller that wanted them; the others
//! wait for their items' outcomes. All of it is Lua on the server, on the server's clock
//! (`TIME`), so hosts whose clocks disagree still agree on leases.
//!
//! The keys, under `gcdn:v1:<account-hash>:<resource>:<kind>:co:` (`<kind>` `urls` or
//! `patterns`), every one with a TTL:
//! - `q` (list): the pending items, oldest first, each once; `p` (hash): item → the tickets
//!   (callers) that want it, space-separated. At most `max_queue` items pending, at most
//!   `MAX_WAITERS` tickets on one item: past that an enqueue is refused (the caller sends on
//!   its own). `t` (hash): ticket → its items, so that a claim takes each caller whole.
//! - `s` (string): the leader's token, held (PX) from the moment it leads until it publishes:
//!   its slot's wait plus the lease, then the lease from its claim. Nobody else leads
//!   meanwhile; a leader that dies is replaced when it expires.
//! - `c:<batch>` (hash, item → tickets) and `l` (sorted set, batch → lease end, server ms):
//!   the claimed items. A claim whose lease ends unpublished is put back at the head of the
//!   queue (by the next `lead`, on the server's clock) and sent by another caller.
//! - `k:<ticket>` (string): the ticket is known (so a caller whose state the server lost, a
//!   restarted or flushed Redis, queues its items again); `r:<ticket>` (list): the outcomes
//!   published for it, one entry per request that carried its items.
//!
//! The lease and its heartbeat: a claim's lease is short (the client's request timeout, 1 to
//! 30 s: [`lease_for`]) so that a dead sender's items are sent by another caller soon; while
//! its request goes, the sender renews it every third of a lease from a thread of its own
//! (`renew`, on the server's clock), so a request slower than the lease (retries, backoff, a
//! slow answer) is not taken for a dead sender's and sent twice. A lease of the request's
//! worst case (timeout × attempts + backoff) would have done that too, but a sender killed
//! at its first attempt would then hold its callers' items for minutes. Renewing stops when
//! the send returns, when the claim is found lost, and after [`HOLD_MOST`] at most; a sender
//! whose process stalls past a lease may find its items sent again by another caller (a
//! purge sent twice, never an item told OK that no 2xx covered).
//!
//! Nobody is told OK for an item no 2xx covered: an entry `0` is published only by the
//! leader whose request got a 2xx; a failed request publishes its error only while its claim
//! is still held (else the items are back in the queue for another try); a leader that sent
//! nothing (its own deadline, its budget) puts its claim back at once.
//!
//! Bounded: every operation is one script, through the store's connection (its timeouts), its
//! reply capped at [`MAX_BATCH_REPLY_BYTES`]; items longer than [`MAX_ITEM_BYTES`] are not
//! queued; replies are checked (a hostile server's garbage is an error, never an item).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::redis_store::{ms_ceil, ms_floor, RedisStore};
use super::{margin, PaceKey, PaceKind, StoreError, Window};
use crate::engine::coalesce::ItemsDigest;

/// The longest item queued in Redis (bytes); a caller with a longer one sends on its own.
pub const MAX_ITEM_BYTES: usize = 2048;
/// Pending items on one (resource, kind) at most; past it an enqueue is refused.
pub const MAX_QUEUE: usize = 10_000;
/// Callers waiting on one item at most.
pub const MAX_WAITERS: usize = 1_000;
/// The most one operation's replies may hold: a claim of 100 items of [`MAX_ITEM_BYTES`] and
/// their tickets, with room to spare.
pub const MAX_BATCH_REPLY_BYTES: usize = 1024 * 1024;
/// Queued items a claim looks through for callers that fit whole.
const CLAIM_SCAN: usize = 1_000;
/// Outcome entries read per poll.
const POLL_MAX: usize = 100;

mod part;
mod scripts;
mod shared;

pub use part::*;
use scripts::scripts;
pub use shared::*;

// ---------------------------------------------------------------------------------------
// The protocol
// ---------------------------------------------------------------------------------------

/// A caller's ticket (16 hex digits, random): where its outcomes are published.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ticket(String);

impl Ticket {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 8 random bytes as hex (tickets, leader tokens, batch ids).
fn random_id() -> String {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 8];
    // SystemRandom fails only when the OS has no randomness at all; the clock then.
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        b = (t ^ u64::from(std::process::id()).rotate_left(32)).to_be_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn is_id(s: &str) -> bool {
    s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What `lead` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lead {
    /// Another caller leads, for at most this long more.
    Held(Duration),
    /// Nothing is pending (what was is claimed, or published).
    Empty,
    /// This caller leads: its slot opens in this long; claim then.
    Go(Duration),
    /// The next slot opens this far away: past what the caller may wait. Nothing held.
    TooFar(Duration),
}

/// Items claimed by a leader: each with the tickets that want it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    pub id: String,
    pub items: Vec<(String, Vec<Ticket>)>,
}

impl Batch {
    /// How many callers (tickets) the batch carries items of.
    pub fn callers(&self) -> usize {
        self.items
            .iter()
            .flat_map(|(_, ts)| ts.iter())
            .collect::<HashSet<_>>()
            .len()
    }
}

/// The outcome of the request that carried a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx: its HTTP status, attempts and 429s met, and the items it carried (every caller's).
    Ok {
        http_status: u16,
        attempts: u32,
        rate_limited: u32,
        items: usize,
    },
    /// It failed: the status code (C numbers, `Status::code`) and message.
    Failed { status: i32, message: String },
}

/// One published entry, as a waiting caller reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    pub outcome: Outcome,
    /// How many callers the request carried items of.
    pub callers: usize,
    /// This caller's items it carried.
    pub items: Vec<String>,
    /// Every item the request carried, as its purge status lists them (a 2xx's; what a job
    /// confirms the request by). `None` once several requests are summed.
    pub digest: Option<ItemsDigest>,
}

impl Published {
    /// `self` (a 2xx's) and another 2xx that carried `mine` of the caller's items, summed.
    fn and(
        self,
        callers: usize,
        http_status: u16,
        attempts: u32,
        rate_limited: u32,
        items: usize,
        mine: Vec<String>,
    ) -> Published {
        let Outcome::Ok {
            attempts: a,
            rate_limited: r,
            items: i,
            ..
        } = self.outcome
        else {
            return self;
        };
        let mut all = self.items;
        all.extend(mine);
        Published {
            outcome: Outcome::Ok {
                http_status,
                attempts: a.saturating_add(attempts),
                rate_limited: r.saturating_add(rate_limited),
                items: i.saturating_add(items),
            },
            callers: self.callers.max(callers),
            items: all,
            digest: None,
        }
    }
}

/// The queue of one (resource, kind) of an account, on a [`RedisStore`].
pub struct Queue<'s> {
    store: &'s RedisStore,
    pace: PaceKey,
    prefix: String,
}

/// The scripts' arguments, as strings.
macro_rules! strs {
    ($($a:expr),* $(,)?) => { [$($a.to_string()),*] };
}

/// A reply that is not what the script answers.
fn garbage(store: &RedisStore, why: impl std::fmt::Display) -> StoreError {
    store.error(format!(
        "the coalescing queue's answer is not the script's ({why})"
    ))
}

impl<'s> Queue<'s> {
    pub fn new(store: &'s RedisStore, pace: PaceKey) -> Queue<'s> {
        let kind = match pace.kind {
            PaceKind::Urls => "urls",
            PaceKind::Patterns => "patterns",
            // Prefetches are not purges: never coalesced (Shared::deliver takes purges only).
            PaceKind::Prefetch => "prefetch",
        };
        let prefix = format!("gcdn:v1:{}:{}:{kind}:co:", store.account, pace.resource_id);
        Queue {
            store,
            pace,
            prefix,
        }
    }

    /// The Redis key `name` of this queue (`q`, `p`, `s`, `l`, `c:<batch>`, `k:<ticket>`, ...).
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn run<T: redis::FromRedisValue>(
        &self,
        script: &redis::Script,
        keys: &[String],
        args: &[String],
    ) -> Result<T, StoreError> {
        self.store
            .with_connection_capped(MAX_BATCH_REPLY_BYTES, |con| {
                let mut inv = script.prepare_invoke();
                for k in keys {
                    inv.key(k);
                }
                for a in args {
                    inv.arg(a.as_str());
                }
                inv.invoke(con)
            })
    }

    /// Queue `items` (unique, checked, each at most [`MAX_ITEM_BYTES`]) for a new ticket;
    /// `None` when the queue is full (nothing queued). Its keys live `ttl` (renewed by
    /// [`Queue::poll`]).
    pub fn enqueue(&self, items: &[&str], ttl: Duration) -> Result<Option<Ticket>, StoreError> {
        let ticket = Ticket(random_id());
        let mut args = Vec::from(strs![ticket.0, ms_ceil(ttl).max(1), MAX_QUEUE, MAX_WAITERS]);
        args.extend(items.iter().map(|i| (*i).to_owned()));
        let keys = [
            self.key("q"),
            self.key("p"),
            self.key(&format!("k:{}", ticket.0)),
            self.key("t"),
        ];
        let r: i64 = self.run(&scripts().enqueue, &keys, &args)?;
        match r {
            1 => Ok(Some(ticket)),
            0 => Ok(None),
            x => Err(garbage(self.store, format!("enqueue answered {x}"))),
        }
    }

    /// Put expired claims back; then lead (the next slot under `window` within `max_wait`,
    /// `token` held for its wait plus `lease`) if nobody leads and items are pending.
    pub fn lead(
        &self,
        token: &str,
        window: Window,
        lease: Duration,
        ttl: Duration,
        max_wait: Duration,
    ) -> Result<Lead, StoreError> {
        let keys = [
            self.key("q"),
            self.key("p"),
            self.key("l"),
            self.key("s"),
            self.store.redis_key(self.pace),
        ];
        let (lease, ttl) = (ms_ceil(lease).max(1), ms_ceil(ttl).max(1));
        let (n, w, m) = (
            window.requests.max(1),
            ms_ceil(window.per),
            ms_ceil(margin(window)),
        );
        let (claims, max_wait) = (self.key("c:"), ms_floor(max_wait));
        let r: Vec<i64> = self.run(
            &scripts().lead,
            &keys,
            &strs![token, lease, ttl, n, w, m, claims, max_wait],
        )?;
        let &[what, ms, now] = r.as_slice() else {
            return Err(garbage(self.store, format!("{} integers", r.len())));
        };
        if !(0..=30 * 86_400_000).contains(&ms) || now <= 0 {
            return Err(garbage(self.store, format!("{ms} ms at {now}")));
        }
        let d = Duration::from_millis(ms as u64);
        Ok(match what {
            0 => Lead::Held(d),
            1 => Lead::Empty,
            2 => Lead::Go(d),
            3 => Lead::TooFar(d),
            x => return Err(garbage(self.store, format!("lead answered {x}"))),
        })
    }

    /// As the leader (`token`): claim up to `max_items` of the queue, oldest first, each
    /// caller's items whole (a caller that does not fit waits for the next request), for
    /// `lease`. `None`: no longer the leader (its hold expired). An empty batch: nothing was
    /// pending.
    pub fn claim(
        &self,
        token: &str,
        max_items: usize,
        lease: Duration,
        ttl: Duration,
    ) -> Result<Option<Batch>, StoreError> {
        let id = random_id();
        let keys = [
            self.key("q"),
            self.key("p"),
            self.key("l"),
            self.key("s"),
            self.key(&format!("c:{id}")),
            self.key("t"),
        ];
        let (lease, ttl, max) = (ms_ceil(lease).max(1), ms_ceil(ttl).max(1), max_items);
        let r: Vec<String> = self.run(
            &scripts().claim,
            &keys,
            &strs![token, lease, ttl, max, id, CLAIM_SCAN],
        )?;
        match r.first().map(String::as_str) {
            Some("0") if r.len() == 1 => return Ok(None),
            Some("1") if r.len().is_multiple_of(2) && r.len() - 2 <= 2 * max_items => {}
            _ => {
                return Err(garbage(
                    self.store,
                    format!("a claim of {} fields", r.len()),
                ))
            }
        }
        let mut items = Vec::with_capacity(r.len() / 2 - 1);
        let mut seen = HashSet::new();
        for pair in r[2..].chunks(2) {
            let (item, tickets) = (&pair[0], &pair[1]);
            if !valid_item(item) || !seen.insert(item.as_str()) {
                return Err(garbage(self.store, "an item that was never queued"));
            }
            let tickets: Vec<Ticket> = tickets.split(' ').map(|t| Ticket(t.to_owned())).collect();
            if tickets.iter().any(|t| !is_id(&t.0)) || tickets.len() > MAX_WAITERS {
                return Err(garbage(self.store, "a ticket that is not one"));
            }
            items.push((item.clone(), tickets));
        }
        Ok(Some(Batch { id, items }))
    }

    /// As the sender of `batch` (`token`): its lease ends `lease` from the server's now again.
    /// False: the claim was no longer held (its lease had ended).
    pub fn renew(
        &self,
        token: &str,
        batch: &Batch,
        lease: Duration,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let keys = [
            self.key(&format!("c:{}", batch.id)),
            self.key("l"),
            self.key("s"),
        ];
        let (lease, ttl) = (ms_ceil(lease).max(1), ms_ceil(ttl).max(1));
        let r: i64 = self.run(&scripts().renew, &keys, &strs![token, batch.id, lease, ttl])?;
        match r {
            1 => Ok(true),
            0 => Ok(false),
            x => Err(garbage(self.store, format!("renew answered {x}"))),
        }
    }

    /// As the leader (`token`): publish `outcome` of `batch`'s request to every ticket that
    /// wanted its items, and give up the lead. An error is published only while the claim
    /// is held (else the items are queued again). True if the claim was still held.
    pub fn publish(
        &self,
        token: &str,
        batch: &Batch,
        outcome: &Outcome,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let callers = batch.callers();
        let head = match outcome {
            Outcome::Ok {
                http_status,
                attempts,
                rate_limited,
                items,
            } => {
                let digest = ItemsDigest::of(batch.items.iter().map(|(i, _)| i.as_str()));
                format!(
                    "0\n{callers}\n{http_status} {attempts} {rate_limited} {items} {}",
                    digest.encode()
                )
            }
            Outcome::Failed { status, message } => {
                let one_line: String = message
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .take(2000)
                    .collect();
                format!("{status}\n{callers}\n{one_line}")
            }
        };
        let mut per_ticket: HashMap<&Ticket, String> = HashMap::new();
        for (item, tickets) in &batch.items {
            for t in tickets {
                let e = per_ticket.entry(t).or_insert_with(|| head.clone());
                e.push('\n');
                e.push_str(item);
            }
        }
        let keys = [
            self.key(&format!("c:{}", batch.id)),
            self.key("l"),
            self.key("s"),
        ];
        let ok = u8::from(matches!(outcome, Outcome::Ok { .. }));
        let (ttl, results) = (ms_ceil(ttl).max(1), self.key("r:"));
        let mut args = Vec::from(strs![token, batch.id, ok, ttl, results]);
        for (t, entry) in per_ticket {
            args.push(t.0.clone());
            args.push(entry);
        }
        let r: i64 = self.run(&scripts().publish, &keys, &args)?;
        Ok(r == 1)
    }

    /// As the leader (`token`): put `batch` (if any) back at the head of the queue at once
    /// (nothing of it was sent) and give up the lead.
    pub fn release(
        &self,
        token: &str,
        batch: Option<&Batch>,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let keys = [self.key("q"), self.key("p"), self.key("l"), self.key("s")];
        let id = batch.map_or("", |b| b.id.as_str());
        let (ttl, claims) = (ms_ceil(ttl).max(1), self.key("c:"));
        let r: i64 = self.run(
            &scripts().release,
            &keys,
            &strs![token, id, ttl, "", "", "", claims],
        )?;
        if r == 1 {
            Ok(())
        } else {
            Err(garbage(self.store, format!("release answered {r}")))
        }
    }

    /// The outcomes published for `ticket` since the last poll (at most a hundred), and
    /// whether the server still knows the ticket (it renews it for `ttl`).
    pub fn poll(
        &self,
        ticket: &Ticket,
        ttl: Duration,
    ) -> Result<(bool, Vec<Published>), StoreError> {
        let keys = [
            self.key(&format!("r:{}", ticket.0)),
            self.key(&format!("k:{}", ticket.0)),
        ];
        let (ttl, max) = (ms_ceil(ttl).max(1), POLL_MAX);
        let r: Vec<String> = self.run(&scripts().poll, &keys, &strs![ttl, max])?;
        let alive = match r.first().map(String::as_str) {
            Some("1") => true,
            Some("0") => false,
            _ => return Err(garbage(self.store, "a poll without its flag")),
        };
        if r.len() > POLL_MAX + 1 {
            return Err(garbage(self.store, format!("{} entries", r.len() - 1)));
        }
        let mut out = Vec::with_capacity(r.len() - 1);
        for entry in &r[1..] {
            out.push(parse_entry(entry).ok_or_else(|| garbage(self.store, "an outcome entry"))?);
        }
        Ok((alive, out))
    }

    /// Take `ticket` off those of `items` still pending; forget the ticket. The items
    /// withdrawn (the others are in flight, or published).
    pub fn withdraw(&self, ticket: &Ticket, items: &[&str]) -> Result<Vec<String>, StoreError> {
        let keys = [
            self.key("q"),
            self.key("p"),
            self.key(&format!("k:{}", ticket.0)),
            self.key(&format!("r:{}", ticket.0)),
            self.key("t"),
        ];
        let mut args = Vec::from(strs![ticket.0]);
        args.extend(items.iter().map(|i| (*i).to_owned()));
        let r: Vec<String> = self.run(&scripts().withdraw, &keys, &args)?;
        if r.len() > items.len() || r.iter().any(|w| !items.contains(&w.as_str())) {
            return Err(garbage(self.store, "withdrew items it was not given"));
        }
        Ok(r)
    }
}

/// An item as queued: a path (`/...`), no control character, at most [`MAX_ITEM_BYTES`].
pub fn valid_item(item: &str) -> bool {
    item.starts_with('/') && item.len() <= MAX_ITEM_BYTES && !item.chars().any(char::is_control)
}

/// `<status>\n<callers>\n<message>\n<item>...` → [`Published`]; a 2xx's message is
/// `<http status> <attempts> <429s> <items carried> <count>:<hash>` (the [`ItemsDigest`] of
/// the items carried).
fn parse_entry(entry: &str) -> Option<Published> {
    let mut lines = entry.split('\n');
    let status: i32 = lines.next()?.parse().ok()?;
    let callers: usize = lines.next()?.parse().ok()?;
    let message = lines.next()?;
    let items: Vec<String> = lines.map(str::to_owned).collect();
    if items.is_empty() || !items.iter().all(|i| valid_item(i)) || callers == 0 {
        return None;
    }
    let mut digest = None;
    let outcome = match status {
        0 => {
            let fields: Vec<&str> = message.split(' ').collect();
            let &[http, attempts, rate_limited, carried, all] = fields.as_slice() else {
                return None;
            };
            let n: Vec<u64> = [http, attempts, rate_limited, carried]
                .iter()
                .map(|n| n.parse().ok())
                .collect::<Option<_>>()?;
            let &[http, attempts, rate_limited, carried] = n.as_slice() else {
                return None;
            };
            let all = ItemsDigest::decode(all)?;
            if !(200..300).contains(&http) || attempts == 0 || carried < items.len() as u64 {
                return None;
            }
            digest = Some(all);
            Outcome::Ok {
                http_status: http as u16,
                attempts: u32::try_from(attempts).ok()?,
                rate_limited: u32::try_from(rate_limited).ok()?,
                items: usize::try_from(carried).ok()?,
            }
        }
        s if s > 0 => Outcome::Failed {
            status: s,
            message: message.to_owned(),
        },
        _ => return None,
    };
    Some(Published {
        outcome,
        callers,
        items,
        digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_and_garbage_does_not() {
        assert_eq!(
            parse_entry(&format!("0\n3\n201 1 0 4 {}\n/a\n/b", digest4())),
            Some(Published {
                outcome: Outcome::Ok {
                    http_status: 201,
                    attempts: 1,
                    rate_limited: 0,
                    items: 4
                },
                callers: 3,
                items: vec!["/a".into(), "/b".into()],
                digest: ItemsDigest::decode(&digest4()),
            })
        );
        assert_eq!(
            parse_entry("5\n2\nHTTP 503: down\n/a").unwrap().outcome,
            Outcome::Failed {
                status: 5,
                message: "HTTP 503: down".into()
            }
        );
        for bad in [
            "",
            "0",
            "0\n1\n",
            "0\n1\nx\n/a",
            "x\n1\n\n/a",
            "-1\n1\nm\n/a",
            "0\n0\n\n/a",
            "0\n1\n\n",
            "0\n1\n\n/a",
            "0\n1\n429 1 0 1\n/a",
            "0\n1\n200 1 0 0\n/a",
            "0\n1\n200 0 0 1\n/a",
            "0\n1\n200 1 0\n/a",
            // No digest of the request's items, or not one.
            "0\n1\n200 1 0 1\n/a",
            "0\n1\n200 1 0 1 1:0123\n/a",
            "0\n1\n200 1 0 1 x:0123456789abcdef0123456789abcdef\n/a",
        ] {
            assert_eq!(parse_entry(bad), None, "{bad:?}");
        }
        let long = format!("0\n1\n200 1 0 1\n/{}", "a".repeat(MAX_ITEM_BYTES));
        assert_eq!(parse_entry(&long), None);
    }

    fn digest4() -> String {
        ItemsDigest::of(["/a", "/b", "/c", "/d"]).encode()
    }

    #[test]
    fn ids_are_random_hex() {
        let (a, b) = (random_id(), random_id());
        assert!(is_id(&a) && is_id(&b) && a != b, "{a} {b}");
        assert!(!is_id("0123456789abcdeg"));
    }

    #[test]
    fn leases_are_bounded() {
        assert_eq!(lease_for(Duration::from_millis(10)), Duration::from_secs(1));
        assert_eq!(lease_for(Duration::from_secs(5)), Duration::from_secs(5));
        assert_eq!(lease_for(Duration::MAX), Duration::from_secs(30));
    }
}
