//! One identity's conditional-GET cache: each page's `ETag` and body, so a page that did not
//! change costs a 304 (which GitHub does not count against the rate limit) instead of a full
//! answer. It is bounded in bytes and in pages, the least recently used going first: the
//! pages of PRs merged long ago leave it, and the daemon's memory does not grow with every
//! squad it finishes.

use std::collections::HashMap;

use http::HeaderValue;

/// Bytes of pages one identity keeps: the pages squads at work read again (their PRs,
/// reviews, statuses and checks) fit many times over.
const MAX_BYTES: usize = 2 * 1024 * 1024;

/// Pages one identity keeps.
const MAX_PAGES: usize = 512;

/// A page as last answered in full.
#[derive(Debug)]
pub(crate) struct CachedPage {
    pub etag: HeaderValue,
    pub body: String,
    /// Its `rel="next"` link.
    pub next: Option<String>,
}

impl CachedPage {
    fn bytes(&self, uri: &str) -> usize {
        uri.len() + self.etag.len() + self.body.len() + self.next.as_ref().map_or(0, String::len)
    }
}

#[derive(Debug)]
pub(crate) struct EtagCache {
    /// Each page with when it was last used.
    pages: HashMap<String, (CachedPage, u64)>,
    bytes: usize,
    uses: u64,
    max_bytes: usize,
    max_pages: usize,
}

impl Default for EtagCache {
    fn default() -> Self {
        Self::with_limits(MAX_BYTES, MAX_PAGES)
    }
}

impl EtagCache {
    fn with_limits(max_bytes: usize, max_pages: usize) -> Self {
        Self {
            pages: HashMap::new(),
            bytes: 0,
            uses: 0,
            max_bytes,
            max_pages,
        }
    }

    /// The page cached for `uri`, now its most recently used.
    pub(crate) fn get(&mut self, uri: &str) -> Option<&CachedPage> {
        self.uses += 1;
        let uses = self.uses;
        self.pages.get_mut(uri).map(|(page, used)| {
            *used = uses;
            &*page
        })
    }

    /// Keeps `page` for `uri`, letting the least recently used pages go while the cache is
    /// over its bounds (a page larger than the whole budget is not kept).
    pub(crate) fn insert(&mut self, uri: String, page: CachedPage) {
        self.uses += 1;
        self.bytes += page.bytes(&uri);
        if let Some((old, _)) = self.pages.insert(uri.clone(), (page, self.uses)) {
            self.bytes -= old.bytes(&uri);
        }
        while self.bytes > self.max_bytes || self.pages.len() > self.max_pages {
            let Some(oldest) = self
                .pages
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(uri, _)| uri.clone())
            else {
                break;
            };
            if let Some((page, _)) = self.pages.remove(&oldest) {
                self.bytes -= page.bytes(&oldest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(body: &str) -> CachedPage {
        CachedPage {
            etag: HeaderValue::from_static("\"e\""),
            body: body.to_owned(),
            next: None,
        }
    }

    #[test]
    fn the_least_recently_used_page_leaves_first_when_the_bytes_run_out() {
        let size = page(&"x".repeat(100)).bytes("/a");
        let mut cache = EtagCache::with_limits(size * 2, 10);
        cache.insert("/a".into(), page(&"x".repeat(100)));
        cache.insert("/b".into(), page(&"y".repeat(100)));
        assert!(cache.get("/a").is_some(), "read again: now the most recent");
        cache.insert("/c".into(), page(&"z".repeat(100)));
        assert!(cache.get("/b").is_none(), "the least recently used left");
        assert!(cache.get("/a").is_some() && cache.get("/c").is_some());
        assert_eq!(cache.bytes, size * 2);
    }

    #[test]
    fn pages_are_bounded_in_number_and_a_replaced_page_is_counted_once() {
        let mut cache = EtagCache::with_limits(usize::MAX, 2);
        for uri in ["/a", "/b", "/c"] {
            cache.insert(uri.into(), page("body"));
        }
        assert_eq!(cache.pages.len(), 2);
        assert!(cache.get("/a").is_none());
        cache.insert("/c".into(), page("longer body"));
        assert_eq!(
            cache.bytes,
            page("body").bytes("/b") + page("longer body").bytes("/c")
        );
    }

    #[test]
    fn a_page_larger_than_the_whole_budget_is_not_kept() {
        let mut cache = EtagCache::with_limits(50, 10);
        cache.insert("/small".into(), page("s"));
        cache.insert("/huge".into(), page(&"h".repeat(100)));
        assert!(cache.get("/huge").is_none());
        assert_eq!(cache.bytes, 0, "and the rest went first");
    }
}
