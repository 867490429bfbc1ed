//! Themes: styles named by role (`step_running`, `lag_critical`, ...), never by colour.
//! Built-in themes are embedded from `themes/*.toml`; `--theme PATH` loads a file whose roles
//! override the default theme; `NO_COLOR` picks `mono` unless `--theme` says otherwise.

use std::path::Path;
use std::str::FromStr;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Span;
use ratatui::widgets::{Block, Borders};
use serde::Deserialize;
use toml::Spanned;

use super::view::text::fit;
use cutover_model::runbook::{Diagnostic, Diagnostics};

/// Built-in themes: name and TOML text.
pub const BUILTIN: &[(&str, &str)] = &[
    ("default", include_str!("../../../themes/default.toml")),
    (
        "high-contrast",
        include_str!("../../../themes/high-contrast.toml"),
    ),
    ("mono", include_str!("../../../themes/mono.toml")),
];

/// Why a theme could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    /// Neither a built-in name nor a readable file.
    #[error(
        "unknown theme {0:?}: not a built-in theme (default, high-contrast, mono) and no such file"
    )]
    Unknown(String),
    /// The file could not be read.
    #[error("cannot read theme {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is not a valid theme.
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// One role as written in a theme file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleSpec {
    fg: Option<Spanned<String>>,
    bg: Option<Spanned<String>>,
    #[serde(default)]
    bold: bool,
    #[serde(default)]
    dim: bool,
    #[serde(default)]
    italic: bool,
    #[serde(default)]
    underline: bool,
    #[serde(default)]
    reversed: bool,
}

fn color(file: &str, src: &str, c: &Spanned<String>) -> Result<Color, Diagnostic> {
    let name = c.get_ref().trim();
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "default" | "reset" => return Ok(Color::Reset),
        "grey" => return Ok(Color::Gray),
        "darkgrey" | "dark_grey" | "dark-grey" => return Ok(Color::DarkGray),
        _ => {}
    }
    Color::from_str(&lower).map_err(|_| {
        Diagnostic::at(
            file,
            src,
            c.span(),
            format!(
                "unknown colour {name:?}: use a named ANSI colour (black, red, green, yellow, blue, magenta, cyan, gray, darkgray, lightred, lightgreen, lightyellow, lightblue, lightmagenta, lightcyan, white, default), an index 0-255, or #rrggbb"
            ),
        )
    })
}

impl RoleSpec {
    fn style(&self, file: &str, src: &str) -> Result<Style, Diagnostic> {
        let mut s = Style::default();
        if let Some(fg) = &self.fg {
            s = s.fg(color(file, src, fg)?);
        }
        if let Some(bg) = &self.bg {
            s = s.bg(color(file, src, bg)?);
        }
        let mut m = Modifier::empty();
        for (on, bit) in [
            (self.bold, Modifier::BOLD),
            (self.dim, Modifier::DIM),
            (self.italic, Modifier::ITALIC),
            (self.underline, Modifier::UNDERLINED),
            (self.reversed, Modifier::REVERSED),
        ] {
            if on {
                m |= bit;
            }
        }
        Ok(s.add_modifier(m))
    }
}

