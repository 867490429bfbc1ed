//! The lanes screen's state machine: the latest [`FleetView`], the cursor, the selection, the
//! typed confirmation. Pure — no terminal, no clock, no I/O: [`LanesApp::on_key`] and
//! [`LanesApp::on_view`] return [`LanesEffect`]s for the run loop to carry out.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::Rect;
use tui_input::backend::crossterm::to_input_request;

use super::confirm::{Pending, Prompt};
use super::scroll::{self, Offsets, Region};
use super::view;
use cutover_model::fleet::lane::{FleetCommand, FleetPhase, FleetView, LaneState};
use cutover_model::protocol::ClientRole;

/// What a watching terminal says when asked to send a command.
pub const READ_ONLY: &str = "read-only: this terminal watches";

/// What the run loop must do after a key or a view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LanesEffect {
    /// Draw a new frame.
    Redraw,
    /// Send a command to the fleet's engine.
    Send(FleetCommand),
    /// Open this member's cockpit (the screen is left for it).
    Open(String),
    /// Leave the lanes screen.
    Leave,
    /// Ring the bell (a refused entry).
    Bell,
}

/// The lanes screen's state.
#[derive(Debug, Clone)]
pub struct LanesApp {
    /// The latest picture of the fleet (`None` until the first arrives).
    pub view: Option<FleetView>,
    /// Whether this terminal drives the fleet or watches it.
    pub role: ClientRole,
    /// The member under the cursor (by name: it stays on the member when the order changes).
    pub cursor: Option<String>,
    /// The selected members.
    pub selected: BTreeSet<String>,
    /// How far the list is scrolled.
    pub offsets: Offsets,
    /// The open typed confirmation.
    pub prompt: Option<Prompt>,
    /// The status message (why a key did nothing, what was sent).
    pub status: Option<String>,
    /// Whether the help overlay is open.
    pub help: bool,
    /// The time countdowns are computed from.
    pub now: DateTime<Utc>,
    /// The terminal's size (columns, rows).
    pub size: (u16, u16),
}

impl LanesApp {
    /// A lanes screen with no fleet view yet.
    pub fn new(role: ClientRole, now: DateTime<Utc>, size: (u16, u16)) -> Self {
        LanesApp {
            view: None,
            role,
            cursor: None,
            selected: BTreeSet::new(),
            offsets: Offsets::default(),
            prompt: None,
            status: None,
            help: false,
            now,
            size,
        }
    }

    /// Takes a new picture of the fleet: the cursor stays on its member (or goes to the first
    /// lane), members gone leave the selection, and a pending go the fleet no longer waits for
    /// is dropped.
    pub fn on_view(&mut self, v: FleetView) -> Vec<LanesEffect> {
        self.selected
            .retain(|m| v.lanes.iter().any(|l| &l.member == m));
        if !self
            .cursor
            .as_ref()
            .is_some_and(|c| v.lanes.iter().any(|l| &l.member == c))
        {
            self.cursor = v.sorted().first().map(|l| l.member.clone());
        }
        if v.phase != FleetPhase::AwaitingGo
            && self
                .prompt
                .as_ref()
                .is_some_and(|p| matches!(p.pending, Pending::Go(_)))
        {
            self.prompt = None;
            self.status = Some("the fleet no longer waits for a go".into());
        }
        self.view = Some(v);
        self.follow();
        vec![LanesEffect::Redraw]
    }

    /// The clock moved on (countdowns).
    pub fn on_tick(&mut self, now: DateTime<Utc>) -> Vec<LanesEffect> {
        self.now = now;
        vec![LanesEffect::Redraw]
    }

    /// The terminal was resized.
    pub fn on_resize(&mut self, cols: u16, rows: u16) -> Vec<LanesEffect> {
        self.size = (cols, rows);
        self.follow();
        vec![LanesEffect::Redraw]
    }

    /// Handles one key press.
    pub fn on_key(&mut self, key: KeyEvent) -> Vec<LanesEffect> {
        if key.kind == KeyEventKind::Release {
            return Vec::new();
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return vec![LanesEffect::Leave];
        }
        if self.prompt.is_some() {
            return self.prompt_key(key);
        }
        if self.help {
            if matches!(key.code, KeyCode::Esc | KeyCode::Char('?')) {
                self.help = false;
                return vec![LanesEffect::Redraw];
            }
            if key.code == KeyCode::Char('q') {
                return vec![LanesEffect::Leave];
            }
            return Vec::new();
        }
        if key
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
        {
            return Vec::new();
        }
        let had_status = self.status.take().is_some();
        let effects = self.list_key(key);
        if had_status && effects.is_empty() {
            // The status went: draw without it.
            return vec![LanesEffect::Redraw];
        }
        effects
    }

