//! Delivery metrics in the DORA and flow sense, computed from what the store recorded of
//! each squad: merges per day, lead time, change failure rate, time to restore, flow
//! efficiency, load and distribution, review rounds and cost per merged PR.
//!
//! The computation is pure: callers read [`SquadFacts`] from the store (the pipeline knows
//! how its event log says each fact) and pass the period's end in.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::{IssueKey, Phase, PrNumber, RunId, SquadId, SquadKind, Timestamp, Usd};

const MILLIS_PER_DAY: i64 = 86_400_000;

/// A UTC calendar day, counted in days since 1970-01-01.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub i64);

impl Day {
    /// The day `at` falls on.
    pub const fn of(at: Timestamp) -> Day {
        Day(at.as_millis().div_euclid(MILLIS_PER_DAY))
    }

    /// The day's first millisecond.
    pub const fn start(self) -> Timestamp {
        Timestamp::from_millis(self.0.saturating_mul(MILLIS_PER_DAY))
    }

    /// The first millisecond of the next day.
    pub const fn end(self) -> Timestamp {
        Timestamp::from_millis(self.0.saturating_add(1).saturating_mul(MILLIS_PER_DAY))
    }
}

/// What a squad is doing in a phase, as flow efficiency counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowState {
    /// Its agents (or its harness, for them) work on the change.
    Working,
    /// The change waits for something outside the squad.
    Waiting(Wait),
    /// The squad has ended.
    Ended,
}

/// What a waiting squad waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Wait {
    /// Queued: for a blocker to merge or for a free slot.
    BlockerOrSlot,
    /// PR open or under review: for both reviews.
    Reviews,
    /// Approved or merging: for the PR's checks, the merge gate and the merge lane.
    ChecksAndMergeLane,
}

impl Wait {
    /// Every wait, in the order reports list them.
    pub const ALL: [Wait; 3] = [Wait::BlockerOrSlot, Wait::Reviews, Wait::ChecksAndMergeLane];

    /// The wait's name in reports and exports.
    pub const fn name(self) -> &'static str {
        match self {
            Wait::BlockerOrSlot => "blocker-or-slot",
            Wait::Reviews => "reviews",
            Wait::ChecksAndMergeLane => "checks-and-merge-lane",
        }
    }
}

impl FlowState {
    /// How time spent in `phase` counts. The reviewers are agents too, but from the change's
    /// point of view a review is a wait for a verdict, as it is in any team's flow.
    pub const fn of(phase: &Phase) -> FlowState {
        match phase {
            Phase::Preparing
            | Phase::Diagnosing
            | Phase::Implementing
            | Phase::Verifying
            | Phase::Fixing
            | Phase::FixingChecks
            | Phase::ResolvingConflicts => FlowState::Working,
            Phase::Queued => FlowState::Waiting(Wait::BlockerOrSlot),
            Phase::PrOpen | Phase::Reviewing => FlowState::Waiting(Wait::Reviews),
            Phase::Approved | Phase::Merging => FlowState::Waiting(Wait::ChecksAndMergeLane),
            Phase::Merged
            | Phase::NeedsHuman(_)
            | Phase::Failed(_)
            | Phase::Cancelled
            | Phase::Skipped(_) => FlowState::Ended,
        }
    }
}

/// A squad's merged PR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergeFacts {
    /// When it merged.
    pub at: Timestamp,
    /// The PR.
    pub pr: PrNumber,
    /// The PR's page, when recorded.
    pub url: Option<String>,
}

/// What the store knows of one squad, as the metrics need it.
#[derive(Clone, Debug, PartialEq)]
pub struct SquadFacts {
    /// The squad.
    pub squad: SquadId,
    /// Its run.
    pub run: RunId,
    /// Its issue.
    pub issue: IssueKey,
    /// The repository (`owner/name`) its issue's team is configured with, when known.
    pub repository: Option<String>,
    /// Feature or bug fix.
    pub kind: SquadKind,
    /// When it was admitted (created).
    pub admitted_at: Timestamp,
    /// Every phase it entered, in order, from its admission.
    pub phases: Vec<(Timestamp, Phase)>,
    /// Its merge, if it merged.
    pub merge: Option<MergeFacts>,
    /// Review rounds it went through.
    pub review_rounds: u32,
    /// What its model calls cost.
    pub cost: Usd,
    /// A merged bug fix's time from its trigger to its merge.
    pub time_to_restore: Option<Duration>,
    /// When its merge was reverted, if it was.
    pub reverted_at: Option<Timestamp>,
    /// PR pages a bug fix's diagnosis names as the cause.
    pub blames: Vec<String>,
    /// Required checks that failed and passed when run again on the same commit.
    pub flaky_checks: u32,
}

