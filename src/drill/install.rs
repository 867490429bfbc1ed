//! Finding the PostgreSQL server binaries for the drill, and offering to install them.
//!
//! The search is [`PgBin::find`]'s (`--pg-bindir`, `PG_BINDIR`, `PATH`,
//! `/usr/lib/postgresql/*/bin` newest first, `/usr/local/pgsql/bin`). The last two roots can be
//! moved with `CUTOVER_PG_PACKAGES` and `CUTOVER_PG_SOURCE_BUILD` (for packagers and tests).
//! When nothing is found the drill says where it looked and offers the platform's install
//! command; it asks on the terminal first, `--assume-yes` answers yes, and without a terminal
//! it prints the command and gives up.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::bindir::{DEBIAN_ROOT, SOURCE_BUILD_DIR};
use crate::harness::{BinDirNotFound, PgBin};

/// Environment variable moving the packages root (`/usr/lib/postgresql`).
pub const PACKAGES_ENV: &str = "CUTOVER_PG_PACKAGES";
/// Environment variable moving the source-build directory (`/usr/local/pgsql/bin`).
pub const SOURCE_BUILD_ENV: &str = "CUTOVER_PG_SOURCE_BUILD";

/// Besides the server, the drill runs these client programs from the same directory.
pub const CLIENTS: [&str; 2] = ["pgbench", "psql"];

/// Why the drill has no binaries to work with.
#[derive(Debug, thiserror::Error)]
pub enum BinariesError {
    /// Not found, and not installed (declined, impossible or failed).
    #[error("{}{advice}", if *listed { String::new() } else { format!("{not_found}\n") })]
    Missing {
        /// Where we looked.
        not_found: BinDirNotFound,
        /// What to do about it (the exact install command when there is one).
        advice: String,
        /// The places searched were already shown (before asking to install).
        listed: bool,
    },
    /// The server is there but a client program the drill needs is not.
    #[error(
        "{dir} holds the PostgreSQL server but not {missing}, which the drill needs (Debian/Ubuntu: apt-get install -y postgresql-client, or point --pg-bindir at a complete installation)"
    )]
    Incomplete {
        /// The directory found.
        dir: String,
        /// The missing programs.
        missing: String,
    },
}

/// How to install the binaries here, if we know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallPlan {
    /// The command as the operator would type it.
    pub shown: String,
    /// Program and arguments.
    pub argv: Vec<String>,
}

fn search(explicit: Option<&Path>) -> Result<PgBin, BinDirNotFound> {
    let packages =
        std::env::var_os(PACKAGES_ENV).map_or_else(|| PathBuf::from(DEBIAN_ROOT), PathBuf::from);
    let source = std::env::var_os(SOURCE_BUILD_ENV)
        .map_or_else(|| PathBuf::from(SOURCE_BUILD_DIR), PathBuf::from);
    PgBin::find_in(
        explicit,
        std::env::var_os("PG_BINDIR"),
        std::env::var_os("PATH"),
        &packages,
        &source,
    )
}

/// The install command for this machine: `apt-get install -y postgresql`, as root or through
/// `sudo -n`. `None` when there is no apt-get (or no way to become root).
pub fn install_plan() -> Option<InstallPlan> {
    let apt = which("apt-get")?;
    let apt = apt.display().to_string();
    let mut argv = Vec::new();
    if !crate::harness::process::is_root() {
        let sudo = which("sudo")?;
        argv.push(sudo.display().to_string());
        argv.push("-n".into());
    }
    argv.extend([apt, "install".into(), "-y".into(), "postgresql".into()]);
    let shown = if crate::harness::process::is_root() {
        "apt-get install -y postgresql".to_string()
    } else {
        "sudo -n apt-get install -y postgresql".to_string()
    };
    Some(InstallPlan { shown, argv })
}

fn which(prog: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}

