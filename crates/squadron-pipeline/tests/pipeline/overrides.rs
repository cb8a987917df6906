//! A target repository's own agents and prompts: an overriding agent file's instructions
//! and model reach that repository's squads, and a malformed one fails the squad (not the
//! runtime) naming the file and the problem.

use std::time::Duration;

use squadron_core::{Phase, Role, RunId};
use squadron_pipeline::{Pipeline, PipelineSettings, SquadView};

use crate::support::{ReviewScript, URL, World, issue};

const LIMIT: Duration = Duration::from_secs(180);
const MARKER: &str = "Name every helper after the shop's glossary (override-7f3a).";

async fn run_one(world: &World, settings: PipelineSettings) -> SquadView {
    let pipeline = Pipeline::new(world.services(), settings);
    let handle = pipeline.handle();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(pipeline.run(async move {
        let _ = stopped.await;
    }));
    let run: RunId = handle.start_run(URL).await.unwrap();
    let mut squads = tokio::time::timeout(LIMIT, handle.wait_run(&run))
        .await
        .expect("the run finishes in time")
        .expect("the runtime keeps running");
    let _ = stop.send(());
    task.await
        .unwrap()
        .expect("the runtime stops cleanly, whatever the squad's overrides");
    squads.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repositorys_agent_override_gives_its_squads_the_overriding_instructions_and_model() {
    let world = World::new(vec![issue(1, &[])], ReviewScript::default()).await;
    let developer = format!(
        "---\nname: developer\ndescription: The shop's own Developer.\nmodel: scripted/override\n\
         tools: [read_file, list_files, write_file, edit_file, run_tests, finish]\nwrites: code\n---\n\
         You are the shop's Developer. {MARKER}\n"
    );
    world.add_to_main(&[("agents/developer.md", &developer)]);

    let squad = run_one(&world, world.settings("override")).await;

    assert_eq!(squad.phase, Phase::Merged, "{:?}", squad.phase);
    let systems = world.models[&Role::Developer]
        .systems
        .lock()
        .unwrap()
        .clone();
    assert!(!systems.is_empty(), "the Developer worked");
    assert!(
        systems.iter().all(|system| system.contains(MARKER)),
        "every Developer turn runs on the override: {systems:#?}"
    );
    let qa = world.models[&Role::Qa].systems.lock().unwrap().clone();
    assert!(
        qa.iter().all(|system| !system.contains(MARKER)),
        "QA keeps its shipped agent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_agent_override_stops_the_squad_for_a_person_naming_the_file_and_the_problem() {
    let world = World::new(vec![issue(1, &[])], ReviewScript::default()).await;
    world.add_to_main(&[("agents/qa.md", "name: qa\nno front matter here\n")]);

    let squad = run_one(&world, world.settings("override-bad")).await;

    let Phase::NeedsHuman(reason) = &squad.phase else {
        panic!("a person must fix the repository: {:?}", squad.phase);
    };
    assert!(
        reason.contains("agent overrides") && reason.contains("agents/qa.md"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_naming_an_unconfigured_model_stops_the_squad_naming_the_model() {
    let world = World::new(vec![issue(1, &[])], ReviewScript::default()).await;
    world.add_to_main(&[(
        "agents/developer.md",
        "---\nname: developer\ndescription: x\nmodel: nowhere/model-9\ntools: [finish]\nwrites: code\n---\nWork.\n",
    )]);

    let squad = run_one(&world, world.settings("override-model")).await;

    let Phase::NeedsHuman(reason) = &squad.phase else {
        panic!("a person must fix the repository: {:?}", squad.phase);
    };
    assert!(
        reason.contains("nowhere/model-9") && reason.contains("not configured"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_repositorys_squadron_settings_are_read_from_the_base_and_a_bad_one_stops_the_squad() {
    let world = World::new(vec![issue(1, &[])], ReviewScript::default()).await;
    world.add_to_main(&[(".squadron.toml", "test = 42\n")]);

    let squad = run_one(&world, world.settings("settings-bad")).await;

    let Phase::NeedsHuman(reason) = &squad.phase else {
        panic!("a person must fix the repository: {:?}", squad.phase);
    };
    assert!(
        reason.contains("repository settings") && reason.contains(".squadron.toml"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_repositorys_guidance_reaches_every_agent_from_the_base() {
    const ROOT: &str = "Write every file's last line with a newline (guidance-51c2).";
    const NESTED: &str = "Files under src/ are plain text, one word a line (guidance-9e07).";
    let world = World::new(vec![issue(1, &[])], ReviewScript::default()).await;
    world.add_to_main(&[
        ("AGENTS.md", &format!("# Shop conventions\n{ROOT}\n")),
        ("src/AGENTS.md", &format!("{NESTED}\n")),
    ]);

    let squad = run_one(&world, world.settings("guidance")).await;

    assert_eq!(squad.phase, Phase::Merged, "{:?}", squad.phase);
    let systems = |role: Role| world.models[&role].systems.lock().unwrap().clone();
    for role in [
        Role::Developer,
        Role::Qa,
        Role::CodeReviewer,
        Role::QaSpecialist,
    ] {
        let prompts = systems(role);
        assert!(!prompts.is_empty(), "the {role} worked");
        for prompt in &prompts {
            // The repository's guidance, as guidance: not fenced as untrusted data.
            let fence = prompt
                .find("<repository-guidance id=\"")
                .unwrap_or_else(|| panic!("the {role} has no guidance:\n{prompt}"));
            assert!(prompt[fence..].contains(ROOT), "{role}:\n{prompt}");
        }
    }
    // Before anything changed, the Developer is pointed at the nested guidance; the
    // reviewers, whose change touches src/, are shown it.
    let developer = &systems(Role::Developer)[0];
    assert!(
        developer.contains("- `src/AGENTS.md`") && !developer.contains(NESTED),
        "{developer}"
    );
    let reviewer = &systems(Role::CodeReviewer)[0];
    assert!(reviewer.contains(NESTED), "{reviewer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_repositorys_setup_runs_before_any_agent_and_its_caches_outlive_the_squad() {
    let world = World::new(vec![issue(1, &[])], ReviewScript::default()).await;
    // The tests pass only where the setup ran and the cache variable points somewhere.
    world.add_to_main(&[
        (
            ".squadron.toml",
            "test = [\"sh\", \"-c\", \"test -f .deps/ready && test -d \\\"$BUILD_CACHE\\\" && sh run-tests.sh\"]\n\
             test_globs = [\"tests/**\"]\n\
             [sandbox]\n\
             setup = [\"sh\", \"-c\", \"mkdir -p .deps && echo installed > .deps/ready && echo fetched 3 packages\"]\n\
             caches = [\"BUILD_CACHE\"]\n",
        ),
        (".gitignore", ".deps/\n"),
    ]);
    let caches = tempfile::tempdir().unwrap();
    let mut settings = world.settings("setup");
    settings.cache_root = Some(caches.path().to_owned());

    let squad = run_one(&world, settings).await;

    assert_eq!(squad.phase, Phase::Merged, "{:?}", squad.phase);
    let events = world.store.events(&squad.squad).await.unwrap();
    let setups: Vec<serde_json::Value> = events
        .iter()
        .filter(|event| event.kind == "setup")
        .map(|event| serde_json::from_str(&event.payload).unwrap())
        .collect();
    assert!(!setups.is_empty(), "no setup recorded: {events:?}");
    assert_eq!(setups[0]["passed"], true, "{setups:?}");
    assert!(
        setups[0]["output"]
            .as_str()
            .unwrap()
            .contains("fetched 3 packages"),
        "{setups:?}"
    );
    assert!(caches.path().join("acme/shop/BUILD_CACHE").is_dir());
    // What the setup installed stays out of the merged change.
    assert!(world.merged_file("ENG-1"));
    assert!(crate::support::git(&world.code_host.remote, &["show", "main:.deps/ready"]).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_setup_stops_the_squad_before_any_agent_with_its_output() {
    let world = World::new(vec![issue(1, &[])], ReviewScript::default()).await;
    world.add_to_main(&[(
        ".squadron.toml",
        "test = [\"sh\", \"run-tests.sh\"]\n[sandbox]\n\
         setup = [\"sh\", \"-c\", \"echo 'npm ERR! network request failed'; exit 1\"]\n",
    )]);

    let squad = run_one(&world, world.settings("setup-bad")).await;

    let Phase::NeedsHuman(reason) = &squad.phase else {
        panic!("a person must fix the repository: {:?}", squad.phase);
    };
    assert!(
        reason.contains("setup command") && reason.contains("npm ERR! network request failed"),
        "{reason}"
    );
    assert!(
        world.models[&Role::Developer].tasks().is_empty(),
        "an agent worked in a worktree whose setup failed"
    );
}
