//! History in PostgreSQL, shared by every node of a cluster. PostgreSQL is
//! the record and the ordering authority: a batch is appended by one call of
//! the `chat_append` function in one transaction, which takes each room's
//! next ids under the room's counter lock and announces every new message
//! with `NOTIFY`, so notifications arrive in commit order, which is id order.

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, Row};

use super::directory::{Created, Directory, Membership};
use super::feed::{self, Notice};
use super::{Appended, Draft, Store, StoreError, Stored};

/// The schema, one script per version; a database at version `n` gets
/// every script after the `n`th, in one transaction each.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/0001_schema.sql"),
    include_str!("../../migrations/postgres/0002_answers_in_batch.sql"),
    include_str!("../../migrations/postgres/0003_engine_sessions.sql"),
];

/// The channel on which `chat_append` announces new messages, as
/// `<id> <node> <room>`.
pub const CHANNEL: &str = "chat_messages";

/// The channel on which nodes pass each other events that are not stored.
pub const RELAY_CHANNEL: &str = "chat_relay";

/// Connections a node keeps open: its appends run one batch at a time, the
/// rest are reads.
const POOL_SIZE: usize = 8;

/// How long connecting to PostgreSQL may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How long a connection may sit idle before TCP checks the other end is there.
const KEEPALIVE_IDLE: std::time::Duration = std::time::Duration::from_secs(30);

/// How long a task waits for a free connection of the pool before its
/// work fails (and is refused as `unavailable`, to be sent again).
const POOL_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// First wait before trying an unreachable database again at start.
const FIRST_RETRY: std::time::Duration = std::time::Duration::from_millis(100);

/// Longest wait between those attempts.
const LAST_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

/// A node that has not said it is alive for this long is taken for stopped:
/// the answers it owed are taken over. Nodes say so every
/// [`take_over_answers`](Store::take_over_answers), which the hub calls
/// every 2 s.
const NODE_SILENT_AFTER: std::time::Duration = std::time::Duration::from_secs(8);

/// Messages older than this are no longer answered after a failure.
const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_secs(10 * 60);

/// The advisory lock nodes take to migrate one at a time ("chat" in ASCII).
const MIGRATION_LOCK: i64 = 0x6368_6174;

/// The advisory lock under which rooms are counted and created.
const ROOMS_LOCK: i64 = 0x6368_6175;

