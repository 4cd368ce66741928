//! A fresh database in the throwaway PostgreSQL that `cargo xtask test`
//! starts (its URL in `CHAT_TEST_POSTGRES`).

use tokio_postgres::NoTls;

/// The URL of a new, empty database.
pub async fn fresh_database() -> String {
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
    let (server, _) = base.rsplit_once('/').expect("a URL with a database");
    format!("{server}/{name}")
}
