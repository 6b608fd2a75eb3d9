//! Rate-limiting rules as pure functions over small state cells.
//!
//! Each rule takes the cell, the window parameters and an explicit `now_ms`, and answers
//! whether `cost` units fit now, after a delay, or not within `max_delay_ms`. Nothing here
//! reads a clock or touches shared state: a [`Store`](crate::store::Store) runs these rules
//! atomically (the memory store under a per-tenant lock).
//!
//! Time going backwards never admits extra requests: GCRA keeps its theoretical arrival time,
//! and window counters never roll back to an earlier window.

use crate::plan::{RateAlgorithm, RateWindow};

const NS_PER_MS: u64 = 1_000_000;

/// State of one window of one rate resource (at most 24 bytes of payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RateCell {
    /// Never used (or evicted): equivalent to a full bucket.
    #[default]
    Empty,
    /// GCRA: theoretical arrival time in ns since the epoch.
    Gcra {
        /// Theoretical arrival time (ns).
        tat_ns: u64,
    },
    /// Fixed window: window start (ms) and units counted, including reservations that spill
    /// into later windows.
    Fixed {
        /// Start of the current window (ms, aligned to the window length).
        start: u64,
        /// Units counted in the current window (may exceed the limit: reservations).
        count: u64,
        /// The limit `count` was scheduled under (0: unknown, take the current one). When
        /// the limit changes (plan change, override, expiry) the count is first re-expressed
        /// under the new limit, so units used under a higher limit are not taken for
        /// reservations.
        limit: u64,
    },
    /// Sliding-window counter: current window start and the current and previous counts.
    Sliding {
        /// Start of the current window (ms, aligned).
        start: u64,
        /// Units in the current window.
        cur: u64,
        /// Units in the previous window.
        prev: u64,
        /// The limit `cur` was scheduled under (as for [`RateCell::Fixed`]).
        limit: u64,
    },
}

impl RateCell {
    /// True when the cell holds no information a fresh cell would not (safe to evict).
    pub fn is_idle(&self, now_ms: u64, window: &WindowParams) -> bool {
        match *self {
            RateCell::Empty => true,
            RateCell::Gcra { tat_ns } => tat_ns <= ms_to_ns(now_ms),
            RateCell::Fixed { start, count, limit } => {
                let lim = if limit == 0 { window.limit } else { limit };
                let spill = count.saturating_sub(1) / lim.max(1);
                now_ms >= start.saturating_add(window.window_ms.saturating_mul(2 + spill))
            }
            RateCell::Sliding { start, cur, limit, .. } => {
                let lim = if limit == 0 { window.limit } else { limit };
                let spill = cur.saturating_sub(1) / lim.max(1);
                now_ms >= start.saturating_add(window.window_ms.saturating_mul(2 + spill))
            }
        }
    }
}

/// One window with its GCRA constants precomputed (no division on the check path).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowParams {
    /// Units per window.
    pub limit: u64,
    /// Window length (ms).
    pub window_ms: u64,
    /// GCRA emission interval in ns (`window / limit`).
    pub t_ns: u64,
    /// GCRA burst capacity (`floor(limit × burst)`, at least 1; `limit` for other windows).
    pub cap: u64,
    /// `cap × t_ns`: how far ahead of now the theoretical arrival time may run.
    pub span_ns: u64,
    /// `1 / t_ns`, for [`div_exact`] (no hardware division on the check path).
    pub inv_t: f64,
}

/// `ms` in ns, saturating. A compare and a plain multiply: `u64::saturating_mul` needs the
/// overflow of a 64×64-bit product, which wasm32 computes with a 128-bit library call
/// (`__multi3`), a tenth of a check's time there.
#[inline(always)]
pub(crate) fn ms_to_ns(ms: u64) -> u64 {
    if ms <= u64::MAX / NS_PER_MS { ms * NS_PER_MS } else { u64::MAX }
}

/// `a × b`, saturating: `u64::saturating_mul` on 64-bit targets, [`mul_sat_narrow`] on
/// 32-bit ones (wasm32).
#[inline(always)]
fn mul_sat(a: u64, b: u64) -> u64 {
    if cfg!(target_pointer_width = "64") { a.saturating_mul(b) } else { mul_sat_narrow(a, b) }
}

/// `a × b`, saturating, without the 128-bit multiply of `u64::saturating_mul` on the usual
/// path (see [`ms_to_ns`]): a plain multiply when both factors fit in 32 bits. Compiled (and
/// tested) on every target.
#[inline(always)]
fn mul_sat_narrow(a: u64, b: u64) -> u64 {
    if (a | b) >> 32 == 0 { a * b } else { mul_sat_wide(a, b) }
}

/// The wide case of [`mul_sat_narrow`], out of line: inlined, LLVM hoists the overflow
/// intrinsic out of the fast-path branch and pays the 128-bit multiply on every call.
#[cold]
#[inline(never)]
fn mul_sat_wide(a: u64, b: u64) -> u64 {
    a.saturating_mul(b)
}

