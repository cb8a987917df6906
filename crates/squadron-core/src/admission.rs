//! Admission: which issues of a milestone get a squad, in what order, and what each waits
//! for; and the comments that tell people why an issue was left out.
//!
//! Pure decisions over issues already read from the tracker: closed issues are skipped
//! silently, unrefined ones with every reason, and blockers decide the start order (urgent
//! work first, blockers before what they block). An issue whose blocker no squad will finish
//! (outside the milestone, skipped, or in a cycle) waits as needs-human, saying why.
//!
//! Squads whose issues name the same files (in their "Files" or "Approach" sections, see
//! [`crate::named_files`]) do not run at once: the one that goes second starts once the
//! first has ended, so their edits never race into a conflict. Unrelated issues still run
//! side by side: an issue goes second only to the issues it shares files with, never makes a
//! more urgent one wait, and among equally urgent ones the first that shares nothing with
//! those already chosen runs alongside them.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use crate::domain::{Issue, IssueKey, StateType};
use crate::named_files::{named_files, shared_files};
use crate::refinement::{NotReady, RefinementPolicy, check_refinement};

/// One reason behind a decision.
#[derive(Clone, Debug, PartialEq)]
pub enum Reason {
    /// The issue is already closed; nothing to do and nothing to say.
    Closed(StateType),
    /// The issue is not refined enough for a squad.
    NotReady(NotReady),
    /// A blocker outside the milestone is still open.
    BlockedOutsideMilestone {
        /// The blocker.
        blocker: IssueKey,
        /// Its state when read.
        state: StateType,
    },
    /// A blocker in the milestone was skipped, so no squad will finish it.
    BlockedBySkipped {
        /// The blocker.
        blocker: IssueKey,
    },
    /// The issue is part of a cycle of `blocks` relations.
    BlockedInCycle {
        /// The issues of the cycle this one waits on.
        cycle: Vec<IssueKey>,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Closed(state) => write!(f, "already {}", state.as_str()),
            Reason::NotReady(not_ready) => not_ready.fmt(f),
            Reason::BlockedOutsideMilestone { blocker, state } => write!(
                f,
                "blocked by {blocker}, which is outside the milestone and still {}: \
                 finish it or remove the relation",
                state.as_str()
            ),
            Reason::BlockedBySkipped { blocker } => write!(
                f,
                "blocked by {blocker}, which was skipped: refine it or remove the relation"
            ),
            Reason::BlockedInCycle { cycle } => {
                let names: Vec<&str> = cycle.iter().map(IssueKey::as_str).collect();
                write!(
                    f,
                    "blocked in a cycle ({}): remove one of the relations",
                    names.join(", ")
                )
            }
        }
    }
}

/// What happens to one issue.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// A squad takes it once every issue in `waits_for` has merged.
    Admit {
        /// Blockers in the milestone, to merge first.
        waits_for: Vec<IssueKey>,
    },
    /// Refined, but a blocker no squad will finish holds it: a person must act.
    NeedsHuman {
        /// Every blocker it waits for.
        waits_for: Vec<IssueKey>,
        /// Why a person is needed.
        reasons: Vec<Reason>,
    },
    /// No squad for it.
    Skip {
        /// Every reason.
        reasons: Vec<Reason>,
    },
}

/// An issue of the milestone that names some of the same files as another and goes first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overlap {
    /// The issue that goes first.
    pub issue: IssueKey,
    /// The files both name, in their more precise form.
    pub files: Vec<String>,
}

/// The decision for one issue.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// The issue's identifier.
    pub key: IssueKey,
    /// Its title, for people reading the plan.
    pub title: String,
    /// What happens to it.
    pub verdict: Verdict,
    /// Admitted issues naming the same files that go first: its squad starts once each of
    /// theirs has ended (merged, or stopped any other way). Empty unless it is admitted.
    pub after: Vec<Overlap>,
}

impl Decision {
    /// Whether a squad will be created for the issue (possibly waiting for a person).
    pub fn is_admitted(&self) -> bool {
        !matches!(self.verdict, Verdict::Skip { .. })
    }

    /// The issues it waits for.
    pub fn waits_for(&self) -> &[IssueKey] {
        match &self.verdict {
            Verdict::Admit { waits_for } | Verdict::NeedsHuman { waits_for, .. } => waits_for,
            Verdict::Skip { .. } => &[],
        }
    }

