//! A progress bar on standard error for long simulations and replays:
//! drawn only when standard error is a terminal, silent otherwise (pipes,
//! files, CI logs), so machine-read output never carries it.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar over `total` steps, or nothing when standard error is not a
/// terminal. Finished bars are cleared.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar labelled `what` (e.g. `simulating`) counting `total` `unit`s
    /// (e.g. `requests`), shown only on a terminal.
    pub fn new(what: &str, total: u64, unit: &str) -> Progress {
        Progress::with_terminal(what, total, unit, std::io::stderr().is_terminal())
    }

    /// As [`Progress::new`], with the terminal test given.
    pub fn with_terminal(what: &str, total: u64, unit: &str, terminal: bool) -> Progress {
        if !terminal {
            return Progress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let template = format!(
            "{{msg}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} ({{percent}}%, {{eta}} left)"
        );
        let style = ProgressStyle::with_template(&template).map(|s| s.progress_chars("=> "));
        if let Ok(style) = style {
            bar.set_style(style);
        }
        bar.set_message(what.to_owned());
        Progress { bar: Some(bar) }
    }

    /// Whether anything is drawn.
    pub fn is_visible(&self) -> bool {
        self.bar.is_some()
    }

    /// Sets the position (`done` of `total`).
    pub fn update(&self, done: u64, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(done);
        }
    }

    /// A callback for `routec_sim` (`done`, `total`).
    pub fn callback(&self) -> impl FnMut(u64, u64) + '_ {
        move |done, total| self.update(done, total)
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_drawn_without_a_terminal() {
        let p = Progress::with_terminal("simulating", 10, "requests", false);
        assert!(!p.is_visible());
        let mut cb = p.callback();
        cb(5, 10);
    }
}
