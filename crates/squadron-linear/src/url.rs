//! Parsing the Linear URLs and identifiers people paste.

use std::fmt;

use url::Url;

/// The shapes of input Squadron accepts, shown with every refusal.
pub const ACCEPTED_SHAPES: &str = "\
  https://linear.app/<workspace>/project/<name>-<slugId>[/overview|/issues|/updates][#milestone-<uuid>]
  https://linear.app/<workspace>/issue/<TEAM>-<number>[/<title-slug>]
  <TEAM>-<number>, e.g. ENG-123";

/// A project (and maybe one of its milestones) named by a URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectRef {
    /// The workspace's URL key (`acme`).
    pub workspace: String,
    /// The project's 12-hex slug id.
    pub slug_id: String,
    /// The milestone named in the fragment, if any.
    pub milestone_id: Option<String>,
}

/// An issue named by its identifier (`ENG-123`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssueRef {
    /// The identifier, upper-cased team key and number.
    pub identifier: String,
}

impl fmt::Display for IssueRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.identifier)
    }
}

/// Input that is not a Linear project URL, issue URL or issue identifier.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "read `{input}` as a Linear {expected}: {problem}; accepted shapes are:\n{ACCEPTED_SHAPES}"
)]
pub struct UrlError {
    /// The input as given.
    pub input: String,
    /// What was expected (`project URL`, `issue URL or identifier`).
    pub expected: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

fn refuse(input: &str, expected: &'static str, problem: impl Into<String>) -> UrlError {
    UrlError {
        input: input.to_owned(),
        expected,
        problem: problem.into(),
    }
}

fn parse_linear_url(input: &str, expected: &'static str) -> Result<Url, UrlError> {
    let url = Url::parse(input.trim())
        .map_err(|error| refuse(input, expected, format!("not a URL ({error})")))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(refuse(
            input,
            expected,
            format!("the scheme is `{}`, not https", url.scheme()),
        ));
    }
    match url.host_str() {
        Some("linear.app" | "www.linear.app") => Ok(url),
        other => Err(refuse(
            input,
            expected,
            format!("the host is `{}`, not linear.app", other.unwrap_or("")),
        )),
    }
}

fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Parses a project URL: `https://linear.app/<ws>/project/<name>-<slugId>` with an optional
/// tab (`/overview`, `/issues`, `/updates`), trailing slash, query string, and
/// `#milestone-<uuid>` fragment.
///
/// # Errors
/// [`UrlError`] naming the problem and listing the accepted shapes.
pub fn parse_project_url(input: &str) -> Result<ProjectRef, UrlError> {
    const EXPECTED: &str = "project URL";
    let url = parse_linear_url(input, EXPECTED)?;
    let segments: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let (workspace, slug) = match segments.as_slice() {
        [workspace, "project", slug] => (workspace, slug),
        [workspace, "project", slug, tab] => {
            if !matches!(*tab, "overview" | "issues" | "updates") {
                return Err(refuse(
                    input,
                    EXPECTED,
                    format!("`{tab}` is not a project tab"),
                ));
            }
            (workspace, slug)
        }
        [_, "issue", ..] => {
            return Err(refuse(
                input,
                EXPECTED,
                "this is an issue URL; paste the project's URL",
            ));
        }
        _ => {
            return Err(refuse(
                input,
                EXPECTED,
                "the path is not /<workspace>/project/<name>-<slugId>",
            ));
        }
    };
    let slug_id = slug.rsplit('-').next().unwrap_or(slug);
    if slug_id.len() != 12 || !slug_id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(refuse(
            input,
            EXPECTED,
            format!("`{slug}` does not end in a 12-hex project slug id"),
        ));
    }
    let milestone_id = match url.fragment().filter(|f| !f.is_empty()) {
        None => None,
        Some(fragment) => match fragment.strip_prefix("milestone-") {
            Some(id) if is_uuid(id) => Some(id.to_lowercase()),
            _ => {
                return Err(refuse(
                    input,
                    EXPECTED,
                    format!("the fragment `#{fragment}` is not #milestone-<uuid>"),
                ));
            }
        },
    };
    Ok(ProjectRef {
        workspace: (*workspace).to_owned(),
        slug_id: slug_id.to_lowercase(),
        milestone_id,
    })
}

