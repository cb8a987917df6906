//! What every command starts from: the environment read once, the layered configuration,
//! and the store location.

use std::path::PathBuf;

use squadron_config::{Config, ConfigError, ConfigErrorKind, Env};
use squadron_store::{SqlStore, StoreError, StoreErrorKind, StoreLocation};

use crate::cli::GlobalArgs;
use crate::error::{CliError, ErrorClass, error_chain};

/// The loaded configuration and the environment it was resolved against.
#[derive(Clone, Debug)]
pub struct Context {
    /// The layered configuration.
    pub config: Config,
    /// The process environment, read once: libraries never read it themselves.
    pub env: Env,
    /// The configuration file layered over the defaults, if any.
    pub config_file: Option<PathBuf>,
    database_url: Option<String>,
}

impl Context {
    /// Reads the environment and loads the configuration named by the global options.
    pub fn load(global: &GlobalArgs) -> Result<Context, CliError> {
        let env: Env = std::env::vars().collect();
        let config = Config::load(global.config.as_deref(), &env).map_err(config_error)?;
        Ok(Context {
            config,
            env,
            config_file: global.config.clone(),
            database_url: global.database_url.clone(),
        })
    }

    /// A context for `squadron demo`: `config_file` layered over the defaults and resolved
    /// against `env` alone, so the demo's stand-ins and secrets win over anything exported
    /// for real accounts (`DATABASE_URL` included: the store is the one the file names).
    #[cfg(feature = "demo")]
    pub fn with_env(config_file: PathBuf, env: Env) -> Result<Context, CliError> {
        let config = Config::load(Some(&config_file), &env).map_err(config_error)?;
        Ok(Context {
            config,
            env,
            config_file: Some(config_file),
            database_url: None,
        })
    }

    /// Where the store lives: `--database-url`/`DATABASE_URL`, else `store.database_url`,
    /// else `store.sqlite_path`, else a SQLite file in the platform data directory.
    pub fn store_location(&self) -> Result<StoreLocation, CliError> {
        let configured = self.database_url.clone().or_else(|| {
            self.config
                .store
                .database_url
                .as_ref()
                .map(|url| url.expose().to_owned())
        });
        let location = match (configured, &self.config.store.sqlite_path) {
            (Some(url), _) => StoreLocation::parse(&url),
            (None, Some(path)) => Ok(StoreLocation::Sqlite(path.clone())),
            (None, None) => StoreLocation::default_sqlite(),
        };
        location.map_err(store_error)
    }

    /// Opens (and if needed creates and migrates) the store: for the commands that record
    /// work (`run`, `fix`, `serve`, `demo`).
    pub async fn open_store(&self) -> Result<SqlStore, CliError> {
        let location = self.store_location()?;
        SqlStore::open(&location).await.map_err(store_error)
    }

    /// Opens the store for a command that only reads it (`status`, `logs`), without creating
    /// one. `Ok(None)` when the default SQLite file does not exist yet (nothing has run on
    /// this machine); a location the user named (`--database-url`, `DATABASE_URL`, the
    /// configuration) that points at a missing file is refused: a typo must not read as an
    /// empty store.
    pub async fn open_existing_store(&self) -> Result<Option<SqlStore>, CliError> {
        let location = self.store_location()?;
        if let Some(path) = location.sqlite_path()
            && !path.exists()
        {
            if !self.names_store() {
                return Ok(None);
            }
            return Err(CliError::user(format!(
                "failed to open the store: no SQLite database at `{}`",
                path.display()
            ))
            .with_hint(
                "check the path given with --database-url, DATABASE_URL, store.database_url or \
                 store.sqlite_path; `squadron run`, `serve` and `demo` create a store, `status` \
                 and `logs` only read one",
            ));
        }
        SqlStore::open(&location)
            .await
            .map(Some)
            .map_err(store_error)
    }

    /// Whether the user named the store's location rather than leaving it to the default.
    fn names_store(&self) -> bool {
        self.database_url.is_some()
            || self.config.store.database_url.is_some()
            || self.config.store.sqlite_path.is_some()
    }
}

/// A configuration failure, reported with the file, key and value the library named.
pub fn config_error(error: ConfigError) -> CliError {
    let hint = match error.kind() {
        ConfigErrorKind::Io => "check the path given with --config or SQUADRON_CONFIG",
        _ => "fix the named key; `squadron doctor` checks the whole configuration at once",
    };
    CliError::config(format!("invalid configuration: {}", error_chain(&error))).with_hint(hint)
}

/// A store failure, sorted by what the user can do about it.
pub fn store_error(error: StoreError) -> CliError {
    let class = match error.kind() {
        StoreErrorKind::NotFound | StoreErrorKind::Invalid => ErrorClass::User,
        StoreErrorKind::Open => ErrorClass::Config,
        StoreErrorKind::Unavailable => ErrorClass::Transient,
        StoreErrorKind::Conflict
        | StoreErrorKind::Fenced
        | StoreErrorKind::Corrupt
        | StoreErrorKind::Database => ErrorClass::Internal,
    };
    CliError::new(class, format!("failed to {}", error_chain(&error)))
}
