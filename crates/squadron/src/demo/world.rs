//! The demo's world: the stand-ins (Linear, GitHub backed by real bare repositories, the
//! scripted model, Slack's Web API) started on loopback and seeded for one scenario, and the
//! configuration and secrets that point Squadron at them.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use squadron_standin_github::GithubStandin;
use squadron_standin_linear::StandinLinear;
use squadron_standin_linear::Workspace;
use squadron_standin_model::{ScriptBook, StandinModel};
use squadron_standin_slack::StandinSlack;

use crate::demo::sample_repo::{BASE_BRANCH, SAMPLE_REPO, sample_repo_files};
use crate::demo::scenario::{Scenario, TEAM_KEY};

/// The three GitHub identities of the demo: the Developer opens the PRs, each reviewer
/// approves under its own login, so GitHub's self-approval rule never gets in the way.
pub const IDENTITIES: [Identity; 3] = [
    Identity {
        login: "squadron-developer",
        token: "ghp_demo_developer_0000000000000000000000",
        token_env: "GITHUB_TOKEN_DEVELOPER",
    },
    Identity {
        login: "squadron-code-reviewer",
        token: "ghp_demo_code_reviewer_00000000000000000",
        token_env: "GITHUB_TOKEN_CODE_REVIEWER",
    },
    Identity {
        login: "squadron-qa-specialist",
        token: "ghp_demo_qa_specialist_00000000000000000",
        token_env: "GITHUB_TOKEN_QA_SPECIALIST",
    },
];

/// The API key the demo's provider is configured with; the stand-in accepts any.
const MODEL_API_KEY: &str = "sk-demo-standin";
/// The environment variable the demo configuration names for the model's API key.
const MODEL_API_KEY_ENV: &str = "SQUADRON_DEMO_MODEL_API_KEY";
/// The environment variable the demo configuration names for the Linear API key.
const LINEAR_API_KEY_ENV: &str = "SQUADRON_DEMO_LINEAR_API_KEY";
/// The environment variable the demo configuration names for the Slack bot token.
const SLACK_BOT_TOKEN_ENV: &str = "SQUADRON_DEMO_SLACK_BOT_TOKEN";
/// The environment variable the demo configuration names for the Slack signing secret.
const SLACK_SIGNING_SECRET_ENV: &str = "SQUADRON_DEMO_SLACK_SIGNING_SECRET";
/// The signing secret of the demo's Slack app: it signs the demo's slash commands, and the
/// daemon verifies them with it.
pub const SLACK_SIGNING_SECRET: &str = "demo-slack-signing-secret-0000000";

/// One GitHub identity of the demo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The login reviews and PRs show.
    pub login: &'static str,
    /// The token the stand-in accepts for it.
    pub token: &'static str,
    /// The environment variable the configuration reads the token from.
    pub token_env: &'static str,
}

