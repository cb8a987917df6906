//! The store's test suite. Every test in [`on_both_backends!`] runs twice: on SQLite in a
//! temporary directory and on PostgreSQL when `SQUADRON_TEST_POSTGRES_URL` is set.

mod daemons;
mod journal;
mod lanes;
mod leases;
mod opening;
mod records;
mod requests;
mod squads;
mod support;

/// Declares `sqlite::<name>` and `postgres::<name>` tests for each async fn
/// `<module>::<name>(db: TestDb)`.
macro_rules! on_both_backends {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    crate::support::run_on_sqlite(crate::$module::$name).await;
                }
            )*
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    crate::support::run_on_postgres(crate::$module::$name).await;
                }
            )*
        }
    };
}

on_both_backends! {
    opening::migrations_are_idempotent_on_reopen,
    opening::unknown_stored_values_are_reported_not_panicked_on,
    opening::event_log_refuses_rewrites,
    squads::runs_round_trip_with_their_triggers_and_status,
    squads::squads_round_trip_with_every_field,
    squads::phase_change_appends_its_event_in_the_same_step,
    squads::phase_change_refuses_a_stale_expected_phase,
    squads::racing_phase_changes_from_one_phase_let_exactly_one_win,
    squads::bookkeeping_changes_are_logged_as_events,
    squads::event_log_keeps_order_under_concurrent_appends,
    squads::resume_lists_unfinished_squads_oldest_first,
    squads::an_admission_records_its_run_and_every_squad_together_or_nothing,
    squads::logs_find_a_squad_by_id_or_issue_key_newest_run_first,
    records::transcripts_round_trip_every_message_kind_in_order,
    records::a_kept_conversation_is_replaced_per_squad_and_role,
    records::usage_sums_per_squad_run_and_role,
    journal::racing_callers_on_one_key_exactly_one_begins,
    journal::a_done_effect_is_never_begun_again,
    journal::a_pending_effect_is_reported_in_progress_for_reconciliation,
    journal::a_failed_effect_may_begin_again_once,
    journal::misuse_of_keys_is_refused,
    leases::claims_renewals_and_takeovers_follow_the_lease_rules,
    leases::racing_daemons_on_one_subject_let_exactly_one_win,
    leases::writes_after_a_takeover_change_nothing_and_say_who_holds_the_squad,
    leases::a_lapsed_lease_keeps_its_daemon_writing_until_another_claims_it,
    leases::an_effect_begun_before_a_takeover_is_left_pending_for_the_new_holder,
    leases::a_daemon_writes_only_for_work_it_holds,
    leases::daemons_claiming_squads_together_take_each_free_squad_once,
    leases::claims_keep_the_cluster_within_its_concurrency_and_each_daemon_to_its_share,
    leases::a_squad_is_claimed_only_once_every_blocker_or_squad_it_starts_after_ended,
    leases::one_heartbeat_renews_every_lease_held_and_names_those_lost,
    leases::an_admission_is_fenced_by_its_runs_intake_claimed_for_it_and_released_after,
    leases::the_runtime_lease_and_squad_leases_never_work_a_store_at_once,
    leases::one_daemon_at_a_time_holds_a_merge_lane_and_one_that_lost_it_learns_so,
    daemons::daemons_register_beat_and_stop_and_one_id_serves_one_live_process,
    requests::a_request_is_taken_by_one_daemon_answered_and_read_back,
    requests::a_lapsed_taker_leaves_its_request_to_the_next_and_a_waiting_one_may_be_withdrawn,
    requests::daemons_taking_together_take_each_request_once,
    requests::a_request_for_the_holder_of_a_squad_is_taken_by_that_daemon_alone,
    lanes::a_stopped_lane_is_kept_over_a_reopen_until_it_is_resumed,
}
