use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, ErrorCode, OptionalExtension as _, Transaction, params};

use super::blocking::{BlockingDirectory, BlockingStore};
use super::directory::{Created, Membership};
use super::{Appended, Draft, StoreError, Stored};

/// The schema, one script per version; a database at version `n` gets
/// every script after the `n`th, in one transaction each.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/sqlite/0001_messages.sql"),
    include_str!("../../migrations/sqlite/0002_rooms.sql"),
    include_str!("../../migrations/sqlite/0003_engine_sessions.sql"),
];

/// History in one SQLite file, written ahead (WAL) and synced on every
/// commit, so an acknowledged message survives the process being killed
/// and the machine losing power. One connection, used by one caller at a
/// time; the hub batches writes, so one sync covers many messages.
#[derive(Debug)]
pub struct SqliteStore {
    connection: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (or creates) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_limited(path, None)
    }

    /// Like [`SqliteStore::open`], refusing to grow the file beyond
    /// `max_bytes`: writes past it fail as [`StoreError::Full`], like a full disk.
    pub fn open_limited(path: &Path, max_bytes: Option<u64>) -> Result<Self, StoreError> {
        let mut connection = Connection::open(path).map_err(classify)?;
        connection
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;")
            .map_err(classify)?;
        if connection.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
            tracing::warn!(
                path = %path.display(),
                "the message history is read-only: it is shown, but new messages are refused"
            );
        } else {
            migrate(&mut connection)?;
        }
        if let Some(max_bytes) = max_bytes {
            let page_size: u64 = connection
                .query_row("PRAGMA page_size", [], |row| row.get(0))
                .map_err(classify)?;
            let pages = (max_bytes / page_size.max(1)).max(1);
            // Answers with the limit in force, which is never below the current size.
            let _: u64 = connection
                .query_row(&format!("PRAGMA max_page_count = {pages}"), [], |row| {
                    row.get(0)
                })
                .map_err(classify)?;
        }
        Ok(Self {
            connection: Mutex::new(connection),
        })
    }

    fn connection(&self) -> MutexGuard<'_, Connection> {
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    let version: usize = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(classify)?;
    for (index, script) in MIGRATIONS.iter().enumerate().skip(version) {
        let transaction = connection.transaction().map_err(classify)?;
        transaction.execute_batch(script).map_err(classify)?;
        transaction
            .execute_batch(&format!("PRAGMA user_version = {}", index + 1))
            .map_err(classify)?;
        transaction.commit().map_err(classify)?;
    }
    Ok(())
}

impl BlockingStore for SqliteStore {
    fn append(&self, drafts: Vec<Draft>) -> Result<Vec<Appended>, StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(classify)?;
        let mut appended = Vec::with_capacity(drafts.len());
        for draft in drafts {
            let outcome = match super::in_batch(draft, &appended) {
                Some(draft) => append_one(&transaction, draft)?,
                None => Appended::Skipped,
            };
            appended.push(outcome);
        }
        transaction.commit().map_err(classify)?;
        Ok(appended)
    }

    fn after(&self, room: &str, after: u64, limit: usize) -> Result<Vec<Stored>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(
                "SELECT id, author, body, extra, client_id, sent_at FROM messages
                 WHERE room = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
            )
            .map_err(classify)?;
        let rows = statement
            .query_map(params![room, after, limit], |row| read(room, row))
            .map_err(classify)?;
        rows.collect::<Result<_, _>>().map_err(classify)
    }

    fn before(
        &self,
        room: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(
                "SELECT id, author, body, extra, client_id, sent_at FROM messages
                 WHERE room = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
            )
            .map_err(classify)?;
        let before = before.map_or(i64::MAX, |id| i64::try_from(id).unwrap_or(i64::MAX));
        let rows = statement
            .query_map(params![room, before, limit], |row| read(room, row))
            .map_err(classify)?;
        let mut messages: Vec<Stored> = rows.collect::<Result<_, _>>().map_err(classify)?;
        messages.reverse();
        Ok(messages)
    }

    fn latest_id(&self, room: &str) -> Result<u64, StoreError> {
        let connection = self.connection();
        latest(&connection, room)
    }

    fn latest_ids(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached(
                "SELECT room, MAX(id) FROM messages
                 WHERE substr(room, 1, length(?1)) = ?1 GROUP BY room",
            )
            .map_err(classify)?;
        let rows = statement
            .query_map([prefix], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(classify)?;
        rows.collect::<Result<_, _>>().map_err(classify)
    }

    fn unanswered(&self, prefix: &str, author: &str) -> Result<Vec<Stored>, StoreError> {
        let connection = self.connection();
        // `substr` rather than LIKE, whose `_` and `%` a prefix could contain.
        let mut statement = connection
            .prepare_cached(
                "SELECT m.id, m.author, m.body, m.extra, m.client_id, m.sent_at, m.room
                 FROM messages AS m
                 JOIN (SELECT room, MAX(id) AS id FROM messages
                       WHERE substr(room, 1, length(?1)) = ?1 GROUP BY room) AS latest
                   ON m.room = latest.room AND m.id = latest.id
                 WHERE m.author != ?2
                 ORDER BY m.room",
            )
            .map_err(classify)?;
        let rows = statement
            .query_map(params![prefix, author], |row| {
                read(&row.get::<_, String>(6)?, row)
            })
            .map_err(classify)?;
        rows.collect::<Result<_, _>>().map_err(classify)
    }
}