impl SquadFacts {
    /// When the squad ended, if it has.
    pub fn ended_at(&self) -> Option<Timestamp> {
        self.phases
            .last()
            .filter(|(_, phase)| phase.is_terminal())
            .map(|(at, _)| *at)
    }

    /// When it merged, if it did.
    pub fn merged_at(&self) -> Option<Timestamp> {
        self.merge.as_ref().map(|merge| merge.at)
    }
}

/// The time a report covers: from `from` (or the first admission) to `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    /// Start; `None` for the whole history.
    pub from: Option<Timestamp>,
    /// End, usually now.
    pub to: Timestamp,
}

/// How a merged change was found to have failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailureCause {
    /// Its merge was reverted.
    Reverted,
    /// A bug fix's diagnosis names its PR as the cause.
    BlamedBy(IssueKey),
}

/// One merged change that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeFailure {
    /// The squad whose merge failed.
    pub squad: SquadId,
    /// Its issue.
    pub issue: IssueKey,
    /// Its PR.
    pub pr: PrNumber,
    /// How the failure was found.
    pub cause: FailureCause,
    /// When it was found (the revert, or the blaming fix's admission).
    pub at: Timestamp,
}

/// The figures of one slice of the history (all of it, a repository, a run).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeliveryFigures {
    /// PRs merged in the period.
    pub merges: u32,
    /// Calendar days (UTC) the period touches.
    pub days: u32,
    /// Merges in each day of the period, days without merges included.
    pub throughput: Vec<(Day, u32)>,
    /// Each merged PR's time from admission to merge, in merge order.
    pub lead_times: Vec<Duration>,
    /// Merged PRs of the period found to have failed, in merge order.
    pub change_failures: Vec<ChangeFailure>,
    /// Each merged bug fix's time from its trigger to its merge, in merge order.
    pub restore_times: Vec<Duration>,
    /// Time the merged PRs' squads worked, from admission to merge.
    pub working: Duration,
    /// Time they waited, per wait.
    pub waiting: BTreeMap<Wait, Duration>,
    /// The most squads in progress (admitted, not ended) at once, on each day.
    pub load: Vec<(Day, u32)>,
    /// Squads in progress at the period's end.
    pub in_progress: u32,
    /// Merged features.
    pub features: u32,
    /// Merged bug fixes.
    pub bug_fixes: u32,
    /// Review rounds summed over the merged PRs.
    pub review_rounds: u32,
    /// Flaky required checks (failed, then passed when run again) of the merged PRs.
    pub flaky_checks: u32,
    /// What the squads that ended in the period cost, merged or not.
    pub cost: Usd,
}

impl DeliveryFigures {
    /// Merges per calendar day of the period.
    pub fn merges_per_day(&self) -> f64 {
        if self.days == 0 {
            return 0.0;
        }
        f64::from(self.merges) / f64::from(self.days)
    }

    /// Failed merges as a share of merges; `None` without merges.
    pub fn change_failure_rate(&self) -> Option<f64> {
        share(self.change_failures.len(), self.merges)
    }

    /// Time waited for `wait`.
    pub fn waited_for(&self, wait: Wait) -> Duration {
        self.waiting.get(&wait).copied().unwrap_or_default()
    }

    /// Time waited, every wait together.
    pub fn waiting_total(&self) -> Duration {
        self.waiting.values().sum()
    }

    /// Share of the merged PRs' flow time (working and waiting) that was worked; `None`
    /// when nothing was measured.
    pub fn flow_efficiency(&self) -> Option<f64> {
        let total = self.working + self.waiting_total();
        if total.is_zero() {
            return None;
        }
        Some(self.working.as_secs_f64() / total.as_secs_f64())
    }

    /// Bug fixes as a share of merges.
    pub fn bug_fix_share(&self) -> Option<f64> {
        share(
            usize::try_from(self.bug_fixes).unwrap_or(usize::MAX),
            self.merges,
        )
    }