/// Messages in a PostgreSQL database, through a pool of connections.
#[derive(Debug)]
pub struct PostgresStore {
    pool: Pool,
    config: tokio_postgres::Config,
    /// This node's id, in the notifications of what it stores.
    node: String,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/database`) as node
    /// `node` (its id, without spaces) and brings the schema up to date;
    /// nodes starting together migrate one at a time.
    pub async fn connect(url: &str, node: &str) -> Result<Self, StoreError> {
        if node.is_empty() || node.contains(char::is_whitespace) {
            return Err(StoreError::Failed(
                format!("a node id has no spaces: {node:?}").into(),
            ));
        }
        let mut config: tokio_postgres::Config = url.parse().map_err(failed)?;
        // A database that went away is noticed, not waited for without end.
        config
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(KEEPALIVE_IDLE);
        // Named for whoever reads pg_stat_activity.
        let mut pooled = config.clone();
        pooled.application_name(format!("chat-server {node}"));
        let manager = Manager::from_config(
            pooled,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(failed)?;
        let store = Self {
            pool,
            config,
            node: node.to_owned(),
        };
        // A database that is (re)starting is waited for; one that refuses
        // this node (a wrong password, no such database) is not.
        let mut wait = FIRST_RETRY;
        loop {
            match store.migrate().await {
                Ok(()) => return Ok(store),
                Err(error) if is_transient(&error) => {
                    tracing::warn!(%error, retry_in_ms = wait.as_millis(), "PostgreSQL is not reachable yet; waiting for it");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(LAST_RETRY);
                }
                Err(error) => return Err(error),
            }
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(failed)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(classify)?;
        transaction
            .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(classify)?;
        transaction
            .batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version INT NOT NULL)")
            .await
            .map_err(classify)?;
        let version: Option<i32> = transaction
            .query_opt("SELECT version FROM schema_version", &[])
            .await
            .map_err(classify)?
            .map(|row| row.get(0));
        let version = usize::try_from(version.unwrap_or(0)).unwrap_or(0);
        for script in MIGRATIONS.iter().skip(version) {
            transaction.batch_execute(script).await.map_err(classify)?;
        }
        let latest = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
        transaction
            .execute("DELETE FROM schema_version", &[])
            .await
            .map_err(classify)?;
        transaction
            .execute("INSERT INTO schema_version VALUES ($1)", &[&latest])
            .await
            .map_err(classify)?;
        transaction.commit().await.map_err(classify)
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn append(&self, drafts: Vec<Draft>) -> Result<Vec<Appended>, StoreError> {
        let column =
            |field: fn(&Draft) -> Option<String>| drafts.iter().map(field).collect::<Vec<_>>();
        let rooms = column(|d| Some(d.room.clone()));
        let authors = column(|d| Some(d.author.clone()));
        let bodies = column(|d| Some(d.body.clone()));
        let extras = column(|d| d.extra.clone());
        let client_ids = column(|d| d.client_id.clone());
        let sent_ats: Vec<i64> = drafts.iter().map(|d| to_sql(d.sent_at)).collect();
        // Places from 1, as SQL arrays count.
        let answers_to: Vec<Option<i32>> = drafts
            .iter()
            .map(|d| d.in_answer_to.and_then(|i| i32::try_from(i + 1).ok()))
            .collect();
        let client = self.client().await?;
        // One statement is one transaction: the batch commits whole, in one
        // round trip, with a statement the connection has prepared before.
        let append = client
            .prepare_cached(
                "SELECT n, given_id, duplicate, was_author, was_body, was_extra, was_sent_at
                 FROM chat_append($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .await
            .map_err(classify)?;
        let rows = client
            .query(
                &append,
                &[
                    &self.node,
                    &rooms,
                    &authors,
                    &bodies,
                    &extras,
                    &client_ids,
                    &sent_ats,
                    &answers_to,
                ],
            )
            .await
            .map_err(classify)?;
        if rows.len() != drafts.len() {
            return Err(StoreError::Failed(
                format!("stored {} of {} drafts", rows.len(), drafts.len()).into(),
            ));
        }
        let appended = drafts
            .into_iter()
            .zip(rows)
            .map(|(draft, row)| {
                let Some(id) = row.get::<_, Option<i64>>(1).map(from_sql) else {
                    return Appended::Skipped;
                };
                if row.get::<_, bool>(2) {
                    Appended::Duplicate(Stored {
                        id,
                        draft: Draft {
                            author: row.get(3),
                            body: row.get(4),
                            extra: row.get(5),
                            sent_at: from_sql(row.get(6)),
                            in_answer_to: None,
                            ..draft
                        },
                    })
                } else if draft.in_answer_to.is_some() {
                    // Its extra, with the id of the message it answers.
                    let extra = row.get(5);
                    Appended::New(Stored {
                        id,
                        draft: Draft {
                            extra,
                            in_answer_to: None,
                            ..draft
                        },
                    })
                } else {
                    Appended::New(Stored { id, draft })
                }
            })
            .collect();
        Ok(appended)
    }

    async fn after(&self, room: &str, after: u64, limit: usize) -> Result<Vec<Stored>, StoreError> {
        let client = self.client().await?;
        let after_id = client
            .prepare_cached(
                "SELECT id, author, body, extra, client_id, sent_at, room FROM messages
                 WHERE room = $1 AND id > $2 ORDER BY id LIMIT $3",
            )
            .await
            .map_err(classify)?;
        let rows = client
            .query(&after_id, &[&room, &to_sql(after), &to_sql(limit as u64)])
            .await
            .map_err(classify)?;
        Ok(rows.iter().map(read).collect())
    }

    async fn before(
        &self,
        room: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        let client = self.client().await?;
        let before = before.map_or(i64::MAX, to_sql);
        let rows = client
            .query(
                "SELECT id, author, body, extra, client_id, sent_at, room FROM messages
                 WHERE room = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
                &[&room, &before, &to_sql(limit as u64)],
            )
            .await
            .map_err(classify)?;
        Ok(rows.iter().rev().map(read).collect())
    }

    async fn latest_id(&self, room: &str) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT last_id FROM room_counters WHERE room = $1",
                &[&room],
            )
            .await
            .map_err(classify)?;
        Ok(row.map_or(0, |row| from_sql(row.get(0))))
    }

    async fn latest_ids(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT room, last_id FROM room_counters
                 WHERE starts_with(room, $1) AND last_id > 0 ORDER BY room",
                &[&prefix],
            )
            .await
            .map_err(classify)?;
        Ok(rows
            .iter()
            .map(|row| (row.get(0), from_sql(row.get(1))))
            .collect())
    }

    async fn unanswered(&self, prefix: &str, author: &str) -> Result<Vec<Stored>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT m.id, m.author, m.body, m.extra, m.client_id, m.sent_at, m.room
                 FROM room_counters AS c
                 JOIN messages AS m ON m.room = c.room AND m.id = c.last_id
                 WHERE starts_with(c.room, $1) AND m.author <> $2
                 ORDER BY m.room",
                &[&prefix, &author],
            )
            .await
            .map_err(classify)?;
        Ok(rows.iter().map(read).collect())
    }

    fn feed(&self) -> Option<tokio::sync::mpsc::Receiver<Notice>> {
        let mut config = self.config.clone();
        config.application_name(format!("chat-server {} feed", self.node));
        Some(feed::listen(config, CHANNEL, RELAY_CHANNEL))
    }

    fn is_shared(&self) -> bool {
        true
    }

    async fn take_over_answers(
        &self,
        at_start: bool,
        lease: std::time::Duration,
    ) -> Result<Option<Vec<Stored>>, StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO nodes (node, seen_at) VALUES ($1, now())
                 ON CONFLICT (node) DO UPDATE SET seen_at = now()",
                &[&self.node],
            )
            .await
            .map_err(classify)?;
        // An answer to something said long ago would be noise.
        client
            .execute(
                "DELETE FROM pending_answers WHERE stored_at < now() - make_interval(secs => $1)",
                &[&ANSWER_WITHIN.as_secs_f64()],
            )
            .await
            .map_err(classify)?;
        let rows = client
            .query(
                "WITH taken AS (
                    UPDATE pending_answers AS p SET node = $1, claimed_at = now()
                    FROM (SELECT q.room, q.id FROM pending_answers AS q
                          WHERE ($2 AND q.node = $1)
                             OR q.claimed_at < now() - make_interval(secs => $3)
                             OR NOT EXISTS (
                                 SELECT 1 FROM nodes AS n
                                 WHERE n.node = q.node
                                   AND n.seen_at > now() - make_interval(secs => $4))
                          ORDER BY q.room, q.id
                          LIMIT 1000
                          FOR UPDATE SKIP LOCKED) AS claimable
                    WHERE p.room = claimable.room AND p.id = claimable.id
                    RETURNING p.room, p.id)
                 SELECT m.id, m.author, m.body, m.extra, m.client_id, m.sent_at, m.room
                 FROM taken JOIN messages AS m ON m.room = taken.room AND m.id = taken.id
                 ORDER BY m.room, m.id",
                &[
                    &self.node,
                    &at_start,
                    &lease.as_secs_f64(),
                    &NODE_SILENT_AFTER.as_secs_f64(),
                ],
            )
            .await
            .map_err(classify)?;
        Ok(Some(rows.iter().map(read).collect()))
    }

    async fn settle(&self, room: &str, id: u64) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM pending_answers WHERE room = $1 AND id = $2",
                &[&room, &to_sql(id)],
            )
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn relay(&self, message: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute("SELECT pg_notify($1, $2)", &[&RELAY_CHANNEL, &message])
            .await
            .map_err(classify)?;
        Ok(())
    }
}

#[async_trait]
impl Directory for PostgresStore {
    async fn create_room(
        &self,
        name: &str,
        max_rooms: usize,
        at: u64,
    ) -> Result<Created, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(classify)?;
        // Counted and created one at a time across nodes, so the limit holds.
        transaction
            .execute("SELECT pg_advisory_xact_lock($1)", &[&ROOMS_LOCK])
            .await
            .map_err(classify)?;
        let exists = transaction
            .query_opt("SELECT 1 FROM rooms WHERE name = $1", &[&name])
            .await
            .map_err(classify)?
            .is_some();
        if exists {
            return Ok(Created::Existing);
        }
        let count: i64 = transaction
            .query_one("SELECT COUNT(*) FROM rooms", &[])
            .await
            .map_err(classify)?
            .get(0);
        if from_sql(count) >= max_rooms as u64 {
            return Ok(Created::Full);
        }
        transaction
            .execute(
                "INSERT INTO rooms (name, created_at) VALUES ($1, $2)",
                &[&name, &to_sql(at)],
            )
            .await
            .map_err(classify)?;
        transaction.commit().await.map_err(classify)?;
        Ok(Created::New)
    }

    async fn room_exists(&self, name: &str) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT 1 FROM rooms WHERE name = $1", &[&name])
            .await
            .map_err(classify)?;
        Ok(row.is_some())
    }

    async fn join_room(
        &self,
        user: &str,
        room: &str,
        max_rooms: usize,
    ) -> Result<Membership, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(classify)?;
        // One user's joins, one at a time, so the limit holds across nodes.
        transaction
            .execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&user])
            .await
            .map_err(classify)?;
        let member = transaction
            .query_opt(
                "SELECT last_read FROM memberships WHERE user_id = $1 AND room = $2",
                &[&user, &room],
            )
            .await
            .map_err(classify)?;
        if let Some(row) = member {
            return Ok(Membership::Member {
                last_read: from_sql(row.get(0)),
            });
        }
        let count: i64 = transaction
            .query_one(
                "SELECT COUNT(*) FROM memberships WHERE user_id = $1",
                &[&user],
            )
            .await
            .map_err(classify)?
            .get(0);
        if from_sql(count) >= max_rooms as u64 {
            return Ok(Membership::Full);
        }
        transaction
            .execute(
                "INSERT INTO memberships (user_id, room) VALUES ($1, $2)",
                &[&user, &room],
            )
            .await
            .map_err(classify)?;
        transaction.commit().await.map_err(classify)?;
        Ok(Membership::Member { last_read: 0 })
    }

    async fn leave_room(&self, user: &str, room: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM memberships WHERE user_id = $1 AND room = $2",
                &[&user, &room],
            )
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn memberships(&self, user: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT room, last_read FROM memberships WHERE user_id = $1 ORDER BY room",
                &[&user],
            )
            .await
            .map_err(classify)?;
        Ok(rows
            .iter()
            .map(|row| (row.get(0), from_sql(row.get(1))))
            .collect())
    }

    async fn mark_read(&self, user: &str, room: &str, id: u64) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let changed = client
            .execute(
                "UPDATE memberships SET last_read = GREATEST(last_read, $3)
                 WHERE user_id = $1 AND room = $2",
                &[&user, &room, &to_sql(id)],
            )
            .await
            .map_err(classify)?;
        Ok(changed > 0)
    }

    async fn name(&self, user: &str) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT name FROM profiles WHERE user_id = $1", &[&user])
            .await
            .map_err(classify)?;
        Ok(row.map(|row| row.get(0)))
    }

    async fn set_name(&self, user: &str, name: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO profiles (user_id, name) VALUES ($1, $2)
                 ON CONFLICT (user_id) DO UPDATE SET name = EXCLUDED.name",
                &[&user, &name],
            )
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn engine_session(&self, conversation: &str) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT state FROM engine_sessions WHERE conversation = $1",
                &[&conversation],
            )
            .await
            .map_err(classify)?;
        Ok(row.map(|row| row.get(0)))
    }

    async fn set_engine_session(
        &self,
        conversation: &str,
        state: Option<&str>,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        match state {
            Some(state) => {
                client
                    .execute(
                        "INSERT INTO engine_sessions (conversation, state) VALUES ($1, $2)
                         ON CONFLICT (conversation) DO UPDATE SET state = EXCLUDED.state",
                        &[&conversation, &state],
                    )
                    .await
            }
            None => {
                client
                    .execute(
                        "DELETE FROM engine_sessions WHERE conversation = $1",
                        &[&conversation],
                    )
                    .await
            }
        }
        .map_err(classify)?;
        Ok(())
    }
}

/// A message row: id, author, body, extra, client_id, sent_at, room.
fn read(row: &Row) -> Stored {
    Stored {
        id: from_sql(row.get(0)),
        draft: Draft {
            room: row.get(6),
            author: row.get(1),
            body: row.get(2),
            extra: row.get(3),
            client_id: row.get(4),
            sent_at: from_sql(row.get(5)),
            in_answer_to: None,
        },
    }
}

/// PostgreSQL has no unsigned integers; ids, times and limits fit in `i64`.
fn to_sql(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn from_sql(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn failed(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Failed(error.into())
}

/// Whether `error` says the database is not there yet (not listening,
/// starting up, shutting down, a connection cut) rather than that it
/// refuses this node.
fn is_transient(error: &StoreError) -> bool {
    let StoreError::Failed(cause) = error else {
        return false;
    };
    let postgres = match cause.downcast_ref::<deadpool_postgres::PoolError>() {
        Some(deadpool_postgres::PoolError::Backend(error)) => Some(error),
        Some(deadpool_postgres::PoolError::Timeout(_)) => return true,
        Some(_) => None,
        None => cause.downcast_ref::<tokio_postgres::Error>(),
    };
    postgres.is_some_and(|error| match error.code() {
        Some(code) => [
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::TOO_MANY_CONNECTIONS,
        ]
        .contains(code),
        // No answer from the server at all: it is not listening, or went.
        None => true,
    })
}

/// Sorts PostgreSQL's errors into what an operator can act on.
fn classify(error: tokio_postgres::Error) -> StoreError {
    match error.code() {
        Some(code) if *code == SqlState::DISK_FULL || *code == SqlState::PROGRAM_LIMIT_EXCEEDED => {
            StoreError::Full(error.into())
        }
        Some(code) if *code == SqlState::READ_ONLY_SQL_TRANSACTION => {
            StoreError::ReadOnly(error.into())
        }
        _ => StoreError::Failed(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh database in the throwaway cluster `cargo xtask test` starts
    /// (its URL in `CHAT_TEST_POSTGRES`).
    async fn fresh() -> PostgresStore {
        let base = std::env::var("CHAT_TEST_POSTGRES").expect(
            "CHAT_TEST_POSTGRES is not set: run the tests with `cargo xtask test`, \
             which starts a throwaway PostgreSQL, or point it at one",
        );
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).unwrap();
        let name = format!("chat_test_{}", u64::from_le_bytes(bytes));
        let (client, connection) = tokio_postgres::connect(&base, NoTls).await.unwrap();
        tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let mut config: tokio_postgres::Config = base.parse().unwrap();
        config.dbname(&name);
        let url = format!(
            "postgres://{}@{}:{}/{name}",
            config.get_user().unwrap_or("postgres"),
            "127.0.0.1",
            config.get_ports().first().copied().unwrap_or(5432)
        );
        PostgresStore::connect(&url, "test-node").await.unwrap()
    }

    #[tokio::test]
    async fn keeps_the_store_contract() {
        crate::store::contract::check(&fresh().await).await;
    }

    #[tokio::test]
    async fn finds_the_conversations_left_unanswered() {
        crate::store::check_unanswered(&fresh().await).await;
    }

    #[tokio::test]
    async fn keeps_rooms_memberships_and_names() {
        crate::store::directory::check_directory(&fresh().await).await;
    }

    #[tokio::test]
    async fn nodes_appending_at_once_keep_ids_dense_and_resends_single() {
        // Two nodes (two pools on one database) append to the same rooms at
        // once, each batch in another room order, with resends that race.
        let one = fresh().await;
        let url = format!(
            "postgres://postgres@127.0.0.1:{}/{}",
            one.config.get_ports()[0],
            one.config.get_dbname().unwrap()
        );
        let two = PostgresStore::connect(&url, "other-node").await.unwrap();
        let draft = |room: &str, n: usize, client_id: Option<String>| Draft {
            room: room.to_owned(),
            author: "ann".to_owned(),
            body: n.to_string(),
            extra: None,
            client_id,
            sent_at: 1,
            in_answer_to: None,
        };
        let batches = |node: usize| {
            (0..40)
                .map(move |batch| {
                    let rooms = if (batch + node).is_multiple_of(2) {
                        ["group", "group:dev"]
                    } else {
                        ["group:dev", "group"]
                    };
                    rooms
                        .iter()
                        .enumerate()
                        .map(|(i, room)| {
                            // Every 4th message is sent by both nodes (a resend racing itself).
                            let shared = batch.is_multiple_of(4);
                            let client_id = if shared {
                                format!("{room}-{batch}")
                            } else {
                                format!("{node}-{room}-{batch}-{i}")
                            };
                            draft(room, batch, Some(client_id))
                        })
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        };
        async fn run(store: &PostgresStore, batches: Vec<Vec<Draft>>) -> usize {
            let mut new = 0;
            for batch in batches {
                let appended = store.append(batch).await.unwrap();
                new += appended
                    .iter()
                    .filter(|a| matches!(a, Appended::New(_)))
                    .count();
            }
            new
        }
        let (a, b) = tokio::join!(run(&one, batches(0)), run(&two, batches(1)));
        // 40 batches of 2 per node; the shared quarter stored once.
        assert_eq!(a + b, 2 * 80 - 20);
        for room in ["group", "group:dev"] {
            let all = one.after(room, 0, 1000).await.unwrap();
            let ids: Vec<u64> = all.iter().map(|s| s.id).collect();
            assert_eq!(
                ids,
                (1..=ids.len() as u64).collect::<Vec<_>>(),
                "dense in {room}"
            );
            assert_eq!(ids.len(), 70);
            assert_eq!(one.latest_id(room).await.unwrap(), 70);
        }
    }

    #[tokio::test]
    async fn answers_a_stopped_node_owed_are_taken_over_once() {
        let one = fresh().await;
        let url = format!(
            "postgres://postgres@127.0.0.1:{}/{}",
            one.config.get_ports()[0],
            one.config.get_dbname().unwrap()
        );
        let two = PostgresStore::connect(&url, "other-node").await.unwrap();
        let lease = std::time::Duration::from_secs(60);
        let taken = |due: Option<Vec<Stored>>| -> Vec<(String, u64)> {
            due.unwrap()
                .into_iter()
                .map(|s| (s.draft.room, s.id))
                .collect()
        };
        let line = |room: &str, author: &str, extra: Option<&str>| Draft {
            room: room.to_owned(),
            author: author.to_owned(),
            body: "hi".to_owned(),
            extra: extra.map(str::to_owned),
            client_id: None,
            sent_at: 1,
            in_answer_to: None,
        };
        // Both nodes are up; the first stores two questions and answers one.
        assert!(taken(one.take_over_answers(true, lease).await.unwrap()).is_empty());
        assert!(taken(two.take_over_answers(true, lease).await.unwrap()).is_empty());
        one.append(vec![
            line("group", "ann", None),
            line("user:bob", "bob", None),
        ])
        .await
        .unwrap();
        one.append(vec![line(
            "group",
            shared::BOT_NAME,
            Some("{\"answers\":1}"),
        )])
        .await
        .unwrap();
        assert!(
            taken(two.take_over_answers(false, lease).await.unwrap()).is_empty(),
            "a live node's questions are its own"
        );
        // The first node stops saying it is alive.
        one.client()
            .await
            .unwrap()
            .execute(
                "UPDATE nodes SET seen_at = now() - interval '1 minute' WHERE node = $1",
                &[&one.node],
            )
            .await
            .unwrap();
        assert_eq!(
            taken(two.take_over_answers(false, lease).await.unwrap()),
            [("user:bob".to_owned(), 1)],
            "the unanswered one only"
        );
        assert!(
            taken(two.take_over_answers(false, lease).await.unwrap()).is_empty(),
            "taken once"
        );
        // Back, the first node finds it taken; once settled, nobody has it.
        assert!(taken(one.take_over_answers(true, lease).await.unwrap()).is_empty());
        two.settle("user:bob", 1).await.unwrap();
        let expired = std::time::Duration::ZERO;
        assert!(taken(one.take_over_answers(false, expired).await.unwrap()).is_empty());
        // A node restarted takes back its own at start; a claim past its lease is anyone's.
        two.append(vec![line("group:dev", "cy", None)])
            .await
            .unwrap();
        assert_eq!(
            taken(two.take_over_answers(true, lease).await.unwrap()),
            [("group:dev".to_owned(), 1)]
        );
        assert_eq!(
            taken(one.take_over_answers(false, expired).await.unwrap()),
            [("group:dev".to_owned(), 1)]
        );
    }

    #[tokio::test]
    async fn a_second_node_finds_the_schema_in_place() {
        let store = fresh().await;
        store.migrate().await.unwrap();
        store.migrate().await.unwrap();
        crate::store::contract::check(&store).await;
    }
}
