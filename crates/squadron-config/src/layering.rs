//! Layering of configuration sources (shipped defaults < file < environment) with a record
//! of where every key came from, so errors can name the file or variable to fix.

use std::collections::BTreeMap;
use std::path::Path;

use serde::de::DeserializeOwned;
use toml::{Table, Value};

use crate::env::Env;
use crate::error::{ConfigError, KeyPath, Origin, line_column};

/// The type of value an environment variable is parsed into.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Text,
    Integer,
    Float,
    Bool,
    /// Comma-separated text items.
    TextList,
}

/// Keys of the fixed sections that environment variables may set, as
/// `SQUADRON_<SECTION>_<KEY…>` with the path joined by `_` and upper-cased.
const ENV_KEYS: &[(&str, &[&str], Kind)] = &[
    ("linear", &["api_url"], Kind::Text),
    ("linear", &["api_key_env"], Kind::Text),
    ("linear", &["oauth_token_env"], Kind::Text),
    ("linear", &["webhook_secret_env"], Kind::Text),
    ("linear", &["states", "started"], Kind::Text),
    ("linear", &["states", "in_review"], Kind::Text),
    ("linear", &["states", "done"], Kind::Text),
    ("github", &["api_url"], Kind::Text),
    ("github", &["git_url"], Kind::Text),
    ("github", &["merge_method"], Kind::Text),
    ("github", &["developer_token_env"], Kind::Text),
    ("github", &["code_reviewer_token_env"], Kind::Text),
    ("github", &["qa_specialist_token_env"], Kind::Text),
    ("github", &["required_checks"], Kind::TextList),
    ("github", &["keep_worktrees_on_needs_human"], Kind::Bool),
    ("github", &["test_merge_result"], Kind::Bool),
    ("github", &["test_base_after_merge"], Kind::Bool),
    ("github", &["webhook_secret_env"], Kind::Text),
    ("slack", &["api_url"], Kind::Text),
    ("slack", &["bot_token_env"], Kind::Text),
    ("slack", &["signing_secret_env"], Kind::Text),
    ("slack", &["channel"], Kind::Text),
    ("limits", &["concurrency"], Kind::Integer),
    ("limits", &["review_rounds"], Kind::Integer),
    ("limits", &["max_estimate"], Kind::Integer),
    ("limits", &["require_estimate"], Kind::Bool),
    ("limits", &["budget_per_squad_usd"], Kind::Float),
    ("limits", &["budget_per_run_usd"], Kind::Float),
    ("limits", &["agent_turn_limit"], Kind::Integer),
    ("limits", &["ci_fix_rounds"], Kind::Integer),
    ("limits", &["conflict_rounds"], Kind::Integer),
    ("limits", &["check_report_wait_secs"], Kind::Integer),
    ("sandbox", &["mode"], Kind::Text),
    ("sandbox", &["command_timeout_secs"], Kind::Integer),
    ("sandbox", &["output_cap_bytes"], Kind::Integer),
    ("sandbox", &["max_processes"], Kind::Integer),
    ("sandbox", &["max_memory_mib"], Kind::Integer),
    ("store", &["database_url"], Kind::Text),
    ("store", &["sqlite_path"], Kind::Text),
    ("store", &["data_dir"], Kind::Text),
    ("diagnosis", &["min_confidence"], Kind::Text),
    ("server", &["listen"], Kind::Text),
    ("server", &["control_listen"], Kind::Text),
    ("server", &["control_token_env"], Kind::Text),
    ("server", &["control_hosts"], Kind::TextList),
    ("server", &["header_read_timeout_secs"], Kind::Integer),
    ("server", &["request_timeout_secs"], Kind::Integer),
    ("server", &["max_connections"], Kind::Integer),
    ("server", &["daemon_id"], Kind::Text),
    ("server", &["lease_secs"], Kind::Integer),
    ("server", &["share_squads"], Kind::Bool),
    ("slack", &["fix_users"], Kind::TextList),
    ("slack", &["fix_channels"], Kind::TextList),
];