impl BlockingDirectory for SqliteStore {
    fn create_room(&self, name: &str, max_rooms: usize, at: u64) -> Result<Created, StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(classify)?;
        if exists(&transaction, name)? {
            return Ok(Created::Existing);
        }
        let count: usize = transaction
            .query_row("SELECT COUNT(*) FROM rooms", [], |row| row.get(0))
            .map_err(classify)?;
        if count >= max_rooms {
            return Ok(Created::Full);
        }
        transaction
            .execute(
                "INSERT INTO rooms (name, created_at) VALUES (?1, ?2)",
                params![name, at],
            )
            .map_err(classify)?;
        transaction.commit().map_err(classify)?;
        Ok(Created::New)
    }

    fn room_exists(&self, name: &str) -> Result<bool, StoreError> {
        exists(&self.connection(), name)
    }

    fn join_room(
        &self,
        user: &str,
        room: &str,
        max_rooms: usize,
    ) -> Result<Membership, StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(classify)?;
        let last_read: Option<u64> = transaction
            .query_row(
                "SELECT last_read FROM memberships WHERE user = ?1 AND room = ?2",
                params![user, room],
                |row| row.get(0),
            )
            .optional()
            .map_err(classify)?;
        if let Some(last_read) = last_read {
            return Ok(Membership::Member { last_read });
        }
        let count: usize = transaction
            .query_row(
                "SELECT COUNT(*) FROM memberships WHERE user = ?1",
                [user],
                |row| row.get(0),
            )
            .map_err(classify)?;
        if count >= max_rooms {
            return Ok(Membership::Full);
        }
        transaction
            .execute(
                "INSERT INTO memberships (user, room) VALUES (?1, ?2)",
                params![user, room],
            )
            .map_err(classify)?;
        transaction.commit().map_err(classify)?;
        Ok(Membership::Member { last_read: 0 })
    }

    fn leave_room(&self, user: &str, room: &str) -> Result<(), StoreError> {
        self.connection()
            .execute(
                "DELETE FROM memberships WHERE user = ?1 AND room = ?2",
                params![user, room],
            )
            .map_err(classify)?;
        Ok(())
    }

    fn memberships(&self, user: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let connection = self.connection();
        let mut statement = connection
            .prepare_cached("SELECT room, last_read FROM memberships WHERE user = ?1 ORDER BY room")
            .map_err(classify)?;
        let rows = statement
            .query_map([user], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(classify)?;
        rows.collect::<Result<_, _>>().map_err(classify)
    }

    fn mark_read(&self, user: &str, room: &str, id: u64) -> Result<bool, StoreError> {
        let connection = self.connection();
        let changed = connection
            .prepare_cached(
                "UPDATE memberships SET last_read = MAX(last_read, ?3) WHERE user = ?1 AND room = ?2",
            )
            .and_then(|mut statement| statement.execute(params![user, room, id]))
            .map_err(classify)?;
        Ok(changed > 0)
    }

    fn name(&self, user: &str) -> Result<Option<String>, StoreError> {
        self.connection()
            .query_row("SELECT name FROM profiles WHERE user = ?1", [user], |row| {
                row.get(0)
            })
            .optional()
            .map_err(classify)
    }

    fn set_name(&self, user: &str, name: &str) -> Result<(), StoreError> {
        self.connection()
            .execute(
                "INSERT INTO profiles (user, name) VALUES (?1, ?2)
                 ON CONFLICT (user) DO UPDATE SET name = excluded.name",
                params![user, name],
            )
            .map_err(classify)?;
        Ok(())
    }

    fn engine_session(&self, conversation: &str) -> Result<Option<String>, StoreError> {
        self.connection()
            .query_row(
                "SELECT state FROM engine_sessions WHERE conversation = ?1",
                [conversation],
                |row| row.get(0),
            )
            .optional()
            .map_err(classify)
    }

    fn set_engine_session(
        &self,
        conversation: &str,
        state: Option<&str>,
    ) -> Result<(), StoreError> {
        let connection = self.connection();
        match state {
            Some(state) => connection.execute(
                "INSERT INTO engine_sessions (conversation, state) VALUES (?1, ?2)
                 ON CONFLICT (conversation) DO UPDATE SET state = excluded.state",
                params![conversation, state],
            ),
            None => connection.execute(
                "DELETE FROM engine_sessions WHERE conversation = ?1",
                [conversation],
            ),
        }
        .map_err(classify)?;
        Ok(())
    }
}

