//! Pure `update` tests: every transition driven by messages, no terminal, no I/O.

mod tui_support;

use kubeguard::model::{ResourceKind, StepStatus, Subject, TargetScope, Task, WorkloadKind};
use kubeguard::tui::diff::DiffModel;
use kubeguard::tui::state::{Effect, InputKind, JobStatus, Msg, Overlay, Route, update};
use tui_support::*;

fn names(s: &kubeguard::tui::state::State) -> Vec<String> {
    s.view.iter().map(|&i| s.rows[i].id.name.clone()).collect()
}

#[test]
fn rows_are_precomputed_with_rbac_netpol_services_and_evidence() {
    let s = state();
    let cart = s.rows.iter().find(|r| r.id.name == "cart").unwrap();
    assert_eq!(cart.roles, vec!["Role shop/cart"]);
    assert_eq!(cart.rule_count, 3);
    assert_eq!(cart.risk, Some(kubeguard::model::Severity::High));
    assert_eq!(cart.cells[7], "iso/open");
    assert_eq!(cart.services, vec!["cart:8080"]);
    assert_eq!(cart.api_calls, 43);
    assert_eq!(cart.peers, 1);
    assert_eq!(cart.cells[11], "2d2h");
    let web = s.rows.iter().find(|r| r.id.name == "web").unwrap();
    assert_eq!(web.risk, Some(kubeguard::model::Severity::Critical));
    assert!(web.public);
    assert!(web.cells[8].starts_with("[PUBLIC]"));
    let pg = s.rows.iter().find(|r| r.id.name == "postgres").unwrap();
    assert!(pg.roles.is_empty());
    assert_eq!(pg.cells[6], "-");
}

#[test]
fn filter_command_mode_and_sorting() {
    let mut s = state();
    assert_eq!(names(&s), vec!["postgres", "cart", "report", "web"]);
    press(&mut s, "/");
    assert_eq!(s.input.as_ref().map(|i| i.kind), Some(InputKind::Filter));
    press(&mut s, "text:CAR");
    assert_eq!(names(&s), vec!["cart", "report"], "filter matches name and service account");
    press(&mut s, "enter");
    assert!(s.input.is_none());
    assert_eq!(s.filter.text, "CAR");
    press(&mut s, "esc");
    assert_eq!(names(&s).len(), 4, "esc clears the filter");
    press(&mut s, "/");
    press(&mut s, "text:!shop");
    assert_eq!(names(&s), vec!["postgres"], "! inverts");
    press(&mut s, "esc");

    press(&mut s, ":");
    press(&mut s, "text:ns shop");
    press(&mut s, "enter");
    assert_eq!(s.scope.namespace.as_deref(), Some("shop"));
    assert_eq!(names(&s), vec!["cart", "report", "web"]);
    press(&mut s, ":");
    press(&mut s, "text:deploy");
    press(&mut s, "enter");
    assert_eq!(names(&s), vec!["cart", "web"]);
    press(&mut s, ":");
    press(&mut s, "text:sa cart");
    press(&mut s, "enter");
    assert_eq!(names(&s), vec!["cart"]);
    press(&mut s, ":");
    press(&mut s, "text:all");
    press(&mut s, "enter");
    press(&mut s, "0");
    assert_eq!(s.scope, Default::default());

    press(&mut s, "R");
    assert_eq!(names(&s), vec!["web", "cart", "report", "postgres"], "risk, then rule count");
    press(&mut s, "R");
    assert_eq!(names(&s)[0], "postgres", "same key reverses");
    press(&mut s, "N");
    assert_eq!(names(&s), vec!["cart", "postgres", "report", "web"]);

    press(&mut s, ":");
    press(&mut s, "text:bogus");
    press(&mut s, "enter");
    assert!(s.toast.as_ref().unwrap().1.contains("unknown command"));
}

#[test]
fn vim_keys_and_chords_move_the_selection() {
    let mut s = state_with(big_snapshot(500), 80, 24, "dark");
    assert_eq!(s.selected, 0);
    press(&mut s, "j j j");
    assert_eq!(s.selected, 3);
    press(&mut s, "G");
    assert_eq!(s.selected, 499);
    assert_eq!(s.offset, 500 - s.list_height(), "offset keeps the selection visible");
    press(&mut s, "g");
    assert_eq!(s.selected, 499, "g alone waits for the chord");
    assert_eq!(s.pending.len(), 1);
    press(&mut s, "g");
    assert_eq!((s.selected, s.offset), (0, 0));
    press(&mut s, "ctrl-f");
    assert_eq!(s.selected, s.list_height() - 1);
    press(&mut s, "k");
    assert_eq!(s.selected, s.list_height() - 2);
}

