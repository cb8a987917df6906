//! Model usage, one row per call, and the sums budgets and `squadron status` need.

use sqlx::any::AnyRow;
use squadron_core::ports::{SpendScope, UsageRecord, UsageTotals};
use squadron_core::{Role, TokenUsage, Usd};

use crate::codec::{column, count, role, stored_count};
use crate::error::StoreError;
use crate::store::SqlStore;

/// The sums every usage query selects. PostgreSQL sums BIGINTs into NUMERIC, which the `Any`
/// driver cannot read, so each sum is cast back to BIGINT.
pub(crate) const USAGE_SUMS: &str = "COUNT(model_usage.id) AS calls, \
     CAST(COALESCE(SUM(model_usage.prompt_tokens), 0) AS BIGINT) AS prompt_tokens, \
     CAST(COALESCE(SUM(model_usage.cached_tokens), 0) AS BIGINT) AS cached_tokens, \
     CAST(COALESCE(SUM(model_usage.completion_tokens), 0) AS BIGINT) AS completion_tokens, \
     CAST(COALESCE(SUM(model_usage.cost_micros), 0) AS BIGINT) AS cost_micros";

impl SqlStore {
    /// Records the usage of one model call.
    pub async fn record_usage(&self, record: &UsageRecord) -> Result<(), StoreError> {
        let usage = &record.usage;
        sqlx::query(
            "INSERT INTO model_usage (run_id, squad_id, role, model, prompt_tokens, \
             cached_tokens, completion_tokens, cost_micros, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(record.run_id.as_str())
        .bind(record.squad_id.as_str())
        .bind(record.role.as_str())
        .bind(record.model.as_str())
        .bind(stored_count(usage.prompt, "prompt token count")?)
        .bind(stored_count(usage.cached, "cached token count")?)
        .bind(stored_count(usage.completion, "completion token count")?)
        .bind(record.cost.as_micros())
        .bind(record.at.as_millis())
        .execute(&self.pool)
        .await
        .map_err(|error| {
            StoreError::database(
                format!(
                    "record {} usage of squad `{}`",
                    record.role, record.squad_id
                ),
                error,
            )
        })?;
        Ok(())
    }

    /// Usage summed over `scope`.
    pub async fn usage_totals(&self, scope: &SpendScope) -> Result<UsageTotals, StoreError> {
        let (filter, id) = scope_filter(scope);
        let sql = format!("SELECT {USAGE_SUMS} FROM model_usage WHERE {filter}");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .map_err(|error| {
                StoreError::database(format!("sum usage of {}", describe(scope)), error)
            })?;
        usage_totals(&row)
    }

    /// Usage summed over `scope`, per role, in [`Role::ALL`] order; roles without calls are
    /// left out.
    pub async fn usage_by_role(
        &self,
        scope: &SpendScope,
    ) -> Result<Vec<(Role, UsageTotals)>, StoreError> {
        let (filter, id) = scope_filter(scope);
        let sql = format!(
            "SELECT model_usage.role AS role, {USAGE_SUMS} FROM model_usage WHERE {filter} \
             GROUP BY model_usage.role"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_all(&self.pool)
            .await
            .map_err(|error| {
                StoreError::database(format!("sum usage per role of {}", describe(scope)), error)
            })?;
        let mut per_role = rows
            .iter()
            .map(|row| Ok((role(row, "role")?, usage_totals(row)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        per_role.sort_by_key(|(role, _)| *role);
        Ok(per_role)
    }

    /// Total cost recorded so far for `scope`.
    pub async fn spent(&self, scope: &SpendScope) -> Result<Usd, StoreError> {
        Ok(self.usage_totals(scope).await?.cost)
    }
}

/// Reads the columns selected by [`USAGE_SUMS`].
pub(crate) fn usage_totals(row: &AnyRow) -> Result<UsageTotals, StoreError> {
    Ok(UsageTotals {
        calls: count(row, "calls")?,
        usage: TokenUsage {
            prompt: count(row, "prompt_tokens")?,
            cached: count(row, "cached_tokens")?,
            completion: count(row, "completion_tokens")?,
        },
        cost: Usd::from_micros(column(row, "cost_micros")?),
    })
}

fn scope_filter(scope: &SpendScope) -> (&'static str, &str) {
    match scope {
        SpendScope::Squad(id) => ("model_usage.squad_id = $1", id.as_str()),
        SpendScope::Run(id) => ("model_usage.run_id = $1", id.as_str()),
    }
}

fn describe(scope: &SpendScope) -> String {
    match scope {
        SpendScope::Squad(id) => format!("squad `{id}`"),
        SpendScope::Run(id) => format!("run `{id}`"),
    }
}
