//! When a live engine should look at the ring next: just after the block that completes the
//! next hop is due, judged from the blocks' arrival times. Pure timing; runs on the engine.

use std::time::{Duration, Instant};

use rtrb::Consumer;

use crate::stream::Arrival;

/// When a live engine should look at the ring next. The callback delivers blocks of about
/// `block_frames` every `period_s`; the hop completes with the block that brings the frames it
/// still needs, so the engine sleeps until just after that block is due instead of polling.
/// This gives one wake per hop or so (polling at half a hop gave two) and bounds the delay from
/// a block's arrival to its frame's publication by the margin, not by the poll interval.
#[derive(Debug, Default)]
pub struct Pacer {
    /// Smoothed time between blocks, seconds (0: no estimate yet).
    period_s: f64,
    /// Smoothed frames per block.
    pub block_frames: f64,
    /// Smoothed deviation of the time between blocks from `period_s`, seconds: how late a
    /// block may be without anything being wrong.
    jitter_s: f64,
    /// The newest block seen, end frame and arrival: each pair of blocks is taken once, and it
    /// is the other end of the next interval when only one block is pending (blocks longer
    /// than a hop are taken by the frame publication one at a time).
    last: Option<(u64, Instant)>,
    /// Intervals in a row too long for the estimate (see `wait`).
    outliers: u32,
}

impl Pacer {
    /// How long a block may take beyond its predicted time before the engine looks again.
    const MARGIN: Duration = Duration::from_micros(300);
    /// Shortest sleep: below this a wake costs more than it saves.
    const MIN_WAIT: Duration = Duration::from_micros(200);
    /// Longest sleep on a prediction: bounds how long a stop request waits.
    const MAX_WAIT: Duration = Duration::from_millis(50);
    /// Weight of a new observation in the smoothed period and block size.
    const ALPHA: f64 = 0.1;

