//! Slice membership (`Router::in_slice`) on `tests/tables/complete.json`,
//! whose slices are `coders` (`task == code`), `long_images` (`has_images
//! and prompt_tokens >= 8000`) and `everyone`: the diagram is walked with
//! the values `decide` would use, defaults included.

#![allow(
    clippy::unwrap_used,
    clippy::disallowed_methods,
    reason = "tests read fixtures"
)]

use routec_runtime::Router;

fn router() -> Router {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/tables/complete.json"
    );
    Router::load(&std::fs::read(path).unwrap()).unwrap()
}

/// The slices a request with `values` (signal index, value) belongs to;
/// `invalid` signals are marked invalid.
fn member(r: &Router, values: &[(usize, f64)], invalid: &[usize]) -> Vec<&'static str> {
    let mut request = r.request();
    for &(i, v) in values {
        request.set(i, v);
    }
    for &i in invalid {
        request.set_invalid(i);
    }
    ["coders", "long_images", "everyone", "beyond"]
        .into_iter()
        .enumerate()
        .filter(|(i, _)| r.in_slice(*i, &request))
        .map(|(_, name)| name)
        .collect()
}

/// Values set, signals marked invalid, and the slices expected.
type Case = (
    &'static [(usize, f64)],
    &'static [usize],
    &'static [&'static str],
);

#[test]
fn requests_belong_to_the_slices_their_values_select() {
    let r = router();
    let names: Vec<&str> = r.table().slices.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["coders", "long_images", "everyone"]);
    const TOKENS: usize = 0;
    const TASK: usize = 2;
    const IMAGES: usize = 1;
    let cases: &[Case] = &[
        // Nothing known: the defaults (task chat, no images, 0 tokens).
        (&[], &[], &["everyone"]),
        (&[(TASK, 1.0)], &[], &["coders", "everyone"]),
        (&[(TASK, 2.0)], &[], &["everyone"]),
        // An enum value outside the variants takes the first, as in `decide`.
        (&[(TASK, 7.0)], &[], &["everyone"]),
        (
            &[(IMAGES, 1.0), (TOKENS, 9000.0)],
            &[],
            &["long_images", "everyone"],
        ),
        // The cut itself is at or above it.
        (
            &[(IMAGES, 1.0), (TOKENS, 8000.0)],
            &[],
            &["long_images", "everyone"],
        ),
        (&[(IMAGES, 1.0), (TOKENS, 7999.0)], &[], &["everyone"]),
        (&[(IMAGES, 0.0), (TOKENS, 9000.0)], &[], &["everyone"]),
        // An invalid value takes the default too.
        (&[(IMAGES, 1.0), (TASK, 1.0)], &[TASK], &["everyone"]),
        (&[(IMAGES, 1.0), (TOKENS, 9000.0)], &[IMAGES], &["everyone"]),
        (
            &[(IMAGES, 1.0), (TOKENS, 1e9), (TASK, 1.0)],
            &[],
            &["coders", "long_images", "everyone"],
        ),
    ];
    for (values, invalid, expected) in cases {
        assert_eq!(
            member(&r, values, invalid),
            *expected,
            "{values:?} invalid {invalid:?}"
        );
    }
}

/// A table without slices (version 1 tables, or a policy without any)
/// puts no request in any slice.
#[test]
fn a_table_without_slices_has_no_members() {
    let mut table = router().table().clone();
    table.slices.clear();
    let r = Router::new(table).unwrap();
    assert!(!r.in_slice(0, &r.request()));
}