fn exists(connection: &Connection, name: &str) -> Result<bool, StoreError> {
    connection
        .query_row("SELECT 1 FROM rooms WHERE name = ?1", [name], |_| Ok(()))
        .optional()
        .map(|found| found.is_some())
        .map_err(classify)
}

fn latest(connection: &Connection, room: &str) -> Result<u64, StoreError> {
    connection
        .prepare_cached("SELECT COALESCE(MAX(id), 0) FROM messages WHERE room = ?1")
        .and_then(|mut statement| statement.query_row([room], |row| row.get(0)))
        .map_err(classify)
}

fn append_one(transaction: &Transaction<'_>, draft: Draft) -> Result<Appended, StoreError> {
    if let Some(client_id) = &draft.client_id {
        let earlier = transaction
            .prepare_cached(
                "SELECT id, author, body, extra, client_id, sent_at FROM messages
                 WHERE room = ?1 AND client_id = ?2",
            )
            .and_then(|mut statement| {
                statement
                    .query_row(params![draft.room, client_id], |row| read(&draft.room, row))
                    .optional()
            })
            .map_err(classify)?;
        if let Some(earlier) = earlier {
            return Ok(Appended::Duplicate(earlier));
        }
    }
    let id = latest(transaction, &draft.room)? + 1;
    transaction
        .prepare_cached(
            "INSERT INTO messages (room, id, author, body, extra, client_id, sent_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut statement| {
            statement.execute(params![
                draft.room,
                id,
                draft.author,
                draft.body,
                draft.extra,
                draft.client_id,
                draft.sent_at
            ])
        })
        .map_err(classify)?;
    Ok(Appended::New(Stored { id, draft }))
}

fn read(room: &str, row: &rusqlite::Row<'_>) -> rusqlite::Result<Stored> {
    Ok(Stored {
        id: row.get(0)?,
        draft: Draft {
            room: room.to_owned(),
            author: row.get(1)?,
            body: row.get(2)?,
            extra: row.get(3)?,
            client_id: row.get(4)?,
            sent_at: row.get(5)?,
            in_answer_to: None,
        },
    })
}

