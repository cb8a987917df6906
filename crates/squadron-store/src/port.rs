//! [`SqlStore`] as the core's [`Store`] and [`AgentRecorder`] ports: each method delegates
//! to the inherent one and sorts its error into a [`PortError`].

use async_trait::async_trait;
use squadron_core::effect::{EffectKey, EffectResult};
use squadron_core::event_payload::EventPayload;
use squadron_core::lease::Lease;
use squadron_core::merge_queue::{LaneStop, MergeLane};
use squadron_core::ports::{
    AdmittedSquad, AgentRecorder, ChatMessage, JournalBegin, PortError, RunRecord, RunStatus,
    SpendScope, SquadChange, SquadEvent, SquadRecord, StoppedLane, Store, TranscriptEntry,
    UsageRecord, UsageTotals,
};
use squadron_core::{Phase, Role, Run, RunId, SquadId, Timestamp, Usd};

use crate::effect_results;
use crate::store::SqlStore;

#[async_trait]
impl AgentRecorder for SqlStore {
    async fn append_message(
        &self,
        squad_id: &SquadId,
        role: Role,
        message: &ChatMessage,
        at: Timestamp,
    ) -> Result<(), PortError> {
        SqlStore::append_message(self, squad_id, role, message, at).await?;
        Ok(())
    }

    async fn record_usage(&self, record: &UsageRecord) -> Result<(), PortError> {
        Ok(SqlStore::record_usage(self, record).await?)
    }

    async fn spent(&self, scope: &SpendScope) -> Result<Usd, PortError> {
        Ok(SqlStore::spent(self, scope).await?)
    }

    async fn keep_conversation(
        &self,
        squad_id: &SquadId,
        role: Role,
        conversation: &str,
        at: Timestamp,
    ) -> Result<(), PortError> {
        Ok(SqlStore::keep_conversation(self, squad_id, role, conversation, at).await?)
    }

    async fn kept_conversation(
        &self,
        squad_id: &SquadId,
        role: Role,
    ) -> Result<Option<String>, PortError> {
        Ok(SqlStore::kept_conversation(self, squad_id, role).await?)
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn create_run(&self, run: &Run) -> Result<(), PortError> {
        Ok(SqlStore::create_run(self, run).await?)
    }

    async fn run(&self, id: &RunId) -> Result<RunRecord, PortError> {
        Ok(SqlStore::run(self, id).await?)
    }

    async fn runs(&self) -> Result<Vec<RunRecord>, PortError> {
        Ok(SqlStore::runs(self).await?)
    }

    async fn set_run_status(
        &self,
        id: &RunId,
        status: RunStatus,
        at: Timestamp,
    ) -> Result<(), PortError> {
        Ok(SqlStore::set_run_status(self, id, status, at).await?)
    }

    async fn create_squad(&self, squad: &SquadRecord) -> Result<(), PortError> {
        Ok(SqlStore::create_squad(self, squad).await?)
    }

    async fn admit_run(&self, run: &Run, squads: &[AdmittedSquad]) -> Result<(), PortError> {
        Ok(SqlStore::admit_run(self, run, squads).await?)
    }

    async fn squad(&self, id: &SquadId) -> Result<SquadRecord, PortError> {
        Ok(SqlStore::squad(self, id).await?)
    }

    async fn squads_of_run(&self, run_id: &RunId) -> Result<Vec<SquadRecord>, PortError> {
        Ok(SqlStore::squads_of_run(self, run_id).await?)
    }

    async fn unfinished_squads(&self) -> Result<Vec<SquadRecord>, PortError> {
        Ok(SqlStore::unfinished_squads(self).await?)
    }

    async fn set_phase(
        &self,
        id: &SquadId,
        expected_from: &Phase,
        to: &Phase,
        at: Timestamp,
    ) -> Result<SquadEvent, PortError> {
        Ok(SqlStore::set_phase(self, id, expected_from, to, at).await?)
    }

    async fn change_squad(
        &self,
        id: &SquadId,
        change: &SquadChange,
        at: Timestamp,
    ) -> Result<SquadEvent, PortError> {
        Ok(SqlStore::change_squad(self, id, change, at).await?)
    }

    async fn record_event(
        &self,
        id: &SquadId,
        payload: &EventPayload,
        at: Timestamp,
    ) -> Result<SquadEvent, PortError> {
        Ok(SqlStore::record_event(self, id, payload, at).await?)
    }

    async fn events(&self, id: &SquadId) -> Result<Vec<SquadEvent>, PortError> {
        Ok(SqlStore::events(self, id).await?)
    }

    async fn transcript(
        &self,
        id: &SquadId,
        role: Option<Role>,
    ) -> Result<Vec<TranscriptEntry>, PortError> {
        Ok(SqlStore::transcript(self, id, role).await?)
    }

    async fn usage_totals(&self, scope: &SpendScope) -> Result<UsageTotals, PortError> {
        Ok(SqlStore::usage_totals(self, scope).await?)
    }

    async fn usage_by_role(
        &self,
        scope: &SpendScope,
    ) -> Result<Vec<(Role, UsageTotals)>, PortError> {
        Ok(SqlStore::usage_by_role(self, scope).await?)
    }

    async fn journal_begin(
        &self,
        key: &EffectKey,
        at: Timestamp,
    ) -> Result<JournalBegin, PortError> {
        let stored = key.to_string();
        Ok(
            match SqlStore::journal_begin(self, &stored, key.squad(), key.kind(), at).await? {
                JournalBegin::Begun { attempt } => JournalBegin::Begun { attempt },
                JournalBegin::AlreadyDone(result) => {
                    JournalBegin::AlreadyDone(effect_results::decode(key, &result)?)
                }
                JournalBegin::InProgress(entry) => JournalBegin::InProgress(entry),
            },
        )
    }

    async fn journal_complete(
        &self,
        key: &EffectKey,
        result: &EffectResult,
        at: Timestamp,
    ) -> Result<(), PortError> {
        let result = effect_results::encode(result);
        Ok(SqlStore::journal_complete(self, &key.to_string(), &result, at).await?)
    }

    async fn journal_fail(
        &self,
        key: &EffectKey,
        error: &str,
        at: Timestamp,
    ) -> Result<(), PortError> {
        Ok(SqlStore::journal_fail(self, &key.to_string(), error, at).await?)
    }

    async fn journal_result(&self, key: &EffectKey) -> Result<Option<EffectResult>, PortError> {
        Ok(SqlStore::effect_result(self, key).await?)
    }

    async fn stop_lane(&self, stop: &LaneStop, at: Timestamp) -> Result<(), PortError> {
        Ok(SqlStore::stop_lane(self, stop, at).await?)
    }

    async fn resume_lane(&self, lane: &MergeLane) -> Result<bool, PortError> {
        Ok(SqlStore::resume_lane(self, lane).await?)
    }

    async fn lane_stops(&self) -> Result<Vec<StoppedLane>, PortError> {
        Ok(SqlStore::lane_stops(self).await?)
    }

    async fn take_merge_lane(
        &self,
        lane: &MergeLane,
        at: Timestamp,
    ) -> Result<Option<Lease>, PortError> {
        Ok(SqlStore::take_merge_lane(self, lane, at).await?)
    }

    async fn release_merge_lane(&self, lane: &MergeLane, at: Timestamp) -> Result<(), PortError> {
        Ok(SqlStore::release_merge_lane(self, lane, at).await?)
    }
}
