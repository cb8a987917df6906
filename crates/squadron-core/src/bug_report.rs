//! Reading a Sentry-created Linear stub: the Sentry issue it links, the exception, the stack
//! frames of its fenced trace, and where those frames live in the repository.
//!
//! Sentry's integrations write the description as a `Sentry Issue: [SHORT-ID](permalink)`
//! line followed by a fenced block holding each exception as `Type: value` and its frames in
//! the platform's frame template (Python-style `File "…", line N, in f` by default; `at f
//! (file:line:col)` for JavaScript; `at pkg.Class.method(File.java:N)` for Java; `file:N:in
//! 'f'` for Ruby). People also paste native traces (Rust backtraces and panics, Go goroutine
//! dumps, V8 and Firefox traces), so those shapes are read too. Parsing is best effort and
//! never fails: whatever is found is reported, and a stub with nothing recognisable yields an
//! empty report that the diagnostician still works from.

use std::collections::HashMap;

use crate::domain::{Attachment, Issue};

/// What a bug stub says about the failure.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BugReport {
    /// Sentry's short id (`BACKEND-1A2`), from the `Sentry Issue:` line.
    pub sentry_short_id: Option<String>,
    /// The Sentry issue's permalink without Sentry's `referrer` parameter; from the
    /// `Sentry Issue:` line, else from a Sentry attachment.
    pub sentry_url: Option<String>,
    /// The exception that was raised last (the outermost one of a chain), when shown.
    pub exception: Option<ExceptionInfo>,
    /// Frames in the order the trace lists them.
    pub frames: Vec<StackFrame>,
}

impl BugReport {
    /// Reads the stub from an issue's description and attachments.
    pub fn from_issue(issue: &Issue) -> BugReport {
        parse_bug_report(&issue.description, &issue.attachments)
    }

    /// Whether anything ties the issue to Sentry (the line or an attachment).
    pub fn is_from_sentry(&self) -> bool {
        self.sentry_short_id.is_some() || self.sentry_url.is_some()
    }
}

/// An exception's type and message, as `Type: message` in the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExceptionInfo {
    /// The exception type (`TypeError`, `java.lang.IllegalStateException`, `panic`).
    pub type_name: String,
    /// Its message (first line only).
    pub message: String,
}

/// One frame of a stack trace, as written in the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackFrame {
    /// The file as the trace names it: absolute, relative, a URL, or a bare file name.
    pub file: String,
    /// 1-based line, when shown.
    pub line: Option<u32>,
    /// 1-based column, when shown.
    pub column: Option<u32>,
    /// The function, when shown.
    pub function: Option<String>,
    /// The class or module owning the function, where the trace names it apart from the
    /// file (Java's fully qualified class); it lets a bare `Foo.java` be placed in its
    /// package directory.
    pub module: Option<String>,
}

impl StackFrame {
    fn new(file: &str, line: Option<u32>, column: Option<u32>, function: Option<&str>) -> Self {
        StackFrame {
            file: file.to_owned(),
            line,
            column,
            // Sentry's templates print a missing function as `None` (Django renders Python's
            // None) or `?`; V8 prints `<anonymous>`.
            function: function
                .map(str::trim)
                .filter(|name| !matches!(*name, "" | "None" | "?" | "<anonymous>"))
                .map(str::to_owned),
            module: None,
        }
    }
}

/// Reads a stub's description and attachments. Never fails: missing parts are `None` or
/// empty.
pub fn parse_bug_report(description: &str, attachments: &[Attachment]) -> BugReport {
    let (sentry_short_id, line_url) = parse_sentry_line(description).unzip();
    let attachment_url = attachments
        .iter()
        .find(|attachment| is_sentry_attachment(attachment))
        .map(|attachment| without_referrer(&attachment.url));
    let blocks = fenced_blocks(description);
    let fenced = !blocks.is_empty();
    let blocks = if fenced {
        blocks
    } else {
        // An unfenced paste is still worth reading; the frame shapes are specific enough.
        vec![description.lines().collect()]
    };
    let mut trace = TraceReader::new(fenced);
    for block in &blocks {
        trace.read_block(block);
    }
    let (exception, frames) = trace.finish();
    BugReport {
        sentry_short_id,
        sentry_url: line_url.or(attachment_url),
        exception,
        frames,
    }
}

/// Whether an attachment links to Sentry: created by the Sentry integration, or pointing
/// at `sentry.io`.
pub fn is_sentry_attachment(attachment: &Attachment) -> bool {
    attachment
        .source
        .as_deref()
        .is_some_and(|source| source.eq_ignore_ascii_case("sentry"))
        || host_of(&attachment.url).is_some_and(|host| {
            host.eq_ignore_ascii_case("sentry.io")
                || host.to_ascii_lowercase().ends_with(".sentry.io")
        })
}

/// The `Sentry Issue: [SHORT-ID](permalink)` line: short id and permalink.
fn parse_sentry_line(description: &str) -> Option<(String, String)> {
    const LABEL: &str = "sentry issue:";
    description.lines().find_map(|line| {
        let start = line.to_ascii_lowercase().find(LABEL)? + LABEL.len();
        let rest = line[start..].trim_start();
        let rest = rest.strip_prefix('[')?;
        let (label, rest) = rest.split_once("](")?;
        let (url, _) = rest.split_once(')')?;
        let url = url.trim().trim_start_matches('<').trim_end_matches('>');
        // Linear's Markdown may escape characters of the label (`BACKEND\-1A`).
        let short_id: String = label.chars().filter(|c| *c != '\\').collect();
        let short_id = short_id.trim().trim_matches('`').to_owned();
        (!short_id.is_empty() && !url.is_empty()).then(|| (short_id, without_referrer(url)))
    })
}