/// `x / t`, exactly, by multiplying with a precomputed `1 / t` and correcting by one.
/// The float quotient of `x < 2^52` is within one of the true quotient.
#[inline]
pub fn div_exact(x: u64, t: u64, inv_t: f64) -> u64 {
    if x >= 1 << 52 || t == 0 {
        return x.checked_div(t).unwrap_or(0);
    }
    let mut q = (x as f64 * inv_t) as u64;
    if mul_sat(q, t) > x {
        q -= 1;
    } else if mul_sat(q + 1, t) <= x {
        q += 1;
    }
    q
}

impl WindowParams {
    /// Precomputes a window; `burst` applies to GCRA's first window only.
    pub fn new(w: &RateWindow, burst: f64) -> Self {
        let window_ns = w.window_ms.saturating_mul(NS_PER_MS);
        let t_ns = (window_ns / w.limit.max(1)).max(1);
        let cap = burst_capacity(w.limit, burst);
        Self {
            limit: w.limit,
            window_ms: w.window_ms.max(1),
            t_ns,
            cap,
            span_ns: cap.saturating_mul(t_ns),
            inv_t: 1.0 / t_ns as f64,
        }
    }
}

/// A rate resource's windows and algorithm, precomputed once per plan (or override).
#[derive(Debug, Clone, PartialEq)]
pub struct RateParams {
    /// The windows; all must admit.
    pub windows: Box<[WindowParams]>,
    /// The algorithm.
    pub algorithm: RateAlgorithm,
}

impl RateParams {
    /// Precomputes `windows` (burst applies to the first window under GCRA).
    pub fn new(windows: &[RateWindow], burst: f64, algorithm: RateAlgorithm) -> Self {
        let windows = windows
            .iter()
            .enumerate()
            .map(|(i, w)| WindowParams::new(w, if i == 0 && algorithm == RateAlgorithm::Gcra { burst } else { 1.0 }))
            .collect();
        Self { windows, algorithm }
    }

    /// The same windows at `share` (0 < share ≤ 1) of their limits and burst capacities, at
    /// least 1 unit each: what one process may admit alone when a shared store is unreachable.
    pub fn scaled(&self, share: f64) -> Self {
        let share = if share.is_finite() { share.clamp(0.0, 1.0) } else { 1.0 };
        let part = |v: u64| ((v as f64 * share).floor() as u64).max(1);
        let windows = self
            .windows
            .iter()
            .map(|w| {
                let limit = part(w.limit);
                let t_ns = (w.window_ms.saturating_mul(NS_PER_MS) / limit).max(1);
                let cap = part(w.cap);
                WindowParams {
                    limit,
                    window_ms: w.window_ms,
                    t_ns,
                    cap,
                    span_ns: cap.saturating_mul(t_ns),
                    inv_t: 1.0 / t_ns as f64,
                }
            })
            .collect();
        Self { windows, algorithm: self.algorithm }
    }

    /// True for the common single-window GCRA case (eligible for lock-free stores).
    pub fn is_single_gcra(&self) -> bool {
        self.algorithm == RateAlgorithm::Gcra && self.windows.len() == 1
    }
}

/// The request presented to a rate rule.
#[derive(Debug, Clone, Copy)]
pub struct RateRequest {
    /// Current time (ms since the epoch).
    pub now_ms: u64,
    /// Units asked for (≥ 1; 0 is answered without consuming).
    pub cost: u64,
    /// The longest delay the caller accepts (0: admit now or refuse).
    pub max_delay_ms: u64,
    /// False for a peek: answer without changing state.
    pub consume: bool,
}

/// What a rate rule answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateOutcome {
    /// Admitted (possibly after `delay_ms`).
    pub admitted: bool,
    /// Wait before proceeding (0 for an immediate admission).
    pub delay_ms: u64,
    /// For a refusal: earliest time the same request could be admitted without delay.
    pub retry_after_ms: u64,
    /// Units left after the request (smallest over the windows); for a refusal, units left now.
    pub remaining: u64,
    /// Time until fully replenished (largest over the windows).
    pub reset_ms: u64,
    /// The cost can never be admitted (above the burst capacity or window limit).
    pub never: bool,
}

#[derive(Debug, Clone, Copy)]
struct WindowEval {
    next: RateCell,
    wait_ms: u64,
    remaining: u64,
    reset_ms: u64,
    /// Units left and time to full as they are, for a refusal (the request changes nothing).
    remaining_now: u64,
    reset_now_ms: u64,
    never: bool,
}

fn ceil_div(a: u128, b: u128) -> u128 {
    if b == 0 { 0 } else { a.div_ceil(b) }
}

fn to_u64(v: u128) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// Burst capacity of a GCRA window: `floor(limit × burst)`, at least 1.
pub fn burst_capacity(limit: u64, burst: f64) -> u64 {
    let b = (limit as f64 * burst).floor();
    if b.is_finite() && b >= 1.0 { b.min(u64::MAX as f64) as u64 } else { 1 }
}

#[inline]
fn ceil_ms(ns: u64) -> u64 {
    ns.div_ceil(NS_PER_MS)
}