    /// Every reason behind the decision.
    pub fn reasons(&self) -> &[Reason] {
        match &self.verdict {
            Verdict::Admit { .. } => &[],
            Verdict::NeedsHuman { reasons, .. } | Verdict::Skip { reasons } => reasons,
        }
    }
}

/// Decisions for a whole milestone: admitted issues in start order, then skipped ones in
/// the tracker's order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Admission {
    /// Every issue's decision.
    pub decisions: Vec<Decision>,
}

impl Admission {
    /// Decisions that create a squad, in start order.
    pub fn admitted(&self) -> impl Iterator<Item = &Decision> {
        self.decisions
            .iter()
            .filter(|decision| decision.is_admitted())
    }

    /// Decisions that create none.
    pub fn skipped(&self) -> impl Iterator<Item = &Decision> {
        self.decisions
            .iter()
            .filter(|decision| !decision.is_admitted())
    }
}

/// Decides every issue of a milestone under `policy`.
pub fn admit(issues: &[Issue], policy: &RefinementPolicy) -> Admission {
    let in_milestone: HashMap<&IssueKey, &Issue> =
        issues.iter().map(|issue| (&issue.key, issue)).collect();

    // First pass: each issue on its own (state and refinement).
    let mut skip_reasons: HashMap<&IssueKey, Vec<Reason>> = HashMap::new();
    for issue in issues {
        let reasons = if issue.state.kind.is_closed() {
            vec![Reason::Closed(issue.state.kind)]
        } else {
            check_refinement(&issue.acceptance_criteria, issue.estimate, policy)
                .into_iter()
                .map(Reason::NotReady)
                .collect()
        };
        if !reasons.is_empty() {
            skip_reasons.insert(&issue.key, reasons);
        }
    }

    // Second pass: blockers of admitted issues.
    let mut waits: HashMap<&IssueKey, Vec<IssueKey>> = HashMap::new();
    let mut human_reasons: HashMap<&IssueKey, Vec<Reason>> = HashMap::new();
    for issue in issues
        .iter()
        .filter(|issue| !skip_reasons.contains_key(&issue.key))
    {
        let mut waits_for = Vec::new();
        let mut reasons = Vec::new();
        for blocker in &issue.blocked_by {
            match in_milestone.get(&blocker.key) {
                Some(blocking) if blocking.state.kind.is_closed() => {}
                Some(_) => {
                    if skip_reasons.contains_key(&blocker.key) {
                        reasons.push(Reason::BlockedBySkipped {
                            blocker: blocker.key.clone(),
                        });
                    }
                    waits_for.push(blocker.key.clone());
                }
                None if blocker.state.is_closed() => {}
                None => {
                    reasons.push(Reason::BlockedOutsideMilestone {
                        blocker: blocker.key.clone(),
                        state: blocker.state,
                    });
                    waits_for.push(blocker.key.clone());
                }
            }
        }
        waits_for.dedup();
        waits.insert(&issue.key, waits_for);
        if !reasons.is_empty() {
            human_reasons.insert(&issue.key, reasons);
        }
    }

    let (order, _) = start_order(issues, &waits);
    let mut after = overlap_waits(issues, &order, &waits, &human_reasons);
    let mut holds = waits.clone();
    for (&index, overlaps) in &after {
        if let Some(list) = holds.get_mut(&issues[index].key) {
            list.extend(overlaps.iter().map(|overlap| overlap.issue.clone()));
        }
    }
    // Going second to an issue sharing files never makes a cycle (see `overlap_waits`).
    let (order, cyclic) = start_order(issues, &holds);
    let position: HashMap<&IssueKey, usize> = order
        .iter()
        .enumerate()
        .map(|(position, &index)| (&issues[index].key, position))
        .collect();
    for overlaps in after.values_mut() {
        overlaps.sort_by_key(|overlap| position.get(&overlap.issue).copied());
    }
    let mut decisions = Vec::with_capacity(issues.len());
    let mut cycle_members: Vec<IssueKey> = cyclic
        .iter()
        .map(|&index| issues[index].key.clone())
        .collect();
    cycle_members.sort();
    for index in order.into_iter().chain(cyclic.iter().copied()) {
        let issue = &issues[index];
        let waits_for = waits.remove(&issue.key).unwrap_or_default();
        let mut reasons = human_reasons.remove(&issue.key).unwrap_or_default();
        if cyclic.contains(&index) {
            let cycle = waits_for
                .iter()
                .filter(|key| cycle_members.contains(key))
                .cloned()
                .collect();
            reasons.push(Reason::BlockedInCycle { cycle });
        }
        let verdict = if reasons.is_empty() {
            Verdict::Admit { waits_for }
        } else {
            Verdict::NeedsHuman { waits_for, reasons }
        };
        decisions.push(Decision {
            key: issue.key.clone(),
            title: issue.title.clone(),
            verdict,
            after: after.remove(&index).unwrap_or_default(),
        });
    }
    for issue in issues {
        if let Some(reasons) = skip_reasons.remove(&issue.key) {
            decisions.push(Decision {
                key: issue.key.clone(),
                title: issue.title.clone(),
                verdict: Verdict::Skip { reasons },
                after: Vec::new(),
            });
        }
    }
    Admission { decisions }
}