#[test]
fn marking_runs_one_job_per_distinct_target() {
    let mut s = state();
    // rows in view order: postgres, cart, report (both SA cart), web
    press(&mut s, "j space space");
    assert_eq!(s.marked.len(), 2);
    let fx = press(&mut s, "r r");
    let runs = run_ids(&fx);
    assert_eq!(runs.len(), 1, "cart and report share the service account: one Role target");
    assert_eq!(
        runs[0].1.scope,
        TargetScope::Subject(Subject::ServiceAccount { namespace: "shop".into(), name: "cart".into() })
    );
    assert_eq!((runs[0].1.kind, runs[0].1.task), (ResourceKind::Role, Task::Refine));
    assert_eq!(s.route(), Route::Chain);
    assert!(s.marked.is_empty());
    let fx = press(&mut s, "esc");
    assert!(matches!(fx.as_slice(), [Effect::Cancel(_)]), "esc cancels the running job first");
    update(&mut s, Msg::JobFinished(runs[0].0, JobEnd::Cancelled, 5));
    press(&mut s, "esc");
    assert_eq!(s.route(), Route::Workloads);
    // two marked workloads, NetworkPolicy is per workload: two targets
    press(&mut s, "g g j space space");
    let fx = press(&mut s, "c n");
    let runs = run_ids(&fx);
    assert_eq!(runs.len(), 2);
    assert!(runs.iter().all(|(_, t)| t.kind == ResourceKind::NetworkPolicy && t.task == Task::Create));
    assert!(matches!(&runs[1].1.scope, TargetScope::Workload(w) if w.kind == WorkloadKind::CronJob));
}

#[test]
fn progress_streams_into_steps_and_cancel_works() {
    let mut s = state();
    press(&mut s, "j");
    let fx = press(&mut s, "r r");
    let (id, target) = run_ids(&fx)[0].clone();
    assert_eq!(s.jobs[&id].status, JobStatus::Queued);
    update(&mut s, Msg::JobStarted(id));
    update(&mut s, Msg::Progress(id, scripted_events(&target)));
    let job = &s.jobs[&id];
    assert_eq!(job.status, JobStatus::Running);
    assert_eq!(job.steps.len(), 3);
    assert_eq!(job.steps[0].status, Some(StepStatus::Done));
    assert_eq!(job.steps[0].answer, "{\"analysis_rules\": \"secrets read is unused\"}");
    assert_eq!((job.steps[0].prompt_tokens, job.steps[0].completion_tokens), (812, 64));
    assert_eq!(job.steps[1].status, Some(StepStatus::Running));
    assert_eq!(job.steps[1].notes, vec!["cache miss"]);
    assert_eq!(job.steps[2].status, Some(StepStatus::Queued));
    assert!(s.busy());

    // open the step inspector and back
    press(&mut s, "i");
    assert_eq!(s.route(), Route::Step);
    press(&mut s, "esc");
    assert_eq!(s.route(), Route::Chain);

    // esc on a running job cancels it (and stays in the app)
    let fx = press(&mut s, "esc");
    assert!(matches!(fx.as_slice(), [Effect::Cancel(ids)] if ids == &vec![id]));
    assert_eq!(s.route(), Route::Chain);
    update(&mut s, Msg::JobFinished(id, JobEnd::Cancelled, 300));
    assert_eq!(s.jobs[&id].status, JobStatus::Cancelled);
    assert_eq!(s.jobs[&id].steps[1].status, Some(StepStatus::Cancelled));
    assert_eq!(s.jobs[&id].steps[0].status, Some(StepStatus::Done));
    assert!(!s.busy());
    assert!(!s.quit);

    // ctrl-c cancels every running job, from anywhere
    press(&mut s, "esc");
    let fx = press(&mut s, "c d");
    let ids: Vec<u64> = run_ids(&fx).into_iter().map(|(i, _)| i).collect();
    press(&mut s, "esc");
    let fx = press(&mut s, "ctrl-c");
    assert!(matches!(fx.as_slice(), [Effect::Cancel(c)] if *c == ids));
    assert!(!s.quit, "ctrl-c cancels, it does not quit");
}