    /// Mean review rounds per merged PR.
    pub fn review_rounds_per_merge(&self) -> Option<f64> {
        (self.merges > 0).then(|| f64::from(self.review_rounds) / f64::from(self.merges))
    }

    /// The period's spend per merged PR.
    pub fn cost_per_merge(&self) -> Option<Usd> {
        (self.merges > 0).then(|| Usd::from_micros(self.cost.as_micros() / i64::from(self.merges)))
    }
}

fn share(part: usize, whole: u32) -> Option<f64> {
    (whole > 0).then(|| part as f64 / f64::from(whole))
}

/// The report `squadron metrics` prints and `/metrics` exports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeliveryReport {
    /// The period's start: the one asked for, else the first admission (else its end).
    pub from: Timestamp,
    /// The period's end.
    pub to: Timestamp,
    /// Every squad given.
    pub total: DeliveryFigures,
    /// Per repository, by name; squads of unconfigured teams are only in the total.
    pub by_repository: Vec<(String, DeliveryFigures)>,
    /// Per run, oldest first.
    pub by_run: Vec<(RunId, DeliveryFigures)>,
}

impl DeliveryReport {
    /// Computes the report of `squads` over `period`. Failures are looked for among all of
    /// `squads` (a fix may blame a PR of another run or repository).
    pub fn compute(squads: &[SquadFacts], period: Period) -> DeliveryReport {
        let from = period.from.unwrap_or_else(|| {
            squads
                .iter()
                .map(|facts| facts.admitted_at)
                .min()
                .unwrap_or(period.to)
                .min(period.to)
        });
        let failures = change_failures(squads, period.to);
        let figures = |of: &[&SquadFacts]| figures(of, &failures, from, period.to);

        let all: Vec<&SquadFacts> = squads.iter().collect();
        let mut repositories: BTreeMap<&str, Vec<&SquadFacts>> = BTreeMap::new();
        let mut runs: Vec<(RunId, Timestamp, Vec<&SquadFacts>)> = Vec::new();
        for facts in squads {
            if let Some(repository) = &facts.repository {
                repositories.entry(repository).or_default().push(facts);
            }
            match runs.iter_mut().find(|(run, _, _)| *run == facts.run) {
                Some((_, first, of_run)) => {
                    *first = (*first).min(facts.admitted_at);
                    of_run.push(facts);
                }
                None => runs.push((facts.run.clone(), facts.admitted_at, vec![facts])),
            }
        }
        runs.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        DeliveryReport {
            from,
            to: period.to,
            total: figures(&all),
            by_repository: repositories
                .into_iter()
                .map(|(name, of)| (name.to_owned(), figures(&of)))
                .collect(),
            by_run: runs
                .into_iter()
                .map(|(run, _, of)| (run, figures(&of)))
                .collect(),
        }
    }
}

/// Every merged change found to have failed by `to`: reverted, or named by a later bug fix.
fn change_failures(squads: &[SquadFacts], to: Timestamp) -> Vec<ChangeFailure> {
    let mut failures = Vec::new();
    for facts in squads {
        let Some(merge) = &facts.merge else { continue };
        let failure = |cause, at| ChangeFailure {
            squad: facts.squad.clone(),
            issue: facts.issue.clone(),
            pr: merge.pr,
            cause,
            at,
        };
        if let Some(at) = facts.reverted_at.filter(|at| *at <= to) {
            failures.push(failure(FailureCause::Reverted, at));
            continue;
        }
        let Some(url) = &merge.url else { continue };
        let blamer = squads
            .iter()
            .filter(|fix| {
                fix.kind == SquadKind::BugFix
                    && fix.squad != facts.squad
                    && fix.admitted_at >= merge.at
                    && fix.admitted_at <= to
                    && fix.blames.iter().any(|blamed| blamed == url)
            })
            .min_by_key(|fix| fix.admitted_at);
        if let Some(fix) = blamer {
            failures.push(failure(
                FailureCause::BlamedBy(fix.issue.clone()),
                fix.admitted_at,
            ));
        }
    }
    failures
}