/// Orders the admitted issues (those in `waits`) so every blocker comes before what it
/// blocks and, among issues free to start, higher priority first, then the tracker's order.
/// Returns the order and, separately, the issues caught in cycles.
fn start_order(
    issues: &[Issue],
    waits: &HashMap<&IssueKey, Vec<IssueKey>>,
) -> (Vec<usize>, Vec<usize>) {
    let index_of: HashMap<&IssueKey, usize> = issues
        .iter()
        .enumerate()
        .filter(|(_, issue)| waits.contains_key(&issue.key))
        .map(|(index, issue)| (&issue.key, index))
        .collect();
    let mut pending: HashMap<usize, usize> = HashMap::new();
    let mut unblocks: HashMap<usize, Vec<usize>> = HashMap::new();
    for (key, &index) in &index_of {
        let blockers: Vec<usize> = waits[key]
            .iter()
            .filter_map(|b| index_of.get(b).copied())
            .collect();
        pending.insert(index, blockers.len());
        for blocker in blockers {
            unblocks.entry(blocker).or_default().push(index);
        }
    }
    let rank = |index: usize| (issues[index].priority.rank(), index);
    let mut ready: BTreeSet<(u8, usize)> = pending
        .iter()
        .filter(|(_, count)| **count == 0)
        .map(|(&index, _)| rank(index))
        .collect();
    let mut order = Vec::with_capacity(index_of.len());
    while let Some(next) = ready.pop_first() {
        let index = next.1;
        order.push(index);
        for &blocked in unblocks.get(&index).map(Vec::as_slice).unwrap_or_default() {
            if let Some(count) = pending.get_mut(&blocked) {
                *count -= 1;
                if *count == 0 {
                    ready.insert(rank(blocked));
                }
            }
        }
    }
    let mut cyclic: Vec<usize> = pending
        .into_iter()
        .filter(|(index, _)| !order.contains(index))
        .map(|(index, _)| index)
        .collect();
    cyclic.sort_by_key(|&index| rank(index));
    (order, cyclic)
}