    /// The sleep before the next look at the ring, given the frames still needed for the next
    /// hop; `fallback` while there is no estimate of the blocks' timing (or they are late).
    /// Reads the pending arrivals without taking them (the frame publication takes them).
    pub fn wait(
        &mut self,
        arrivals: &mut Consumer<Arrival>,
        needed: u64,
        fallback: Duration,
    ) -> Duration {
        let Ok(chunk) = arrivals.read_chunk(arrivals.slots()) else {
            return fallback;
        };
        let (a, b) = chunk.as_slices();
        let mut last_two = a.iter().chain(b).rev().take(2);
        let (Some(newest), older) = (last_two.next(), last_two.next()) else {
            return fallback;
        };
        // Two pending blocks are neighbours. A lone pending block is paired with the one seen
        // before only when they are neighbours too, as far as the block size tells (blocks in
        // between may have been taken unseen; a pair spanning several would skew the timing).
        let older = older
            .map(|o| (o.end_frame, o.at))
            .or(self.last.filter(|&(end, _)| {
                let frames = newest.end_frame.saturating_sub(end) as f64;
                frames > 0.0 && (self.block_frames == 0.0 || frames <= 1.25 * self.block_frames)
            }));
        if let Some((older_end, older_at)) = older
            && self.last.is_none_or(|(end, _)| newest.end_frame > end)
        {
            let dt = newest.at.saturating_duration_since(older_at).as_secs_f64();
            let frames = newest.end_frame.saturating_sub(older_end) as f64;
            // An interval that spans a pause or a stall says nothing about the period; but
            // several such in a row mean the estimate is wrong (a burst at the start): restart.
            let plausible = self.period_s == 0.0 || dt <= 3.0 * self.period_s;
            self.outliers = if plausible { 0 } else { self.outliers + 1 };
            if dt > 0.0 && frames > 0.0 && (plausible || self.outliers >= 3) {
                if self.period_s == 0.0 || !plausible {
                    (self.period_s, self.block_frames, self.jitter_s) = (dt, frames, 0.0);
                    self.outliers = 0;
                } else {
                    self.jitter_s += Self::ALPHA * ((dt - self.period_s).abs() - self.jitter_s);
                    self.period_s += Self::ALPHA * (dt - self.period_s);
                    self.block_frames += Self::ALPHA * (frames - self.block_frames);
                }
            }
        }
        self.last = Some((newest.end_frame, newest.at));
        if self.period_s == 0.0 {
            return fallback;
        }
        let blocks = (needed as f64 / self.block_frames).ceil().max(1.0);
        // Blocks come late by about the jitter: waking before that only finds the ring empty.
        let slack = Self::MARGIN + Duration::from_secs_f64(2.0 * self.jitter_s);
        let due = newest.at + Duration::from_secs_f64(blocks * self.period_s) + slack;
        match due.checked_duration_since(Instant::now()) {
            Some(left) => left.clamp(Self::MIN_WAIT, Self::MAX_WAIT),
            // Later than that: look again after another slack, or a tenth of a period.
            None => slack
                .max(Duration::from_secs_f64(self.period_s / 10.0))
                .clamp(Self::MIN_WAIT, fallback),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Arrivals of `blocks` blocks of 240 frames every 5 ms, the newest `age` ago.
    fn arrivals(blocks: u64, age: Duration) -> Consumer<Arrival> {
        let (mut tx, rx) = rtrb::RingBuffer::new(16);
        let newest = Instant::now() - age;
        for i in 0..blocks {
            let back = Duration::from_millis(5 * (blocks - 1 - i));
            let _ = tx.push(Arrival {
                end_frame: 240 * (i + 1),
                at: newest - back,
                sound_end: newest - back,
            });
        }
        rx
    }

    const FALLBACK: Duration = Duration::from_micros(4167);

    #[test]
    fn sleeps_until_just_after_the_block_that_completes_the_hop() {
        let mut pacer = Pacer::default();
        let mut rx = arrivals(3, Duration::from_millis(1));
        // 400 frames to go: the second block from now completes the hop, 10 ms after the
        // newest, which came 1 ms ago; plus the margin (the blocks are regular: no jitter).
        let wait = pacer.wait(&mut rx, 400, FALLBACK);
        let want = Duration::from_millis(9) + Pacer::MARGIN;
        assert!(
            wait <= want && wait > want - Duration::from_micros(200),
            "{wait:?}"
        );
        // The arrivals are only read: the frame publication takes them.
        assert_eq!(rx.slots(), 3);
        // 100 frames to go: the next block.
        let wait = pacer.wait(&mut rx, 100, FALLBACK);
        assert!(wait <= Duration::from_millis(4) + Pacer::MARGIN, "{wait:?}");
        assert!(wait > Duration::from_millis(3), "{wait:?}");
    }

    /// Blocks longer than a hop: the frame publication takes each block before the next
    /// arrives, so only one is ever pending. The interval comes from the one seen before.
    #[test]
    fn long_blocks_seen_one_at_a_time_still_give_the_timing() {
        let mut pacer = Pacer::default();
        let (mut tx, mut rx) = rtrb::RingBuffer::new(16);
        let first = Instant::now() - Duration::from_millis(21);
        let _ = tx.push(Arrival {
            end_frame: 960,
            at: first,
            sound_end: first,
        });
        assert_eq!(pacer.wait(&mut rx, 700, FALLBACK), FALLBACK);
        let _ = rx.pop();
        let _ = tx.push(Arrival {
            end_frame: 1920,
            at: first + Duration::from_millis(20),
            sound_end: first + Duration::from_millis(20),
        });
        // 700 frames to go: the next 960-frame block, 20 ms after the newest (1 ms ago).
        let wait = pacer.wait(&mut rx, 700, FALLBACK);
        let want = Duration::from_millis(19) + Pacer::MARGIN;
        assert!(
            wait <= want && wait > want - Duration::from_micros(500),
            "{wait:?}"
        );
    }

    /// The first block after a pause is not a period: the estimate stays as it was.
    #[test]
    fn a_pause_does_not_stretch_the_period() {
        let mut pacer = Pacer::default();
        let mut rx = arrivals(3, Duration::from_millis(1));
        let _ = pacer.wait(&mut rx, 400, FALLBACK);
        let period = pacer.period_s;
        while rx.pop().is_ok() {}
        let (mut tx, mut rx) = rtrb::RingBuffer::new(16);
        let _ = tx.push(Arrival {
            end_frame: 960,
            at: Instant::now() + Duration::from_secs(10),
            sound_end: Instant::now() + Duration::from_secs(10),
        });
        let _ = pacer.wait(&mut rx, 400, FALLBACK);
        assert_eq!(pacer.period_s, period);
    }

    /// A wrong start (two blocks back to back) is dropped after a few intervals that do not
    /// fit it, instead of rejecting every real interval for good.
    #[test]
    fn a_burst_at_the_start_does_not_stick() {
        let mut pacer = Pacer::default();
        let (mut tx, mut rx) = rtrb::RingBuffer::new(16);
        let start = Instant::now() - Duration::from_millis(100);
        let mut push = |end: u64, ms: f64| {
            let _ = tx.push(Arrival {
                end_frame: end,
                at: start + Duration::from_secs_f64(ms / 1000.0),
                sound_end: start + Duration::from_secs_f64(ms / 1000.0),
            });
        };
        push(240, 0.0);
        push(480, 0.1);
        let _ = pacer.wait(&mut rx, 400, FALLBACK);
        assert!(pacer.period_s < 0.001);
        for i in 1..=5u64 {
            push(480 + 240 * i, 0.1 + 5.0 * i as f64);
            let _ = pacer.wait(&mut rx, 400, FALLBACK);
        }
        assert!((pacer.period_s - 0.005).abs() < 0.001, "{}", pacer.period_s);
    }

    #[test]
    fn without_timing_or_when_late_it_falls_back_to_short_polls() {
        let mut pacer = Pacer::default();
        // One block says nothing about the period.
        assert_eq!(
            pacer.wait(&mut arrivals(1, Duration::ZERO), 400, FALLBACK),
            FALLBACK
        );
        assert_eq!(
            pacer.wait(&mut arrivals(0, Duration::ZERO), 400, FALLBACK),
            FALLBACK
        );
        // The next block is 20 ms overdue: look again within a tenth of a period or so.
        let wait = pacer.wait(&mut arrivals(3, Duration::from_millis(25)), 100, FALLBACK);
        assert!(wait <= Duration::from_micros(600), "{wait:?}");
        assert!(wait >= Pacer::MIN_WAIT, "{wait:?}");
    }
}