fn finished_diff_state() -> (kubeguard::tui::state::State, u64) {
    let mut s = state();
    press(&mut s, "j");
    let fx = press(&mut s, "r r");
    let (id, target) = run_ids(&fx)[0].clone();
    update(&mut s, Msg::JobFinished(id, JobEnd::Done(Box::new(recommendation(target))), 900));
    assert_eq!(s.jobs[&id].status, JobStatus::Done);
    let fx = press(&mut s, "enter");
    assert_eq!(s.route(), Route::Diff);
    let (hash, original, suggestion, syntect) = match fx.as_slice() {
        [Effect::BuildDiff { hash, original, suggestion, syntect, .. }] => {
            (*hash, original.clone(), suggestion.clone(), syntect.clone())
        }
        other => panic!("{other:?}"),
    };
    assert!(original.contains("secrets"));
    assert!(!suggestion.contains("secrets"));
    assert!(s.busy(), "building the diff");
    update(&mut s, Msg::DiffBuilt(id, hash, DiffModel::build(&original, &suggestion, &syntect)));
    assert!(!s.busy());
    (s, id)
}

#[test]
fn diff_opens_builds_and_ignores_stale_results() {
    let (mut s, id) = finished_diff_state();
    let d = s.diff.as_ref().unwrap();
    let m = d.model.as_ref().unwrap();
    assert!(m.removed >= 2 && m.added >= 1);
    assert_eq!(d.verdict.risks_removed.len(), 1);
    // stale result for another hash is dropped
    let before = s.diff.as_ref().unwrap().model.clone();
    update(&mut s, Msg::DiffBuilt(id, 42, DiffModel::build("a: 1\n", "a: 2\n", "none")));
    assert_eq!(s.diff.as_ref().unwrap().model, before);
    // hunk navigation and layout toggle
    let first = s.diff.as_ref().unwrap().model.as_ref().unwrap().hunks_rows[0];
    press(&mut s, "G");
    press(&mut s, "[");
    assert_eq!(s.diff.as_ref().unwrap().scroll, first);
    assert!(s.side_by_side_active());
    press(&mut s, "V");
    assert!(!s.side_by_side_active());
    update(&mut s, Msg::Resize(80, 24));
    press(&mut s, "V");
    assert!(!s.side_by_side_active(), "narrow terminal falls back to unified");
}

#[test]
fn edit_validates_yaml_and_rechecks_with_the_guard() {
    let (mut s, id) = finished_diff_state();
    press(&mut s, "e");
    assert_eq!(s.route(), Route::Editor);
    // break the YAML: an unclosed flow sequence on the first line
    press(&mut s, "text:x: [");
    let fx = press(&mut s, "ctrl-s");
    assert!(fx.is_empty());
    assert_eq!(s.route(), Route::Editor, "errors keep the editor open");
    let err = s.editor.as_ref().unwrap().error.clone().unwrap();
    assert!(err.starts_with("line "), "{err}");
    // undo the damage and change a verb instead
    for _ in 0..4 {
        press(&mut s, "backspace");
    }
    let text = s.editor.as_ref().unwrap().textarea.lines().join("\n");
    assert_eq!(text, s.diff.as_ref().unwrap().text.trim_end());
    let fx = press(&mut s, "ctrl-s");
    assert_eq!(s.route(), Route::Diff);
    assert!(matches!(fx.as_slice(), [Effect::BuildDiff { .. }, Effect::GuardCheck { .. }]), "{fx:?}");
    let d = s.diff.as_ref().unwrap();
    assert!(d.edited && d.checking);
    let hash = d.hash;
    update(&mut s, Msg::GuardChecked(id, hash, Ok(None)));
    assert!(!s.diff.as_ref().unwrap().checking);
    assert!(s.diff.as_ref().unwrap().guard_note.as_ref().unwrap().contains("not re-checked"));

    // external editor result with an error opens the inline editor at that line
    update(&mut s, Msg::ExternalEdited(Ok("apiVersion: v1\nkind: Role\n---\n- 1\n".to_string())));
    assert_eq!(s.route(), Route::Editor);
    assert!(s.editor.as_ref().unwrap().error.as_ref().unwrap().contains("line 4"));
    press(&mut s, "esc");
    assert_eq!(s.route(), Route::Diff);
}