/// Drops the `referrer` query parameter Sentry adds to links it hands to integrations.
fn without_referrer(url: &str) -> String {
    let (before_fragment, fragment) = match url.split_once('#') {
        Some((head, fragment)) => (head, Some(fragment)),
        None => (url, None),
    };
    let Some((base, query)) = before_fragment.split_once('?') else {
        return url.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.starts_with("referrer="))
        .collect();
    let mut cleaned = base.to_owned();
    if !kept.is_empty() {
        cleaned.push('?');
        cleaned.push_str(&kept.join("&"));
    }
    if let Some(fragment) = fragment {
        cleaned.push('#');
        cleaned.push_str(fragment);
    }
    cleaned
}

/// The host of an absolute URL, without user info or port.
fn host_of(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    let host = host.split(':').next()?;
    (!host.is_empty()).then_some(host)
}

/// The lines of every fenced block (``` or ~~~), fences excluded.
fn fenced_blocks(description: &str) -> Vec<Vec<&str>> {
    let mut blocks = Vec::new();
    let mut current: Option<(&str, Vec<&str>)> = None;
    for line in description.lines() {
        let trimmed = line.trim_start();
        let fence = ["```", "~~~"]
            .into_iter()
            .find(|fence| trimmed.starts_with(fence));
        match (&mut current, fence) {
            (None, Some(fence)) => current = Some((fence, Vec::new())),
            (Some((open, _)), Some(fence)) if *open == fence && trimmed.trim_end() == fence => {
                if let Some((_, lines)) = current.take() {
                    blocks.push(lines);
                }
            }
            (Some((_, lines)), _) => lines.push(line),
            (None, None) => {}
        }
    }
    // An unclosed fence runs to the end of the description, as Markdown renders it.
    if let Some((_, lines)) = current {
        blocks.push(lines);
    }
    blocks
}

/// Collects frames and exception lines across blocks.
struct TraceReader {
    fenced: bool,
    frames: Vec<StackFrame>,
    exceptions: Vec<ExceptionInfo>,
    /// A Rust panic's location, used only when the trace has no other frame.
    panic_location: Option<StackFrame>,
}

impl TraceReader {
    fn new(fenced: bool) -> Self {
        TraceReader {
            fenced,
            frames: Vec::new(),
            exceptions: Vec::new(),
            panic_location: None,
        }
    }

    fn read_block(&mut self, lines: &[&str]) {
        let mut index = 0;
        while index < lines.len() {
            let line = lines[index];
            let next = lines.get(index + 1).copied();
            if let Some((frame, consumed)) = parse_frame(line, next) {
                self.frames.push(frame);
                index += consumed;
                // Python-style and Ruby frames may be followed by their source line,
                // indented deeper; it is code, not an exception line.
                if let Some(source) = lines.get(index)
                    && indentation(source) > indentation(line)
                    && parse_frame(source, lines.get(index + 1).copied()).is_none()
                {
                    index += 1;
                }
                continue;
            }
            if let Some((exception, location, consumed)) = parse_rust_panic(line, next) {
                self.exceptions.push(exception);
                if self.panic_location.is_none() {
                    self.panic_location = location;
                }
                index += consumed;
                continue;
            }
            if let Some(exception) = parse_exception_line(line, self.fenced) {
                self.exceptions.push(exception);
            }
            index += 1;
        }
    }

    fn finish(mut self) -> (Option<ExceptionInfo>, Vec<StackFrame>) {
        if self.frames.is_empty()
            && let Some(location) = self.panic_location.take()
        {
            self.frames.push(location);
        }
        // Sentry lists chained exceptions oldest first and Python prints the raised one
        // last, so the last one shown is the one that surfaced. Java's `Caused by:` lines
        // are never candidates, which leaves its first (outermost) line.
        (self.exceptions.pop(), self.frames)
    }
}