/// GCRA on one window, in u64 nanoseconds (saturating; valid until the year 2554).
#[inline(always)]
pub fn gcra_eval(tat_ns: u64, w: &WindowParams, now_ms: u64, cost: u64) -> (u64, RateOutcomeWindow) {
    let now = ms_to_ns(now_ms);
    let tat = tat_ns.max(now);
    let horizon = now.saturating_add(w.span_ns);
    if cost > w.cap {
        let remaining = div_exact(horizon.saturating_sub(tat), w.t_ns, w.inv_t);
        let reset_ms = ceil_ms(tat - now);
        let o = RateOutcomeWindow {
            wait_ms: 0,
            remaining,
            reset_ms,
            remaining_now: remaining,
            reset_now_ms: reset_ms,
            never: true,
        };
        return (tat_ns, o);
    }
    let new_tat = tat.saturating_add(mul_sat(cost, w.t_ns));
    let wait_ns = new_tat.saturating_sub(horizon);
    // An immediate admission is never refused: the "as they are" fields only matter otherwise.
    let (remaining, remaining_now, reset_now_ms) = if wait_ns == 0 {
        (div_exact(horizon - new_tat, w.t_ns, w.inv_t), 0, 0)
    } else {
        (0, div_exact(horizon.saturating_sub(tat), w.t_ns, w.inv_t), ceil_ms(tat - now))
    };
    (
        new_tat,
        RateOutcomeWindow {
            wait_ms: ceil_ms(wait_ns),
            remaining,
            reset_ms: ceil_ms(new_tat - now),
            remaining_now,
            reset_now_ms,
            never: false,
        },
    )
}

/// One window's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateOutcomeWindow {
    /// Delay before the request fits.
    pub wait_ms: u64,
    /// Units left after it.
    pub remaining: u64,
    /// Time until fully replenished.
    pub reset_ms: u64,
    /// Units left now, without the request (what a refusal reports).
    pub remaining_now: u64,
    /// Time until fully replenished without the request (what a refusal reports).
    pub reset_now_ms: u64,
    /// The cost can never fit.
    pub never: bool,
}

/// Turns one window's answer into an outcome under `max_delay_ms`.
#[inline(always)]
pub fn single_outcome(w: RateOutcomeWindow, max_delay_ms: u64) -> RateOutcome {
    if w.never || w.wait_ms > max_delay_ms {
        RateOutcome {
            admitted: false,
            delay_ms: 0,
            retry_after_ms: if w.never { 0 } else { w.wait_ms },
            remaining: w.remaining_now,
            reset_ms: w.reset_now_ms,
            never: w.never,
        }
    } else {
        RateOutcome {
            admitted: true,
            delay_ms: w.wait_ms,
            retry_after_ms: 0,
            remaining: w.remaining,
            reset_ms: w.reset_ms,
            never: false,
        }
    }
}

/// Lock-free GCRA on an atomic theoretical arrival time (0 = never used).
#[inline(always)]
pub fn gcra_atomic(tat: &std::sync::atomic::AtomicU64, w: &WindowParams, req: RateRequest) -> RateOutcome {
    use std::sync::atomic::Ordering::Relaxed;
    let mut cur = tat.load(Relaxed);
    loop {
        let (next, ow) = gcra_eval(cur, w, req.now_ms, req.cost);
        let out = single_outcome(ow, req.max_delay_ms);
        if !out.admitted || !req.consume || req.cost == 0 {
            return out;
        }
        match tat.compare_exchange_weak(cur, next, Relaxed, Relaxed) {
            Ok(_) => return out,
            Err(actual) => cur = actual,
        }
    }
}

fn eval_gcra(cell: RateCell, w: &WindowParams, now_ms: u64, cost: u64) -> WindowEval {
    let tat = match cell {
        RateCell::Gcra { tat_ns } => tat_ns,
        _ => 0,
    };
    let (next, o) = gcra_eval(tat, w, now_ms, cost);
    let now = ms_to_ns(now_ms);
    let t = tat.max(now);
    let horizon = now.saturating_add(w.span_ns);
    WindowEval {
        next: if o.never { cell } else { RateCell::Gcra { tat_ns: next } },
        wait_ms: o.wait_ms,
        remaining: o.remaining,
        reset_ms: o.reset_ms,
        // `gcra_eval` fills these only when it could refuse; with several windows another
        // window may refuse, so they are computed here in every case.
        remaining_now: div_exact(horizon.saturating_sub(t), w.t_ns, w.inv_t),
        reset_now_ms: ceil_ms(t - now),
        never: o.never,
    }
}

/// `count` units scheduled under limit `old` (this window's, then `old` per later window),
/// re-expressed under limit `lim`: the windows before the last one the schedule reaches count
/// as full, and the last one holds what it held, at most `lim`. Units used under a higher
/// limit are thus never taken for reservations under a lower one (a downgrade waits for the
/// next window, not `count / lim` windows), and an upgrade never frees room in a window the
/// old schedule filled. `old == 0` (unknown) or `old == lim` keeps `count`.
#[inline]
fn rebase(count: u64, old: u64, lim: u64) -> u64 {
    if old == 0 || old == lim || count == 0 {
        return count;
    }
    let before = (count - 1) / old;
    let last = count - before.saturating_mul(old);
    before.saturating_mul(lim).saturating_add(last.min(lim))
}

/// Counts `cost` more units on top of `count` (which may already hold reservations beyond
/// the window's `lim`, `lim` per later window) and answers the new count and the window (0:
/// the current one) the request runs in. A request runs whole in one window: when it does not
/// fit in the rest of the window the count has reached, that window's remaining slots are
/// skipped and it goes into the next one, so no window ever runs more than `lim` units.
#[inline]
fn reserve(count: u64, cost: u64, lim: u64) -> (u64, u64) {
    let new = count.saturating_add(cost);
    if new <= lim {
        return (new, 0);
    }
    let lim = lim.max(1);
    let j0 = count / lim;
    let end = j0.saturating_add(1).saturating_mul(lim);
    if new <= end { (new, j0) } else { (end.saturating_add(cost), j0.saturating_add(1)) }
}