/// Keys of every `[providers.<name>]` that environment variables may set, as
/// `SQUADRON_PROVIDERS_<NAME>_<KEY>` (name upper-cased, `-` written as `_`).
const PROVIDER_ENV_KEYS: &[(&str, Kind)] = &[
    ("base_url", Kind::Text),
    ("api_key_env", Kind::Text),
    ("timeout_secs", Kind::Integer),
    ("max_attempts", Kind::Integer),
];

/// Sections whose `SQUADRON_<SECTION>_` prefix is reserved: a variable with such a prefix
/// that sets nothing is a typo and an error.
const SECTIONS: &[&str] = &[
    "linear",
    "github",
    "slack",
    "providers",
    "limits",
    "repositories",
    "sandbox",
    "store",
    "diagnosis",
    "server",
];

/// Keys whose values are secrets and are never echoed in errors.
const SECRET_KEYS: &[&[&str]] = &[&["store", "database_url"]];

/// Which source last set each key (and each table) of the merged configuration.
#[derive(Clone, Debug, Default)]
pub(crate) struct Provenance(BTreeMap<KeyPath, Origin>);

impl Provenance {
    /// The origin of `key`: its own, else that of its nearest recorded ancestor, else the
    /// shipped defaults.
    pub(crate) fn origin_of(&self, key: &KeyPath) -> Origin {
        let mut current = Some(key.clone());
        while let Some(path) = current {
            if let Some(origin) = self.0.get(&path) {
                return origin.clone();
            }
            current = path.parent();
        }
        Origin::Shipped
    }

    fn record(&mut self, key: KeyPath, origin: &Origin) {
        self.0.insert(key, origin.clone());
    }
}

/// The merged configuration table and the origin of its keys.
#[derive(Debug)]
pub(crate) struct Layers {
    merged: Table,
    pub(crate) provenance: Provenance,
}

/// Merges the shipped defaults, the optional file and the environment, in that order.
pub(crate) fn merge_layers(
    shipped: &str,
    file: Option<(&Path, &str)>,
    env: &Env,
) -> Result<Layers, ConfigError> {
    let mut merged = parse_table(shipped, Origin::Shipped)?;
    let mut provenance = Provenance::default();
    if let Some((path, text)) = file {
        let origin = Origin::File(path.to_owned());
        let overlay = parse_table(text, origin.clone())?;
        merge_table(
            &mut merged,
            overlay,
            &KeyPath::default(),
            &origin,
            &mut provenance,
        );
    }
    apply_env(&mut merged, env, &mut provenance)?;
    Ok(Layers { merged, provenance })
}

/// Parses one TOML document, reporting syntax errors with their line and column.
pub(crate) fn parse_table(text: &str, origin: Origin) -> Result<Table, ConfigError> {
    text.parse::<Table>().map_err(|error| {
        let (line, column) = match error.span() {
            Some(span) => {
                let (line, column) = line_column(text, span.start);
                (Some(line), Some(column))
            }
            None => (None, None),
        };
        ConfigError::Syntax {
            origin,
            line,
            column,
            message: error.message().trim().to_owned(),
        }
    })
}

/// Lays `overlay` over `base`: tables merge key by key, anything else replaces.
fn merge_table(
    base: &mut Table,
    overlay: Table,
    at: &KeyPath,
    origin: &Origin,
    provenance: &mut Provenance,
) {
    for (key, value) in overlay {
        let path = at.join(key.clone());
        provenance.record(path.clone(), origin);
        match (base.get_mut(&key), value) {
            (Some(Value::Table(existing)), Value::Table(table)) => {
                merge_table(existing, table, &path, origin, provenance);
            }
            (_, value) => {
                record_children(&value, &path, origin, provenance);
                base.insert(key, value);
            }
        }
    }
}