/// Which admitted issues go second to which others because both name the same files, by
/// the issue's index, each list in start order.
///
/// Only issues a squad will work count: not those waiting for a person, nor those behind a
/// blocker that is. Each is given a wave in the blockers' start `order`: the first at or
/// after its blockers' waves and those of more urgent issues sharing files with it, in which
/// no issue sharing files with it is. An issue then goes second to every issue sharing files
/// with it in an earlier wave, except its own blockers and what they wait for (which merge
/// before it starts anyway). Both kinds of waits point from an earlier wave to a later one,
/// so together they cannot form a cycle.
fn overlap_waits(
    issues: &[Issue],
    order: &[usize],
    blockers: &HashMap<&IssueKey, Vec<IssueKey>>,
    human_reasons: &HashMap<&IssueKey, Vec<Reason>>,
) -> HashMap<usize, Vec<Overlap>> {
    // Issues a squad will work, in start order, with their blockers among them.
    let mut runnable: Vec<usize> = Vec::new();
    let mut index_of: HashMap<&IssueKey, usize> = HashMap::new();
    let mut runs_blockers: HashMap<usize, Vec<usize>> = HashMap::new();
    for &index in order {
        let key = &issues[index].key;
        if human_reasons.contains_key(key) {
            continue;
        }
        let waits_for = blockers.get(key).map(Vec::as_slice).unwrap_or_default();
        let known: Vec<usize> = waits_for
            .iter()
            .filter_map(|blocker| index_of.get(blocker).copied())
            .collect();
        if known.len() < waits_for.len() {
            // A blocker no squad will merge: this one ends before it starts.
            continue;
        }
        index_of.insert(key, index);
        runs_blockers.insert(index, known);
        runnable.push(index);
    }
    let mut ancestors: HashMap<usize, BTreeSet<usize>> = HashMap::new();
    for &index in &runnable {
        let mut set = BTreeSet::new();
        for &blocker in &runs_blockers[&index] {
            set.insert(blocker);
            set.extend(ancestors[&blocker].iter().copied());
        }
        ancestors.insert(index, set);
    }
    let files: HashMap<usize, Vec<String>> = runnable
        .iter()
        .map(|&index| (index, named_files(&issues[index].description)))
        .collect();
    let mut shared: HashMap<(usize, usize), Vec<String>> = HashMap::new();
    for (n, &a) in runnable.iter().enumerate() {
        for &b in &runnable[n + 1..] {
            if ancestors[&a].contains(&b) || ancestors[&b].contains(&a) {
                continue;
            }
            let both = shared_files(&files[&a], &files[&b]);
            if !both.is_empty() {
                shared.insert((a, b), both.clone());
                shared.insert((b, a), both);
            }
        }
    }
    let rank = |index: usize| issues[index].priority.rank();
    let mut wave: HashMap<usize, usize> = HashMap::new();
    for (n, &index) in runnable.iter().enumerate() {
        let placed = &runnable[..n];
        let sharing: Vec<usize> = placed
            .iter()
            .copied()
            .filter(|&other| shared.contains_key(&(index, other)))
            .collect();
        let floor = runs_blockers[&index]
            .iter()
            .chain(sharing.iter().filter(|&&other| rank(other) < rank(index)))
            .map(|other| wave[other] + 1)
            .max()
            .unwrap_or(0);
        let mut chosen = floor;
        while sharing.iter().any(|other| wave[other] == chosen) {
            chosen += 1;
        }
        wave.insert(index, chosen);
    }
    let mut after: HashMap<usize, Vec<Overlap>> = HashMap::new();
    for &index in &runnable {
        let overlaps: Vec<Overlap> = runnable
            .iter()
            .filter(|&&other| wave[&other] < wave[&index])
            .filter_map(|&other| {
                shared.get(&(index, other)).map(|files| Overlap {
                    issue: issues[other].key.clone(),
                    files: files.clone(),
                })
            })
            .collect();
        if !overlaps.is_empty() {
            after.insert(index, overlaps);
        }
    }
    after
}

/// A comment for the tracker, carrying a marker so it is never posted twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackerComment {
    /// A stable key of what the comment says; the adapter hides it in the body.
    pub marker: String,
    /// The Markdown body.
    pub body: String,
}

/// The comment explaining why Squadron skipped (or parked) an issue; `None` when the
/// decision needs no comment (admitted, or skipped silently because already closed).
///
/// The marker is derived from the reasons, so the same reasons are posted once however
/// many times the milestone is planned, and a changed set of reasons is posted again.
pub fn decision_comment(decision: &Decision) -> Option<TrackerComment> {
    let (heading, reasons) = match &decision.verdict {
        Verdict::Admit { .. } => return None,
        Verdict::Skip { reasons } if reasons.iter().all(|r| matches!(r, Reason::Closed(_))) => {
            return None;
        }
        Verdict::Skip { reasons } => (
            "Squadron skipped this issue; a squad can take it once this is fixed:",
            reasons,
        ),
        Verdict::NeedsHuman { reasons, .. } => (
            "Squadron admitted this issue, but it waits for a person:",
            reasons,
        ),
    };
    let lines: Vec<String> = reasons.iter().map(|reason| format!("- {reason}")).collect();
    let body = format!("{heading}\n\n{}", lines.join("\n"));
    Some(TrackerComment {
        marker: format!("admission-{:016x}", fnv1a(body.as_bytes())),
        body,
    })
}