/// A failure to set up the demo's world.
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    /// The Linear stand-in did not start.
    #[error("start the Linear stand-in")]
    Linear(#[source] squadron_standin_linear::StandinError),
    /// The GitHub stand-in did not start or refused the sample repository.
    #[error("start the GitHub stand-in with the sample repository `{SAMPLE_REPO}`")]
    Github(#[source] squadron_standin_github::StandinError),
    /// The scenario's model scripts did not load (a defect in the shipped scripts).
    #[error("load the model scripts of the demo")]
    Scripts(#[source] squadron_standin_model::ScriptError),
    /// The model stand-in did not start.
    #[error("start the model stand-in")]
    Model(#[source] std::io::Error),
    /// The Slack stand-in did not start.
    #[error("start the Slack stand-in")]
    Slack(#[source] squadron_standin_slack::StandinError),
    /// Copying a bare repository out of the GitHub stand-in failed.
    #[error("copy the bare repository `{repo}` to `{}`: {reason}", target.display())]
    KeepRemote {
        /// `owner/name`.
        repo: String,
        /// Where it was to go.
        target: PathBuf,
        /// What git or the file system said.
        reason: String,
    },
}

/// What a world is seeded with: the Linear workspace, the model's scripts, and the URL of
/// the project to run. Built-in scenarios provide one; tests build their own.
#[derive(Debug)]
pub struct WorldSeed {
    /// The Linear workspace.
    pub workspace: Workspace,
    /// The scripts the model plays.
    pub scripts: ScriptBook,
    /// The project URL to run.
    pub project_url: String,
}

impl WorldSeed {
    /// The seed of a built-in scenario.
    pub fn of_scenario(scenario: Scenario) -> Result<WorldSeed, WorldError> {
        Ok(WorldSeed {
            workspace: scenario.linear_workspace(),
            scripts: scenario.script_book().map_err(WorldError::Scripts)?,
            project_url: scenario.project_url(),
        })
    }
}

/// How many ports the stand-ins take: Linear, GitHub's API and git, GitHub's Actions log
/// host, the model and Slack.
pub const STANDIN_PORTS: u16 = 5;

/// The address of each stand-in, in [`STANDIN_PORTS`] order: consecutive ports from
/// `first`, or port 0 (any free port) for all of them. A range past the last port wraps to
/// port 0, which the caller avoids by checking the range first.
fn standin_addresses(first: SocketAddr) -> [SocketAddr; STANDIN_PORTS as usize] {
    let mut offset = 0;
    [(); STANDIN_PORTS as usize].map(|()| {
        let port = match first.port() {
            0 => 0,
            port => port.checked_add(offset).unwrap_or(0),
        };
        offset += 1;
        SocketAddr::new(first.ip(), port)
    })
}

/// Settings the demo configuration takes from the scenario instead of the defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DemoLimits {
    /// Squads at once.
    pub concurrency: u32,
    /// Review rounds before needs-human; `None` keeps the shipped default.
    pub review_rounds: Option<u32>,
    /// Budget of one squad in US dollars.
    pub budget_per_squad_usd: f64,
}

impl Default for DemoLimits {
    /// Four squads at once and the shipped review rounds: a squad reviewed again after a
    /// rebase stays in its round, so the scenarios need no more rounds than a user gets.
    fn default() -> DemoLimits {
        DemoLimits {
            concurrency: 4,
            review_rounds: None,
            budget_per_squad_usd: 10.0,
        }
    }
}

/// The running stand-ins of one demo, seeded for its scenario. Dropping it stops them.
#[derive(Debug)]
pub struct DemoWorld {
    project_url: String,
    /// Linear's GraphQL API.
    pub linear: StandinLinear,
    /// GitHub's REST API and git smart HTTP.
    pub github: GithubStandin,
    /// The OpenAI-compatible model endpoint.
    pub model: StandinModel,
    /// Slack's Web API (`chat.postMessage`, recorded with its threads) and the response
    /// URLs of slash commands.
    pub slack: StandinSlack,
}

impl DemoWorld {
    /// Starts the stand-ins on loopback: Linear holding the scenario's workspace, GitHub
    /// holding the sample repository on its base branch and the three identities, the
    /// model playing the scenario's scripts, and Slack.
    pub async fn start(scenario: Scenario) -> Result<DemoWorld, WorldError> {
        DemoWorld::start_seeded(WorldSeed::of_scenario(scenario)?).await
    }

    /// Starts the stand-ins seeded with `seed`, the sample repository and the identities,
    /// each on a free loopback port.
    pub async fn start_seeded(seed: WorldSeed) -> Result<DemoWorld, WorldError> {
        DemoWorld::start_seeded_on(seed, SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).await
    }

    /// Starts the stand-ins seeded with `seed` on [`STANDIN_PORTS`] consecutive ports from
    /// `first` (Linear, GitHub's API, GitHub's log host, the model, Slack), or each on a free
    /// port of `first`'s address when its port is 0.
    pub async fn start_seeded_on(
        seed: WorldSeed,
        first: SocketAddr,
    ) -> Result<DemoWorld, WorldError> {
        let [linear_at, github_at, log_host_at, model_at, slack_at] = standin_addresses(first);
        let linear = StandinLinear::start_on(linear_at, seed.workspace)
            .await
            .map_err(WorldError::Linear)?;
        let github = GithubStandin::start_on(PathBuf::from("git"), github_at, log_host_at)
            .await
            .map_err(WorldError::Github)?;
        for identity in IDENTITIES {
            github
                .add_user(identity.login, identity.token)
                .map_err(WorldError::Github)?;
        }
        github
            .create_repo(SAMPLE_REPO, BASE_BRANCH, &sample_repo_files())
            .map_err(WorldError::Github)?;
        let model = StandinModel::start_on(model_at, seed.scripts)
            .await
            .map_err(WorldError::Model)?;
        let slack = StandinSlack::start_on(slack_at)
            .await
            .map_err(WorldError::Slack)?;
        Ok(DemoWorld {
            project_url: seed.project_url,
            linear,
            github,
            model,
            slack,
        })
    }

    /// The project URL to run, as a person would paste it from Linear.
    pub fn project_url(&self) -> &str {
        &self.project_url
    }

    /// A configuration file (layered over the shipped defaults) pointing every endpoint at
    /// the stand-ins, the store at the SQLite file `database`, mirrors and worktrees into the
    /// directory holding it, and team ENG at the sample repository.
    pub fn config_toml(&self, database: &Path, limits: DemoLimits) -> String {
        let data_dir = database.parent().unwrap_or(database);
        let [developer, code_reviewer, qa_specialist] = IDENTITIES.map(|id| id.token_env);
        let github = self.github.base_url();
        format!(
            r#"# Written by `squadron demo`: every endpoint is a stand-in on loopback.

[linear]
api_url = "{linear}"
api_key_env = "{LINEAR_API_KEY_ENV}"

[github]
api_url = "{github}"
git_url = "{github}"
merge_method = "squash"
developer_token_env = "{developer}"
code_reviewer_token_env = "{code_reviewer}"
qa_specialist_token_env = "{qa_specialist}"
keep_worktrees_on_needs_human = false

[slack]
api_url = "{slack}"
bot_token_env = "{SLACK_BOT_TOKEN_ENV}"
signing_secret_env = "{SLACK_SIGNING_SECRET_ENV}"

[providers.openai]
base_url = "{model}"
api_key_env = "{MODEL_API_KEY_ENV}"
timeout_secs = 60
max_attempts = 2

[limits]
concurrency = {concurrency}
{review_rounds}budget_per_squad_usd = {budget:?}

[repositories.{TEAM_KEY}]
github = "{SAMPLE_REPO}"
base = "{BASE_BRANCH}"

[store]
data_dir = {data_dir}
sqlite_path = {database}
"#,
            linear = self.linear.endpoint(),
            model = self.model.base_url(),
            slack = self.slack.api_url(),
            data_dir = toml_string(&data_dir.display().to_string()),
            database = toml_string(&database.display().to_string()),
            concurrency = limits.concurrency,
            review_rounds = limits
                .review_rounds
                .map(|rounds| format!("review_rounds = {rounds}\n"))
                .unwrap_or_default(),
            budget = limits.budget_per_squad_usd,
        )
    }

    /// The secrets the configuration names, as environment variables: one GitHub token per
    /// identity, the Linear API key, the model's API key, and the Slack bot token and
    /// signing secret.
    pub fn secrets_env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = IDENTITIES
            .iter()
            .map(|id| (id.token_env.to_owned(), id.token.to_owned()))
            .collect();
        env.push((
            LINEAR_API_KEY_ENV.to_owned(),
            StandinLinear::API_KEY.to_owned(),
        ));
        env.push((MODEL_API_KEY_ENV.to_owned(), MODEL_API_KEY.to_owned()));
        env.push((
            SLACK_BOT_TOKEN_ENV.to_owned(),
            StandinSlack::BOT_TOKEN.to_owned(),
        ));
        env.push((
            SLACK_SIGNING_SECRET_ENV.to_owned(),
            SLACK_SIGNING_SECRET.to_owned(),
        ));
        env
    }

    /// Copies the sample repository's bare repository out of the stand-in into
    /// `<remotes>/<owner>/<name>.git` (a `git clone --mirror`: every branch, every commit).
    pub async fn keep_remotes(&self, remotes: &Path) -> Result<PathBuf, WorldError> {
        let target = remotes.join(format!("{SAMPLE_REPO}.git"));
        let failed = |reason: String| WorldError::KeepRemote {
            repo: SAMPLE_REPO.to_owned(),
            target: target.clone(),
            reason,
        };
        if target.exists() {
            std::fs::remove_dir_all(&target).map_err(|error| failed(error.to_string()))?;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|error| failed(error.to_string()))?;
        }
        let [developer, ..] = IDENTITIES;
        let output = tokio::process::Command::new("git")
            .arg("-c")
            .arg(format!(
                "http.extraHeader=Authorization: Bearer {}",
                developer.token
            ))
            .args(["clone", "--mirror", "--quiet"])
            .arg(self.github.clone_url(SAMPLE_REPO))
            .arg(&target)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|error| failed(format!("could not run git: {error}")))?;
        if !output.status.success() {
            return Err(failed(
                String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            ));
        }
        Ok(target)
    }
}

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}
