//! The stand-in's in-memory Linear workspace and the builder tests use to fill it.
//!
//! Ids are deterministic UUID-shaped strings so tests can put them in URLs and assert on
//! them; entities keep their creation order, which is the order connections return.

/// Kind of a workflow state, as Linear's `WorkflowState.type` spells it.
pub const STATE_TYPES: [&str; 7] = [
    "triage",
    "backlog",
    "unstarted",
    "started",
    "completed",
    "canceled",
    "duplicate",
];

/// A team with its workflow states.
#[derive(Clone, Debug)]
pub struct Team {
    /// Id.
    pub id: String,
    /// Key used in issue identifiers (`ENG`).
    pub key: String,
    /// Display name.
    pub name: String,
    /// Next issue number.
    pub(crate) next_number: u32,
}

/// A workflow state of a team.
#[derive(Clone, Debug)]
pub struct State {
    /// Id.
    pub id: String,
    /// Owning team's id.
    pub team_id: String,
    /// Display name.
    pub name: String,
    /// Linear's state type.
    pub kind: String,
    /// Position among the team's states.
    pub position: f64,
}

/// A project.
#[derive(Clone, Debug)]
pub struct Project {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The 12-hex slug id.
    pub slug_id: String,
    /// Link.
    pub url: String,
}

/// A project milestone.
#[derive(Clone, Debug)]
pub struct Milestone {
    /// Id (a UUID).
    pub id: String,
    /// Owning project's id.
    pub project_id: String,
    /// Display name.
    pub name: String,
    /// Position among the project's milestones.
    pub sort_order: f64,
    /// `done | next | overdue | unstarted`.
    pub status: String,
}

/// An issue.
#[derive(Clone, Debug)]
pub struct Issue {
    /// Id.
    pub id: String,
    /// `ENG-123`.
    pub identifier: String,
    /// Owning team's id.
    pub team_id: String,
    /// Title.
    pub title: String,
    /// Markdown description.
    pub description: Option<String>,
    /// Estimate.
    pub estimate: Option<f64>,
    /// Linear priority, 0 (none) to 4 (low).
    pub priority: u8,
    /// Current state's id.
    pub state_id: String,
    /// Project's id.
    pub project_id: Option<String>,
    /// Milestone's id.
    pub milestone_id: Option<String>,
    /// Label names.
    pub labels: Vec<String>,
}

/// A `blocks` (or other) relation: `issue_id` relates to `related_issue_id`.
#[derive(Clone, Debug)]
pub struct Relation {
    /// Id.
    pub id: String,
    /// `blocks`, `duplicate`, `related` or `similar`.
    pub kind: String,
    /// The issue the relation belongs to (the blocker for `blocks`).
    pub issue_id: String,
    /// The other issue (the blocked one for `blocks`).
    pub related_issue_id: String,
}

/// An attachment of an issue.
#[derive(Clone, Debug)]
pub struct Attachment {
    /// Id.
    pub id: String,
    /// Issue's id.
    pub issue_id: String,
    /// Title.
    pub title: String,
    /// Link.
    pub url: String,
    /// Integration that made it (`sentry`, `github`), when any.
    pub source_type: Option<String>,
}

/// A comment on an issue.
#[derive(Clone, Debug)]
pub struct Comment {
    /// Id.
    pub id: String,
    /// Issue's id.
    pub issue_id: String,
    /// Markdown body.
    pub body: String,
}

/// A mutation the stand-in executed: the root field and its coerced arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedMutation {
    /// Root mutation field, e.g. `commentCreate`.
    pub field: String,
    /// Its arguments, variables substituted.
    pub arguments: serde_json::Value,
}

/// Everything the stand-in knows: a Linear workspace in memory.
#[derive(Clone, Debug)]
pub struct Workspace {
    /// The workspace's URL key (`acme` in `linear.app/acme/…`).
    pub url_key: String,
    /// Teams.
    pub teams: Vec<Team>,
    /// Workflow states of every team.
    pub states: Vec<State>,
    /// Projects.
    pub projects: Vec<Project>,
    /// Milestones of every project.
    pub milestones: Vec<Milestone>,
    /// Issues.
    pub issues: Vec<Issue>,
    /// Relations between issues.
    pub relations: Vec<Relation>,
    /// Attachments.
    pub attachments: Vec<Attachment>,
    /// Comments.
    pub comments: Vec<Comment>,
    /// Mutations executed, oldest first.
    pub mutations: Vec<RecordedMutation>,
    next_id: u64,
}

/// What to create for one issue; see [`Workspace::add_issue`].
#[derive(Clone, Debug)]
pub struct IssueSpec {
    team_key: String,
    title: String,
    description: Option<String>,
    estimate: Option<f64>,
    priority: u8,
    state_name: Option<String>,
    milestone_id: Option<String>,
    labels: Vec<String>,
}

