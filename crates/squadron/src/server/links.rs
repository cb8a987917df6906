//! Where the dashboard links to: each squad's Linear issue and GitHub pull request, built
//! from the configuration (the repository of the issue's team) and the run's milestone URL
//! (its Linear workspace), never from what a request or an agent wrote.

use std::collections::BTreeMap;

use squadron_core::{IssueKey, PrNumber, RunTrigger};

/// The link bases the daemon serves pages with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageLinks {
    /// GitHub's web address, e.g. `https://github.com` (a GitHub Enterprise host otherwise).
    pub github_web: String,
    /// Linear team key → `owner/repo` of its repository.
    pub repositories: BTreeMap<String, String>,
    /// Linear's web address, e.g. `https://linear.app`.
    pub linear_web: String,
}

impl PageLinks {
    /// The pull request's page, when the issue's team has a configured repository.
    pub fn pull_request(&self, issue: &IssueKey, pr: PrNumber) -> Option<String> {
        let team = issue.as_str().split('-').next()?;
        let repo = self.repositories.get(team)?;
        Some(format!(
            "{}/{repo}/pull/{}",
            self.github_web.trim_end_matches('/'),
            pr.0
        ))
    }

    /// The issue's page, when the run names its Linear workspace (a milestone run does).
    pub fn issue(&self, trigger: &RunTrigger, issue: &IssueKey) -> Option<String> {
        let RunTrigger::Milestone { url } = trigger else {
            return None;
        };
        let project = squadron_linear::parse_project_url(url).ok()?;
        Some(format!(
            "{}/{}/issue/{}",
            self.linear_web.trim_end_matches('/'),
            project.workspace,
            issue.as_str()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_come_from_the_configured_repository_and_the_runs_workspace() {
        let links = PageLinks {
            github_web: "https://github.com/".to_owned(),
            repositories: BTreeMap::from([("ENG".to_owned(), "acme/shop".to_owned())]),
            linear_web: "https://linear.app".to_owned(),
        };
        let issue = IssueKey::from("ENG-12");
        assert_eq!(
            links.pull_request(&issue, PrNumber(7)).as_deref(),
            Some("https://github.com/acme/shop/pull/7")
        );
        assert_eq!(
            links.pull_request(&IssueKey::from("OPS-1"), PrNumber(7)),
            None
        );
        let milestone = RunTrigger::Milestone {
            url: "https://linear.app/acme/project/checkout-v2-a5e6ddb5d475/overview".to_owned(),
        };
        assert_eq!(
            links.issue(&milestone, &issue).as_deref(),
            Some("https://linear.app/acme/issue/ENG-12")
        );
    }
}