macro_rules! roles {
    ($($role:ident: $doc:literal),* $(,)?) => {
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct ThemeFile {
            #[allow(dead_code)]
            name: Option<String>,
            $( $role: Option<RoleSpec>, )*
        }

        /// Styles by role.
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct Theme {
            /// Theme name (built-in name or file path).
            pub name: String,
            $( #[doc = $doc] pub $role: Style, )*
        }

        /// Every role a theme sets.
        pub const ROLES: &[&str] = &[$(stringify!($role)),*];

        impl Theme {
            fn overlay(&mut self, f: &ThemeFile, file: &str, src: &str) -> Result<(), Diagnostics> {
                let mut errs = Vec::new();
                $(
                    if let Some(spec) = &f.$role {
                        match spec.style(file, src) {
                            Ok(s) => self.$role = s,
                            Err(e) => errs.push(e),
                        }
                    }
                )*
                if errs.is_empty() { Ok(()) } else { Err(Diagnostics(errs)) }
            }
        }
    };
}

roles! {
    text: "Ordinary text.",
    muted: "Secondary text: hints, planned times, empty panes.",
    border: "Pane borders.",
    title: "Pane titles.",
    header: "The header line.",
    header_name: "The runbook name in the header.",
    header_warn: "The window is closing (under a quarter or 15 minutes left).",
    header_critical: "The window is over, or the plan ends after it.",
    header_behind: "Behind plan.",
    step_pending: "A step not run yet.",
    step_running: "The running step.",
    step_passed: "A passed step.",
    step_failed: "A failed, timed-out or cancelled step.",
    step_skipped: "A skipped or marked-done step.",
    step_interrupted: "A step interrupted in an earlier session.",
    point_of_no_return: "The point-of-no-return marker and text.",
    over_plan: "A time past the planned duration.",
    selected: "The selected row.",
    output: "Step stdout.",
    output_stderr: "Step stderr.",
    output_marker: "Markers in the output (attempt separators, commands).",
    lag_ok: "Lag under the warn threshold.",
    lag_warn: "Lag over the warn threshold.",
    lag_critical: "Lag over the critical threshold, or a stale probe.",
    reconcile_ok: "A reconcile check that found the sides equal.",
    reconcile_diff: "A reconcile check that found differences or errored.",
    status_info: "Status line: information.",
    status_warn: "Status line: needs attention.",
    key: "Key names in hints and help.",
    modal: "Pop-up text.",
    modal_border: "Pop-up border.",
    input: "Typed text.",
    input_rejected: "A rejected entry.",
}

fn parse(file: &str, src: &str) -> Result<ThemeFile, Diagnostics> {
    toml::from_str::<ThemeFile>(src).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        Diagnostics(vec![Diagnostic::at(
            file,
            src,
            span,
            e.message().to_string(),
        )])
    })
}

impl Theme {
    /// A built-in theme by name.
    pub fn builtin(name: &str) -> Option<Theme> {
        let (n, src) = BUILTIN.iter().find(|(n, _)| *n == name)?;
        let mut t = Theme {
            name: (*n).to_string(),
            ..Theme::default()
        };
        // Built-in themes are tested to parse; fall back to unstyled if one ever did not.
        if let Ok(f) = parse(&format!("themes/{n}.toml"), src) {
            let _ = t.overlay(&f, n, src);
        }
        Some(t)
    }

    /// A theme file: its roles override the default theme's.
    pub fn from_file(path: &Path) -> Result<Theme, ThemeError> {
        let src = std::fs::read_to_string(path).map_err(|source| ThemeError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_source(&path.display().to_string(), &src)
    }

    /// Theme text named `file`: its roles override the default theme's.
    pub fn from_source(file: &str, src: &str) -> Result<Theme, ThemeError> {
        let f = parse(file, src).map_err(ThemeError::Invalid)?;
        let mut t = Self::builtin("default").unwrap_or_default();
        t.name = file.to_string();
        t.overlay(&f, file, src).map_err(ThemeError::Invalid)?;
        Ok(t)
    }

    /// A pane's frame in this theme: a border all round, and `title` cut to fit a pane
    /// `width` columns wide.
    pub fn pane(&self, title: &str, width: u16) -> Block<'static> {
        Block::default()
            .borders(Borders::ALL)
            .border_style(self.border)
            .title(Span::styled(
                fit(title, width.saturating_sub(2) as usize),
                self.title,
            ))
    }

    /// Draws a pane's frame ([`Theme::pane`]) titled `title` over `area`; returns the room
    /// inside it.
    pub fn draw_pane(&self, f: &mut Frame, title: &str, area: Rect) -> Rect {
        let block = self.pane(title, area.width);
        let inner = block.inner(area);
        f.render_widget(block, area);
        inner
    }

    /// What `--theme` and `NO_COLOR` select: an explicit choice wins, else `mono` under
    /// `NO_COLOR`, else `default`.
    pub fn resolve(choice: Option<&str>, no_color: bool) -> Result<Theme, ThemeError> {
        match choice {
            Some(c) => match Self::builtin(c) {
                Some(t) => Ok(t),
                None if Path::new(c).is_file() => Self::from_file(Path::new(c)),
                None => Err(ThemeError::Unknown(c.to_string())),
            },
            None if no_color => Ok(Self::builtin("mono").unwrap_or_default()),
            None => Ok(Self::builtin("default").unwrap_or_default()),
        }
    }
}