fn parse_identifier(text: &str) -> Option<String> {
    let (team, number) = text.split_once('-')?;
    let team_ok = !team.is_empty()
        && team.len() <= 10
        && team.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && team.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let number_ok = !number.is_empty()
        && number.len() <= 9
        && number.chars().all(|c| c.is_ascii_digit())
        && !number.starts_with('0');
    (team_ok && number_ok).then(|| format!("{}-{number}", team.to_uppercase()))
}

/// Parses an issue URL (`https://linear.app/<ws>/issue/ENG-123/<title-slug>`) or a bare
/// identifier (`ENG-123`).
///
/// # Errors
/// [`UrlError`] naming the problem and listing the accepted shapes.
pub fn parse_issue_ref(input: &str) -> Result<IssueRef, UrlError> {
    const EXPECTED: &str = "issue URL or identifier";
    let trimmed = input.trim();
    if !trimmed.contains('/') {
        return parse_identifier(trimmed)
            .map(|identifier| IssueRef { identifier })
            .ok_or_else(|| refuse(input, EXPECTED, "not an identifier like ENG-123"));
    }
    let url = parse_linear_url(trimmed, EXPECTED)?;
    let segments: Vec<&str> = url
        .path_segments()
        .map(|s| s.filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    match segments.as_slice() {
        [_, "issue", identifier] | [_, "issue", identifier, _] => parse_identifier(identifier)
            .map(|identifier| IssueRef { identifier })
            .ok_or_else(|| {
                refuse(
                    input,
                    EXPECTED,
                    format!("`{identifier}` is not an identifier like ENG-123"),
                )
            }),
        [_, "project", ..] => Err(refuse(
            input,
            EXPECTED,
            "this is a project URL; paste an issue's URL",
        )),
        _ => Err(refuse(
            input,
            EXPECTED,
            "the path is not /<workspace>/issue/<TEAM>-<number>",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLUG: &str = "a5e6ddb5d475";
    const MILESTONE: &str = "3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a";

    #[test]
    fn accepts_every_project_url_shape() {
        for suffix in [
            "",
            "/",
            "/overview",
            "/issues",
            "/updates",
            "/overview/",
            "?view=board",
            "/issues?x=1",
        ] {
            let input = format!("https://linear.app/acme/project/checkout-v2-{SLUG}{suffix}");
            let parsed = parse_project_url(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(
                parsed,
                ProjectRef {
                    workspace: "acme".into(),
                    slug_id: SLUG.into(),
                    milestone_id: None
                }
            );
        }
        let input = format!(
            "https://linear.app/acme/project/checkout-v2-{SLUG}/overview#milestone-{MILESTONE}"
        );
        assert_eq!(
            parse_project_url(&input).map(|p| p.milestone_id),
            Ok(Some(MILESTONE.to_owned()))
        );
    }

    #[test]
    fn refuses_other_input_showing_the_accepted_shapes() {
        for input in [
            "checkout",
            "https://example.com/acme/project/checkout-a5e6ddb5d475",
            "https://linear.app/acme/project/checkout",
            "https://linear.app/acme/project/checkout-a5e6ddb5d475/settings",
            "https://linear.app/acme/issue/ENG-1/title",
            "https://linear.app/acme/project/checkout-a5e6ddb5d475#milestone-nope",
        ] {
            let error = parse_project_url(input).expect_err(input).to_string();
            assert!(
                error.contains(input) && error.contains("#milestone-<uuid>"),
                "{error}"
            );
        }
    }

    #[test]
    fn reads_issue_urls_and_identifiers() {
        for input in [
            "ENG-123",
            "eng-123",
            " ENG-123 ",
            "https://linear.app/acme/issue/ENG-123/fix-the-bug",
            "https://linear.app/acme/issue/ENG-123",
        ] {
            assert_eq!(
                parse_issue_ref(input).map(|r| r.identifier),
                Ok("ENG-123".to_owned()),
                "{input}"
            );
        }
        for input in [
            "ENG",
            "ENG-",
            "ENG-0",
            "123",
            "ENG-12a",
            "https://linear.app/acme/project/x-a5e6ddb5d475",
        ] {
            let error = parse_issue_ref(input).expect_err(input).to_string();
            assert!(error.contains("ENG-123"), "{error}");
        }
    }
}