#[test]
fn save_asks_for_a_path_and_before_overwriting() {
    let (mut s, _) = finished_diff_state();
    press(&mut s, "w");
    let inp = s.input.clone().unwrap();
    assert_eq!(inp.kind, InputKind::SavePath);
    assert_eq!(inp.text, "kubeguard-out/role-refine-sa-shop-cart.yaml");
    press(&mut s, "ctrl-u");
    press(&mut s, "text:/tmp/out/role.yaml");
    let fx = press(&mut s, "enter");
    match fx.as_slice() {
        [Effect::Save { path, content, overwrite: false }] => {
            assert_eq!(path.to_str(), Some("/tmp/out/role.yaml"));
            assert_eq!(content, &s.diff.as_ref().unwrap().text);
        }
        other => panic!("{other:?}"),
    }
    assert!(s.busy());
    update(&mut s, Msg::SaveExists("/tmp/out/role.yaml".into()));
    assert!(matches!(s.overlay, Some(Overlay::ConfirmOverwrite { .. })));
    let fx = press(&mut s, "n");
    assert!(fx.is_empty() && s.overlay.is_none());
    update(&mut s, Msg::SaveExists("/tmp/out/role.yaml".into()));
    let fx = press(&mut s, "y");
    assert!(matches!(fx.as_slice(), [Effect::Save { overwrite: true, .. }]));
    update(&mut s, Msg::Saved(Ok("/tmp/out/role.yaml".into())));
    assert_eq!(s.toast.as_ref().unwrap().1, "saved to /tmp/out/role.yaml");
    assert_eq!(s.diff.as_ref().unwrap().saved_to.as_deref(), Some(std::path::Path::new("/tmp/out/role.yaml")));
}

#[test]
fn help_menu_theme_and_quit() {
    let mut s = state();
    press(&mut s, "?");
    assert!(matches!(s.overlay, Some(Overlay::Help { .. })));
    press(&mut s, "esc");
    assert!(s.overlay.is_none());
    press(&mut s, "m");
    assert!(matches!(s.overlay, Some(Overlay::Menu { .. })));
    let fx = press(&mut s, "j j enter");
    let runs = run_ids(&fx);
    assert_eq!((runs[0].1.kind, runs[0].1.task), (ResourceKind::NetworkPolicy, Task::Refine));
    update(&mut s, Msg::JobFinished(runs[0].0, JobEnd::Failed("no flows".into()), 5));
    assert!(s.toast.as_ref().unwrap().1.contains("failed"));
    press(&mut s, "esc");
    assert_eq!(s.route(), Route::Workloads);
    press(&mut s, "t");
    assert_eq!(s.theme.name, "light");
    press(&mut s, ":");
    press(&mut s, "text:theme colorblind");
    press(&mut s, "enter");
    assert_eq!(s.theme.name, "colorblind");
    let fx = press(&mut s, "q");
    assert!(s.quit);
    assert!(matches!(fx.last(), Some(Effect::Quit)));

    let mut mono = state_with(snapshot(), 80, 24, "mono");
    assert!(mono.no_color);
    press(&mut mono, "t");
    assert_eq!(mono.theme.name, "mono", "NO_COLOR keeps mono");
}

#[test]
fn detail_shows_rbac_with_binding_risk_and_usage() {
    let mut s = state();
    press(&mut s, "j enter");
    assert_eq!(s.route(), Route::Detail);
    let text: Vec<String> =
        s.detail.as_ref().unwrap().1.iter().map(|l| l.iter().map(|(_, t)| t.as_str()).collect()).collect();
    let find = |needle: &str| {
        text.iter().find(|l| l.contains(needle)).cloned().unwrap_or_else(|| panic!("{needle} in {text:#?}"))
    };
    assert!(find("Role shop/cart").contains("via RoleBinding shop/cart"));
    assert!(find("get,list,delete core/pods").contains("[used 42x]"));
    assert!(find("get,list core/secrets").contains("[HIGH]"));
    assert!(find("get,list core/secrets").contains("[UNUSED]"));
    assert!(find("NetworkPolicy shop/cart-ingress").contains("Ingress"));
    assert!(find("ingress from").contains("pods[app=web] on 8080/TCP"));
    assert!(find("in  from Deployment shop/web").contains("40x"));
    assert!(find("DENIED").contains("create core/pods/exec"));
    assert!(find("allowPrivEscalation").contains("false"));
    let fx = press(&mut s, "r d");
    let runs = run_ids(&fx);
    assert!(
        matches!(&runs[0].1.scope, TargetScope::Workload(w) if w.name == "cart"),
        "actions apply to the detail's workload"
    );
}