/// Whether `NO_COLOR` is set to something (per no-color.org).
pub fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_themes_parse_and_set_every_role() {
        for (name, src) in BUILTIN {
            let file = format!("themes/{name}.toml");
            let f = parse(&file, src).unwrap_or_else(|e| panic!("{e}"));
            let mut t = Theme::default();
            t.overlay(&f, &file, src).unwrap_or_else(|e| panic!("{e}"));
            let table: toml::Table = toml::from_str(src).unwrap();
            for role in ROLES {
                assert!(table.contains_key(*role), "{name} does not set {role}");
            }
        }
    }

    #[test]
    fn builtin_colour_themes_use_only_the_16_named_colours() {
        for (name, src) in BUILTIN {
            let table: toml::Table = toml::from_str(src).unwrap();
            for (role, v) in &table {
                let Some(spec) = v.as_table() else { continue };
                for k in ["fg", "bg"] {
                    if let Some(c) = spec.get(k).and_then(|c| c.as_str()) {
                        assert!(
                            !c.starts_with('#') && c.parse::<u8>().is_err(),
                            "{name}.{role}.{k} = {c} is not a named ANSI colour"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn mono_has_no_colours() {
        let t = Theme::builtin("mono").unwrap();
        let table: toml::Table = toml::from_str(BUILTIN[2].1).unwrap();
        assert_eq!(BUILTIN[2].0, "mono");
        for (_, v) in &table {
            if let Some(spec) = v.as_table() {
                assert!(!spec.contains_key("fg") && !spec.contains_key("bg"));
            }
        }
        assert!(t.step_running.add_modifier.contains(Modifier::BOLD));
    }

    #[test]
    fn no_color_picks_mono_unless_a_theme_is_named() {
        assert_eq!(Theme::resolve(None, true).unwrap().name, "mono");
        assert_eq!(Theme::resolve(None, false).unwrap().name, "default");
        assert_eq!(
            Theme::resolve(Some("high-contrast"), true).unwrap().name,
            "high-contrast"
        );
    }

    #[test]
    fn unknown_theme_name_is_an_error() {
        let e = Theme::resolve(Some("no-such-theme-here"), false).unwrap_err();
        assert!(e.to_string().contains("unknown theme"), "{e}");
    }

    #[test]
    fn file_overrides_default_roles() {
        let t = Theme::from_source("x.toml", "step_running = { fg = \"magenta\" }\n").unwrap();
        assert_eq!(t.step_running.fg, Some(Color::Magenta));
        assert_eq!(
            t.step_passed,
            Theme::builtin("default").unwrap().step_passed
        );
    }

    /// Why theme text `src` named `file` does not load.
    fn error_in(file: &str, src: &str) -> String {
        Theme::from_source(file, src).unwrap_err().to_string()
    }

    #[test]
    fn bad_colour_is_located() {
        let e = error_in("mine.toml", "# mine\nstep_failed = { fg = \"rouge\" }\n");
        assert!(
            e.starts_with("mine.toml:2:22: unknown colour \"rouge\""),
            "{e}"
        );
    }

    #[test]
    fn unknown_role_is_located() {
        let e = error_in(
            "mine.toml",
            "text = { fg = \"red\" }\nstep_exploded = { fg = \"red\" }\n",
        );
        assert!(
            e.starts_with("mine.toml:2:1: unknown field `step_exploded`"),
            "{e}"
        );
    }

    #[test]
    fn unknown_attribute_and_syntax_errors_are_located() {
        let e = error_in("a.toml", "text = { fg = \"red\", blink = true }\n");
        assert!(e.starts_with("a.toml:1:22: unknown field `blink`"), "{e}");
        let e = error_in("b.toml", "\ntext = { fg = \n");
        assert!(e.starts_with("b.toml:2:"), "{e}");
    }
}
