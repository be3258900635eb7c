//! A progress line on stderr for long replays: every few seconds, the lines read and the rate.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// Lines between looks at the clock.
const CHECK_EVERY: u64 = 1 << 16;
const INTERVAL: Duration = Duration::from_secs(2);

pub struct Progress {
    start: Instant,
    last: Instant,
    quiet: bool,
    /// On a terminal the line is rewritten in place; elsewhere each is a line of its own.
    terminal: bool,
    shown: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        let now = Instant::now();
        Progress {
            start: now,
            last: now,
            quiet,
            terminal: std::io::stderr().is_terminal(),
            shown: false,
        }
    }

    pub fn tick(&mut self, lines: u64) {
        if self.quiet || lines % CHECK_EVERY != 0 {
            return;
        }
        let now = Instant::now();
        if now.duration_since(self.last) < INTERVAL {
            return;
        }
        self.last = now;
        let seconds = now.duration_since(self.start).as_secs_f64();
        let per_minute = lines as f64 / seconds.max(1e-9) * 60.0;
        let text = format!(
            "replay: {lines} lines in {seconds:.0} s ({:.1} million lines per minute)",
            per_minute / 1e6
        );
        let mut stderr = std::io::stderr().lock();
        let _ = if self.terminal {
            write!(stderr, "\r{text}")
        } else {
            writeln!(stderr, "{text}")
        };
        self.shown = true;
    }

    /// Ends a progress line left open on a terminal.
    pub fn finish(&mut self) {
        if self.terminal && self.shown {
            let _ = writeln!(std::io::stderr().lock());
            self.shown = false;
        }
    }
}
