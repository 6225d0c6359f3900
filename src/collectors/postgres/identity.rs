//! The cluster's identity: `system_identifier` from `pg_control_system()`, chosen by
//! `initdb` and kept for the life of the data directory. A different identifier after a
//! restart means the data directory was initialised afresh: the old cluster is gone.
//!
//! Read once per connection (a restart ends every connection). `pg_control_system()` is
//! executable by every role by default on PostgreSQL 13–18, but an administrator may
//! revoke it; the call is then not sent at all (EXECUTE is checked when the statement
//! starts), and the identity is unknown, never guessed.

/// Whether the role may execute `pg_control_system()`.
pub const PRIVILEGE_QUERY: &str =
    "SELECT has_function_privilege('pg_catalog.pg_control_system()', 'EXECUTE')";

/// The cluster's system identifier, as text (it is a 64-bit unsigned number).
pub const IDENTIFIER_QUERY: &str =
    "SELECT system_identifier::text FROM pg_catalog.pg_control_system()";

/// The system identifier, or `None` when the role may not read it.
pub async fn system_identifier(
    client: &tokio_postgres::Client,
) -> Result<Option<String>, tokio_postgres::Error> {
    let allowed: bool = client.query_one(PRIVILEGE_QUERY, &[]).await?.try_get(0)?;
    if !allowed {
        return Ok(None);
    }
    let row = client.query_one(IDENTIFIER_QUERY, &[]).await?;
    row.try_get::<_, Option<String>>(0)
}