fn eval_fixed(cell: RateCell, w: &WindowParams, now: u64, cost: u64) -> WindowEval {
    let (wl, lim) = (w.window_ms.max(1), w.limit);
    let aligned = now - now % wl;
    let (mut start, mut count) = match cell {
        RateCell::Fixed { start, count, limit } if start % wl == 0 => (start, rebase(count, limit, lim)),
        _ => (aligned, 0),
    };
    if now >= start.saturating_add(wl) {
        let k = (now - start) / wl;
        count = count.saturating_sub(k.saturating_mul(lim));
        start = start.saturating_add(k.saturating_mul(wl));
    }
    // Full again once the last window a unit is counted in has ended.
    let reset_of = |c: u64| {
        if c == 0 { 0 } else { start.saturating_add(wl.saturating_mul(1 + (c - 1) / lim.max(1))).saturating_sub(now) }
    };
    let (remaining_now, reset_now_ms) = (lim.saturating_sub(count), reset_of(count));
    if cost > lim {
        return WindowEval {
            next: cell,
            wait_ms: 0,
            remaining: remaining_now,
            reset_ms: reset_now_ms,
            remaining_now,
            reset_now_ms,
            never: true,
        };
    }
    let (new, j) = reserve(count, cost, lim);
    let wait_ms = start.saturating_add(j.saturating_mul(wl)).saturating_sub(now);
    WindowEval {
        next: RateCell::Fixed { start, count: new, limit: lim },
        wait_ms,
        remaining: lim.saturating_sub(new),
        reset_ms: reset_of(new),
        remaining_now,
        reset_now_ms,
        never: false,
    }
}

fn eval_sliding(cell: RateCell, w: &WindowParams, now: u64, cost: u64) -> WindowEval {
    let (wl, lim) = (w.window_ms.max(1), w.limit);
    let aligned = now - now % wl;
    let (mut start, mut cur, mut prev) = match cell {
        RateCell::Sliding { start, cur, prev, limit } if start % wl == 0 => (start, rebase(cur, limit, lim), prev),
        _ => (aligned, 0, 0),
    };
    if now >= start.saturating_add(wl) {
        // `n` windows passed. Units reserved beyond a window's limit (delayed requests) run
        // in the following windows, `lim` per window: they carry over.
        let n = (aligned - start) / wl;
        prev = cur.saturating_sub(n.saturating_sub(1).saturating_mul(lim)).min(lim);
        cur = cur.saturating_sub(n.saturating_mul(lim));
        start = aligned;
    }
    let e = now.saturating_sub(start).min(wl - 1);
    let (wl128, lim128) = (u128::from(wl), u128::from(lim));
    let est = |cur: u64| u128::from(prev) * u128::from(wl - e) + u128::from(cur) * wl128;
    // Windows ahead that reservations beyond this window's limit reach.
    let spill = |cur: u64| cur.saturating_sub(1) / lim.max(1);
    let reset_of = |cur: u64| {
        if cur > 0 {
            start.saturating_add(wl.saturating_mul(2 + spill(cur))).saturating_sub(now)
        } else if prev > 0 {
            start.saturating_add(wl).saturating_sub(now)
        } else {
            0
        }
    };
    let remaining_of = |cur: u64| to_u64((lim128 * wl128).saturating_sub(est(cur)) / wl128);
    let (remaining_now, reset_now_ms) = (remaining_of(cur), reset_of(cur));
    if cost > lim {
        return WindowEval {
            next: cell,
            wait_ms: 0,
            remaining: remaining_now,
            reset_ms: reset_now_ms,
            remaining_now,
            reset_now_ms,
            never: true,
        };
    }
    let (mut after, _) = reserve(cur, cost, lim);
    let fits = est(after) <= lim128 * wl128;
    // Within the current window the previous window's weight decays linearly: the request
    // may fit later in this window.
    let in_current = if fits || after > lim || prev == 0 {
        None
    } else {
        let room = (lim128 - u128::from(after)) * wl128; // prev * (wl - e') <= room
        let e_needed = wl128.saturating_sub(room / u128::from(prev));
        let e_needed = if room % u128::from(prev) == 0 { e_needed } else { e_needed.max(1) };
        // Measured from `start`, which may lie ahead of `now` (a cell a delayed request of
        // several windows moved on, or a clock that stepped back).
        if e_needed < wl128 { Some(start.saturating_add(to_u64(e_needed)).saturating_sub(now)) } else { None }
    };
    let wait_ms = match (fits, in_current) {
        // Fits in the cell's window, which may not have begun yet.
        (true, _) => start.saturating_sub(now),
        (false, Some(d)) => d,
        (false, None) => {
            // A later window: the request is counted in the window it runs in (this one's
            // remaining slots are skipped), so that window's own count holds it. Reserved
            // units run `lim` per window, one every wl / lim (as a full previous window's
            // weight decays).
            if after <= lim {
                after = lim.saturating_add(cost);
            }
            let j = spill(after);
            let k = after - j.saturating_mul(lim);
            let f = to_u64(ceil_div(u128::from(k) * wl128, lim128)).min(wl - 1);
            start.saturating_add(j.saturating_mul(wl)).saturating_add(f).saturating_sub(now)
        }
    };
    WindowEval {
        next: RateCell::Sliding { start, cur: after, prev, limit: lim },
        wait_ms,
        remaining: if fits { remaining_of(after) } else { 0 },
        reset_ms: reset_of(after),
        remaining_now,
        reset_now_ms,
        never: false,
    }
}