fn figures(
    squads: &[&SquadFacts],
    failures: &[ChangeFailure],
    from: Timestamp,
    to: Timestamp,
) -> DeliveryFigures {
    let within = |at: Timestamp| at >= from && at <= to;
    // A revert takes a change back rather than delivering one: it counts as the reverted
    // change's failure, not as a merged change of its own (its cost and load still count).
    let mut merged: Vec<&SquadFacts> = squads
        .iter()
        .copied()
        .filter(|facts| facts.kind != SquadKind::Revert && facts.merged_at().is_some_and(within))
        .collect();
    merged.sort_by_key(|facts| (facts.merged_at(), facts.squad.clone()));
    let first = Day::of(from);
    let last = Day::of(to);
    let days: Vec<Day> = (first.0..=last.0).map(Day).collect();

    let mut working = Duration::ZERO;
    let mut waiting: BTreeMap<Wait, Duration> = Wait::ALL
        .iter()
        .map(|wait| (*wait, Duration::ZERO))
        .collect();
    for facts in &merged {
        for (index, (at, phase)) in facts.phases.iter().enumerate() {
            let Some((next, _)) = facts.phases.get(index + 1) else {
                break;
            };
            let spent = next.since(*at);
            match FlowState::of(phase) {
                FlowState::Working => working += spent,
                FlowState::Waiting(wait) => *waiting.entry(wait).or_default() += spent,
                FlowState::Ended => {}
            }
        }
    }

    let change_failures = merged
        .iter()
        .filter_map(|facts| failures.iter().find(|failure| failure.squad == facts.squad))
        .cloned()
        .collect();
    // The period includes its last instant; a day's window ends where the next begins.
    let end = to + Duration::from_millis(1);

    DeliveryFigures {
        merges: count(merged.len()),
        days: count(days.len()),
        throughput: days
            .iter()
            .map(|day| {
                let on_day = merged
                    .iter()
                    .filter(|facts| facts.merged_at().is_some_and(|at| Day::of(at) == *day))
                    .count();
                (*day, count(on_day))
            })
            .collect(),
        lead_times: merged
            .iter()
            .filter_map(|facts| Some(facts.merged_at()?.since(facts.admitted_at)))
            .collect(),
        change_failures,
        restore_times: merged
            .iter()
            .filter_map(|facts| facts.time_to_restore)
            .collect(),
        working,
        waiting,
        load: days
            .iter()
            .map(|day| {
                let window = (day.start().max(from), day.end().min(end));
                (*day, peak_in_progress(squads, window))
            })
            .collect(),
        in_progress: count(
            squads
                .iter()
                .filter(|facts| in_progress_at(facts, to))
                .count(),
        ),
        features: count(
            merged
                .iter()
                .filter(|facts| facts.kind == SquadKind::Feature)
                .count(),
        ),
        bug_fixes: count(
            merged
                .iter()
                .filter(|facts| facts.kind == SquadKind::BugFix)
                .count(),
        ),
        review_rounds: merged.iter().map(|facts| facts.review_rounds).sum(),
        flaky_checks: merged.iter().map(|facts| facts.flaky_checks).sum(),
        cost: squads
            .iter()
            .filter(|facts| facts.ended_at().is_some_and(within))
            .map(|facts| facts.cost)
            .sum(),
    }
}

/// Whether the squad was admitted and had not ended at `at`. A skipped squad never started
/// work, however long its skip comment took, so it never counts.
fn in_progress_at(facts: &SquadFacts, at: Timestamp) -> bool {
    let skipped = matches!(facts.phases.last(), Some((_, Phase::Skipped(_))));
    !skipped && facts.admitted_at <= at && facts.ended_at().is_none_or(|ended| ended > at)
}

/// The most squads in progress at once within `[start, end)`: the count at `start`, then
/// after each admission inside the window (only an admission raises the count).
fn peak_in_progress(squads: &[&SquadFacts], (start, end): (Timestamp, Timestamp)) -> u32 {
    if start >= end {
        return 0;
    }
    let mut instants = vec![start];
    instants.extend(
        squads
            .iter()
            .map(|facts| facts.admitted_at)
            .filter(|at| *at > start && *at < end),
    );
    instants
        .into_iter()
        .map(|at| {
            count(
                squads
                    .iter()
                    .filter(|facts| in_progress_at(facts, at))
                    .count(),
            )
        })
        .max()
        .unwrap_or(0)
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The median of `values`, the mean of the middle two for an even count; `None` when empty.
pub fn median(values: &[Duration]) -> Option<Duration> {
    let mut sorted = values.to_vec();
    sorted.sort();
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[middle]),
        _ => Some((sorted[middle - 1] + sorted[middle]) / 2),
    }
}