fn indentation(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// One frame starting at `line`, and how many lines it used (two-line shapes read `next`).
fn parse_frame(line: &str, next: Option<&str>) -> Option<(StackFrame, usize)> {
    let trimmed = line.trim();
    if trimmed.is_empty() {
        return None;
    }
    if let Some(frame) = parse_python_frame(trimmed) {
        return Some((frame, 1));
    }
    if let Some(rest) = trimmed.strip_prefix("at ") {
        return parse_java_frame(rest)
            .or_else(|| parse_v8_frame(rest))
            .map(|frame| (frame, 1));
    }
    if let Some(frame) = parse_rust_backtrace_frame(trimmed, next) {
        return Some((frame, 2));
    }
    if let Some(frame) = parse_go_frame(line, next) {
        return Some((frame, 2));
    }
    if let Some(frame) = parse_ruby_frame(trimmed) {
        return Some((frame, 1));
    }
    parse_firefox_frame(trimmed).map(|frame| (frame, 1))
}

/// `File "app/models.py", line 42, in save` (Sentry's default template and Python's own).
fn parse_python_frame(line: &str) -> Option<StackFrame> {
    let rest = line.strip_prefix("File \"")?;
    let (file, rest) = rest.split_once('"')?;
    let mut line_number = None;
    let mut function = None;
    for part in rest.split(", ").map(str::trim) {
        if let Some(number) = part.strip_prefix("line ") {
            line_number = number.trim().parse().ok();
        } else if let Some(name) = part.strip_prefix("in ") {
            function = Some(name);
        }
    }
    // `, in f` may itself contain ", " (a Go or Rust signature); take all that follows.
    if let Some((_, name)) = rest.split_once(", in ") {
        function = Some(name);
    }
    (!file.is_empty()).then(|| StackFrame::new(file, line_number, None, function))
}

/// `com.acme.Foo$Bar.run(Foo.java:42)`, also with a JPMS module or class loader prefix
/// (`java.base/java.lang.Thread.run(Thread.java:833)`).
fn parse_java_frame(rest: &str) -> Option<StackFrame> {
    let (qualified, location) = rest.split_once('(')?;
    let location = location.strip_suffix(')')?;
    if qualified.is_empty() || qualified.contains(char::is_whitespace) {
        return None;
    }
    let (file, line_number) = match location.split_once(':') {
        Some((file, number)) => (file, Some(number.trim().parse::<u32>().ok()?)),
        None => (location, None),
    };
    // `Unknown Source` and `Native Method` name no file.
    if !file.contains('.') || file.contains(' ') {
        return None;
    }
    let qualified = qualified.rsplit('/').next()?;
    let (class, function) = qualified.rsplit_once('.')?;
    let mut frame = StackFrame::new(file, line_number, None, Some(function));
    frame.module = Some(class.to_owned());
    Some(frame)
}

/// V8: `fn (file:line:col)`, `async fn (…)`, or a bare `file:line:col` for anonymous code
/// (also the `at file:line:col` line of a Rust backtrace frame).
fn parse_v8_frame(rest: &str) -> Option<StackFrame> {
    let (function, location) = match rest.strip_suffix(')').and_then(|r| r.rsplit_once(" (")) {
        Some((function, location)) => (Some(function.trim_start_matches("async ")), location),
        None => (None, rest),
    };
    let (file, line_number, column) = split_location(location)?;
    Some(StackFrame::new(file, Some(line_number), column, function))
}

/// `path:line[:col]` read from the right, so Windows drives and URLs keep their colons.
fn split_location(location: &str) -> Option<(&str, u32, Option<u32>)> {
    let (head, last) = location.rsplit_once(':')?;
    let last: u32 = last.trim().parse().ok()?;
    if let Some((file, middle)) = head.rsplit_once(':')
        && let Ok(line_number) = middle.trim().parse::<u32>()
        && !file.is_empty()
    {
        return Some((file, line_number, Some(last)));
    }
    (!head.is_empty() && !head.contains(' ')).then_some((head, last, None))
}

/// Rust's backtrace: `  12: my_crate::orders::place` then `at ./src/orders.rs:42:9`.
fn parse_rust_backtrace_frame(line: &str, next: Option<&str>) -> Option<StackFrame> {
    let (index, function) = line.split_once(": ")?;
    if index.is_empty() || !index.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let location = next?.trim().strip_prefix("at ")?;
    let (file, line_number, column) = split_location(location)?;
    Some(StackFrame::new(
        file,
        Some(line_number),
        column,
        Some(function),
    ))
}

/// Go's goroutine dump: `main.(*Server).handle(0xc000010000, {0x1, 0x2})` then
/// `\t/app/server.go:42 +0x1d`; also `created by main.main in goroutine 1`.
fn parse_go_frame(line: &str, next: Option<&str>) -> Option<StackFrame> {
    let next = next?;
    if !next.starts_with([' ', '\t']) {
        return None;
    }
    let location = next.trim();
    let location = location.split(" +0x").next()?;
    let (file, number) = location.rsplit_once(':')?;
    if !file.ends_with(".go") {
        return None;
    }
    let line_number: u32 = number.parse().ok()?;
    let call = line.trim();
    let function = if let Some(creator) = call.strip_prefix("created by ") {
        creator.split(" in goroutine ").next()?
    } else {
        let open = call.rfind('(')?;
        call.ends_with(')').then(|| &call[..open])?
    };
    Some(StackFrame::new(
        file,
        Some(line_number),
        None,
        Some(function),
    ))
}

/// Ruby: ``app/models/user.rb:12:in `save'`` (and Ruby 3.4's `in 'User#save'`).
fn parse_ruby_frame(line: &str) -> Option<StackFrame> {
    let (location, function) = line
        .split_once(":in `")
        .or_else(|| line.split_once(":in '"))?;
    let function = function.strip_suffix('\'')?;
    let (file, number) = location.rsplit_once(':')?;
    let line_number: u32 = number.parse().ok()?;
    (!file.is_empty() && !file.contains(' '))
        .then(|| StackFrame::new(file, Some(line_number), None, Some(function)))
}

/// Firefox and Safari: `handleClick@https://app.example.com/static/main.js:10:5`.
fn parse_firefox_frame(line: &str) -> Option<StackFrame> {
    if line.contains(char::is_whitespace) {
        return None;
    }
    let (function, location) = line.split_once('@')?;
    let (file, line_number, column) = split_location(location)?;
    Some(StackFrame::new(
        file,
        Some(line_number),
        column,
        Some(function),
    ))
}

/// A Rust panic: `thread 'main' panicked at src/main.rs:10:5:` with the message on the next
/// line (Rust 1.73 and later), or `thread 'main' panicked at 'message', src/main.rs:10:5`.
fn parse_rust_panic(
    line: &str,
    next: Option<&str>,
) -> Option<(ExceptionInfo, Option<StackFrame>, usize)> {
    let trimmed = line.trim();
    let rest = trimmed.strip_prefix("thread '")?;
    let (_, rest) = rest.split_once("' panicked at ")?;
    let frame_at = |location: &str| {
        split_location(location.trim())
            .map(|(file, number, column)| StackFrame::new(file, Some(number), column, None))
    };
    if let Some(location) = rest.strip_suffix(':') {
        let message = next.map(str::trim).unwrap_or_default().to_owned();
        let consumed = if next.is_some() { 2 } else { 1 };
        let exception = ExceptionInfo {
            type_name: "panic".to_owned(),
            message,
        };
        return Some((exception, frame_at(location), consumed));
    }
    let (quoted, location) = rest.rsplit_once("', ")?;
    let message = quoted.strip_prefix('\'')?.to_owned();
    let exception = ExceptionInfo {
        type_name: "panic".to_owned(),
        message,
    };
    Some((exception, frame_at(location), 1))
}

/// `Type: message` lines. In an unfenced paste only names that look like exceptions count,
/// so prose such as `Note: …` is not mistaken for one.
fn parse_exception_line(line: &str, fenced: bool) -> Option<ExceptionInfo> {
    let trimmed = line.trim();
    if trimmed.starts_with("Caused by:") {
        return None;
    }
    let trimmed = trimmed.strip_prefix("Uncaught ").unwrap_or(trimmed);
    let trimmed = match trimmed.strip_prefix("Exception in thread \"") {
        Some(rest) => rest.split_once("\" ")?.1,
        None => trimmed,
    };
    let (type_name, message) = trimmed.split_once(": ")?;
    let looks_like_type = type_name
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '*')
        && type_name
            .chars()
            .all(|c| c.is_alphanumeric() || "_.$:<>*/-".contains(c));
    let message = message.trim();
    if !looks_like_type || message.is_empty() {
        return None;
    }
    if !fenced {
        let exception_like = ["Error", "Exception", "Panic", "Fault"]
            .iter()
            .any(|suffix| type_name.ends_with(suffix))
            || type_name == "panic";
        if !exception_like {
            return None;
        }
    }
    Some(ExceptionInfo {
        type_name: type_name.to_owned(),
        message: message.to_owned(),
    })
}

