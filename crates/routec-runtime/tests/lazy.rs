//! `Router::first_missing`: a gateway resolves expensive signals only when
//! the request's path through the diagram tests them, and the final
//! `decide` then agrees with deciding on fully known requests.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "the test reads a fixture"
)]

use routec_runtime::{Router, SignalSet, SignalValue};

fn support_router() -> Router {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/tables/support.table.json"
    );
    Router::load(&std::fs::read(path).unwrap()).unwrap()
}

fn index(router: &Router, name: &str) -> usize {
    router
        .table()
        .signals
        .iter()
        .position(|s| s.name == name)
        .unwrap()
}

/// Every combination of task and has_images, with `difficulty` lazy: the
/// classifier is asked for exactly when the path reaches it (the factual
/// rule), and resolving lazily gives the decision of the full request.
#[test]
fn lazy_signals_are_requested_only_on_their_path() {
    let router = support_router();
    let task = index(&router, "task");
    let images = index(&router, "has_images");
    let difficulty = index(&router, "difficulty");
    let prompt = index(&router, "prompt_tokens");
    for t in 0..4 {
        for img in [0.0, 1.0] {
            let mut full = router.request();
            full.set(task, f64::from(t));
            full.set(images, img);
            full.set(prompt, 500.0);
            full.set(difficulty, 0.1);
            full.set_key("k");
            let mut lazy_request = full.clone();
            lazy_request.clear();
            lazy_request.set(task, f64::from(t));
            lazy_request.set(images, img);
            lazy_request.set(prompt, 500.0);
            lazy_request.set_key("k");
            let mut lazy = SignalSet::default();
            lazy.insert(difficulty);
            let mut asked = Vec::new();
            while let Some(s) = router.first_missing(&lazy_request, &lazy) {
                asked.push(s);
                lazy.remove(s);
                lazy_request.set(s, 0.1);
            }
            let factual = t == 2 && img == 0.0;
            assert_eq!(asked, if factual { vec![difficulty] } else { vec![] });
            let a = router.decide(&lazy_request);
            let b = router.decide(&full);
            assert_eq!((a.rule, a.plan), (b.rule, b.plan), "task {t} images {img}");
            if !factual {
                assert_eq!(lazy_request.get(difficulty), SignalValue::Missing);
            }
        }
    }
}