/// 64-bit FNV-1a: a stable, dependency-free fingerprint for markers (not for security).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acceptance::parse_acceptance_criteria;
    use crate::domain::{BlockingIssue, IssueId, IssueState, Priority};

    const REFINED: &str = "Scenario: pay\n  Given a cart\n  When I pay\n  Then I get a receipt\n";

    fn issue(key: &str, priority: Priority, description: &str, estimate: Option<f64>) -> Issue {
        Issue {
            id: IssueId::new(format!("id-{key}")),
            key: IssueKey::new(key),
            title: format!("title of {key}"),
            description: description.to_owned(),
            acceptance_criteria: parse_acceptance_criteria(description),
            estimate,
            priority,
            state: IssueState {
                name: "Todo".to_owned(),
                kind: StateType::Unstarted,
            },
            labels: Vec::new(),
            branch_name: key.to_lowercase(),
            url: String::new(),
            team_key: "ENG".to_owned(),
            blocked_by: Vec::new(),
            attachments: Vec::new(),
        }
    }

    fn blocked_by(mut issue: Issue, key: &str, state: StateType) -> Issue {
        issue.blocked_by.push(BlockingIssue {
            id: IssueId::new(format!("id-{key}")),
            key: IssueKey::new(key),
            state,
        });
        issue
    }

    fn policy() -> RefinementPolicy {
        RefinementPolicy {
            max_estimate: Some(5.0),
            require_estimate: false,
        }
    }

    fn keys<'a>(decisions: impl Iterator<Item = &'a Decision>) -> Vec<&'a str> {
        decisions.map(|decision| decision.key.as_str()).collect()
    }

    #[test]
    fn orders_by_priority_then_puts_blockers_first() {
        let issues = vec![
            issue("ENG-1", Priority::Low, REFINED, Some(1.0)),
            blocked_by(
                issue("ENG-2", Priority::Urgent, REFINED, Some(1.0)),
                "ENG-1",
                StateType::Unstarted,
            ),
            issue("ENG-3", Priority::High, REFINED, Some(1.0)),
            issue("ENG-4", Priority::None, REFINED, Some(1.0)),
        ];
        let admission = admit(&issues, &policy());
        assert_eq!(
            keys(admission.admitted()),
            ["ENG-3", "ENG-1", "ENG-2", "ENG-4"]
        );
        assert_eq!(admission.decisions[2].waits_for(), [IssueKey::new("ENG-1")]);
    }

    #[test]
    fn skips_closed_silently_and_unrefined_with_every_reason() {
        let mut done = issue("ENG-1", Priority::None, REFINED, Some(1.0));
        done.state.kind = StateType::Completed;
        let issues = vec![
            done,
            issue("ENG-2", Priority::None, "no criteria", Some(8.0)),
        ];
        let admission = admit(&issues, &policy());
        assert_eq!(admission.admitted().count(), 0);
        assert_eq!(decision_comment(&admission.decisions[0]), None);
        let reasons: Vec<String> = admission.decisions[1]
            .reasons()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(reasons.len(), 2, "{reasons:?}");
        assert!(reasons[0].contains("no acceptance criteria"), "{reasons:?}");
        assert!(reasons[1].contains("estimate is 8"), "{reasons:?}");
        let comment =
            decision_comment(&admission.decisions[1]).expect("unrefined issues get a comment");
        assert!(comment.body.contains(&reasons[1]));
    }

    #[test]
    fn blockers_no_squad_will_finish_need_a_human() {
        let issues = vec![
            issue("ENG-1", Priority::None, "unrefined", None),
            blocked_by(
                issue("ENG-2", Priority::None, REFINED, None),
                "ENG-1",
                StateType::Unstarted,
            ),
            blocked_by(
                issue("ENG-3", Priority::None, REFINED, None),
                "OPS-9",
                StateType::Started,
            ),
            blocked_by(
                issue("ENG-4", Priority::None, REFINED, None),
                "OPS-8",
                StateType::Completed,
            ),
            blocked_by(
                issue("ENG-5", Priority::None, REFINED, None),
                "ENG-6",
                StateType::Unstarted,
            ),
            blocked_by(
                issue("ENG-6", Priority::None, REFINED, None),
                "ENG-5",
                StateType::Unstarted,
            ),
        ];
        let admission = admit(&issues, &policy());
        let verdict_of = |key: &str| {
            admission
                .decisions
                .iter()
                .find(|d| d.key.as_str() == key)
                .map(|d| d.verdict.clone())
        };
        assert!(matches!(
            verdict_of("ENG-2"),
            Some(Verdict::NeedsHuman { .. })
        ));
        assert!(matches!(
            verdict_of("ENG-3"),
            Some(Verdict::NeedsHuman { reasons, .. })
                if reasons == [Reason::BlockedOutsideMilestone {
                    blocker: IssueKey::new("OPS-9"),
                    state: StateType::Started,
                }]
        ));
        assert_eq!(
            verdict_of("ENG-4"),
            Some(Verdict::Admit {
                waits_for: Vec::new()
            })
        );
        assert!(matches!(
            verdict_of("ENG-5"),
            Some(Verdict::NeedsHuman { reasons, .. }) if matches!(reasons[0], Reason::BlockedInCycle { .. })
        ));
    }

    /// A refined issue whose Files section names `files`.
    fn touching(key: &str, priority: Priority, files: &[&str]) -> Issue {
        let list: Vec<String> = files.iter().map(|file| format!("- {file}\n")).collect();
        let description = format!("{REFINED}\n## Files\n{}", list.concat());
        issue(key, priority, &description, Some(1.0))
    }

    /// Each admitted issue with the issues it goes second to, in start order.
    fn holds(admission: &Admission) -> Vec<(&str, Vec<&str>)> {
        admission
            .admitted()
            .map(|decision| {
                let after = decision.after.iter().map(|o| o.issue.as_str()).collect();
                (decision.key.as_str(), after)
            })
            .collect()
    }

    #[test]
    fn an_issue_naming_the_same_file_goes_second_and_an_unrelated_one_runs_alongside() {
        let issues = vec![
            touching("ENG-1", Priority::None, &["src/cart.rs", "src/lib.rs"]),
            touching("ENG-2", Priority::None, &["src/cart.rs"]),
            touching("ENG-3", Priority::None, &["src/pay.rs"]),
        ];
        let admission = admit(&issues, &policy());
        assert_eq!(
            holds(&admission),
            [
                ("ENG-1", vec![]),
                ("ENG-2", vec!["ENG-1"]),
                ("ENG-3", vec![])
            ]
        );
        assert_eq!(
            admission.decisions[1].after,
            [Overlap {
                issue: IssueKey::new("ENG-1"),
                files: vec!["src/cart.rs".to_owned()],
            }]
        );
        assert!(admission.decisions[1].waits_for().is_empty());
    }

    #[test]
    fn issues_without_shared_files_or_files_sections_hold_nobody() {
        let issues = vec![
            touching("ENG-1", Priority::None, &["src/cart.rs"]),
            touching("ENG-2", Priority::None, &["src/pay.rs"]),
            issue("ENG-3", Priority::None, REFINED, Some(1.0)),
        ];
        let admission = admit(&issues, &policy());
        assert_eq!(
            holds(&admission),
            [("ENG-1", vec![]), ("ENG-2", vec![]), ("ENG-3", vec![])]
        );
    }

    #[test]
    fn a_chain_of_overlaps_runs_its_ends_together_and_the_middle_after_both() {
        // ENG-1 and ENG-3 share nothing: only ENG-2, which shares with both, waits.
        let issues = vec![
            touching("ENG-1", Priority::None, &["src/a.rs"]),
            touching("ENG-2", Priority::None, &["src/a.rs", "src/b.rs"]),
            touching("ENG-3", Priority::None, &["src/b.rs"]),
        ];
        let admission = admit(&issues, &policy());
        assert_eq!(
            holds(&admission),
            [
                ("ENG-1", vec![]),
                ("ENG-3", vec![]),
                ("ENG-2", vec!["ENG-1", "ENG-3"])
            ]
        );
    }

    #[test]
    fn a_less_urgent_issue_never_holds_a_more_urgent_one() {
        let issues = vec![
            touching("ENG-1", Priority::Urgent, &["src/a.rs"]),
            touching("ENG-2", Priority::Urgent, &["src/a.rs", "src/b.rs"]),
            touching("ENG-3", Priority::Low, &["src/b.rs"]),
        ];
        let admission = admit(&issues, &policy());
        assert_eq!(
            holds(&admission),
            [
                ("ENG-1", vec![]),
                ("ENG-2", vec!["ENG-1"]),
                ("ENG-3", vec!["ENG-2"])
            ]
        );
    }

    #[test]
    fn a_ring_of_overlaps_is_ordered_without_a_cycle() {
        let issues = vec![
            touching("ENG-1", Priority::None, &["src/a.rs", "src/c.rs"]),
            touching("ENG-2", Priority::None, &["src/a.rs", "src/b.rs"]),
            touching("ENG-3", Priority::None, &["src/b.rs", "src/c.rs"]),
        ];
        let admission = admit(&issues, &policy());
        assert_eq!(
            holds(&admission),
            [
                ("ENG-1", vec![]),
                ("ENG-2", vec!["ENG-1"]),
                ("ENG-3", vec!["ENG-1", "ENG-2"])
            ]
        );
        assert!(
            admission
                .admitted()
                .all(|decision| matches!(decision.verdict, Verdict::Admit { .. }))
        );
    }

    #[test]
    fn blockers_come_first_and_blocked_cycles_hold_nobody() {
        let issues = vec![
            // ENG-2 is blocked by ENG-1 and shares its file: the blocker is wait enough.
            touching("ENG-1", Priority::None, &["src/a.rs"]),
            blocked_by(
                touching("ENG-2", Priority::Urgent, &["src/a.rs"]),
                "ENG-1",
                StateType::Unstarted,
            ),
            // ENG-3 shares a file with ENG-2, which is more urgent and after its blocker.
            touching("ENG-3", Priority::None, &["src/a.rs"]),
            // ENG-4 and ENG-5 block each other: no squad works them, so nobody waits.
            blocked_by(
                touching("ENG-4", Priority::None, &["src/x.rs"]),
                "ENG-5",
                StateType::Unstarted,
            ),
            blocked_by(
                touching("ENG-5", Priority::None, &["src/x.rs"]),
                "ENG-4",
                StateType::Unstarted,
            ),
            touching("ENG-6", Priority::None, &["src/x.rs"]),
        ];
        let admission = admit(&issues, &policy());
        assert_eq!(
            holds(&admission),
            [
                ("ENG-1", vec![]),
                ("ENG-2", vec![]),
                ("ENG-3", vec!["ENG-1", "ENG-2"]),
                ("ENG-6", vec![]),
                ("ENG-4", vec![]),
                ("ENG-5", vec![]),
            ]
        );
        assert_eq!(admission.decisions[1].waits_for(), [IssueKey::new("ENG-1")]);
    }

    #[test]
    fn paths_written_differently_still_overlap() {
        let issues = vec![
            issue(
                "ENG-1",
                Priority::None,
                &format!("{REFINED}\n**Approach:** extend `./src/cart.rs:12` and the docs"),
                None,
            ),
            issue(
                "ENG-2",
                Priority::None,
                &format!("{REFINED}\nFiles: [cart.rs](https://example.test/src/cart.rs)"),
                None,
            ),
        ];
        let admission = admit(&issues, &policy());
        assert_eq!(
            admission.decisions[1].after,
            [Overlap {
                issue: IssueKey::new("ENG-1"),
                files: vec!["src/cart.rs".to_owned()],
            }]
        );
    }

    #[test]
    fn comment_marker_follows_the_reasons() {
        let a = admit(&[issue("ENG-1", Priority::None, "x", Some(1.0))], &policy());
        let b = admit(&[issue("ENG-1", Priority::None, "x", Some(9.0))], &policy());
        let again = admit(&[issue("ENG-1", Priority::None, "x", Some(1.0))], &policy());
        let marker =
            |admission: &Admission| decision_comment(&admission.decisions[0]).map(|c| c.marker);
        assert_eq!(marker(&a), marker(&again));
        assert_ne!(marker(&a), marker(&b));
    }
}