/// Where a frame's file is in the repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameLocation {
    /// This repository file, relative to the root.
    Repository {
        /// The matching path.
        path: String,
    },
    /// Several repository files match equally well; the frame alone cannot tell which.
    Ambiguous {
        /// The equally good matches, sorted.
        candidates: Vec<String>,
    },
    /// Library or runtime code (site-packages, node_modules, vendor, the standard library):
    /// the fix is not there.
    NotInApp,
    /// No repository file matches (a bundled asset, or code outside the repository).
    NotFound,
}

/// A frame and where its file is in the repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappedFrame {
    /// The frame as parsed.
    pub frame: StackFrame,
    /// Where it points in the repository.
    pub location: FrameLocation,
}

impl MappedFrame {
    /// The repository file, when exactly one matches.
    pub fn repository_file(&self) -> Option<&str> {
        match &self.location {
            FrameLocation::Repository { path } => Some(path),
            _ => None,
        }
    }

    /// Whether the frame is application code rather than a library or the runtime.
    pub fn in_app(&self) -> bool {
        !matches!(self.location, FrameLocation::NotInApp)
    }
}

/// Places each frame in the repository: absolute and URL prefixes are ignored, library and
/// runtime frames are marked not-in-app, and the file sharing the longest trailing run of
/// path components with the frame wins (a repository path the frame ends with beats one
/// that merely shares as many components; a remaining tie is reported as ambiguous).
pub fn map_frames_to_files(frames: &[StackFrame], repository_files: &[String]) -> Vec<MappedFrame> {
    let index = RepositoryIndex::new(repository_files);
    frames
        .iter()
        .map(|frame| MappedFrame {
            frame: frame.clone(),
            location: index.locate(frame),
        })
        .collect()
}

/// Repository files grouped by file name, each split into components.
struct RepositoryIndex<'a> {
    by_name: HashMap<&'a str, Vec<(&'a str, Vec<&'a str>)>>,
}

impl<'a> RepositoryIndex<'a> {
    fn new(files: &'a [String]) -> Self {
        let mut by_name: HashMap<&str, Vec<(&str, Vec<&str>)>> = HashMap::new();
        for file in files {
            let path = file.trim_start_matches("./");
            let components: Vec<&str> = path
                .split(['/', '\\'])
                .filter(|component| !component.is_empty() && *component != ".")
                .collect();
            if let Some(name) = components.last() {
                by_name.entry(name).or_default().push((path, components));
            }
        }
        RepositoryIndex { by_name }
    }

    fn locate(&self, frame: &StackFrame) -> FrameLocation {
        let Some(components) = frame_components(frame) else {
            return FrameLocation::NotInApp;
        };
        let Some(name) = components.last() else {
            return FrameLocation::NotFound;
        };
        let Some(candidates) = self.by_name.get(name.as_str()) else {
            return FrameLocation::NotFound;
        };
        // Score: trailing components shared, then whether the whole repository path is a
        // suffix of the frame's path.
        let scored: Vec<(usize, bool, &str)> = candidates
            .iter()
            .map(|(path, repo)| {
                let shared = components
                    .iter()
                    .rev()
                    .zip(repo.iter().rev())
                    .take_while(|(frame_part, repo_part)| frame_part.as_str() == **repo_part)
                    .count();
                (shared, shared == repo.len(), *path)
            })
            .collect();
        let best = scored
            .iter()
            .map(|(shared, whole, _)| (*shared, *whole))
            .max()
            .unwrap_or_default();
        let mut winners: Vec<String> = scored
            .iter()
            .filter(|(shared, whole, _)| (*shared, *whole) == best)
            .map(|(_, _, path)| (*path).to_owned())
            .collect();
        winners.sort();
        winners.dedup();
        match winners.len() {
            0 => FrameLocation::NotFound,
            1 => FrameLocation::Repository {
                path: winners.remove(0),
            },
            _ => FrameLocation::Ambiguous {
                candidates: winners,
            },
        }
    }
}

/// Java packages whose frames are the runtime or language library.
const RUNTIME_PACKAGES: [&str; 9] = [
    "java.", "javax.", "jdk.", "sun.", "com.sun.", "kotlin.", "kotlinx.", "scala.", "android.",
];

/// Directories that hold third-party code in the ecosystems Sentry reports on.
const LIBRARY_DIRECTORIES: [&str; 5] = [
    "site-packages",
    "dist-packages",
    "node_modules",
    "vendor",
    "bower_components",
];

