//! Opening the store: creation, migrations, clear errors for bad locations and bad data.

use squadron_core::SquadId;
use squadron_store::{SqlStore, StoreErrorKind, StoreLocation};
use tempfile::TempDir;

use crate::support::{TestDb, at, milestone_run, missing_dir_location, store_with_squad};

pub async fn migrations_are_idempotent_on_reopen(db: TestDb) {
    let store = db.open().await;
    store.create_run(&milestone_run("r1", at(0))).await.unwrap();
    store.close().await;

    // Reopening runs the migrations again: they must find the schema current and keep data.
    for _ in 0..2 {
        let store = db.open().await;
        assert_eq!(store.runs().await.unwrap().len(), 1);
        store.close().await;
    }
    let applied = db
        .query_text("SELECT CAST(COUNT(*) AS TEXT) FROM _sqlx_migrations")
        .await;
    // Each migration is recorded once, however often the store was opened.
    let shipped = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .expect("the shipped migrations")
        .filter(|entry| {
            entry
                .as_ref()
                .is_ok_and(|entry| entry.path().extension().is_some_and(|e| e == "sql"))
        })
        .count();
    assert_eq!(
        applied,
        shipped.to_string(),
        "one record per shipped migration"
    );
}

pub async fn unknown_stored_values_are_reported_not_panicked_on(db: TestDb) {
    let store = store_with_squad(&db).await;
    // Something other than this Squadron wrote the row, e.g. a newer version.
    db.execute_raw("UPDATE squads SET phase = 'waiting-for-godot' WHERE id = 's1'")
        .await
        .unwrap();

    let error = store.squad(&SquadId::from("s1")).await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Corrupt);
    let message = error.to_string();
    assert!(message.contains("phase `waiting-for-godot`"), "{message}");

    db.execute_raw("UPDATE squads SET phase = 'queued', kind = 'chore' WHERE id = 's1'")
        .await
        .unwrap();
    let message = store
        .squad(&SquadId::from("s1"))
        .await
        .unwrap_err()
        .to_string();
    assert!(message.contains("kind `chore`"), "{message}");
}

pub async fn event_log_refuses_rewrites(db: TestDb) {
    let _store = store_with_squad(&db).await;
    let error = db
        .execute_raw("UPDATE squad_events SET kind = 'forged'")
        .await
        .unwrap_err();
    assert!(error.contains("append-only"), "{error}");
}

#[tokio::test]
async fn sqlite_file_and_its_directories_are_created_on_first_use() {
    let dir = TempDir::new().unwrap();
    let (path, location) = missing_dir_location(&dir);
    assert!(!path.parent().unwrap().exists());

    let store = SqlStore::open(&location).await.unwrap();
    store.create_run(&milestone_run("r1", at(0))).await.unwrap();
    assert!(path.is_file(), "{} was not created", path.display());
    // WAL mode leaves its log file next to the database while connections are open.
    assert!(
        path.with_extension("db-wal").exists(),
        "the database is not in WAL mode"
    );
    store.close().await;
}

#[tokio::test]
async fn default_location_is_a_sqlite_file_in_the_data_directory() {
    let location = StoreLocation::default_sqlite().unwrap();
    let path = location.sqlite_path().expect("the default is SQLite");
    assert!(path.is_absolute(), "{}", path.display());
    assert!(path.ends_with("squadron/squadron.db") || path.ends_with("squadron\\squadron.db"));
}

#[tokio::test]
async fn unreachable_postgres_is_named_without_its_password_and_with_a_hint() {
    // Port 1 on loopback refuses connections at once.
    let location =
        StoreLocation::parse("postgres://squadron:hunter2@127.0.0.1:1/squadron").unwrap();
    let error = SqlStore::open(&location).await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Open);
    let message = error.to_string();
    assert!(
        message.starts_with(
            "open the PostgreSQL store at postgres://squadron:***@127.0.0.1:1/squadron: "
        ),
        "{message}"
    );
    assert!(
        message.contains("check that PostgreSQL is running"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test]
async fn malformed_postgres_url_is_refused_with_its_problem() {
    let location =
        StoreLocation::parse("postgres://squadron:hunter2@127.0.0.1:notaport/db").unwrap();
    let error = SqlStore::open(&location).await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Open);
    let message = error.to_string();
    assert!(message.contains("the location is not valid"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test]
async fn a_sqlite_path_that_is_a_directory_is_named_in_the_error() {
    let dir = TempDir::new().unwrap();
    let location = StoreLocation::Sqlite(dir.path().to_path_buf());
    let error = SqlStore::open(&location).await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Open);
    let message = error.to_string();
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
    assert!(
        message.contains("check that the file is a SQLite database"),
        "{message}"
    );
}
