//! The runtime the server runs on keeps its threads bounded: 300 pieces of
//! blocking work at once (each as long as a slow database call) wait their turn
//! beyond `serve::BLOCKING_THREADS` instead of growing a thread each (tokio's
//! default would start 300), so a flood of requests costs neither a stack nor a
//! malloc arena per request. Alone in its own test binary, so no other test's
//! threads are counted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers fail loudly

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use topca_server::serve::{BLOCKING_THREADS, runtime};

/// The threads of this process now.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn three_hundred_blocking_calls_at_once_stay_within_the_blocking_threads() {
    let runtime = runtime().unwrap();
    let workers = runtime.metrics().num_workers();
    let peak = Arc::new(AtomicUsize::new(0));
    let running = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (peak, running) = (Arc::clone(&peak), Arc::clone(&running));
        std::thread::spawn(move || {
            while running.load(Ordering::Acquire) {
                peak.fetch_max(threads(), Ordering::AcqRel);
                std::thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let done: usize = runtime.block_on(async {
        let calls: Vec<_> = (0..300)
            .map(|i| {
                tokio::task::spawn_blocking(move || {
                    std::thread::sleep(Duration::from_millis(20));
                    i
                })
            })
            .collect();
        let mut done = 0;
        for call in calls {
            call.await.unwrap();
            done += 1;
        }
        done
    });
    running.store(false, Ordering::Release);
    sampler.join().unwrap();
    assert_eq!(done, 300, "every call finished");
    // The harness's main thread, the test's, the sampler, the workers and the
    // blocking threads.
    let bound = 3 + workers + BLOCKING_THREADS;
    let peak = peak.load(Ordering::Acquire);
    assert!(
        peak <= bound,
        "{peak} threads at the peak, more than {bound}"
    );
    // The pool was used up to its bound: the calls did run side by side.
    assert!(
        peak > BLOCKING_THREADS,
        "only {peak} threads: the calls did not run side by side"
    );
}
