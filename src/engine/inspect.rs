//! Reading what an account has, for tools that show it (the CLI's `gcdn resources` and
//! `gcdn limits`): the resources listing and the account's limits as the API gives them.
//! Nothing here is paced or sends a purge.

use serde_json::{Map, Value};

use super::account::AccountLimits;
use super::call::CallSettings;
use super::error::{Error, Result, Status};
use super::job::listing::{self, ReadLimits, ResourceInfo};
use super::pacer::PaceKind;
use super::Client;

/// The most of one answer read: a page of 1,000 resources is a few MB; the limits a few hundred
/// bytes.
const PAGE_CAP: usize = 8 * 1024 * 1024;
const LIMITS_CAP: usize = 64 * 1024;

/// The account's resources, as [`Client::list_resources`] read them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resources {
    /// In the order listed.
    pub resources: Vec<ResourceInfo>,
    /// Entries of the listing that were not resources gcdn can read (left out).
    pub malformed: usize,
}

/// The account's limits, as [`Client::read_limits`] read them.
#[derive(Clone, Debug, PartialEq)]
pub struct LimitsRead {
    /// The object the API answered, as it was.
    pub raw: Map<String, Value>,
    /// What gcdn makes of it (values it cannot believe replaced by the documented ones).
    pub limits: AccountLimits,
    /// One note per replaced value.
    pub notes: Vec<String>,
}

impl LimitsRead {
    /// The API's object with a `gcdn` member added: the rates and batch limits gcdn paces and
    /// chunks by, and the notes. (The API's own members are never renamed.)
    pub fn to_json(&self) -> Value {
        let window = |kind: PaceKind| {
            let w = self.limits.window(kind);
            serde_json::json!({
                "requests": w.requests,
                "per_ms": u64::try_from(w.per.as_millis()).unwrap_or(u64::MAX),
            })
        };
        let mut object = self.raw.clone();
        object.insert(
            "gcdn".into(),
            serde_json::json!({
                "url_purges": window(PaceKind::Urls),
                "pattern_purges": window(PaceKind::Patterns),
                "max_urls_per_request": self.limits.max_urls,
                "max_patterns_per_request": self.limits.max_patterns,
                "notes": self.notes,
            }),
        );
        Value::Object(object)
    }
}

impl Client {
    /// Every resource of the account (`GET /cdn/resources`, paged, bounded as a job's
    /// listing is), hosts lower-cased.
    pub fn list_resources(&self, settings: &CallSettings) -> Result<Resources> {
        let ctx = self.context(settings, None);
        let paged = listing::read_paged(
            "listing resources (GET /cdn/resources)",
            "/cdn/resources",
            ReadLimits::RESOURCES,
            |path| {
                self.get(&ctx, path, PAGE_CAP)
                    .map_err(|e| e.context("listing resources"))
            },
            listing::resource_entry,
            |_| true,
        )?;
        Ok(Resources {
            resources: paged.kept,
            malformed: paged.malformed,
        })
    }

    /// Read the account's limits now (`GET /cdn/clients/me/limits`), whatever the client
    /// already knows: the object as answered and what gcdn derives from it.
    pub fn read_limits(&self, settings: &CallSettings) -> Result<LimitsRead> {
        let ctx = self.context(settings, None);
        let path = "/cdn/clients/me/limits";
        let body = self.get(&ctx, path, LIMITS_CAP)?;
        let not_object = || {
            Error::new(
                Status::Protocol,
                format!("the answer to GET {path} is not a JSON object"),
            )
        };
        let Ok(Value::Object(raw)) = serde_json::from_slice::<Value>(&body) else {
            return Err(not_object());
        };
        let (limits, notes) = AccountLimits::parse(&body).ok_or_else(not_object)?;
        Ok(LimitsRead { raw, limits, notes })
    }
}
