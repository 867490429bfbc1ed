//! Terminal key presses into [`Action`]s: crossterm's key names into the key table's
//! ([`keymap`]), looked up in what the keyboard talks to ([`App::key_context`]). Inside a text
//! box every key the table does not bind there edits the text, through tui-input.
//!
//! [`App::key_context`]: crate::app::App::key_context

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tui_input::backend::crossterm::to_input_request;

use crate::app::keymap::{self, Key};
use crate::app::{Action, App, KeyContext};

/// The key table's name for a key press, if the table can name it. Modifiers are ignored
/// (`R` arrives with shift), except that control and `c` is `ctrl-c`.
pub fn key_of(ev: &KeyEvent) -> Option<Key> {
    if ev.modifiers.contains(KeyModifiers::CONTROL) && matches!(ev.code, KeyCode::Char('c' | 'C')) {
        return Some(Key::CtrlC);
    }
    Some(match ev.code {
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        _ => return None,
    })
}

/// What a key press asks for of `app` ([`App::key_action`]); `None` for a release or a key
/// that means nothing there.
pub fn action_for(ev: &KeyEvent, app: &App) -> Option<Action> {
    if ev.kind == KeyEventKind::Release {
        return None;
    }
    if let Some(a) = key_of(ev).and_then(|k| app.key_action(k)) {
        return Some(a);
    }
    text_edit(ev, app.key_context())
}

/// What a key press asks for in `ctx`; `None` for a release or a key that means nothing there.
pub fn action(ev: &KeyEvent, ctx: KeyContext) -> Option<Action> {
    if ev.kind == KeyEventKind::Release {
        return None;
    }
    if let Some(a) = key_of(ev).and_then(|k| keymap::action(k, ctx)) {
        return Some(a);
    }
    text_edit(ev, ctx)
}

/// Inside a text box, a key the table does not bind edits the text.
fn text_edit(ev: &KeyEvent, ctx: KeyContext) -> Option<Action> {
    match ctx {
        KeyContext::Text => to_input_request(&TermEvent::Key(*ev)).map(Action::from),
        KeyContext::Commands | KeyContext::Question => None,
    }
}

#[cfg(test)]
mod tests {
    use tui_input::InputRequest;

    use super::*;

    fn press(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn ctrl(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    #[test]
    fn key_releases_are_ignored() {
        let mut k = press(KeyCode::Enter);
        k.kind = KeyEventKind::Release;
        for ctx in [KeyContext::Commands, KeyContext::Question, KeyContext::Text] {
            assert_eq!(action(&k, ctx), None);
        }
    }

    #[test]
    fn letters_are_commands_on_the_screen_and_text_in_a_box() {
        let screen = KeyContext::Commands;
        assert_eq!(
            action(&press(KeyCode::Char('q')), screen),
            Some(Action::Quit)
        );
        assert_eq!(
            action(&press(KeyCode::Char('r')), screen),
            Some(Action::Retry)
        );
        let shift_r = KeyEvent::new(KeyCode::Char('R'), KeyModifiers::SHIFT);
        assert_eq!(action(&shift_r, screen), Some(Action::Rollback));
        for c in ['q', 'r', 's', 'x', '?', 'n', 'y'] {
            assert_eq!(
                action(&press(KeyCode::Char(c)), KeyContext::Text),
                Some(Action::Type(c))
            );
        }
    }

    #[test]
    fn enter_esc_and_ctrl_c_keep_their_meaning_everywhere() {
        for ctx in [KeyContext::Commands, KeyContext::Question, KeyContext::Text] {
            assert_eq!(action(&press(KeyCode::Enter), ctx), Some(Action::Enter));
            assert_eq!(action(&press(KeyCode::Esc), ctx), Some(Action::Escape));
            assert_eq!(action(&ctrl('c'), ctx), Some(Action::Interrupt));
            let ctrl_alt_c = KeyEvent::new(
                KeyCode::Char('c'),
                KeyModifiers::CONTROL | KeyModifiers::ALT,
            );
            assert_eq!(action(&ctrl_alt_c, ctx), Some(Action::Interrupt));
        }
    }

    #[test]
    fn a_question_takes_y_and_n_only() {
        let q = KeyContext::Question;
        for (c, a) in [
            ('y', Action::Yes),
            ('Y', Action::Yes),
            ('n', Action::No),
            ('N', Action::No),
        ] {
            assert_eq!(action(&press(KeyCode::Char(c)), q), Some(a));
        }
        assert_eq!(action(&press(KeyCode::Char('q')), q), None);
        assert_eq!(action(&press(KeyCode::Char('r')), q), None);
        // On the screen, n stops a countdown and y means nothing.
        let screen = KeyContext::Commands;
        assert_eq!(
            action(&press(KeyCode::Char('n')), screen),
            Some(Action::CancelCountdown)
        );
        assert_eq!(action(&press(KeyCode::Char('y')), screen), None);
    }

    #[test]
    fn text_boxes_edit_through_tui_input() {
        let text = KeyContext::Text;
        assert_eq!(
            action(&press(KeyCode::Backspace), text),
            Some(Action::Edit(InputRequest::DeletePrevChar))
        );
        assert_eq!(
            action(&press(KeyCode::Home), text),
            Some(Action::Edit(InputRequest::GoToStart)),
            "home moves the cursor in a box; on the screen it scrolls"
        );
        assert_eq!(
            action(&press(KeyCode::Home), KeyContext::Commands),
            Some(Action::Top)
        );
        assert_eq!(
            action(&ctrl('w'), text),
            Some(Action::Edit(InputRequest::DeletePrevWord))
        );
        // A control key tui-input does not know is neither text nor a command.
        assert_eq!(action(&ctrl('q'), text), None);
        assert_eq!(action(&press(KeyCode::F(1)), text), None);
    }

    #[test]
    fn arrows_pages_and_named_keys_reach_the_table() {
        let screen = KeyContext::Commands;
        for (code, a) in [
            (KeyCode::Up, Action::SelectPrev),
            (KeyCode::Down, Action::SelectNext),
            (KeyCode::Char('k'), Action::SelectPrev),
            (KeyCode::Char('j'), Action::SelectNext),
            (KeyCode::PageUp, Action::PageUp),
            (KeyCode::PageDown, Action::PageDown),
            (KeyCode::End, Action::Bottom),
            (KeyCode::Char('G'), Action::Bottom),
        ] {
            assert_eq!(action(&press(code), screen), Some(a), "{code:?}");
        }
        assert_eq!(action(&press(KeyCode::Tab), screen), None);
    }
}
