//! Reading the recorded traffic file of a policy's first traffic profile
//! (`traffic NAME = file "x.jsonl"`) for the background simulation, with the
//! driver's reader and path resolution (`routec_driver::source`: relative
//! to the policy file's directory, the recorded-traffic size limit, UTF-8),
//! so the editor and the CLI read the same file the same way. A file that
//! cannot be read becomes the reason in [`RecordedInput::text`] (the ide
//! turns it into a diagnostic at the declaration), never a failure of the
//! server.
//!
//! Only `file://` documents have a directory; other documents (an untitled
//! buffer) are simulated without the file, as before (`W0512`).
//!
//! The texts are cached by path, modification time and length, so the
//! simulation after each edit costs one `stat` while the file is unchanged.
//! Everything here blocks: it runs on the blocking pool, inside the
//! simulation's task.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use routec_driver::Source;
use routec_driver::source::{io_message, read_traffic};
use routec_ide::{Analysis, RecordedInput};
use tower_lsp_server::ls_types::Uri;

/// How many files the cache keeps (one per open policy, usually).
const CACHE_ENTRIES: usize = 8;

/// The cache of recorded files, shared by all documents.
#[derive(Debug, Default)]
pub struct RecordedFiles {
    cache: Mutex<HashMap<PathBuf, Cached>>,
}

#[derive(Debug)]
struct Cached {
    modified: Option<SystemTime>,
    len: u64,
    input: Arc<RecordedInput>,
}

/// The file of `analysis`'s first traffic profile when it is recorded and
/// the document `uri` is a `file://` path: relative names are resolved
/// against the document's directory.
pub fn locate(uri: &Uri, analysis: &Analysis) -> Option<PathBuf> {
    if !uri.scheme().as_str().eq_ignore_ascii_case("file") {
        return None;
    }
    let file = analysis.recorded_file()?;
    let document = uri.to_file_path()?;
    let policy = Source {
        name: String::new(),
        text: String::new(),
        dir: Some(document.parent().map(Path::to_path_buf).unwrap_or_default()),
    };
    policy.resolve(file)
}

impl RecordedFiles {
    /// Reads `path`, or returns the cached text when its modification time
    /// and length did not change. Errors are not cached.
    pub fn read(&self, path: &Path) -> Arc<RecordedInput> {
        let path_shown = path.display().to_string();
        let failed = |why: String| {
            Arc::new(RecordedInput {
                path_shown: path_shown.clone(),
                text: Err(why),
            })
        };
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) => {
                self.forget(path);
                return failed(io_message(&e));
            }
        };
        let modified = meta.modified().ok();
        if let Some(hit) = self.lock().get(path)
            && hit.modified == modified
            && modified.is_some()
            && hit.len == meta.len()
        {
            return hit.input.clone();
        }
        let input = match read_traffic(path).map_err(|e| e.to_string()) {
            Ok(text) => Arc::new(RecordedInput {
                path_shown: path_shown.clone(),
                text: Ok(text),
            }),
            Err(why) => {
                self.forget(path);
                return failed(why);
            }
        };
        let mut cache = self.lock();
        if cache.len() >= CACHE_ENTRIES && !cache.contains_key(path) {
            cache.clear();
        }
        cache.insert(
            path.to_path_buf(),
            Cached {
                modified,
                len: meta.len(),
                input: input.clone(),
            },
        );
        input
    }

    fn forget(&self, path: &Path) {
        self.lock().remove(path);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, Cached>> {
        // Only map operations run under the lock.
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = "traffic week = file \"week.jsonl\"\n";

    #[test]
    fn only_file_documents_locate_their_recorded_file() {
        let analysis = Analysis::new(POLICY);
        let file: Uri = "file:///work/p/a.route".parse().unwrap();
        assert_eq!(
            locate(&file, &analysis),
            Some(PathBuf::from("/work/p/week.jsonl"))
        );
        let untitled: Uri = "untitled:Untitled-1".parse().unwrap();
        assert_eq!(locate(&untitled, &analysis), None);
        let declared = Analysis::new("traffic week { qps 10 }\n");
        assert_eq!(locate(&file, &declared), None);
    }

    #[test]
    fn a_changed_file_is_read_again_and_a_missing_one_is_a_reason() {
        let dir = std::env::temp_dir().join(format!("routec-lsp-recorded-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("week.jsonl");
        let files = RecordedFiles::default();
        std::fs::write(&path, "{}\n").unwrap();
        let first = files.read(&path);
        assert_eq!(first.text, Ok("{}\n".to_owned()));
        // Unchanged: the same text, from the cache.
        assert!(Arc::ptr_eq(&first, &files.read(&path)));
        // A different length is a change whatever the clock says.
        std::fs::write(&path, "{}\n{}\n").unwrap();
        assert_eq!(files.read(&path).text, Ok("{}\n{}\n".to_owned()));
        std::fs::remove_file(&path).unwrap();
        let missing = files.read(&path);
        assert_eq!(missing.text, Err("No such file or directory".to_owned()));
        assert_eq!(files.read(&dir).text, Err("is a directory".to_owned()));
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert_eq!(
            files.read(&path).text,
            Err("the file is not valid UTF-8".to_owned())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