/// The `percent`th percentile of `values` by the nearest-rank method; `None` when empty.
pub fn percentile(values: &[Duration], percent: u32) -> Option<Duration> {
    let mut sorted = values.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return None;
    }
    let rank = (sorted.len() * percent.min(100) as usize)
        .div_ceil(100)
        .max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10:00 UTC on 2023-11-14, plus `minutes`.
    fn at(minutes: i64) -> Timestamp {
        Timestamp::from_millis(1_699_956_000_000 + minutes * 60_000)
    }

    fn minutes(n: u64) -> Duration {
        Duration::from_secs(n * 60)
    }

    fn squad(id: &str, kind: SquadKind, phases: &[(i64, Phase)]) -> SquadFacts {
        SquadFacts {
            squad: SquadId::from(id),
            run: RunId::from(if kind == SquadKind::BugFix {
                "r2"
            } else {
                "r1"
            }),
            issue: IssueKey::from(format!("ENG-{id}")),
            repository: Some("acme/shop".into()),
            kind,
            admitted_at: at(phases[0].0),
            phases: phases
                .iter()
                .map(|(minute, phase)| (at(*minute), phase.clone()))
                .collect(),
            merge: None,
            review_rounds: 0,
            cost: Usd::ZERO,
            time_to_restore: None,
            reverted_at: None,
            blames: Vec::new(),
            flaky_checks: 0,
        }
    }

    fn merged(mut facts: SquadFacts, pr: u64, rounds: u32, dollars: f64) -> SquadFacts {
        let (at, phase) = facts.phases.last().expect("phases").clone();
        assert_eq!(phase, Phase::Merged);
        facts.merge = Some(MergeFacts {
            at,
            pr: PrNumber(pr),
            url: Some(format!("https://github.com/acme/shop/pull/{pr}")),
        });
        facts.review_rounds = rounds;
        facts.cost = Usd::from_dollars(dollars);
        facts
    }

    /// A merged then reverted, B waiting for A then blamed by the bug fix F, C stopped for
    /// a person.
    fn history() -> Vec<SquadFacts> {
        use Phase::*;
        let mut a = merged(
            squad(
                "A",
                SquadKind::Feature,
                &[
                    (0, Queued),
                    (1, Preparing),
                    (2, Implementing),
                    (10, Verifying),
                    (12, PrOpen),
                    (12, Reviewing),
                    (20, Approved),
                    (25, Merging),
                    (26, Merged),
                ],
            ),
            1,
            1,
            1.0,
        );
        a.reverted_at = Some(at(100));
        let b = merged(
            squad(
                "B",
                SquadKind::Feature,
                &[
                    (0, Queued),
                    (26, Preparing),
                    (27, Implementing),
                    (30, Verifying),
                    (31, PrOpen),
                    (31, Reviewing),
                    (35, Fixing),
                    (40, Reviewing),
                    (45, Approved),
                    (46, Merging),
                    (47, Merged),
                ],
            ),
            2,
            2,
            2.0,
        );
        let mut c = squad(
            "C",
            SquadKind::Feature,
            &[
                (0, Queued),
                (5, Preparing),
                (30, NeedsHuman("stuck".into())),
            ],
        );
        c.cost = Usd::from_dollars(0.5);
        let mut f = merged(
            squad(
                "F",
                SquadKind::BugFix,
                &[
                    (60, Queued),
                    (60, Preparing),
                    (61, Diagnosing),
                    (65, Implementing),
                    (70, Verifying),
                    (71, PrOpen),
                    (71, Reviewing),
                    (80, Approved),
                    (85, Merging),
                    (90, Merged),
                ],
            ),
            3,
            1,
            1.5,
        );
        f.time_to_restore = Some(minutes(30));
        f.blames = vec!["https://github.com/acme/shop/pull/2".into()];
        vec![a, b, c, f]
    }

    #[test]
    fn the_whole_history_counts_merges_failures_flow_and_cost() {
        let report = DeliveryReport::compute(
            &history(),
            Period {
                from: None,
                to: at(120),
            },
        );
        assert_eq!(report.from, at(0));
        let total = &report.total;
        assert_eq!(total.merges, 3);
        assert_eq!(total.days, 1);
        assert_eq!(total.throughput, vec![(Day::of(at(0)), 3)]);
        assert!((total.merges_per_day() - 3.0).abs() < 1e-9);
        assert_eq!(
            total.lead_times,
            vec![minutes(26), minutes(47), minutes(30)]
        );
        assert_eq!(median(&total.lead_times), Some(minutes(30)));
        assert_eq!(
            total
                .change_failures
                .iter()
                .map(|failure| (failure.pr, failure.cause.clone(), failure.at))
                .collect::<Vec<_>>(),
            vec![
                (PrNumber(1), FailureCause::Reverted, at(100)),
                (
                    PrNumber(2),
                    FailureCause::BlamedBy(IssueKey::from("ENG-F")),
                    at(60)
                ),
            ]
        );
        assert_eq!(total.change_failure_rate(), Some(2.0 / 3.0));
        assert_eq!(total.restore_times, vec![minutes(30)]);
        assert_eq!(total.working, minutes(11 + 10 + 11));
        assert_eq!(total.waiting[&Wait::BlockerOrSlot], minutes(1 + 26));
        assert_eq!(total.waiting[&Wait::Reviews], minutes(8 + 9 + 9));
        assert_eq!(
            total.waiting[&Wait::ChecksAndMergeLane],
            minutes(6 + 2 + 10)
        );
        assert_eq!(total.flow_efficiency(), Some(32.0 / 103.0));
        assert_eq!(total.load, vec![(Day::of(at(0)), 3)]);
        assert_eq!(total.in_progress, 0);
        assert_eq!((total.features, total.bug_fixes), (2, 1));
        assert_eq!(total.review_rounds_per_merge(), Some(4.0 / 3.0));
        assert_eq!(total.cost, Usd::from_dollars(5.0));
        assert_eq!(total.cost_per_merge(), Some(Usd::from_micros(1_666_666)));
        assert_eq!(report.by_repository.len(), 1);
        assert_eq!(report.by_repository[0].1, *total);
        let runs: Vec<(&str, u32)> = report
            .by_run
            .iter()
            .map(|(run, figures)| (run.as_str(), figures.merges))
            .collect();
        assert_eq!(runs, vec![("r1", 2), ("r2", 1)]);
    }

    #[test]
    fn a_period_counts_only_what_merged_and_ended_in_it() {
        let report = DeliveryReport::compute(
            &history(),
            Period {
                from: Some(at(50)),
                to: at(95),
            },
        );
        let total = &report.total;
        assert_eq!(total.merges, 1);
        assert_eq!(total.lead_times, vec![minutes(30)]);
        // A's revert comes after the period; F itself did not fail.
        assert!(total.change_failures.is_empty());
        assert_eq!(total.change_failure_rate(), Some(0.0));
        assert_eq!(total.cost, Usd::from_dollars(1.5));
        assert_eq!(total.load, vec![(Day::of(at(50)), 1)]);
    }

    #[test]
    fn load_counts_squads_in_progress_and_a_squad_still_running() {
        use Phase::*;
        let running = squad("D", SquadKind::Feature, &[(10, Queued), (11, Implementing)]);
        let skipped = squad(
            "E",
            SquadKind::Feature,
            &[(10, Queued), (12, Skipped("unrefined".into()))],
        );
        let report = DeliveryReport::compute(
            &[running, skipped],
            Period {
                from: None,
                to: at(20),
            },
        );
        assert_eq!(report.total.in_progress, 1);
        assert_eq!(report.total.load, vec![(Day::of(at(10)), 1)]);
        assert_eq!(report.total.merges, 0);
        assert_eq!(report.total.change_failure_rate(), None);
        assert_eq!(report.total.flow_efficiency(), None);
    }

    #[test]
    fn a_period_over_days_counts_each_day() {
        let report = DeliveryReport::compute(
            &history(),
            Period {
                from: Some(at(-24 * 60)),
                to: at(120),
            },
        );
        assert_eq!(report.total.days, 2);
        assert_eq!(
            report.total.throughput,
            vec![(Day::of(at(-24 * 60)), 0), (Day::of(at(0)), 3)]
        );
        assert!((report.total.merges_per_day() - 1.5).abs() < 1e-9);
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let values: Vec<Duration> = (1..=10).map(minutes).collect();
        assert_eq!(percentile(&values, 90), Some(minutes(9)));
        assert_eq!(percentile(&values, 100), Some(minutes(10)));
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(
            median(&[minutes(1), minutes(4)]),
            Some(Duration::from_secs(150))
        );
    }
}