impl IssueSpec {
    /// An issue of team `team_key` in the team's first `unstarted` state.
    pub fn new(team_key: &str, title: &str) -> Self {
        Self {
            team_key: team_key.to_owned(),
            title: title.to_owned(),
            description: None,
            estimate: None,
            priority: 0,
            state_name: None,
            milestone_id: None,
            labels: Vec::new(),
        }
    }

    /// Sets the Markdown description.
    pub fn description(mut self, text: &str) -> Self {
        self.description = Some(text.to_owned());
        self
    }

    /// Sets the estimate.
    pub fn estimate(mut self, points: f64) -> Self {
        self.estimate = Some(points);
        self
    }

    /// Sets Linear's priority number (1 urgent … 4 low, 0 none).
    pub fn priority(mut self, priority: u8) -> Self {
        self.priority = priority;
        self
    }

    /// Puts the issue in the team's state with this name.
    pub fn state(mut self, name: &str) -> Self {
        self.state_name = Some(name.to_owned());
        self
    }

    /// Puts the issue in a milestone (and its project).
    pub fn milestone(mut self, milestone_id: &str) -> Self {
        self.milestone_id = Some(milestone_id.to_owned());
        self
    }

    /// Adds a label.
    pub fn label(mut self, name: &str) -> Self {
        self.labels.push(name.to_owned());
        self
    }
}

/// Names and types of the states every new team gets, in position order.
const DEFAULT_STATES: [(&str, &str); 7] = [
    ("Backlog", "backlog"),
    ("Todo", "unstarted"),
    ("In Progress", "started"),
    ("In Review", "started"),
    ("Done", "completed"),
    ("Canceled", "canceled"),
    ("Duplicate", "duplicate"),
];

impl Workspace {
    /// An empty workspace reachable at `https://linear.app/<url_key>/…`.
    pub fn new(url_key: &str) -> Self {
        Self {
            url_key: url_key.to_owned(),
            teams: Vec::new(),
            states: Vec::new(),
            projects: Vec::new(),
            milestones: Vec::new(),
            issues: Vec::new(),
            relations: Vec::new(),
            attachments: Vec::new(),
            comments: Vec::new(),
            mutations: Vec::new(),
            next_id: 1,
        }
    }

    /// A fresh UUID-shaped id; `tag` keeps kinds apart when reading test output.
    pub(crate) fn mint_id(&mut self, tag: u16) -> String {
        let n = self.next_id;
        self.next_id += 1;
        format!("{tag:04x}0000-0000-4000-8000-{n:012x}")
    }

    /// Adds a team with Linear's default workflow states (Backlog, Todo, In Progress,
    /// In Review, Done, Canceled, Duplicate); returns its id.
    pub fn add_team(&mut self, key: &str, name: &str) -> String {
        let id = self.mint_id(0x7ea3);
        self.teams.push(Team {
            id: id.clone(),
            key: key.to_owned(),
            name: name.to_owned(),
            next_number: 1,
        });
        for (position, (state_name, kind)) in DEFAULT_STATES.iter().enumerate() {
            self.add_state(&id, state_name, kind, position as f64);
        }
        id
    }

    /// Adds a workflow state to a team; returns its id.
    pub fn add_state(&mut self, team_id: &str, name: &str, kind: &str, position: f64) -> String {
        let id = self.mint_id(0x57a7);
        self.states.push(State {
            id: id.clone(),
            team_id: team_id.to_owned(),
            name: name.to_owned(),
            kind: kind.to_owned(),
            position,
        });
        id
    }

    /// Renames a team's state, as a team with its own names would have it.
    pub fn rename_state(&mut self, team_key: &str, from: &str, to: &str) {
        let team_id = self.team_by_key(team_key).map(|team| team.id.clone());
        for state in &mut self.states {
            if Some(&state.team_id) == team_id.as_ref() && state.name == from {
                to.clone_into(&mut state.name);
            }
        }
    }

    /// Adds a project with the given 12-hex slug id; returns its id.
    pub fn add_project(&mut self, name: &str, slug_id: &str) -> String {
        let id = self.mint_id(0x9a0c);
        let slug = name.to_lowercase().replace(' ', "-");
        self.projects.push(Project {
            id: id.clone(),
            name: name.to_owned(),
            slug_id: slug_id.to_owned(),
            url: format!(
                "https://linear.app/{}/project/{slug}-{slug_id}",
                self.url_key
            ),
        });
        id
    }

    /// Adds a milestone to a project; returns its id.
    pub fn add_milestone(
        &mut self,
        project_id: &str,
        name: &str,
        sort_order: f64,
        status: &str,
    ) -> String {
        let id = self.mint_id(0x3113);
        self.milestones.push(Milestone {
            id: id.clone(),
            project_id: project_id.to_owned(),
            name: name.to_owned(),
            sort_order,
            status: status.to_owned(),
        });
        id
    }

