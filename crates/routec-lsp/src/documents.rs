//! The open documents: their text and version, and the analyses computed
//! for them.
//!
//! Every change gives a document a new *generation* (a server-wide counter,
//! so a document closed and reopened never reuses one). Work started for a
//! generation checks, before it publishes or stores anything, that the
//! generation is still current; long work (the simulation) also polls the
//! document's shared atomic counter and stops when it moves.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use routec_ide::{Analysis, Figures};
use tokio::sync::OnceCell;
use tower_lsp_server::ls_types::Uri;

use crate::convert::{Encoding, LineMap};

/// One analyzed version of a document: everything a request needs.
#[derive(Debug)]
pub struct Snapshot {
    pub uri: Uri,
    pub analysis: Analysis,
    pub lines: LineMap,
}

/// What building a snapshot gave: the snapshot, or the panic message of the
/// analysis (kept, so a text that crashes the analysis is not re-analyzed
/// by every request).
pub type Built = Result<Arc<Snapshot>, String>;

#[derive(Debug)]
pub struct Document {
    pub version: i32,
    pub text: Arc<str>,
    pub generation: u64,
    /// This document's current generation, read by the `cancelled`
    /// callbacks of work started for older ones.
    pub current: Arc<AtomicU64>,
    /// The snapshot of this generation, built once by whoever needs it
    /// first (the diagnostics task or a request).
    pub snapshot: Arc<OnceCell<Built>>,
    /// The simulation of this generation, once computed.
    pub simulation: Option<Arc<Figures>>,
    /// The last simulation with figures, of this generation or an earlier
    /// one, with the snapshot it was computed for: inlay hints fall back
    /// on it while the current text has errors or its own simulation is
    /// pending (`routec_ide::Analysis::earlier_inlay_hints`). Kept across
    /// changes, dropped on close.
    pub last_good: Option<Earlier>,
}

/// A simulation and the snapshot of the text it was computed for.
pub type Earlier = (Arc<Snapshot>, Arc<Figures>);

/// The store. The lock is never held across an `.await`.
#[derive(Debug, Default)]
pub struct Documents {
    docs: Mutex<HashMap<Uri, Document>>,
    next_generation: AtomicU64,
}

/// What work for one generation of a document needs to start.
#[derive(Clone, Debug)]
pub struct Ticket {
    pub uri: Uri,
    pub version: i32,
    pub generation: u64,
    pub text: Arc<str>,
    pub current: Arc<AtomicU64>,
    pub snapshot: Arc<OnceCell<Built>>,
}

impl Ticket {
    /// True once the document has changed (or closed) since this ticket.
    pub fn is_stale(&self) -> bool {
        self.current.load(Ordering::Acquire) != self.generation
    }

    /// The snapshot of this ticket's text, built on the blocking pool by the
    /// first caller; the others wait for it.
    pub async fn snapshot(&self, encoding: Encoding) -> Built {
        self.snapshot
            .get_or_init(|| {
                let ticket = self.clone();
                async move {
                    tokio::task::spawn_blocking(move || {
                        let analysis = Analysis::new(&ticket.text);
                        let lines = LineMap::from_index(
                            analysis.line_index().clone(),
                            ticket.text.len(),
                            encoding,
                        );
                        Arc::new(Snapshot {
                            uri: ticket.uri,
                            analysis,
                            lines,
                        })
                    })
                    .await
                    .map_err(|e| crate::server::panic_message(e, "analysis"))
                }
            })
            .await
            .clone()
    }
}

