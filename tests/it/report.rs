//! `cutover report` on the journals of real runs of the binary: completed, failed, rolled
//! back, resumed after SIGKILL, and cut off mid-record; Markdown, JSON and one self-contained
//! HTML file; secrets never in any of them.

use std::path::Path;

use crate::support::*;

const SECRET: &str = "R3port-S3cret-Value";

fn head(name: &str) -> String {
    format!("[runbook]\nname = \"{name}\"\n\n[secrets]\nTOKEN = {{ env = \"T_TOKEN\" }}\n\n")
}

/// `cutover SUB ARGS...` in `dir`: exit code, stdout, stderr.
fn subcommand(dir: &Path, sub: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let mut all = vec![sub];
    all.extend_from_slice(args);
    let out = cutover(dir, &all, &[]);
    let (o, e) = text(&out);
    (out.status.code(), o, e)
}

/// `cutover report ARGS...` in `dir`.
fn report(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    subcommand(dir, "report", args)
}

/// Every tag the renderer opens is closed in order (void `meta`, declarations and `/>` aside).
fn well_formed(html: &str) -> Result<(), String> {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        let tag_end = rest[i..].find('>').ok_or("an unclosed tag")? + i;
        let tag = &rest[i + 1..tag_end];
        rest = &rest[tag_end + 1..];
        if tag.starts_with('!') || tag.ends_with('/') || tag.starts_with("meta") {
            continue;
        }
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if let Some(closing) = tag.strip_prefix('/') {
            let closing: String = closing
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            match stack.pop() {
                Some(open) if open == closing => {}
                other => return Err(format!("</{closing}> closes {other:?}")),
            }
        } else if name == "style" {
            // CSS holds no tags: skip to its end.
            let end = rest.find("</style>").ok_or("unclosed style")?;
            rest = &rest[end + "</style>".len()..];
        } else {
            stack.push(name);
        }
    }
    if stack.is_empty() {
        Ok(())
    } else {
        Err(format!("left open: {stack:?}"))
    }
}

