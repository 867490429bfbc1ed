//! The detached engine process of a cockpit drill: it builds the drill's world (telling the
//! foreground its progress), runs the drill's runbook behind the socket, and cleans up when
//! the run is over and seen — so the clusters live exactly as long as the drill's engine.

use cutover_drill::harness::PgBin;
use cutover_drill::{Drill, DrillOptions};

use crate::drill_plan::{DrillPlan, NotArmed};
use crate::exit::Exit;
use crate::serve::{Status, StatusPipe};
use cutover_pg::conn::with_causes;

/// Serves the drill `plan`; returns the run's exit code.
pub fn serve_drill(plan: DrillPlan) -> Exit {
    let rt = match crate::serve::engine_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let code = rt.block_on(drill(&plan));
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    code
}

fn fail(message: String, exit: Exit) -> Exit {
    StatusPipe.fail(message, exit)
}

async fn drill(plan: &DrillPlan) -> Exit {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int), Ok(_hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        // Handled, so ignored: no terminal to lose.
        signal(SignalKind::hangup()),
    ) else {
        return fail("cannot install signal handlers".into(), Exit::Failed);
    };
    let bin = PgBin::at(&plan.bindir);
    let opts = DrillOptions {
        rows: plan.rows,
        tps: plan.tps,
        log_dir: plan.dir.clone(),
    };
    let mut progress = |m: &str| {
        StatusPipe.say(&Status::Progress {
            message: m.to_string(),
        });
    };
    // The clusters, then the run armed on them: a signal during either removes everything.
    let set_up = async {
        let drill = Drill::setup(&bin, &opts, &mut progress)
            .await
            .map_err(|e| (format!("set-up failed: {}", with_causes(&e)), Exit::Failed))?;
        let armed = plan.arm(&drill, &mut progress).await.map_err(|e| match e {
            NotArmed::Invalid(m) => (m, Exit::Invalid),
            NotArmed::Failed(m) => (m, Exit::Failed),
        })?;
        Ok::<_, (String, Exit)>((drill, armed))
    };
    let (drill, armed) = tokio::select! {
        r = set_up => match r {
            Ok(ready) => ready,
            Err((message, code)) => return fail(message, code),
        },
        _ = term.recv() => return fail("terminated during set-up; everything was removed".into(), Exit::Terminated),
        _ = int.recv() => return fail("interrupted during set-up; everything was removed".into(), Exit::Interrupted),
    };
    let name = armed.engine.run_info().name;
    let listening =
        match crate::serve::listen(&plan.journal, &name, plan.share_group.as_deref(), plan.keep) {
            Ok(l) => l,
            Err(m) => return fail(m, Exit::Failed),
        };
    StatusPipe.ready(
        &listening,
        crate::serve::Leaving {
            farewell: farewell(plan, &drill),
            resumable: plan.keep,
        },
    );
    drop((term, int));
    let served = listening.serve(armed.engine).await;
    if let Some(i) = armed.injector {
        i.abort();
    }
    let exit = match served {
        Ok(o) => {
            tracing::info!(
                "drill run ended ({o:?}); the app's load was started {}",
                cutover_model::narrate::count(drill.load_starts(), "time")
            );
            Exit::of_run(o)
        }
        Err(e) => {
            tracing::error!("the drill's engine failed: {e}");
            Exit::Failed
        }
    };
    if plan.keep {
        let kept = drill.keep();
        tracing::info!("{}", kept.instructions());
    } else {
        drop(drill);
        tracing::info!("clusters stopped and removed, load stopped");
    }
    exit
}

/// What the terminal says when it leaves the drill: the journal, and how to reach the kept
/// clusters (`--keep`) or that they are removed.
fn farewell(plan: &DrillPlan, drill: &Drill) -> Vec<String> {
    let mut farewell = vec![format!("cutover drill: journal {}", plan.journal.display())];
    if plan.keep {
        farewell.extend(
            drill
                .kept_preview()
                .instructions()
                .lines()
                .map(str::to_string),
        );
    } else {
        farewell.push(
            "cutover drill: the clusters and the load are stopped and removed as the drill's engine exits"
                .into(),
        );
    }
    farewell
}
