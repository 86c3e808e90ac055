//! A few worker threads over a list of blobs: transfers are I/O-bound, so plain scoped
//! threads (not rayon's CPU pool) with the first error stopping the rest.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Runs `f` on every item with up to `threads` threads; returns the first error.
pub(crate) fn try_for_each<T: Sync, E: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> Result<(), E> + Sync,
) -> Result<(), E> {
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return items.iter().try_for_each(f);
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let first_err = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    if let Err(e) = f(item) {
                        stop.store(true, Ordering::Relaxed);
                        let mut slot = first_err.lock().unwrap_or_else(|p| p.into_inner());
                        slot.get_or_insert(e);
                    }
                }
            });
        }
    });
    match first_err.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visits_everything_or_reports_an_error() {
        let seen = AtomicUsize::new(0);
        let items: Vec<u32> = (0..50).collect();
        try_for_each(&items, 4, |_| {
            seen.fetch_add(1, Ordering::Relaxed);
            Ok::<(), ()>(())
        })
        .unwrap();
        assert_eq!(seen.load(Ordering::Relaxed), 50);
        let r = try_for_each(&items, 4, |i| if *i == 7 { Err(*i) } else { Ok(()) });
        assert_eq!(r, Err(7));
    }
}
