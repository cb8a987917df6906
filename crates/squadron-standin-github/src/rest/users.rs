//! `GET /user` (who a token belongs to) and `GET /repos/{owner}/{repo}`.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;

use crate::error::ApiError;
use crate::json;
use crate::observe::Caller;
use crate::server::AppState;

pub(crate) async fn current(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    state
        .run(move |world| {
            let user = world
                .user(caller.id)
                .ok_or_else(ApiError::bad_credentials)?;
            Ok(Json(json::private_user(world, user)))
        })
        .await
}

pub(crate) async fn repository(
    State(state): State<AppState>,
    _caller: Caller,
    Path((owner, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    state
        .run(move |world| Ok(Json(json::repository(world, world.repo(&owner, &name)?))))
        .await
}