    /// A key on the list (no prompt, no help open).
    fn list_key(&mut self, key: KeyEvent) -> Vec<LanesEffect> {
        let page = self.list_rows().saturating_sub(1).max(1) as isize;
        match key.code {
            KeyCode::Up | KeyCode::Char('k') => self.move_by(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_by(1),
            KeyCode::PageUp => self.move_by(-page),
            KeyCode::PageDown => self.move_by(page),
            KeyCode::Home => self.move_by(isize::MIN),
            KeyCode::End => self.move_by(isize::MAX),
            KeyCode::Char(' ') => self.toggle(),
            KeyCode::Char('a') => self.toggle_all(),
            KeyCode::Enter => return self.open(),
            KeyCode::Char('n') => self.ask(Self::run_next),
            KeyCode::Char('R') => self.ask(Self::rollback),
            KeyCode::Char('g') => self.ask(Self::go),
            KeyCode::Char('?') => self.help = true,
            KeyCode::Char('q') => return vec![LanesEffect::Leave],
            _ => return Vec::new(),
        }
        vec![LanesEffect::Redraw]
    }

    /// A key while the typed confirmation is open: `enter` checks the number, `esc` cancels,
    /// anything else edits the text.
    fn prompt_key(&mut self, key: KeyEvent) -> Vec<LanesEffect> {
        let Some(prompt) = self.prompt.as_mut() else {
            return Vec::new();
        };
        match key.code {
            KeyCode::Esc => {
                self.prompt = None;
                self.status = Some("cancelled".into());
            }
            KeyCode::Enter => match prompt.accepted() {
                Some(n) => {
                    let mut cmd = prompt.pending.command(n);
                    if let FleetCommand::RunNext { seen, .. } = &mut cmd {
                        *seen = std::mem::take(&mut prompt.seen);
                    }
                    self.status = Some(sent(&prompt.pending));
                    self.prompt = None;
                    // The selection was for this command: the next one starts from none.
                    self.selected.clear();
                    return vec![LanesEffect::Send(cmd), LanesEffect::Redraw];
                }
                None => {
                    prompt.rejected = true;
                    prompt.input.reset();
                    return vec![LanesEffect::Bell, LanesEffect::Redraw];
                }
            },
            _ => {
                let Some(req) = to_input_request(&TermEvent::Key(key)) else {
                    return Vec::new();
                };
                prompt.input.handle(req);
                prompt.rejected = false;
            }
        }
        vec![LanesEffect::Redraw]
    }

    /// Opens the typed confirmation `what` asks for, or says why not.
    fn ask(&mut self, what: fn(&Self, &FleetView) -> Result<Pending, String>) {
        if self.role == ClientRole::Watch {
            self.status = Some(READ_ONLY.into());
            return;
        }
        let Some(v) = &self.view else {
            self.status = Some("no fleet yet".into());
            return;
        };
        match what(self, v) {
            Ok(p) => {
                // The step each member to run waits at now goes with the command it may
                // become.
                let seen = match &p {
                    Pending::RunNext(members) => {
                        let members: std::collections::BTreeSet<&String> = members.iter().collect();
                        v.lanes
                            .iter()
                            .filter(|l| members.contains(&l.member))
                            .filter_map(|l| l.step.map(|s| (l.member.clone(), s)))
                            .collect()
                    }
                    _ => Default::default(),
                };
                self.prompt = Some(Prompt {
                    seen,
                    ..Prompt::new(p)
                });
            }
            Err(why) => self.status = Some(why),
        }
        self.follow();
    }

    /// `n`: the selected members that wait, or (none selected) every waiting member.
    fn run_next(&self, v: &FleetView) -> Result<Pending, String> {
        let waiting = v.waiting();
        let members: Vec<String> = if self.selected.is_empty() {
            waiting.iter().map(|m| m.to_string()).collect()
        } else {
            waiting
                .iter()
                .filter(|m| self.selected.contains(**m))
                .map(|m| m.to_string())
                .collect()
        };
        match (members.is_empty(), self.selected.is_empty()) {
            (false, _) => Ok(Pending::RunNext(members)),
            (true, true) => Err("no member is waiting for its next step".into()),
            (true, false) => Err(format!(
                "none of the {} selected members is waiting for its next step",
                self.selected.len()
            )),
        }
    }

    /// `R`: the selected members, or (none selected) the one under the cursor.
    fn rollback(&self, v: &FleetView) -> Result<Pending, String> {
        let members: Vec<String> = if self.selected.is_empty() {
            self.cursor.iter().cloned().collect()
        } else {
            v.lanes
                .iter()
                .filter(|l| self.selected.contains(&l.member))
                .map(|l| l.member.clone())
                .collect()
        };
        if members.is_empty() {
            return Err("no member to roll back".into());
        }
        Ok(Pending::Rollback(members))
    }

    /// `g`: the canary go, only while the fleet waits for it.
    fn go(&self, v: &FleetView) -> Result<Pending, String> {
        match v.phase {
            FleetPhase::AwaitingGo => Ok(Pending::Go(
                v.lanes
                    .iter()
                    .filter(|l| l.state == LaneState::Queued)
                    .count(),
            )),
            FleetPhase::Canary => Err("no go yet: the canaries still run".into()),
            FleetPhase::Running => Err("no go to give: the fleet already runs".into()),
            FleetPhase::Halted => Err("no go: the fleet halted".into()),
            FleetPhase::Finished => Err("no go: the fleet finished".into()),
        }
    }

    /// `enter`: the member under the cursor, when its engine serves a cockpit.
    fn open(&mut self) -> Vec<LanesEffect> {
        let Some(lane) = self.cursor_lane() else {
            return Vec::new();
        };
        if lane.socket.is_some() {
            return vec![LanesEffect::Open(lane.member.clone())];
        }
        self.status = Some(format!(
            "{} has no cockpit to open: it is {}",
            lane.member,
            lane.state.word()
        ));
        vec![LanesEffect::Redraw]
    }

    /// `space`: selects or unselects the lane under the cursor.
    fn toggle(&mut self) {
        if let Some(c) = &self.cursor
            && !self.selected.remove(c)
        {
            self.selected.insert(c.clone());
        }
    }

    /// `a`: selects every lane, or none when all are selected.
    fn toggle_all(&mut self) {
        let Some(v) = &self.view else { return };
        if self.selected.len() == v.lanes.len() {
            self.selected.clear();
        } else {
            self.selected = v.lanes.iter().map(|l| l.member.clone()).collect();
        }
    }

    /// Moves the cursor by `delta` lanes in screen order (clamped to the list).
    fn move_by(&mut self, delta: isize) {
        let Some(v) = &self.view else { return };
        let sorted = v.sorted();
        if sorted.is_empty() {
            return;
        }
        let at = self.cursor_index().unwrap_or(0) as isize;
        let to = at.saturating_add(delta).clamp(0, sorted.len() as isize - 1) as usize;
        self.cursor = sorted.get(to).map(|l| l.member.clone());
        self.follow();
    }

    /// The cursor's index in screen order.
    pub fn cursor_index(&self) -> Option<usize> {
        let c = self.cursor.as_ref()?;
        self.view
            .as_ref()?
            .sorted()
            .iter()
            .position(|l| &l.member == c)
    }

    /// The lane under the cursor.
    pub fn cursor_lane(&self) -> Option<&cutover_model::fleet::lane::Lane> {
        let c = self.cursor.as_ref()?;
        self.view.as_ref()?.lanes.iter().find(|l| &l.member == c)
    }

    /// The rows the list has at the current size.
    pub fn list_rows(&self) -> usize {
        let (w, h) = self.size;
        view::list_area(Rect::new(0, 0, w, h), self).height as usize
    }

    /// The list's regions in `rows` rows (the cursor shown), and the offsets they leave.
    pub fn window(&self, rows: usize) -> (Vec<Region>, Offsets) {
        let Some(v) = &self.view else {
            return (Vec::new(), Offsets::default());
        };
        let trouble = v.lanes.iter().filter(|l| l.state.is_trouble()).count();
        scroll::window(
            trouble,
            v.lanes.len(),
            rows,
            self.cursor_index(),
            self.offsets,
        )
    }

    /// Scrolls so the cursor is shown.
    fn follow(&mut self) {
        self.offsets = self.window(self.list_rows()).1;
    }
}

/// The status once `p` was sent.
fn sent(p: &Pending) -> String {
    let n = p.count();
    match p {
        Pending::RunNext(_) => format!("sent: run the next step on {n}"),
        Pending::Rollback(m) => format!("sent: roll back {}", super::confirm::names(m)),
        Pending::Go(_) => "sent: go".into(),
    }
}
