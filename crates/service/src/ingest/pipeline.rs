//! A bounded, ordered parallel map: workers compute results for items in
//! order of their index, the caller consumes them in that same order, and
//! at most `window` results — and items of at most `max_weight` together,
//! unless one alone is heavier — exist at any time (bounded memory whatever
//! the number or size of the items).

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard};

struct State<R> {
    /// Next index to hand to a worker.
    next: usize,
    /// Results not yet consumed, by index.
    done: BTreeMap<usize, R>,
    /// Items consumed so far.
    consumed: usize,
    /// Total weight of the items started and not yet consumed.
    weight: u64,
    stop: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How many items, and how much of them, may be in flight.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub workers: usize,
    /// Results computed or being computed, not yet consumed.
    pub window: usize,
    /// Their total weight (e.g. bytes); one item alone may exceed it.
    pub max_weight: u64,
}

/// Runs `work` on every item with `bounds.workers` threads and `consume` on
/// the results in item order, on the calling thread. A worker that panics
/// yields `Err(())` for its item instead of stopping the others. The first
/// error from `consume` stops the run and is returned.
pub(crate) fn ordered_map<T, R, E>(
    items: &[T],
    bounds: Bounds,
    weight: impl Fn(&T) -> u64 + Sync,
    work: impl Fn(&T) -> R + Sync,
    mut consume: impl FnMut(usize, Result<R, ()>) -> Result<(), E>,
) -> Result<(), E>
where
    T: Sync,
    R: Send,
{
    let (workers, window) = (bounds.workers, bounds.window.max(1));
    let weights: Vec<u64> = items.iter().map(&weight).collect();
    let state =
        Mutex::new(State::<Result<R, ()>> { next: 0, done: BTreeMap::new(), consumed: 0, weight: 0, stop: false });
    let cv = Condvar::new();
    std::thread::scope(|s| {
        for _ in 0..workers.clamp(1, items.len().max(1)) {
            s.spawn(|| loop {
                let i = {
                    let mut st = lock(&state);
                    loop {
                        if st.stop || st.next >= items.len() {
                            return;
                        }
                        let w = weights.get(st.next).copied().unwrap_or(0);
                        let fits = st.weight == 0 || st.weight.saturating_add(w) <= bounds.max_weight;
                        if st.next < st.consumed + window && fits {
                            st.weight = st.weight.saturating_add(w);
                            break;
                        }
                        st = cv.wait(st).unwrap_or_else(std::sync::PoisonError::into_inner);
                    }
                    st.next += 1;
                    st.next - 1
                };
                let r = match items.get(i) {
                    Some(item) => catch_unwind(AssertUnwindSafe(|| work(item))).map_err(|_| ()),
                    None => Err(()),
                };
                lock(&state).done.insert(i, r);
                cv.notify_all();
            });
        }
        let mut out = Ok(());
        for i in 0..items.len() {
            let r = {
                let mut st = lock(&state);
                loop {
                    if let Some(r) = st.done.remove(&i) {
                        break r;
                    }
                    st = cv.wait(st).unwrap_or_else(std::sync::PoisonError::into_inner);
                }
            };
            let res = consume(i, r);
            let mut st = lock(&state);
            st.consumed = i + 1;
            st.weight = st.weight.saturating_sub(weights.get(i).copied().unwrap_or(0));
            if res.is_err() {
                st.stop = true;
                out = res;
            }
            drop(st);
            cv.notify_all();
            if out.is_err() {
                break;
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn results_arrive_in_order_with_at_most_window_outstanding() {
        let items: Vec<u64> = (0..200).collect();
        let live = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let mut seen = Vec::new();
        ordered_map(
            &items,
            Bounds { workers: 4, window: 3, max_weight: u64::MAX },
            |_| 1,
            |x| {
                let n = live.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(n, Ordering::SeqCst);
                // Later items finish first, to shuffle completion order.
                std::thread::sleep(std::time::Duration::from_micros(200 - x));
                x * 2
            },
            |i, r| {
                live.fetch_sub(1, Ordering::SeqCst);
                seen.push((i, r.unwrap()));
                Ok::<(), ()>(())
            },
        )
        .unwrap();
        assert_eq!(seen, items.iter().map(|&x| (x as usize, x * 2)).collect::<Vec<_>>());
        assert!(peak.load(Ordering::SeqCst) <= 3, "peak {}", peak.load(Ordering::SeqCst));
    }

    #[test]
    fn heavy_items_are_in_flight_within_the_weight_bound_and_one_alone_may_exceed_it() {
        let items: Vec<u64> = vec![5, 5, 5, 30, 5, 5, 1, 1, 1, 1];
        let live = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let mut seen = Vec::new();
        ordered_map(
            &items,
            Bounds { workers: 4, window: 8, max_weight: 10 },
            |&w| w,
            |&w| {
                let n = live.fetch_add(w as usize, Ordering::SeqCst) + w as usize;
                peak.fetch_max(n, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(2));
                w
            },
            |_, r| {
                live.fetch_sub(r.unwrap() as usize, Ordering::SeqCst);
                seen.push(r.unwrap());
                Ok::<(), ()>(())
            },
        )
        .unwrap();
        assert_eq!(seen, items);
        assert!(peak.load(Ordering::SeqCst) <= 30, "the 30 ran alone: peak {}", peak.load(Ordering::SeqCst));
    }

    #[test]
    fn a_panicking_item_is_an_error_and_the_others_go_on() {
        let items = [1, 2, 3];
        let mut got = Vec::new();
        ordered_map(
            &items,
            Bounds { workers: 2, window: 2, max_weight: u64::MAX },
            |_| 1,
            |&x| {
                if x == 2 {
                    panic!("boom");
                }
                x
            },
            |_, r| {
                got.push(r);
                Ok::<(), ()>(())
            },
        )
        .unwrap();
        assert_eq!(got, [Ok(1), Err(()), Ok(3)]);
    }

    #[test]
    fn a_consumer_error_stops_the_run() {
        let items: Vec<usize> = (0..50).collect();
        let mut n = 0;
        let r = ordered_map(
            &items,
            Bounds { workers: 2, window: 4, max_weight: u64::MAX },
            |_| 1,
            |&x| x,
            |i, _| {
                n += 1;
                if i == 5 {
                    Err("stop")
                } else {
                    Ok(())
                }
            },
        );
        assert_eq!(r, Err("stop"));
        assert_eq!(n, 6);
    }
}