fn record_children(value: &Value, at: &KeyPath, origin: &Origin, provenance: &mut Provenance) {
    if let Value::Table(table) = value {
        for (key, child) in table {
            let path = at.join(key.clone());
            provenance.record(path.clone(), origin);
            record_children(child, &path, origin, provenance);
        }
    }
}

fn env_var_name(section: &str, key: &[&str]) -> String {
    let mut name = format!("SQUADRON_{}", section.to_ascii_uppercase());
    for segment in key {
        name.push('_');
        name.push_str(&segment.to_ascii_uppercase().replace('-', "_"));
    }
    name
}

/// Applies `SQUADRON_<SECTION>_<KEY>` variables and refuses unknown ones in reserved sections.
fn apply_env(
    merged: &mut Table,
    env: &Env,
    provenance: &mut Provenance,
) -> Result<(), ConfigError> {
    // Every settable variable with the key path it sets, by section.
    let mut settable: BTreeMap<&str, Vec<(String, KeyPath, Kind)>> = BTreeMap::new();
    for &(section, key, kind) in ENV_KEYS {
        let path = KeyPath::new(std::iter::once(section).chain(key.iter().copied()));
        settable
            .entry(section)
            .or_default()
            .push((env_var_name(section, key), path, kind));
    }
    let provider_names: Vec<String> = match merged.get("providers") {
        Some(Value::Table(providers)) => providers.keys().cloned().collect(),
        _ => Vec::new(),
    };
    for name in &provider_names {
        for &(key, kind) in PROVIDER_ENV_KEYS {
            let path = KeyPath::new(["providers", name.as_str(), key]);
            settable.entry("providers").or_default().push((
                env_var_name("providers", &[name, key]),
                path,
                kind,
            ));
        }
    }

    for (var, raw) in env.iter() {
        let Some(section) = SECTIONS
            .iter()
            .copied()
            .find(|section| var.starts_with(&format!("{}_", env_var_name(section, &[]))))
        else {
            continue;
        };
        let candidates = settable.get(section).map(Vec::as_slice).unwrap_or_default();
        let Some((_, path, kind)) = candidates.iter().find(|(name, _, _)| name == var) else {
            let valid = if candidates.is_empty() {
                format!("`[{section}]` cannot be set from the environment; set it in a config file")
            } else {
                crate::error::one_of(candidates.iter().map(|(name, _, _)| name))
            };
            return Err(ConfigError::UnknownEnvVar {
                var: var.to_owned(),
                valid,
            });
        };
        let origin = Origin::Env(var.to_owned());
        let value = parse_env_value(raw, *kind, path, &origin)?;
        set_path(merged, path.segments(), value);
        provenance.record(path.clone(), &origin);
    }
    Ok(())
}

fn parse_env_value(
    raw: &str,
    kind: Kind,
    key: &KeyPath,
    origin: &Origin,
) -> Result<Value, ConfigError> {
    let invalid = |expected: &str| ConfigError::InvalidValue {
        key: key.clone(),
        value: display_raw(key, raw),
        origin: origin.clone(),
        expected: expected.to_owned(),
    };
    let trimmed = raw.trim();
    match kind {
        Kind::Text => Ok(Value::String(raw.to_owned())),
        Kind::Integer => trimmed
            .parse::<i64>()
            .map(Value::Integer)
            .map_err(|_| invalid("must be a whole number")),
        Kind::Float => trimmed
            .parse::<f64>()
            .ok()
            .filter(|number| number.is_finite())
            .map(Value::Float)
            .ok_or_else(|| invalid("must be a number")),
        Kind::Bool => match trimmed {
            "true" => Ok(Value::Boolean(true)),
            "false" => Ok(Value::Boolean(false)),
            _ => Err(invalid("must be `true` or `false`")),
        },
        Kind::TextList => Ok(Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| Value::String(item.to_owned()))
                .collect(),
        )),
    }
}

fn display_raw(key: &KeyPath, raw: &str) -> String {
    if is_secret(key) {
        "[redacted]".to_owned()
    } else {
        format!("{raw:?}")
    }
}