    /// Adds an issue; returns its identifier (`ENG-1`).
    ///
    /// # Panics
    /// When the spec names a team, state or milestone that does not exist: a broken
    /// fixture is a bug in the test that wrote it.
    pub fn add_issue(&mut self, spec: IssueSpec) -> String {
        let team_index = self
            .teams
            .iter()
            .position(|team| team.key == spec.team_key)
            .unwrap_or_else(|| panic!("fixture names unknown team {}", spec.team_key));
        let team_id = self.teams[team_index].id.clone();
        let number = self.teams[team_index].next_number;
        self.teams[team_index].next_number += 1;
        let state_id = self
            .states
            .iter()
            .find(|state| {
                state.team_id == team_id
                    && match &spec.state_name {
                        Some(name) => &state.name == name,
                        None => state.kind == "unstarted",
                    }
            })
            .unwrap_or_else(|| panic!("fixture names unknown state {:?}", spec.state_name))
            .id
            .clone();
        let project_id = spec.milestone_id.as_ref().map(|milestone_id| {
            self.milestones
                .iter()
                .find(|milestone| &milestone.id == milestone_id)
                .unwrap_or_else(|| panic!("fixture names unknown milestone {milestone_id}"))
                .project_id
                .clone()
        });
        let id = self.mint_id(0x155e);
        let identifier = format!("{}-{number}", spec.team_key);
        self.issues.push(Issue {
            id,
            identifier: identifier.clone(),
            team_id,
            title: spec.title,
            description: spec.description,
            estimate: spec.estimate,
            priority: spec.priority,
            state_id,
            project_id,
            milestone_id: spec.milestone_id,
            labels: spec.labels,
        });
        identifier
    }

    /// Records that `blocker` blocks `blocked` (both identifiers).
    ///
    /// # Panics
    /// When either identifier is unknown (a broken fixture).
    pub fn add_blocks(&mut self, blocker: &str, blocked: &str) {
        let issue_id = self.issue_id_of(blocker);
        let related_issue_id = self.issue_id_of(blocked);
        let id = self.mint_id(0x4e1a);
        self.relations.push(Relation {
            id,
            kind: "blocks".to_owned(),
            issue_id,
            related_issue_id,
        });
    }

    /// Attaches a link to an issue.
    ///
    /// # Panics
    /// When the identifier is unknown (a broken fixture).
    pub fn add_attachment(&mut self, issue: &str, title: &str, url: &str, source_type: &str) {
        let issue_id = self.issue_id_of(issue);
        let id = self.mint_id(0xa77a);
        self.attachments.push(Attachment {
            id,
            issue_id,
            title: title.to_owned(),
            url: url.to_owned(),
            source_type: Some(source_type.to_owned()),
        });
    }

    /// The comment bodies of an issue, oldest first.
    pub fn comments_of(&self, identifier: &str) -> Vec<String> {
        let Some(issue) = self.issue_by_ref(identifier) else {
            return Vec::new();
        };
        self.comments
            .iter()
            .filter(|comment| comment.issue_id == issue.id)
            .map(|comment| comment.body.clone())
            .collect()
    }

    /// The name of an issue's current state.
    pub fn state_name_of(&self, identifier: &str) -> Option<String> {
        let issue = self.issue_by_ref(identifier)?;
        self.state(&issue.state_id).map(|state| state.name.clone())
    }

    /// The URLs attached to an issue.
    pub fn attachment_urls_of(&self, identifier: &str) -> Vec<String> {
        let Some(issue) = self.issue_by_ref(identifier) else {
            return Vec::new();
        };
        self.attachments
            .iter()
            .filter(|attachment| attachment.issue_id == issue.id)
            .map(|attachment| attachment.url.clone())
            .collect()
    }

    fn issue_id_of(&self, identifier: &str) -> String {
        self.issue_by_ref(identifier)
            .unwrap_or_else(|| panic!("fixture names unknown issue {identifier}"))
            .id
            .clone()
    }

    /// An issue by id or identifier, as Linear's `issue(id:)` accepts both.
    pub(crate) fn issue_by_ref(&self, reference: &str) -> Option<&Issue> {
        self.issues
            .iter()
            .find(|issue| issue.id == reference || issue.identifier == reference)
    }

    pub(crate) fn team_by_key(&self, key: &str) -> Option<&Team> {
        self.teams.iter().find(|team| team.key == key)
    }

    pub(crate) fn team(&self, id: &str) -> Option<&Team> {
        self.teams.iter().find(|team| team.id == id)
    }

    pub(crate) fn state(&self, id: &str) -> Option<&State> {
        self.states.iter().find(|state| state.id == id)
    }

    /// The public URL of an issue.
    pub(crate) fn issue_url(&self, issue: &Issue) -> String {
        let branch = Self::branch_name(issue);
        let title_slug = branch
            .strip_prefix(&issue.identifier.to_lowercase())
            .unwrap_or(&branch);
        format!(
            "https://linear.app/{}/issue/{}/{}",
            self.url_key,
            issue.identifier,
            title_slug.trim_start_matches('-')
        )
    }

    /// The branch name Linear would suggest for an issue.
    pub(crate) fn branch_name(issue: &Issue) -> String {
        let slug: String = issue
            .title
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let slug = slug
            .split('-')
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        format!("{}-{slug}", issue.identifier.to_lowercase())
    }
}