/// Sorts SQLite's errors into what an operator can act on.
fn classify(error: rusqlite::Error) -> StoreError {
    match error.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => StoreError::Full(error.into()),
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
            StoreError::ReadOnly(error.into())
        }
        _ => StoreError::Failed(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::OffThread;

    fn draft(room: &str, body: &str, client_id: Option<&str>) -> Draft {
        Draft {
            room: room.to_owned(),
            author: "ann".to_owned(),
            body: body.to_owned(),
            extra: None,
            client_id: client_id.map(str::to_owned),
            sent_at: 1,
            in_answer_to: None,
        }
    }

    fn temp_db() -> (tempdir::Dir, SqliteStore) {
        let dir = tempdir::Dir::new();
        let store = SqliteStore::open(&dir.path().join("chat.db")).unwrap();
        (dir, store)
    }

    /// A folder removed when dropped; enough for these tests.
    mod tempdir {
        use std::path::{Path, PathBuf};

        pub struct Dir(PathBuf);

        impl Dir {
            pub fn new() -> Self {
                let mut bytes = [0u8; 8];
                getrandom::fill(&mut bytes).unwrap();
                let name = format!("chat-store-{}", u64::from_le_bytes(bytes));
                let path = std::env::temp_dir().join(name);
                std::fs::create_dir_all(&path).unwrap();
                Self(path)
            }

            pub fn path(&self) -> &Path {
                &self.0
            }
        }

        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn ids_grow_per_room_and_survive_reopening() {
        let (dir, store) = temp_db();
        let appended = store
            .append(vec![
                draft("group", "a", None),
                draft("user:1", "x", None),
                draft("group", "b", None),
            ])
            .unwrap();
        let ids: Vec<_> = appended.iter().map(|a| a.stored().unwrap().id).collect();
        assert_eq!(ids, [1, 1, 2]);
        drop(store);
        let store = SqliteStore::open(&dir.path().join("chat.db")).unwrap();
        let next = store.append(vec![draft("group", "c", None)]).unwrap();
        assert_eq!(next[0].stored().unwrap().id, 3);
        let bodies: Vec<_> = store
            .after("group", 0, 10)
            .unwrap()
            .into_iter()
            .map(|s| s.draft.body)
            .collect();
        assert_eq!(bodies, ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn keeps_the_store_contract() {
        let (_dir, store) = temp_db();
        crate::store::contract::check(&OffThread::new(store)).await;
    }

    #[tokio::test]
    async fn finds_the_conversations_left_unanswered() {
        let (_dir, store) = temp_db();
        crate::store::check_unanswered(&OffThread::new(store)).await;
    }

    #[tokio::test]
    async fn keeps_rooms_memberships_and_names() {
        let (_dir, store) = temp_db();
        crate::store::directory::check_directory(&OffThread::new(store)).await;
    }

    #[test]
    fn a_full_store_refuses_the_whole_batch_and_keeps_what_it_had() {
        let dir = tempdir::Dir::new();
        let path = dir.path().join("chat.db");
        let store = SqliteStore::open_limited(&path, Some(64 * 1024)).unwrap();
        let body = "x".repeat(1000);
        let mut stored = 0;
        let error = loop {
            match store.append(vec![draft("group", &body, None)]) {
                Ok(_) => stored += 1,
                Err(error) => break error,
            }
            assert!(stored < 1000, "the limit never bit");
        };
        assert!(matches!(error, StoreError::Full(_)), "{error}");
        // The database's own error stays reachable, for logs that walk the chain.
        let cause = std::error::Error::source(&error).expect("a source");
        assert!(cause.downcast_ref::<rusqlite::Error>().is_some(), "{cause}");
        assert!(stored > 0);
        assert_eq!(store.latest_id("group").unwrap(), stored);
        // Still readable, and still full.
        assert_eq!(
            store.after("group", 0, 10_000).unwrap().len() as u64,
            stored
        );
        assert!(store.append(vec![draft("group", &body, None)]).is_err());
    }
}