/// The frame's path as components with URL schemes, hosts and absolute prefixes removed;
/// `None` when the frame is library or runtime code.
fn frame_components(frame: &StackFrame) -> Option<Vec<String>> {
    if let Some(module) = &frame.module
        && RUNTIME_PACKAGES
            .iter()
            .any(|prefix| module.starts_with(prefix))
    {
        return None;
    }
    let file = frame.file.trim();
    // `node:internal/…`, `<anonymous>`, `<frozen importlib._bootstrap>`, `[native code]`.
    if file.starts_with("node:")
        || file.starts_with('<')
        || file.starts_with('[')
        || file == "native"
    {
        return None;
    }
    let path = match file.split_once("://") {
        Some((scheme, rest))
            if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") =>
        {
            rest.split_once('/').map_or("", |(_, path)| path)
        }
        Some((_, rest)) => rest,
        None => file,
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    let components: Vec<&str> = path
        .split(['/', '\\'])
        .filter(|component| !component.is_empty() && *component != "." && *component != "..")
        .collect();
    if is_library_path(&components, file) {
        return None;
    }
    let mut components: Vec<String> = components.into_iter().map(str::to_owned).collect();
    // Java traces name only `Foo.java`; the class's package says which directory.
    if components.len() == 1
        && let Some(module) = &frame.module
        && let Some((package, _)) = module.rsplit_once('.')
    {
        let mut placed: Vec<String> = package.split('.').map(str::to_owned).collect();
        placed.append(&mut components);
        components = placed;
    }
    Some(components)
}

fn is_library_path(components: &[&str], file: &str) -> bool {
    let pairs = || components.windows(2);
    components
        .iter()
        .any(|component| LIBRARY_DIRECTORIES.contains(component))
        // Cargo's registry and git checkouts of dependencies.
        || pairs().any(|pair| pair[0] == ".cargo" && (pair[1] == "registry" || pair[1] == "git"))
        // Go's module cache.
        || pairs().any(|pair| pair[0] == "pkg" && pair[1] == "mod")
        // Python's standard library: `…/lib/python3.12/…`.
        || pairs().any(|pair| {
            pair[0] == "lib"
                && pair[1].strip_prefix("python").is_some_and(|version| {
                    !version.is_empty() && version.chars().all(|c| c.is_ascii_digit() || c == '.')
                })
        })
        // Rust's standard library: `/rustc/<commit>/library/…`.
        || file.starts_with("/rustc/")
        // Go's standard library under its usual GOROOTs.
        || file.starts_with("/usr/local/go/src/")
        || file.starts_with("/usr/lib/go/src/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(file: &str, line: Option<u32>, function: Option<&str>) -> StackFrame {
        StackFrame::new(file, line, None, function)
    }

    fn at(file: &str, line: u32, column: u32, function: &str) -> StackFrame {
        StackFrame::new(file, Some(line), Some(column), Some(function))
    }

    fn exception(type_name: &str, message: &str) -> Option<ExceptionInfo> {
        Some(ExceptionInfo {
            type_name: type_name.to_owned(),
            message: message.to_owned(),
        })
    }

    const PYTHON_STUB: &str = "\
Sentry Issue: [BACKEND-1A2](https://acme.sentry.io/issues/4509723301/?referrer=Linear)

```
ZeroDivisionError: division by zero
  File \"/usr/src/app/billing/invoice.py\", line 88, in total
    return subtotal / count
  File \"/usr/src/app/billing/views.py\", line 12, in invoice_view
    amount = invoice.total()
```";

    const JS_STUB: &str = "\
Sentry Issue: [WEB-3F](https://sentry.io/organizations/acme/issues/123/?project=1&referrer=Linear)

```
TypeError: Cannot read properties of undefined (reading 'id')
  at selectUser (webpack:///./src/store/users.ts:27:19)
  at async CartPage (app:///src/pages/Cart.tsx:14:5)
  at /var/task/node_modules/react-dom/cjs/react-dom.production.min.js:52:1
```";

    const JAVA_NATIVE: &str = "\
Sentry Issue: [API-9](https://acme.sentry.io/issues/77/)

```
Exception in thread \"main\" java.lang.IllegalStateException: order already paid
\tat com.acme.orders.OrderService.pay(OrderService.java:57)
\tat com.acme.orders.OrderService$Retry.run(OrderService.java:102)
\tat java.base/java.lang.Thread.run(Thread.java:833)
Caused by: java.io.IOException: disk full
\tat com.acme.store.Ledger.write(Unknown Source)
\t... 3 more
```";

    const SENTRY_JAVA: &str = "\
Sentry Issue: [API-10](https://acme.sentry.io/issues/78/?referrer=Linear)

```
java.io.IOException: disk full
    at com.acme.store.Ledger.write(Ledger.java:31)

java.lang.IllegalStateException: ledger unavailable
    at com.acme.orders.OrderService.pay(OrderService.java:57)
    return ledger.write(order);
```";

    const RUST_BACKTRACE: &str = "\
Sentry Issue: [CORE-2](https://acme.sentry.io/issues/5/?referrer=Linear)

```
thread 'tokio-runtime-worker' panicked at crates/orders/src/cart.rs:42:9:
called `Option::unwrap()` on a `None` value
stack backtrace:
   0: rust_begin_unwind
             at /rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/std/src/panicking.rs:645:5
   1: core::panicking::panic
   2: orders::cart::Cart::total
             at ./crates/orders/src/cart.rs:42:9
   3: tokio::runtime::task::raw::poll
             at /home/ci/.cargo/registry/src/index.crates.io-6f17d22bba15001f/tokio-1.37.0/src/runtime/task/raw.rs:255:5
```";

    const SENTRY_RUST: &str = "\
Sentry Issue: [CORE-3](https://acme.sentry.io/issues/6/?referrer=Linear)

```
panic: called `Option::unwrap()` on a `None` value
  File \"crates/orders/src/cart.rs\", line 42, in orders::cart::Cart::total
  File \"src/main.rs\", line 9, in app::main
```";

    const GO_PANIC: &str = "\
Sentry Issue: [GATEWAY-7](https://acme.sentry.io/issues/91/?referrer=Linear)

```
panic: runtime error: index out of range [5] with length 3

goroutine 18 [running]:
github.com/acme/gateway/internal/router.(*Router).match(0xc0000a4000, {0xc00001c0a0, 0x5})
\t/home/runner/work/gateway/gateway/internal/router/router.go:88 +0x1d4
net/http.HandlerFunc.ServeHTTP(0xc0000a4010, {0x7f1e, 0xc0001})
\t/usr/local/go/src/net/http/server.go:2136 +0x29
created by net/http.(*Server).Serve in goroutine 1
\t/usr/local/go/src/net/http/server.go:3086 +0x5cb
```";

    const SENTRY_GO: &str = "\
Sentry Issue: [GATEWAY-8](<https://acme.sentry.io/issues/92/?referrer=Linear>)

```
*errors.errorString: upstream closed
  File \"/app/internal/proxy/stream.go\", line 140, in (*Stream).Read
  File \"/root/go/pkg/mod/github.com/gorilla/websocket@v1.5.0/conn.go\", line 1020, in (*Conn).NextReader
```";

    const PYTHON_CHAINED: &str = "\
Sentry Issue: [BACKEND-2](https://acme.sentry.io/issues/2/?referrer=Linear)

```
Traceback (most recent call last):
  File \"/srv/app/shop/cart.py\", line 20, in load
    data = cache[key]
KeyError: 'cart:42'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File \"/srv/app/.venv/lib/python3.12/site-packages/django/core/handlers/base.py\", line 197, in _get_response
  File \"/usr/lib/python3.12/json/decoder.py\", line 355, in raw_decode
ValueError: cart payload is empty
```";

    const FIREFOX_AND_RUBY: &str = "\
Sentry Issue: [MIXED-1](https://acme.sentry.io/issues/3/?referrer=Linear)

```
NoMethodError: undefined method `name' for nil
  app/models/user.rb:12:in `display_name'
  app/controllers/users_controller.rb:8:in 'UsersController#show'
handleClick@https://shop.example.com/static/js/cart.js:10:5
```";

    #[test]
    fn reads_the_sentry_line_exception_and_frames_of_each_platform() {
        struct Case {
            name: &'static str,
            description: &'static str,
            short_id: &'static str,
            url: &'static str,
            exception: Option<ExceptionInfo>,
            frames: Vec<StackFrame>,
        }
        let mut java_pay = frame("OrderService.java", Some(57), Some("pay"));
        java_pay.module = Some("com.acme.orders.OrderService".to_owned());
        let mut java_retry = frame("OrderService.java", Some(102), Some("run"));
        java_retry.module = Some("com.acme.orders.OrderService$Retry".to_owned());
        let mut java_thread = frame("Thread.java", Some(833), Some("run"));
        java_thread.module = Some("java.lang.Thread".to_owned());
        let mut ledger = frame("Ledger.java", Some(31), Some("write"));
        ledger.module = Some("com.acme.store.Ledger".to_owned());
        let cases = [
            Case {
                name: "python (Sentry's default template, with context lines)",
                description: PYTHON_STUB,
                short_id: "BACKEND-1A2",
                url: "https://acme.sentry.io/issues/4509723301/",
                exception: exception("ZeroDivisionError", "division by zero"),
                frames: vec![
                    frame("/usr/src/app/billing/invoice.py", Some(88), Some("total")),
                    frame(
                        "/usr/src/app/billing/views.py",
                        Some(12),
                        Some("invoice_view"),
                    ),
                ],
            },
            Case {
                name: "javascript and typescript (V8 frames, async, anonymous)",
                description: JS_STUB,
                short_id: "WEB-3F",
                url: "https://sentry.io/organizations/acme/issues/123/?project=1",
                exception: exception(
                    "TypeError",
                    "Cannot read properties of undefined (reading 'id')",
                ),
                frames: vec![
                    at("webpack:///./src/store/users.ts", 27, 19, "selectUser"),
                    at("app:///src/pages/Cart.tsx", 14, 5, "CartPage"),
                    StackFrame::new(
                        "/var/task/node_modules/react-dom/cjs/react-dom.production.min.js",
                        Some(52),
                        Some(1),
                        None,
                    ),
                ],
            },
            Case {
                name: "java native trace (outermost exception, frames without a file skipped)",
                description: JAVA_NATIVE,
                short_id: "API-9",
                url: "https://acme.sentry.io/issues/77/",
                exception: exception("java.lang.IllegalStateException", "order already paid"),
                frames: vec![java_pay.clone(), java_retry, java_thread],
            },
            Case {
                name: "java in Sentry's template (chained exceptions, last one surfaced)",
                description: SENTRY_JAVA,
                short_id: "API-10",
                url: "https://acme.sentry.io/issues/78/",
                exception: exception("java.lang.IllegalStateException", "ledger unavailable"),
                frames: vec![ledger, java_pay],
            },
            Case {
                name: "rust backtrace (frames without a location skipped)",
                description: RUST_BACKTRACE,
                short_id: "CORE-2",
                url: "https://acme.sentry.io/issues/5/",
                exception: exception("panic", "called `Option::unwrap()` on a `None` value"),
                frames: vec![
                    at(
                        "/rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/std/src/panicking.rs",
                        645,
                        5,
                        "rust_begin_unwind",
                    ),
                    at(
                        "./crates/orders/src/cart.rs",
                        42,
                        9,
                        "orders::cart::Cart::total",
                    ),
                    at(
                        "/home/ci/.cargo/registry/src/index.crates.io-6f17d22bba15001f/tokio-1.37.0/src/runtime/task/raw.rs",
                        255,
                        5,
                        "tokio::runtime::task::raw::poll",
                    ),
                ],
            },
            Case {
                name: "rust in Sentry's default template",
                description: SENTRY_RUST,
                short_id: "CORE-3",
                url: "https://acme.sentry.io/issues/6/",
                exception: exception("panic", "called `Option::unwrap()` on a `None` value"),
                frames: vec![
                    frame(
                        "crates/orders/src/cart.rs",
                        Some(42),
                        Some("orders::cart::Cart::total"),
                    ),
                    frame("src/main.rs", Some(9), Some("app::main")),
                ],
            },
            Case {
                name: "go goroutine dump",
                description: GO_PANIC,
                short_id: "GATEWAY-7",
                url: "https://acme.sentry.io/issues/91/",
                exception: exception(
                    "panic",
                    "runtime error: index out of range [5] with length 3",
                ),
                frames: vec![
                    frame(
                        "/home/runner/work/gateway/gateway/internal/router/router.go",
                        Some(88),
                        Some("github.com/acme/gateway/internal/router.(*Router).match"),
                    ),
                    frame(
                        "/usr/local/go/src/net/http/server.go",
                        Some(2136),
                        Some("net/http.HandlerFunc.ServeHTTP"),
                    ),
                    frame(
                        "/usr/local/go/src/net/http/server.go",
                        Some(3086),
                        Some("net/http.(*Server).Serve"),
                    ),
                ],
            },
            Case {
                name: "go in Sentry's default template, link in angle brackets",
                description: SENTRY_GO,
                short_id: "GATEWAY-8",
                url: "https://acme.sentry.io/issues/92/",
                exception: exception("*errors.errorString", "upstream closed"),
                frames: vec![
                    frame(
                        "/app/internal/proxy/stream.go",
                        Some(140),
                        Some("(*Stream).Read"),
                    ),
                    frame(
                        "/root/go/pkg/mod/github.com/gorilla/websocket@v1.5.0/conn.go",
                        Some(1020),
                        Some("(*Conn).NextReader"),
                    ),
                ],
            },
            Case {
                name: "python native chained traceback (the exception raised last)",
                description: PYTHON_CHAINED,
                short_id: "BACKEND-2",
                url: "https://acme.sentry.io/issues/2/",
                exception: exception("ValueError", "cart payload is empty"),
                frames: vec![
                    frame("/srv/app/shop/cart.py", Some(20), Some("load")),
                    frame(
                        "/srv/app/.venv/lib/python3.12/site-packages/django/core/handlers/base.py",
                        Some(197),
                        Some("_get_response"),
                    ),
                    frame(
                        "/usr/lib/python3.12/json/decoder.py",
                        Some(355),
                        Some("raw_decode"),
                    ),
                ],
            },
            Case {
                name: "ruby template and firefox frames",
                description: FIREFOX_AND_RUBY,
                short_id: "MIXED-1",
                url: "https://acme.sentry.io/issues/3/",
                exception: exception("NoMethodError", "undefined method `name' for nil"),
                frames: vec![
                    frame("app/models/user.rb", Some(12), Some("display_name")),
                    frame(
                        "app/controllers/users_controller.rb",
                        Some(8),
                        Some("UsersController#show"),
                    ),
                    at(
                        "https://shop.example.com/static/js/cart.js",
                        10,
                        5,
                        "handleClick",
                    ),
                ],
            },
        ];
        for case in cases {
            let report = parse_bug_report(case.description, &[]);
            assert_eq!(
                report.sentry_short_id.as_deref(),
                Some(case.short_id),
                "{}",
                case.name
            );
            assert_eq!(
                report.sentry_url.as_deref(),
                Some(case.url),
                "{}",
                case.name
            );
            assert_eq!(report.exception, case.exception, "{}", case.name);
            assert_eq!(report.frames, case.frames, "{}", case.name);
            assert!(report.is_from_sentry(), "{}", case.name);
        }
    }

    #[test]
    fn a_panic_without_backtrace_gives_its_location_as_the_one_frame() {
        let report = parse_bug_report(
            "```\nthread 'main' panicked at 'index out of bounds', src/parser.rs:17:13\n```",
            &[],
        );
        assert_eq!(report.exception, exception("panic", "index out of bounds"));
        assert_eq!(
            report.frames,
            vec![StackFrame::new("src/parser.rs", Some(17), Some(13), None)]
        );
    }

    #[test]
    fn a_function_sentry_could_not_name_is_absent() {
        let report = parse_bug_report(
            "```\nError: boom\n  at None (app:///src/index.ts:3:1)\n  at ? (app:///src/boot.ts:9:2)\n```",
            &[],
        );
        assert_eq!(
            report.frames,
            vec![
                StackFrame::new("app:///src/index.ts", Some(3), Some(1), None),
                StackFrame::new("app:///src/boot.ts", Some(9), Some(2), None),
            ]
        );
    }

    #[test]
    fn the_sentry_attachment_supplies_the_link_when_the_line_is_missing() {
        let attachments = [
            Attachment {
                title: "Design doc".to_owned(),
                url: "https://docs.example.com/x".to_owned(),
                source: None,
            },
            Attachment {
                title: "ZeroDivisionError: division by zero".to_owned(),
                url: "https://acme.sentry.io/issues/4509723301/?referrer=Linear".to_owned(),
                source: Some("Sentry".to_owned()),
            },
        ];
        let report = parse_bug_report("Crashes on checkout.", &attachments);
        assert_eq!(report.sentry_short_id, None);
        assert_eq!(
            report.sentry_url.as_deref(),
            Some("https://acme.sentry.io/issues/4509723301/")
        );
        assert!(report.is_from_sentry());
    }

    #[test]
    fn recognises_sentry_attachments_by_source_or_host() {
        let attachment = |url: &str, source: Option<&str>| Attachment {
            title: String::new(),
            url: url.to_owned(),
            source: source.map(str::to_owned),
        };
        assert!(is_sentry_attachment(&attachment(
            "https://x.test/1",
            Some("sentry")
        )));
        assert!(is_sentry_attachment(&attachment(
            "https://acme.sentry.io/issues/1/",
            None
        )));
        assert!(is_sentry_attachment(&attachment(
            "https://sentry.io/organizations/a/issues/1/",
            None
        )));
        assert!(!is_sentry_attachment(&attachment(
            "https://notsentry.io/issues/1/",
            None
        )));
        assert!(!is_sentry_attachment(&attachment(
            "https://github.com/a/b/pull/1",
            Some("github")
        )));
    }

    #[test]
    fn a_plain_bug_report_yields_an_empty_report_and_prose_is_not_an_exception() {
        let report = parse_bug_report(
            "Checkout is slow.\n\nNote: only on Mondays.\nSteps: open the cart.",
            &[],
        );
        assert_eq!(report, BugReport::default());
        assert!(!report.is_from_sentry());
    }

    #[test]
    fn an_unfenced_paste_is_still_read() {
        let report = parse_bug_report(
            "It broke:\nTypeError: x is undefined\n    at render (src/App.tsx:3:7)\n",
            &[],
        );
        assert_eq!(report.exception, exception("TypeError", "x is undefined"));
        assert_eq!(report.frames, vec![at("src/App.tsx", 3, 7, "render")]);
    }

    fn files(paths: &[&str]) -> Vec<String> {
        paths.iter().map(|path| (*path).to_owned()).collect()
    }

    fn located(frames: &[StackFrame], repository: &[String]) -> Vec<FrameLocation> {
        map_frames_to_files(frames, repository)
            .into_iter()
            .map(|mapped| mapped.location)
            .collect()
    }

    fn in_repo(path: &str) -> FrameLocation {
        FrameLocation::Repository {
            path: path.to_owned(),
        }
    }

    #[test]
    fn maps_frames_of_each_platform_to_repository_files() {
        let repository = files(&[
            "billing/invoice.py",
            "billing/views.py",
            "src/store/users.ts",
            "src/pages/Cart.tsx",
            "src/main/java/com/acme/orders/OrderService.java",
            "src/main/java/com/acme/store/Ledger.java",
            "crates/orders/src/cart.rs",
            "internal/router/router.go",
            "internal/proxy/stream.go",
            "app/models/user.rb",
        ]);
        let not_in_app = || FrameLocation::NotInApp;
        let order_service = "src/main/java/com/acme/orders/OrderService.java";
        let cases = [
            (
                PYTHON_STUB,
                vec![in_repo("billing/invoice.py"), in_repo("billing/views.py")],
            ),
            (
                JS_STUB,
                vec![
                    in_repo("src/store/users.ts"),
                    in_repo("src/pages/Cart.tsx"),
                    not_in_app(),
                ],
            ),
            (
                JAVA_NATIVE,
                vec![in_repo(order_service), in_repo(order_service), not_in_app()],
            ),
            (
                SENTRY_JAVA,
                vec![
                    in_repo("src/main/java/com/acme/store/Ledger.java"),
                    in_repo(order_service),
                ],
            ),
            (
                RUST_BACKTRACE,
                vec![
                    not_in_app(),
                    in_repo("crates/orders/src/cart.rs"),
                    not_in_app(),
                ],
            ),
            (
                GO_PANIC,
                vec![
                    in_repo("internal/router/router.go"),
                    not_in_app(),
                    not_in_app(),
                ],
            ),
            (
                SENTRY_GO,
                vec![in_repo("internal/proxy/stream.go"), not_in_app()],
            ),
            (
                PYTHON_CHAINED,
                vec![FrameLocation::NotFound, not_in_app(), not_in_app()],
            ),
            (
                FIREFOX_AND_RUBY,
                vec![
                    in_repo("app/models/user.rb"),
                    FrameLocation::NotFound,
                    FrameLocation::NotFound,
                ],
            ),
        ];
        for (stub, expected) in cases {
            let report = parse_bug_report(stub, &[]);
            assert_eq!(located(&report.frames, &repository), expected, "{stub}");
        }
    }

    #[test]
    fn the_longest_shared_suffix_wins_and_a_true_tie_is_ambiguous() {
        let repository = files(&[
            "packages/web/src/utils/format.ts",
            "packages/api/src/utils/format.ts",
            "src/utils/format.ts",
            "tests/fixtures/src/utils/format.ts",
            "lib/index.js",
            "src/index.js",
        ]);
        let frames = [
            frame("/app/packages/web/src/utils/format.ts", Some(1), None),
            frame("/srv/app/src/utils/format.ts", Some(1), None),
            frame("index.js", Some(3), None),
            frame("README.md", Some(1), None),
        ];
        assert_eq!(
            located(&frames, &repository),
            vec![
                in_repo("packages/web/src/utils/format.ts"),
                in_repo("src/utils/format.ts"),
                FrameLocation::Ambiguous {
                    candidates: files(&["lib/index.js", "src/index.js"]),
                },
                FrameLocation::NotFound,
            ]
        );
    }

    #[test]
    fn library_and_runtime_frames_are_not_in_app() {
        let repository = files(&["vendor/github.com/pkg/errors/errors.go", "app/main.py"]);
        let not_in_app = [
            "/usr/local/lib/python3.11/site-packages/requests/api.py",
            "/usr/lib/python3/dist-packages/yaml/__init__.py",
            "/usr/lib/python3.11/json/decoder.py",
            "node:internal/process/task_queues",
            "<anonymous>",
            "<frozen importlib._bootstrap>",
            "/app/vendor/github.com/pkg/errors/errors.go",
            "/home/u/.cargo/git/checkouts/foo-1/src/lib.rs",
            "/rustc/abc/library/core/src/option.rs",
            "/go/pkg/mod/golang.org/x/net@v0.1.0/http2/server.go",
        ];
        for file in not_in_app {
            let mapped = map_frames_to_files(&[frame(file, Some(1), None)], &repository);
            assert!(!mapped[0].in_app(), "{file} should be library code");
            assert_eq!(mapped[0].repository_file(), None, "{file}");
        }
        let mapped = map_frames_to_files(&[frame("/srv/app/main.py", Some(1), None)], &repository);
        assert!(mapped[0].in_app());
        assert_eq!(mapped[0].repository_file(), Some("app/main.py"));
    }
}