/// The three formats of `journal` in `dir`; each checked for the secret and the HTML for
/// being self-contained and well formed.
fn all_formats(dir: &Path, journal: &str) -> (String, serde_json::Value, String) {
    let (code, md, err) = report(dir, &[journal]);
    assert_eq!(code, Some(0), "{err}");
    let (code, json, err) = report(dir, &[journal, "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let json: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let (code, _, err) = report(dir, &[journal, "-o", "r.html"]);
    assert_eq!(code, Some(0), "{err}");
    let html = std::fs::read_to_string(dir.join("r.html")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(dir.join("r.html"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    for bad in [
        "http:", "https:", "<script", "<link", "src=", "url(", "@import",
    ] {
        assert!(!html.contains(bad), "the HTML refers outside itself: {bad}");
    }
    well_formed(&html).unwrap_or_else(|e| panic!("{e}\n{html}"));
    for text in [&md, &json.to_string(), &html] {
        assert!(!text.contains(SECRET), "the secret leaked");
    }
    (md, json, html)
}

/// Runs `body` headless in `dir` with the journal `journal` and `extra` arguments, the token
/// in its environment: it must exit with `code`.
fn ran(dir: &std::path::Path, body: &str, (journal, extra): (&str, &[&str]), code: i32) {
    let out = headless_at(dir, body, journal, extra, &[("T_TOKEN", SECRET)]);
    assert_eq!(out.status.code(), Some(code), "{:?}", text(&out));
}

#[test]
fn a_completed_run_reports_every_step_against_its_plan() {
    let d = tempfile::tempdir().unwrap();
    let body = format!(
        "{}[[step]]\nid = \"prepare\"\nrun = \"echo token $CUTOVER_SECRET_TOKEN\"\nexpected = \"2s\"\n\n\
         [[step]]\nid = \"copy\"\nrun = \"sleep 0.3\"\nexpected = \"100ms\"\n\n\
         [[step]]\nid = \"switch\"\nrun = \"true\"\nexpected = \"1s\"\npoint_of_no_return = \"clients moved\"\n",
        head("report me")
    );
    ran(d.path(), &body, ("j.jsonl", &["--assume-yes"]), 0);
    let (md, json, html) = all_formats(d.path(), "j.jsonl");
    assert!(md.contains("# report me — run report"), "{md}");
    assert!(md.contains("**completed · exit 0**"), "{md}");
    for id in ["prepare", "copy", "switch"] {
        assert!(md.contains(&format!("| {id} | ✔ passed |")), "{id}: {md}");
        assert!(
            html.contains(&format!("{id}</text>")),
            "{id} in the timeline"
        );
    }
    assert!(md.contains("point of no return: clients moved"), "{md}");
    // copy ran over its 100ms plan by more than half: an action item.
    assert!(md.contains("- [ ] Re-plan copy"), "{md}");
    assert_eq!(json["exit_code"], 0);
    assert_eq!(json["incomplete"], false);
    assert_eq!(json["summary"]["steps"].as_array().unwrap().len(), 3);
    assert!(
        html.contains("<svg class=\"chart wide\""),
        "the timeline is drawn"
    );
}

#[test]
fn a_failed_and_a_rolled_back_run_say_what_happened_and_what_to_do() {
    let d = tempfile::tempdir().unwrap();
    let body = format!(
        "{}[[step]]\nid = \"a\"\nrun = \"true\"\nrollback = \"echo undo a\"\n\n\
         [[step]]\nid = \"b\"\nrun = \"echo broken >&2; exit 3\"\n",
        head("failing")
    );
    ran(d.path(), &body, ("j.jsonl", &[]), 4);
    let (md, json, _) = all_formats(d.path(), "j.jsonl");
    assert!(md.contains("ended before completion · exit 4"), "{md}");
    assert!(md.contains("| b | ✘ failed |"), "{md}");
    assert!(md.contains("- [ ] Find out why b failed"), "{md}");
    assert_eq!(json["exit_code"], 4);

    let d = tempfile::tempdir().unwrap();
    let body = format!(
        "{body}\n[[rollback_trigger]]\nname = \"b broke\"\nwhen = {{ step_failed = \"b\" }}\naction = \"rollback\"\ncountdown = \"1s\"\n"
    );
    ran(d.path(), &body, ("j.jsonl", &[]), 3);
    let (md, json, _) = all_formats(d.path(), "j.jsonl");
    assert!(md.contains("rolled back · exit 3"), "{md}");
    assert!(
        md.contains("## Triggers") && md.contains("| b broke |"),
        "{md}"
    );
    assert!(
        md.contains("## Rollback") && md.contains("| a | rolled back |"),
        "{md}"
    );
    assert_eq!(json["summary"]["rollback"]["completed"], true);
}

#[test]
fn a_resumed_and_a_cut_off_journal_still_report() {
    let d = tempfile::tempdir().unwrap();
    // No secret here: the killed run and its resume read no environment of the test's.
    let body = "[runbook]\nname = \"resumed\"\n\n[[step]]\nid = \"a\"\nrun = \"true\"\n\n\
                [[step]]\nid = \"slow\"\nrun = \"if [ -f started ]; then true; else touch started; sleep 30; fi\"\n";
    let rb = runbook(d.path(), "rb.toml", body);
    // The slow step started and its process is journaled (the run's plan names it from the
    // start, so the step's own records are what to wait for).
    let group = kill_headless_when(d.path(), &rb, "the slow step to start", |t| {
        t.contains("\"type\":\"step_started\",\"index\":1")
            && t.lines()
                .last()
                .is_some_and(|l| l.contains("\"type\":\"process\""))
    });
    // SAFETY: kill only signals the process group the killed cutover left behind.
    unsafe { libc::kill(-group, libc::SIGKILL) };
    // The record as the crash left it: the run never finished.
    let (md, json, _) = all_formats(d.path(), "j.jsonl");
    assert!(md.contains("**Incomplete record**"), "{md}");
    has(&md, "| slow | ? interrupted — outcome unknown |");
    assert_eq!(json["incomplete"], true);
    assert!(json["exit_code"].is_null());
    // Resumed: the interrupted step run again; two sessions in the report.
    let (code, said) = resume(d.path(), &["--rerun-interrupted"]);
    assert!(code.is_some(), "{said}");
    // A journal cut in the middle of its last record (a full disk, power loss).
    let j = d.path().join("j.jsonl");
    let bytes = std::fs::read(&j).unwrap();
    let cut = bytes.len() - 20;
    std::fs::write(d.path().join("cut.jsonl"), &bytes[..cut]).unwrap();
    let (md, json, _) = all_formats(d.path(), "cut.jsonl");
    assert!(md.contains("torn last record of"), "{md}");
    assert_eq!(json["incomplete"], true);
    assert_eq!(md.matches("| Session |").count(), 2, "{md}");
    // Not a journal at all: a clear error, exit 2.
    std::fs::write(d.path().join("x.jsonl"), "hello\n").unwrap();
    let (code, _, err) = report(d.path(), &["x.jsonl"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("x.jsonl"), "{err}");
}

#[test]
fn two_rehearsals_line_up_step_by_step() {
    let d = tempfile::tempdir().unwrap();
    let first = format!(
        "{}[[step]]\nid = \"prepare\"\nrun = \"true\"\nexpected = \"1s\"\n\n\
         [[step]]\nid = \"copy\"\nrun = \"sleep 0.2\"\nexpected = \"50ms\"\n",
        head("rehearsal")
    );
    ran(d.path(), &first, ("one.jsonl", &[]), 0);
    // The second rehearsal's runbook gained a step.
    let second = format!("{first}\n[[step]]\nid = \"verify\"\nrun = \"true\"\nexpected = \"1s\"\n");
    ran(d.path(), &second, ("two.jsonl", &[]), 0);
    let (code, md, err) = report(d.path(), &["one.jsonl", "two.jsonl"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(md.contains("# rehearsal — rehearsal comparison"), "{md}");
    has(&md, "> **Warning**: the runbook changed between the runs");
    for id in ["prepare", "copy", "verify"] {
        assert!(md.contains(&format!("| {id} |")), "{id}: {md}");
    }
    has(&md, "| verify | 1s | (not in this runbook) |");
    has(&md, "drifted most in the last run: **copy**");
    let (code, json, _) = report(d.path(), &["one.jsonl", "two.jsonl", "--json"]);
    assert_eq!(code, Some(0));
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let copy = entry(&json["steps"], "id", "copy").unwrap();
    assert!(copy["actual_ms"][0].as_u64().unwrap() >= 200);
    assert!(copy["actual_ms"][1].as_u64().unwrap() >= 200);
    let (code, _, _) = report(d.path(), &["one.jsonl", "two.jsonl", "-o", "cmp.html"]);
    assert_eq!(code, Some(0));
    let html = std::fs::read_to_string(d.path().join("cmp.html")).unwrap();
    well_formed(&html).unwrap();
    assert!(!html.contains(SECRET));
}

#[test]
fn calibrate_proposes_from_rehearsals_and_writes_keeping_comments() {
    let d = tempfile::tempdir().unwrap();
    let rb_text = "# Orders cutover: the plan.\n[runbook]\nname = \"calibrate me\"\n\n\
                # Copying takes a while.\n[[step]]\nid = \"copy\"\nrun = \"sleep 0.25\"\n\
                expected = \"50ms\"   # a guess, before the first rehearsal\ntimeout = \"1m\"\n\n\
                [[step]]\nid = \"check\"\nrun = \"true\"\n";
    for j in ["r1.jsonl", "r2.jsonl"] {
        let out = headless_at(d.path(), rb_text, j, &[], &[]);
        assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    }
    // headless_at wrote the runbook as rb.toml.
    let (code, shown, err) = calibrate(d.path(), &["rb.toml", "r1.jsonl", "r2.jsonl"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(shown.contains("copy") && shown.contains("300ms"), "{shown}");
    assert!(shown.contains("--write sets them"), "{shown}");
    let before = std::fs::read_to_string(d.path().join("rb.toml")).unwrap();
    assert!(
        before.contains("expected = \"50ms\""),
        "nothing written without --write"
    );
    let (code, shown, err) = calibrate(
        d.path(),
        &["rb.toml", "r1.jsonl", "r2.jsonl", "--write", "--p", "90"],
    );
    assert_eq!(code, Some(0), "{shown}{err}");
    let after = std::fs::read_to_string(d.path().join("rb.toml")).unwrap();
    has(
        &after,
        "expected = \"300ms\"   # a guess, before the first rehearsal",
    );
    assert!(
        after.contains("# Orders cutover: the plan.") && after.contains("# Copying takes a while.")
    );
    has(
        &after,
        "id = \"check\"\nrun = \"true\"\nexpected = \"100ms\"",
    );
    let out = cutover(d.path(), &["check", "rb.toml"], &[]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
}

fn calibrate(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    subcommand(dir, "calibrate", args)
}

/// A run with a failed step the operator skipped (in the cockpit, in a real terminal): the
/// report shows the skip and its typed reason, and asks why the step failed.
#[test]
fn a_failed_and_skipped_step_reports_its_reason() {
    let (d, journal, _t) = crate::pty::skipped_flaky_run();
    let name = journal.file_name().unwrap().to_str().unwrap().to_string();
    let (md, json, _) = all_formats(d.path(), &name);
    assert!(md.contains("| flaky | ↷ skipped |"), "{md}");
    assert!(md.contains("copied by hand"), "{md}");
    assert!(md.contains("| after | ✔ passed |"), "{md}");
    assert!(
        md.contains("## Decisions") && md.contains("flaky skipped: copied by hand"),
        "{md}"
    );
    assert_eq!(json["exit_code"], 0);
}

/// A headless rehearsal answers confirm and approve steps at once: calibrate plans no human
/// wait from it, and says so (issue 28).
#[test]
fn calibrate_plans_no_human_wait_from_a_headless_run() {
    let d = tempfile::tempdir().unwrap();
    let rb_text = "[runbook]\nname = \"waits\"\n\n[[step]]\nid = \"go\"\nconfirm = \"GO\"\n\n\
                   [[step]]\nid = \"sign\"\napprove = [\"dba\"]\n\n[[step]]\nid = \"work\"\nrun = \"sleep 0.25\"\n";
    let out = headless_at(
        d.path(),
        rb_text,
        "r1.jsonl",
        &["--assume-yes", "--approve", "dba=Ann"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let (code, shown, err) = calibrate(d.path(), &["rb.toml", "r1.jsonl"]);
    assert_eq!(code, Some(0), "{err}");
    has(
        &err,
        "is a headless run: the human waits of go, sign are not planned from it",
    );
    assert!(shown.contains("work"), "{shown}");
    for l in shown
        .lines()
        .filter(|l| l.starts_with("go ") || l.starts_with("sign "))
    {
        assert!(
            l.contains("(no pass)"),
            "a human wait was planned: {l}\n{shown}"
        );
    }
    // The statistics agree with each other: one run, so median = min = max (unrounded); only
    // the proposal is rounded.
    let work: Vec<&str> = shown
        .lines()
        .find(|l| l.starts_with("work "))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(work[3], "300ms", "{shown}");
    assert!(work[4] == work[5] && work[5] == work[6], "{shown}");
}

/// The text of an HTML page a reader sees: no style, no tags, entities decoded.
fn visible(html: &str) -> String {
    let body = match (html.find("<style>"), html.find("</style>")) {
        (Some(a), Some(b)) => format!("{}{}", &html[..a], &html[b..]),
        _ => html.to_string(),
    };
    let mut out = String::new();
    let mut in_tag = false;
    for c in body.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The `x1` of the first `<line>` of class `class` in `svg`.
fn line_x(svg: &str, class: &str) -> f64 {
    let at = svg
        .find(&format!(r#"class="{class}""#))
        .unwrap_or_else(|| panic!("no {class}"));
    let line = &svg[svg[..at].rfind("<line").unwrap()..at];
    let x1 = line.split("x1=\"").nth(1).unwrap();
    x1[..x1.find('"').unwrap()].parse().unwrap()
}

/// A run with a lag probe, a failed step, a trigger and the rollback it began: its HTML
/// report has no Markdown left in it, its lag chart has values and marks where the trigger
/// fired and the rollback began, and it reads on a phone (issue 28).
#[test]
fn a_rolled_back_run_s_html_report_is_right_on_a_screen_and_a_phone() {
    let d = tempfile::tempdir().unwrap();
    let body = format!(
        "{}[lag]\nmethod = \"command\"\ncommand = \"echo 3\"\ninterval = \"200ms\"\n\
         warn = \"5s\"\ncritical = \"20s\"\n\n\
         [[step]]\nid = \"prepare\"\nrun = \"true\"\nexpected = \"1s\"\nrollback = \"echo undo\"\n\n\
         [[step]]\nid = \"copy\"\nrun = \"sleep 0.3\"\nexpected = \"100ms\"\n\n\
         [[step]]\nid = \"switch\"\nrun = \"echo broken >&2; exit 3\"\nexpected = \"1s\"\n\
         point_of_no_return = \"clients moved\"\n\n\
         [[rollback_trigger]]\nname = \"switch broke\"\nwhen = {{ step_failed = \"switch\" }}\n\
         action = \"rollback\"\ncountdown = \"1s\"\n",
        head("rich")
    );
    ran(d.path(), &body, ("j.jsonl", &["--assume-yes"]), 3);
    let (md, json, html) = all_formats(d.path(), "j.jsonl");

    // The times the marks stand for, from the journal, in words in both formats.
    let fired = json["summary"]["triggers"][0]["at"]
        .as_str()
        .unwrap()
        .to_string();
    let began = json["rollback_started_at"]
        .as_str()
        .expect("the rollback's start")
        .to_string();
    let clock = |t: &str| t[11..19].to_string();
    assert!(
        md.contains(&format!(
            "- Trigger switch broke fired at {}.",
            clock(&fired)
        )),
        "{md}"
    );
    has(&md, &format!("- The rollback began at {}.", clock(&began)));
    assert!(
        began > fired,
        "the rollback waited for its countdown: {fired} {began}"
    );

    // The lag chart: values on the y-axis up to the critical line, the two marks in time
    // order on the time axis.
    let lag = &html[html
        .find("aria-label=\"replication lag over the run\"")
        .unwrap()..];
    let lag = &lag[..lag.find("</svg>").unwrap()];
    for tick in ["0", "5 s", "10 s", "15 s", "20 s"] {
        assert!(lag.contains(&format!(">{tick}</text>")), "{tick}: {lag}");
    }
    assert!(lag.contains(">trigger switch broke</text>"), "{lag}");
    assert!(lag.contains(">rollback began</text>"), "{lag}");
    assert!(
        line_x(lag, "mark trigger") < line_x(lag, "mark rollback"),
        "{lag}"
    );

    // No Markdown in what the reader sees, and no sentence meant for the Markdown.
    let seen = visible(&html);
    for leftover in ["`", "**", "|", "\\", "in HTML", "in Markdown", "[ ]", "```"] {
        assert!(!seen.contains(leftover), "{leftover:?} in:\n{seen}");
    }
    assert!(seen.contains("Planned (dashed outline)"), "{seen}");
    assert!(md.contains("Planned (`·`) and actual (`█`)"), "{md}");
    assert!(!md.contains("HTML"), "{md}");

    // A phone: each picture has a drawing at a phone's width, the step table stacks.
    for what in [
        "timeline: planned against actual per step",
        "replication lag over the run",
    ] {
        let narrow = html
            .split("<svg class=\"chart narrow\" viewBox=\"0 0 ")
            .skip(1)
            .find(|s| s.contains(what))
            .unwrap_or_else(|| panic!("no narrow drawing of {what}"));
        let w: f64 = narrow.split(' ').next().unwrap().parse().unwrap();
        assert!(w <= 390.0, "{what}: {w} wide");
    }
    let steps = &html[html.find("<h2>Steps</h2>").unwrap()..];
    assert!(
        steps.contains("<table class=\"stack\">") && steps.contains("<td data-label=\"Planned\">"),
        "{steps}"
    );
}

/// Rehearsals in the order they started whatever the order given; warned of: journals of
/// different runbooks, the same journal given twice, a copy of one run (issue 28).
#[test]
fn a_comparison_orders_the_runs_and_warns_of_what_makes_it_wrong() {
    let d = tempfile::tempdir().unwrap();
    let rb = format!(
        "{}[[step]]\nid = \"copy\"\nrun = \"true\"\nexpected = \"1s\"\n",
        head("orders")
    );
    for j in ["first.jsonl", "second.jsonl"] {
        let out = headless_at(d.path(), &rb, j, &[], &[("T_TOKEN", SECRET)]);
        assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    }
    // Given last first: lined up first first, and said so.
    let (code, md, err) = report(d.path(), &["second.jsonl", "first.jsonl"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        !md.contains("Warning") && !err.contains("warning"),
        "{md}{err}"
    );
    has(
        &md,
        "The runs in the order they started (not the order they were given in).",
    );
    let one = md.find("| 1 | `first.jsonl` |").expect("first is run 1");
    let two = md.find("| 2 | `second.jsonl` |").expect("second is run 2");
    assert!(one < two);

    // The same file twice, under two names.
    let (code, md, err) = report(d.path(), &["first.jsonl", "./first.jsonl"]);
    assert_eq!(code, Some(0), "{err}");
    let warning = "**Warning**: runs 1 and 2 are the same journal file (`first.jsonl` and \
                   `./first.jsonl`): a run compared with itself.";
    assert!(
        md.starts_with(&format!("# orders — rehearsal comparison\n\n> {warning}")),
        "{md}"
    );
    assert!(
        err.contains(
            "warning: runs 1 and 2 are the same journal file (first.jsonl and ./first.jsonl)"
        ),
        "{err}"
    );
    // A copy of a journal: the same run.
    std::fs::copy(d.path().join("first.jsonl"), d.path().join("copy.jsonl")).unwrap();
    let (code, json, _) = report(d.path(), &["first.jsonl", "copy.jsonl", "--json"]);
    assert_eq!(code, Some(0));
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["warnings"][0]["kind"], "same_run", "{json}");
    assert_eq!(json["warnings"].as_array().unwrap().len(), 1, "{json}");

    // Another runbook's journal.
    let other = format!(
        "{}[[step]]\nid = \"copy\"\nrun = \"true\"\n",
        head("billing")
    );
    ran(d.path(), &other, ("billing.jsonl", &[]), 0);
    let (code, md, err) = report(
        d.path(),
        &["first.jsonl", "billing.jsonl", "-o", "cmp.html"],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(md.is_empty());
    assert!(
        err.contains(
            "warning: these journals are of different runbooks (run 1 orders, run 2 billing)"
        ),
        "{err}"
    );
    let html = std::fs::read_to_string(d.path().join("cmp.html")).unwrap();
    well_formed(&html).unwrap();
    let seen = visible(&html);
    let warned = seen
        .find("Warning: these journals are of different runbooks (run 1 orders, run 2 billing)")
        .expect("warned in the HTML");
    assert!(
        warned < seen.find("Journal").unwrap(),
        "the warning comes first: {seen}"
    );
    for leftover in ["`", "**", "|"] {
        assert!(!seen.contains(leftover), "{leftover:?} in:\n{seen}");
    }
}