/// Finds the binaries; when missing, offers to install them (see the module docs).
/// `err` receives every message and the question.
pub fn find_or_install(
    explicit: Option<&Path>,
    assume_yes: bool,
    err: &mut dyn Write,
) -> Result<PgBin, BinariesError> {
    let bin = match search(explicit) {
        Ok(b) => b,
        Err(not_found) => {
            let Some(plan) = install_plan() else {
                return Err(BinariesError::Missing {
                    listed: false,
                    not_found,
                    advice: "cutover cannot install PostgreSQL on this system (no apt-get, or not root and no sudo): install the server package with your package manager, then run the drill again".into(),
                });
            };
            let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
            if !assume_yes && !interactive {
                return Err(BinariesError::Missing {
                    listed: false,
                    not_found,
                    advice: format!(
                        "no terminal to ask on, and no --assume-yes: install them with\n  {}\nor run the drill again with --assume-yes to let it do that",
                        plan.shown
                    ),
                });
            }
            let _ = writeln!(err, "cutover drill: {not_found}");
            let yes = if assume_yes {
                let _ = writeln!(
                    err,
                    "cutover drill: installing with `{}` (--assume-yes)",
                    plan.shown
                );
                true
            } else {
                ask(&plan, err)
            };
            if !yes {
                return Err(BinariesError::Missing {
                    listed: true,
                    not_found,
                    advice: format!("not installed; to install them yourself:\n  {}", plan.shown),
                });
            }
            if let Err(why) = install(&plan, err) {
                return Err(BinariesError::Missing {
                    listed: true,
                    not_found,
                    advice: format!("`{}` failed: {why}", plan.shown),
                });
            }
            match search(explicit) {
                Ok(b) => b,
                Err(not_found) => {
                    return Err(BinariesError::Missing {
                        listed: false,
                        not_found,
                        advice: format!(
                            "`{}` ran but the server binaries are still not found",
                            plan.shown
                        ),
                    });
                }
            }
        }
    };
    let missing: Vec<&str> = CLIENTS.iter().copied().filter(|p| !bin.has(p)).collect();
    if !missing.is_empty() {
        return Err(BinariesError::Incomplete {
            dir: bin.dir().display().to_string(),
            missing: missing.join(", "),
        });
    }
    Ok(bin)
}

fn ask(plan: &InstallPlan, err: &mut dyn Write) -> bool {
    let _ = write!(
        err,
        "Install them now with `{}`? (on Debian this also starts a default \"main\" cluster on port 5432) [y/N] ",
        plan.shown
    );
    let _ = err.flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// Runs the install command with the terminal attached; after a failure, refreshes the package
/// lists (`apt-get update`) once and tries again (fresh images have none).
fn install(plan: &InstallPlan, err: &mut dyn Write) -> Result<(), String> {
    let run = |argv: &[String]| -> Result<(), String> {
        let (prog, args) = argv.split_first().ok_or("empty command")?;
        let status = Command::new(prog)
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map_err(|e| format!("cannot run {prog}: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("{prog} exited with {status}"))
        }
    };
    if run(&plan.argv).is_ok() {
        return Ok(());
    }
    let update: Vec<String> = plan
        .argv
        .iter()
        .take_while(|a| !a.ends_with("apt-get"))
        .cloned()
        .chain(
            plan.argv
                .iter()
                .find(|a| a.ends_with("apt-get"))
                .cloned()
                .into_iter()
                .chain(["update".to_string()]),
        )
        .collect();
    let _ = writeln!(err, "cutover drill: retrying after `{}`", update.join(" "));
    run(&update)?;
    run(&plan.argv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_is_apt_get_as_root_or_sudo() {
        // This machine is Debian; as root the plan needs no sudo.
        if let Some(p) = install_plan() {
            assert!(p.shown.ends_with("apt-get install -y postgresql"), "{p:?}");
            assert_eq!(p.argv.last().map(String::as_str), Some("postgresql"));
            if crate::harness::process::is_root() {
                assert!(!p.shown.contains("sudo"));
            } else {
                assert_eq!(p.argv.get(1).map(String::as_str), Some("-n"));
            }
        }
    }
}