impl Documents {
    fn lock(&self) -> MutexGuard<'_, HashMap<Uri, Document>> {
        // A panic never happens while the lock is held (only map operations
        // run under it), but a poisoned lock must not take the server down.
        self.docs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn generation(&self) -> u64 {
        self.next_generation.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Opens (or reopens) a document.
    pub fn open(&self, uri: Uri, version: i32, text: String) -> Ticket {
        let generation = self.generation();
        let mut docs = self.lock();
        let current = match docs.get(&uri) {
            Some(old) => {
                old.current.store(generation, Ordering::Release);
                old.current.clone()
            }
            None => Arc::new(AtomicU64::new(generation)),
        };
        let doc = Document {
            version,
            text: Arc::from(text),
            generation,
            current,
            snapshot: Arc::new(OnceCell::new()),
            simulation: None,
            last_good: None,
        };
        let ticket = ticket(&uri, &doc);
        docs.insert(uri, doc);
        ticket
    }

    /// Replaces a document's text. Returns `None` (and changes nothing) for
    /// unknown documents and for versions not newer than the current one.
    pub fn change(
        &self,
        uri: &Uri,
        version: i32,
        edit: impl FnOnce(&str) -> String,
    ) -> Option<Ticket> {
        let generation = self.generation();
        let mut docs = self.lock();
        let doc = docs.get_mut(uri)?;
        if version <= doc.version {
            return None;
        }
        doc.text = Arc::from(edit(&doc.text));
        doc.version = version;
        doc.generation = generation;
        doc.current.store(generation, Ordering::Release);
        doc.snapshot = Arc::new(OnceCell::new());
        doc.simulation = None;
        Some(ticket(uri, doc))
    }

    pub fn close(&self, uri: &Uri) {
        let generation = self.generation();
        if let Some(doc) = self.lock().remove(uri) {
            // Cancels the work in flight for it.
            doc.current.store(generation, Ordering::Release);
        }
    }

    /// Cancels all work in flight (on shutdown).
    pub fn cancel_all(&self) {
        let generation = self.generation();
        for doc in self.lock().values() {
            doc.current.store(generation, Ordering::Release);
        }
    }

    /// The current generation of a document.
    pub fn ticket(&self, uri: &Uri) -> Option<Ticket> {
        self.lock().get(uri).map(|doc| ticket(uri, doc))
    }

    /// Every open document's current generation.
    pub fn tickets(&self) -> Vec<Ticket> {
        let mut all: Vec<Ticket> = self
            .lock()
            .iter()
            .map(|(uri, doc)| ticket(uri, doc))
            .collect();
        all.sort_by(|a, b| a.uri.as_str().cmp(b.uri.as_str()));
        all
    }

    /// Stores the simulation of `generation` (computed on `snap`) if it is
    /// still current; with figures, it also becomes the document's last
    /// good one.
    pub fn set_figures(
        &self,
        uri: &Uri,
        generation: u64,
        snap: &Arc<Snapshot>,
        sim: Arc<Figures>,
    ) -> bool {
        match self.lock().get_mut(uri) {
            Some(doc) if doc.generation == generation => {
                if !sim.rules().is_empty() || !sim.slos().is_empty() {
                    doc.last_good = Some((snap.clone(), sim.clone()));
                }
                doc.simulation = Some(sim);
                true
            }
            _ => false,
        }
    }

    /// The last simulation with figures of an open document, and the
    /// snapshot it was computed for (see [`Document::last_good`]).
    pub fn last_good(&self, uri: &Uri) -> Option<Earlier> {
        self.lock().get(uri).and_then(|doc| doc.last_good.clone())
    }

    /// The simulation of the current generation, if it has landed.
    pub fn simulation(&self, uri: &Uri, generation: u64) -> Option<Arc<Figures>> {
        match self.lock().get(uri) {
            Some(doc) if doc.generation == generation => doc.simulation.clone(),
            _ => None,
        }
    }
}

fn ticket(uri: &Uri, doc: &Document) -> Ticket {
    Ticket {
        uri: uri.clone(),
        version: doc.version,
        generation: doc.generation,
        text: doc.text.clone(),
        current: doc.current.clone(),
        snapshot: doc.snapshot.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri() -> Uri {
        "file:///a.route".parse().unwrap()
    }

    #[test]
    fn changes_make_older_tickets_stale_and_older_versions_are_ignored() {
        let docs = Documents::default();
        let first = docs.open(uri(), 1, "a".into());
        assert!(!first.is_stale());
        let second = docs.change(&uri(), 2, |_| "b".into()).unwrap();
        assert!(first.is_stale());
        assert!(!second.is_stale());
        // Not newer than 2: nothing changes, the current ticket stays current.
        assert!(docs.change(&uri(), 2, |_| "c".into()).is_none());
        assert!(docs.change(&uri(), 1, |_| "c".into()).is_none());
        assert!(!second.is_stale());
        assert_eq!(&*docs.ticket(&uri()).unwrap().text, "b");
        // Closing cancels; reopening starts afresh (version 1 again).
        docs.close(&uri());
        assert!(second.is_stale());
        assert!(docs.ticket(&uri()).is_none());
        let reopened = docs.open(uri(), 1, "d".into());
        assert!(!reopened.is_stale() && second.is_stale());
    }

    #[test]
    fn a_simulation_is_kept_only_for_the_current_generation() {
        let text = include_str!("../tests/fixtures/small.route");
        let sim = Arc::new(Figures::compute(&Analysis::new(text), &|| false).unwrap());
        let snap = Arc::new(Snapshot {
            uri: uri(),
            analysis: Analysis::new(text),
            lines: LineMap::new(text, Encoding::Utf16),
        });
        let docs = Documents::default();
        let old = docs.open(uri(), 1, text.into());
        let new = docs.change(&uri(), 2, |t| format!("{t}\n")).unwrap();
        assert!(!docs.set_figures(&uri(), old.generation, &snap, sim.clone()));
        assert!(docs.simulation(&uri(), new.generation).is_none());
        assert!(docs.last_good(&uri()).is_none());
        assert!(docs.set_figures(&uri(), new.generation, &snap, sim));
        assert!(docs.simulation(&uri(), new.generation).is_some());
        assert!(docs.simulation(&uri(), old.generation).is_none());
        let newer = docs.change(&uri(), 3, |t| format!("{t}\n")).unwrap();
        assert!(docs.simulation(&uri(), newer.generation).is_none());
        // The last good one survives changes, not a close.
        assert!(docs.last_good(&uri()).is_some());
        docs.close(&uri());
        docs.open(uri(), 1, text.into());
        assert!(docs.last_good(&uri()).is_none());
    }
}
