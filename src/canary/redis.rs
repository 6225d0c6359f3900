//! The Redis canary: `SET <key> <unix-millis>` on its own connection; the instance is the
//! server's `run_id`, the read-back a `GET` (a `LOADING` reply is an error: read again).

use super::{Backend, CanaryHandle, first_line};
use crate::collectors::capped::ReplyBudget;
use crate::collectors::redis::Connector;
use crate::config::RedisTarget;
use crate::config::restarts::Canary;
use ::redis::aio::MultiplexedConnection;
use std::time::Duration;

struct RedisCanary {
    target: RedisTarget,
    connector: Result<Connector, String>,
    key: String,
    budget: ReplyBudget,
    conn: Option<MultiplexedConnection>,
}

/// Starts the canary of a Redis target (replies capped at `max_reply_bytes` per call).
pub fn spawn(target: &RedisTarget, canary: &Canary, max_reply_bytes: u64) -> Option<CanaryHandle> {
    let backend = RedisCanary {
        connector: Connector::new(target),
        target: target.clone(),
        key: canary.location.clone(),
        budget: ReplyBudget::new(max_reply_bytes),
        conn: None,
    };
    super::spawn(target.name.clone(), canary, backend)
}

impl RedisCanary {
    fn timeout(&self) -> Duration {
        self.target.timeout
    }

    async fn call<T: ::redis::FromRedisValue>(&mut self, cmd: ::redis::Cmd) -> Result<T, String> {
        let timeout = self.timeout();
        let conn = self.conn.as_mut().ok_or("not connected")?;
        self.budget.reset();
        match tokio::time::timeout(timeout, cmd.query_async::<T>(conn)).await {
            Err(_) => Err(format!("no reply within {timeout:?}")),
            Ok(Err(_)) if self.budget.exceeded() => Err(self.budget.cause()),
            Ok(Err(e)) => Err(first_line(&e.to_string())),
            Ok(Ok(v)) => Ok(v),
        }
    }
}

impl Backend for RedisCanary {
    async fn connect(&mut self) -> Result<String, String> {
        let connector = self.connector.as_ref().map_err(Clone::clone)?;
        let timeout = self.timeout();
        self.budget.reset();
        let open = connector.open(true, self.target.pinned_addr, self.budget.clone(), timeout);
        let conn = match tokio::time::timeout(timeout, open).await {
            Err(_) => return Err(format!("no connection within {timeout:?}")),
            Ok(Err(e)) => return Err(first_line(&e.to_string())),
            Ok(Ok(c)) => c,
        };
        self.conn = Some(conn);
        let mut info = ::redis::cmd("INFO");
        info.arg("server");
        let text: String = self.call(info).await?;
        text.lines()
            .find_map(|l| l.trim_end().strip_prefix("run_id:"))
            .map(str::to_string)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| "INFO server has no run_id".to_string())
    }

    async fn read(&mut self) -> Result<Option<i64>, String> {
        let mut get = ::redis::cmd("GET");
        get.arg(&self.key);
        let v: Option<String> = self.call(get).await?;
        match v {
            None => Ok(None),
            Some(s) => s.trim().parse().map(Some).map_err(|_| {
                format!(
                    "the canary key holds {:?}, not milliseconds",
                    first_line(&s)
                )
            }),
        }
    }

    async fn write(&mut self, ms: i64) -> Result<(), String> {
        let mut set = ::redis::cmd("SET");
        set.arg(&self.key).arg(ms);
        self.call::<()>(set).await
    }

    fn reset(&mut self) {
        self.conn = None;
    }
}