/// Several windows and a delay: the request runs at `now + delay`, so every window that would
/// have admitted it sooner is evaluated again at that time (its new state then counts the
/// request where it runs, not at `now`). When that makes a window ask for more time, the
/// delay grows and the windows are evaluated again; after a few rounds without agreement
/// the request is refused. Returns the delay.
fn settle_several(
    cells: &[RateCell],
    windows: &[WindowParams],
    algorithm: RateAlgorithm,
    req: RateRequest,
    first: u64,
    evals: &mut [Option<WindowEval>; 4],
    overflow: &mut [WindowEval],
) -> u64 {
    let mut delay = first;
    for _ in 0..8 {
        if delay > req.max_delay_ms {
            return delay;
        }
        let at = req.now_ms.saturating_add(delay);
        let mut more = 0;
        for (i, (w, cell)) in windows.iter().zip(cells.iter()).enumerate() {
            let slot = if i < evals.len() { evals[i].as_mut() } else { overflow.get_mut(i - evals.len()) };
            // A window that asked for exactly this delay: its answer stands.
            let Some(e) = slot.filter(|e| e.wait_ms != delay) else { continue };
            let later = eval_window(algorithm, *cell, w, at, req.cost);
            more = more.max(later.wait_ms);
            // The answer stays the one at `now`; only the state moves to where the request runs.
            e.next = later.next;
        }
        if more == 0 {
            return delay;
        }
        delay = delay.saturating_add(more);
    }
    // No agreement: refused, to be retried after the delay found so far.
    delay.max(req.max_delay_ms.saturating_add(1))
}

/// One window of `algorithm` at `now_ms`.
fn eval_window(algorithm: RateAlgorithm, cell: RateCell, w: &WindowParams, now_ms: u64, cost: u64) -> WindowEval {
    match algorithm {
        RateAlgorithm::Gcra => eval_gcra(cell, w, now_ms, cost),
        RateAlgorithm::FixedWindow => eval_fixed(cell, w, now_ms, cost),
        RateAlgorithm::SlidingWindow => eval_sliding(cell, w, now_ms, cost),
    }
}