fn is_secret(key: &KeyPath) -> bool {
    SECRET_KEYS.iter().any(|secret| {
        key.segments()
            .iter()
            .map(String::as_str)
            .eq(secret.iter().copied())
    })
}

fn set_path(table: &mut Table, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut current = table;
    for segment in parents {
        let entry = current
            .entry(segment.clone())
            .or_insert_with(|| Value::Table(Table::new()));
        if !entry.is_table() {
            *entry = Value::Table(Table::new());
        }
        let Value::Table(next) = entry else { return };
        current = next;
    }
    current.insert(last.clone(), value);
}

fn get_path<'a>(table: &'a Table, path: &KeyPath) -> Option<&'a Value> {
    let mut current: Option<&Value> = None;
    let mut table = table;
    for segment in path.segments() {
        let value = match (
            current,
            segment
                .strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']')),
        ) {
            (Some(Value::Array(items)), Some(index)) => items.get(index.parse::<usize>().ok()?)?,
            _ => table.get(segment)?,
        };
        if let Value::Table(inner) = value {
            table = inner;
        }
        current = Some(value);
    }
    current
}

impl Layers {
    /// Deserializes the merged table, turning serde's errors into [`ConfigError`]s that name
    /// the key, the value and the source.
    pub(crate) fn deserialize<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        deserialize_table(&self.merged, &self.provenance)
    }
}

impl Provenance {
    /// Every key of a document comes from one file.
    pub(crate) fn whole_file(origin: Origin) -> Provenance {
        let mut provenance = Provenance::default();
        provenance.record(KeyPath::default(), &origin);
        provenance
    }
}

/// Deserializes `table`, explaining failures with the key path, value and origin.
pub(crate) fn deserialize_table<T: DeserializeOwned>(
    table: &Table,
    provenance: &Provenance,
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(Value::Table(table.clone())).map_err(|error| {
        let path = key_path(error.path());
        explain(table, provenance, path, error.inner().message())
    })
}

fn explain(table: &Table, provenance: &Provenance, path: KeyPath, message: &str) -> ConfigError {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        // serde_path_to_error reports the enclosing table; the unknown key is below it.
        let key = if path.segments().last().map(String::as_str) == Some(field) {
            path
        } else {
            path.join(field)
        };
        let expected = expected.trim_start_matches(", ");
        let valid = match expected.strip_prefix("expected ") {
            Some(list) => list.to_owned(),
            None => "no keys here".to_owned(),
        };
        return ConfigError::UnknownKey {
            origin: provenance.origin_of(&key),
            key,
            valid,
        };
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or(rest);
        let origin = provenance.origin_of(&path);
        return ConfigError::MissingKey {
            key: path.join(field),
            origin,
            expected: format!("add `{field} = …`"),
        };
    }
    let value = if is_secret(&path) {
        "[redacted]".to_owned()
    } else {
        get_path(table, &path).map_or_else(|| "(nothing)".to_owned(), ToString::to_string)
    };
    ConfigError::InvalidValue {
        origin: provenance.origin_of(&path),
        key: path,
        value,
        expected: friendly(message),
    }
}

/// serde's messages name Rust types; users know TOML types.
fn friendly(message: &str) -> String {
    let message = message
        .replace("expected u32", "expected a whole number of at least 0")
        .replace("expected u64", "expected a whole number of at least 0")
        .replace("expected f64", "expected a number")
        .replace("expected a borrowed string", "expected a string");
    message.trim().to_owned()
}

fn key_path(path: &serde_path_to_error::Path) -> KeyPath {
    use serde_path_to_error::Segment;
    let mut key = KeyPath::default();
    for segment in path.iter() {
        key = match segment {
            Segment::Map { key: name } => key.join(name.clone()),
            Segment::Seq { index } => key.index(*index),
            Segment::Enum { variant } => key.join(variant.clone()),
            Segment::Unknown => key,
        };
    }
    key
}