/// Evaluates `req` against every window of a rate resource; commits the new cell states
/// into `cells` only if the request is admitted and `req.consume` is set.
///
/// `cells` must have one entry per window (the store resizes it when windows change).
pub fn evaluate(
    cells: &mut [RateCell],
    windows: &[WindowParams],
    algorithm: RateAlgorithm,
    req: RateRequest,
) -> RateOutcome {
    let mut out =
        RateOutcome { admitted: true, delay_ms: 0, retry_after_ms: 0, remaining: u64::MAX, reset_ms: 0, never: false };
    let (mut remaining_now, mut reset_now) = (u64::MAX, 0);
    let mut evals: [Option<WindowEval>; 4] = [None; 4];
    let mut overflow: Vec<WindowEval> = Vec::new();
    for (i, (w, cell)) in windows.iter().zip(cells.iter()).enumerate() {
        let e = eval_window(algorithm, *cell, w, req.now_ms, req.cost);
        out.never |= e.never;
        out.delay_ms = out.delay_ms.max(e.wait_ms);
        out.remaining = out.remaining.min(e.remaining);
        out.reset_ms = out.reset_ms.max(e.reset_ms);
        remaining_now = remaining_now.min(e.remaining_now);
        reset_now = reset_now.max(e.reset_now_ms);
        if i < evals.len() { evals[i] = Some(e) } else { overflow.push(e) }
    }
    if windows.is_empty() {
        out.remaining = 0;
        remaining_now = 0;
    }
    if !out.never && out.delay_ms > 0 && out.delay_ms <= req.max_delay_ms && windows.len() > 1 && req.cost > 0 {
        out.delay_ms = settle_several(cells, windows, algorithm, req, out.delay_ms, &mut evals, &mut overflow);
    }
    if out.never || out.delay_ms > req.max_delay_ms {
        out.admitted = false;
        out.retry_after_ms = if out.never { 0 } else { out.delay_ms };
        out.delay_ms = 0;
        // A refusal changes nothing: units left and time to full as they are.
        out.remaining = remaining_now;
        out.reset_ms = reset_now;
        return out;
    }
    if req.cost == 0 {
        return out;
    }
    if req.consume {
        for (i, cell) in cells.iter_mut().enumerate().take(windows.len()) {
            let e = if i < evals.len() { evals[i] } else { overflow.get(i - evals.len()).copied() };
            if let Some(e) = e {
                *cell = e.next;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(now_ms: u64, cost: u64) -> RateRequest {
        RateRequest { now_ms, cost, max_delay_ms: 0, consume: true }
    }

    fn run(
        alg: RateAlgorithm,
        windows: &[RateWindow],
        burst: f64,
        cells: &mut Vec<RateCell>,
        r: RateRequest,
    ) -> RateOutcome {
        cells.resize(windows.len(), RateCell::Empty);
        let p = RateParams::new(windows, burst, alg);
        evaluate(cells, &p.windows, alg, r)
    }

    #[test]
    fn narrow_multiply_saturates_as_saturating_mul() {
        let edges = [
            0u64,
            1,
            2,
            999,
            (1 << 32) - 1,
            1 << 32,
            (1 << 32) + 1,
            1_000_000,
            u64::MAX / 1_000_000,
            u64::MAX / 1_000_000 + 1,
            1 << 63,
            u64::MAX,
        ];
        for &a in &edges {
            for &b in &edges {
                assert_eq!(mul_sat_narrow(a, b), a.saturating_mul(b), "{a} × {b}");
            }
        }
        for ms in edges {
            assert_eq!(ms_to_ns(ms), ms.saturating_mul(NS_PER_MS), "{ms} ms");
        }
    }

    #[test]
    fn div_exact_matches_division() {
        let ts = [1u64, 2, 3, 7, 10, 333_333_333, 1_000_000, 17_280_000_000, 999_999_937, u64::MAX / 3];
        let mut x = 1u64;
        for _ in 0..20_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            for &t in &ts {
                for v in [x, x >> 12, x >> 20, x >> 40, x % 1_000_000_007] {
                    assert_eq!(div_exact(v, t, 1.0 / t as f64), v / t, "{v} / {t}");
                }
            }
        }
        for t in 1..2000u64 {
            for k in [0u64, 1, 2, 1000, 123_456_789] {
                for d in [0u64, 1] {
                    let v = (k * t).saturating_sub(d);
                    assert_eq!(div_exact(v, t, 1.0 / t as f64), v / t);
                }
            }
        }
    }

    #[test]
    fn atomic_gcra_matches_cell_gcra() {
        let w = [RateWindow { limit: 7, window_ms: 1000 }];
        let p = RateParams::new(&w, 1.3, RateAlgorithm::Gcra);
        let tat = std::sync::atomic::AtomicU64::new(0);
        let mut c = vec![];
        for (i, now) in [0u64, 0, 0, 5, 100, 90, 2000, 2000, 2001, 1500].iter().enumerate() {
            let r = RateRequest { now_ms: *now, cost: 1 + (i as u64 % 3), max_delay_ms: 150, consume: true };
            assert_eq!(gcra_atomic(&tat, &p.windows[0], r), run(RateAlgorithm::Gcra, &w, 1.3, &mut c, r), "step {i}");
        }
    }

    #[test]
    fn gcra_burst_then_steady_rate() {
        let w = [RateWindow { limit: 100, window_ms: 1000 }];
        let mut c = vec![];
        let admitted =
            (0..200).filter(|_| run(RateAlgorithm::Gcra, &w, 1.5, &mut c, req(1_000_000, 1)).admitted).count();
        assert_eq!(admitted, 150, "burst capacity is floor(100 × 1.5)");
        // 10 ms later one more unit (emission interval 10 ms) is available.
        assert!(run(RateAlgorithm::Gcra, &w, 1.5, &mut c, req(1_000_010, 1)).admitted);
        assert!(!run(RateAlgorithm::Gcra, &w, 1.5, &mut c, req(1_000_010, 1)).admitted);
    }

    #[test]
    fn gcra_time_backwards_admits_nothing_extra() {
        let w = [RateWindow { limit: 10, window_ms: 1000 }];
        let mut c = vec![];
        let a = (0..20).filter(|_| run(RateAlgorithm::Gcra, &w, 1.0, &mut c, req(50_000, 1)).admitted).count();
        assert_eq!(a, 10);
        let b = (0..20).filter(|_| run(RateAlgorithm::Gcra, &w, 1.0, &mut c, req(10_000, 1)).admitted).count();
        assert_eq!(b, 0, "going back in time must not refill");
    }

    #[test]
    fn gcra_delay_reserves_capacity() {
        let w = [RateWindow { limit: 10, window_ms: 1000 }];
        let mut c = vec![];
        for _ in 0..10 {
            assert!(run(RateAlgorithm::Gcra, &w, 1.0, &mut c, req(0, 1)).admitted);
        }
        let o = run(RateAlgorithm::Gcra, &w, 1.0, &mut c, RateRequest { max_delay_ms: 1000, ..req(0, 1) });
        assert!(o.admitted);
        assert_eq!(o.delay_ms, 100);
        let o = run(RateAlgorithm::Gcra, &w, 1.0, &mut c, RateRequest { max_delay_ms: 1000, ..req(0, 1) });
        assert_eq!(o.delay_ms, 200);
        let o = run(RateAlgorithm::Gcra, &w, 1.0, &mut c, req(0, 1));
        assert!(!o.admitted);
        assert_eq!(o.retry_after_ms, 300);
    }

    #[test]
    fn fixed_window_boundaries_and_cost() {
        let w = [RateWindow { limit: 5, window_ms: 1000 }];
        let mut c = vec![];
        assert!(run(RateAlgorithm::FixedWindow, &w, 1.0, &mut c, req(1500, 3)).admitted);
        let o = run(RateAlgorithm::FixedWindow, &w, 1.0, &mut c, req(1999, 3));
        assert!(!o.admitted);
        assert_eq!(o.retry_after_ms, 1, "next window starts at 2000");
        let o = run(RateAlgorithm::FixedWindow, &w, 1.0, &mut c, req(2000, 5));
        assert!(o.admitted);
        assert_eq!(o.remaining, 0);
        assert!(run(RateAlgorithm::FixedWindow, &w, 1.0, &mut c, req(1000, 6)).never);
    }

    #[test]
    fn sliding_window_weights_previous() {
        let w = [RateWindow { limit: 10, window_ms: 1000 }];
        let mut c = vec![];
        for _ in 0..10 {
            assert!(run(RateAlgorithm::SlidingWindow, &w, 1.0, &mut c, req(500, 1)).admitted);
        }
        // At 1500 the previous window (10) weighs 50%: 5 more fit.
        let a = (0..10).filter(|_| run(RateAlgorithm::SlidingWindow, &w, 1.0, &mut c, req(1500, 1)).admitted).count();
        assert_eq!(a, 5);
        let o = run(RateAlgorithm::SlidingWindow, &w, 1.0, &mut c, req(1500, 1));
        assert!(!o.admitted);
        assert!(o.retry_after_ms > 0 && o.retry_after_ms <= 1000, "{o:?}");
        // Waiting the advised time admits it.
        let at = 1500 + o.retry_after_ms;
        assert!(run(RateAlgorithm::SlidingWindow, &w, 1.0, &mut c, req(at, 1)).admitted);
    }

    #[test]
    fn sliding_window_delays_never_stack_up_beyond_the_rate() {
        // Throttling with a delay bound of one or more windows: every admitted request is
        // scheduled; over the first window plus the delay horizon the total stays near the
        // rate (it used to admit ~900x the limit).
        let w = [RateWindow { limit: 10, window_ms: 1000 }];
        for max_delay in [1000u64, 2000, 5000] {
            let mut c = vec![];
            let mut delays = vec![];
            for _ in 0..10_000 {
                let o = run(
                    RateAlgorithm::SlidingWindow,
                    &w,
                    1.0,
                    &mut c,
                    RateRequest { max_delay_ms: max_delay, ..req(999, 1) },
                );
                if o.admitted {
                    delays.push(o.delay_ms);
                }
            }
            let horizon_windows = max_delay.div_ceil(1000) + 1;
            assert!(delays.len() as u64 <= 10 * horizon_windows + 1, "{max_delay}: admitted {}", delays.len());
            assert!(delays.windows(2).all(|d| d[0] <= d[1]), "reservations run in order");
            // Delayed requests run one per wl / limit = 100 ms, as the previous window's
            // weight decays (the sliding-window counter's own guarantee).
            let delayed: Vec<u64> = delays.iter().copied().filter(|&d| d > 0).collect();
            assert!(delayed.windows(2).all(|d| d[1] - d[0] >= 99), "{max_delay}: {delayed:?}");
        }
    }

    #[test]
    fn several_windows_all_must_admit() {
        let w = [RateWindow { limit: 5, window_ms: 1000 }, RateWindow { limit: 7, window_ms: 60_000 }];
        let mut c = vec![];
        let a = (0..10).filter(|_| run(RateAlgorithm::FixedWindow, &w, 1.0, &mut c, req(0, 1)).admitted).count();
        assert_eq!(a, 5);
        let b = (0..10).filter(|_| run(RateAlgorithm::FixedWindow, &w, 1.0, &mut c, req(1000, 1)).admitted).count();
        assert_eq!(b, 2, "the minute window caps the second second");
    }

    #[test]
    fn scaled_params_admit_the_share() {
        let w = [RateWindow { limit: 100, window_ms: 1000 }];
        let p = RateParams::new(&w, 1.5, RateAlgorithm::Gcra).scaled(0.25);
        assert_eq!((p.windows[0].limit, p.windows[0].cap, p.windows[0].t_ns), (25, 37, 40_000_000));
        let mut c = vec![RateCell::Empty];
        let a = (0..100).filter(|_| evaluate(&mut c, &p.windows, p.algorithm, req(0, 1)).admitted).count();
        assert_eq!(a, 37);
        assert_eq!(RateParams::new(&w, 1.0, RateAlgorithm::Gcra).scaled(0.0001).windows[0].limit, 1);
    }

    #[test]
    fn peek_does_not_consume() {
        let w = [RateWindow { limit: 1, window_ms: 1000 }];
        let mut c = vec![];
        let p = RateRequest { consume: false, ..req(0, 1) };
        assert!(run(RateAlgorithm::Gcra, &w, 1.0, &mut c, p).admitted);
        assert!(run(RateAlgorithm::Gcra, &w, 1.0, &mut c, p).admitted);
        assert!(run(RateAlgorithm::Gcra, &w, 1.0, &mut c, req(0, 1)).admitted);
        assert!(!run(RateAlgorithm::Gcra, &w, 1.0, &mut c, p).admitted);
    }

    /// Replays random traffic (costs 1..=limit, delays accepted up to `max_delay`) and checks
    /// that no aligned window of any of `windows` runs more than its limit: every admitted
    /// request runs at `now + delay_ms`. Also evicts idle cells now and then, as a host would.
    fn no_window_runs_over_its_limit(alg: RateAlgorithm, windows: &[RateWindow], max_delay: u64, seed: u64) {
        let p = RateParams::new(windows, 1.0, alg);
        let mut cells = vec![RateCell::Empty; windows.len()];
        let mut runs: Vec<(u64, u64)> = Vec::new();
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            x >> 33
        };
        let mut now = 0;
        let min_limit = windows.iter().map(|w| w.limit).min().unwrap_or(1);
        for _ in 0..3000 {
            now += next() % 300;
            let cost = 1 + next() % min_limit;
            let o = evaluate(
                &mut cells,
                &p.windows,
                alg,
                RateRequest { now_ms: now, cost, max_delay_ms: max_delay, consume: true },
            );
            if o.admitted {
                runs.push((now + o.delay_ms, cost));
            }
            if next() % 50 == 0 {
                for (c, w) in cells.iter_mut().zip(p.windows.iter()) {
                    if c.is_idle(now, w) {
                        *c = RateCell::Empty;
                    }
                }
            }
        }
        assert!(runs.len() > 100, "traffic was admitted");
        for w in windows {
            let mut per: std::collections::BTreeMap<u64, u64> = Default::default();
            for (at, cost) in &runs {
                *per.entry(at / w.window_ms).or_default() += cost;
            }
            let worst = per.values().max().copied().unwrap_or(0);
            assert!(
                worst <= w.limit,
                "{alg:?} {windows:?} max_delay {max_delay}: {worst} units ran in one {} ms window (limit {})",
                w.window_ms,
                w.limit
            );
        }
    }

    #[test]
    fn delayed_requests_never_overfill_a_window() {
        for seed in 1..=20 {
            for max_delay in [0, 1000, 5000] {
                no_window_runs_over_its_limit(
                    RateAlgorithm::FixedWindow,
                    &[RateWindow { limit: 5, window_ms: 1000 }],
                    max_delay,
                    seed,
                );
                no_window_runs_over_its_limit(
                    RateAlgorithm::SlidingWindow,
                    &[RateWindow { limit: 5, window_ms: 1000 }],
                    max_delay,
                    seed,
                );
            }
        }
    }

    #[test]
    fn delayed_requests_never_overfill_a_window_of_several() {
        let w = [RateWindow { limit: 4, window_ms: 1000 }, RateWindow { limit: 6, window_ms: 2000 }];
        for seed in 1..=20 {
            for max_delay in [0, 1000, 5000] {
                no_window_runs_over_its_limit(RateAlgorithm::FixedWindow, &w, max_delay, seed);
                no_window_runs_over_its_limit(RateAlgorithm::SlidingWindow, &w, max_delay, seed);
            }
        }
    }

    #[test]
    fn a_reservation_never_straddles_a_window_boundary() {
        // The review's case: 3 then 4 units at 0 (limit 5/s, throttle 1 s), then 3 at 1000.
        let w = [RateWindow { limit: 5, window_ms: 1000 }];
        let mut c = vec![];
        let r = |now, cost| RateRequest { now_ms: now, cost, max_delay_ms: 1000, consume: true };
        assert_eq!(run(RateAlgorithm::FixedWindow, &w, 1.0, &mut c, r(0, 3)).delay_ms, 0);
        assert_eq!(run(RateAlgorithm::FixedWindow, &w, 1.0, &mut c, r(0, 4)).delay_ms, 1000);
        // [1000, 2000) already runs those 4: 3 more go to the next window.
        assert_eq!(run(RateAlgorithm::FixedWindow, &w, 1.0, &mut c, r(1000, 3)).delay_ms, 1000);
        // Reservations up to 3000 keep the cell from being evicted before they ran.
        let p = RateParams::new(&w, 1.0, RateAlgorithm::FixedWindow);
        assert!(!c[0].is_idle(2500, &p.windows[0]));
        assert!(c[0].is_idle(4000, &p.windows[0]));
    }

    #[test]
    fn a_sliding_cell_whose_window_has_not_begun_never_admits_before_it() {
        // A delayed request of several windows can move a window's cell ahead of now (the
        // review's trace: W1 = {start 2000, cur 6, prev 10}); a later request on W1 alone
        // must not run inside the real current window, which is full.
        let w = [RateWindow { limit: 10, window_ms: 1000 }];
        let p = RateParams::new(&w, 1.0, RateAlgorithm::SlidingWindow);
        for cost in [1, 3] {
            let mut c = vec![RateCell::Sliding { start: 2000, cur: 6, prev: 10, limit: 10 }];
            let o = evaluate(
                &mut c,
                &p.windows,
                p.algorithm,
                RateRequest { now_ms: 1200, cost, max_delay_ms: 5000, consume: true },
            );
            assert!(o.admitted && o.delay_ms >= 800, "cost {cost}: {o:?}");
        }
        // A cell that fits is still delayed to its window's start.
        let mut c = vec![RateCell::Sliding { start: 2000, cur: 0, prev: 0, limit: 10 }];
        let o = evaluate(
            &mut c,
            &p.windows,
            p.algorithm,
            RateRequest { now_ms: 1200, cost: 1, max_delay_ms: 5000, consume: true },
        );
        assert_eq!(o.delay_ms, 800);
    }
}
