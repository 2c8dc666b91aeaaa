//! [`SearchIndex`]: the tantivy index, its single writer and its reader.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use tantivy::collector::{Count, FacetCollector, FacetCounts, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::indexer::IndexWriterOptions;
use tantivy::schema::{Facet, Value};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, Score, SegmentReader, TantivyDocument};

use crate::error::{Result, SearchError};
use crate::highlight::Highlighter;
use crate::query::{filters, text_query, with_filters};
use crate::schema::{END_FIELD, Fields, KIND_FIELD, TextGroup, day_number};
use crate::tokenize::{GRAM_TOKENIZER, LATIN_TOKENIZER, QueryWord, analyze_query, gram_analyzer, latin_analyzer};
use crate::types::{
    Doc, Facets, Highlight, Hit, Kind, MAX_LIMIT, MAX_OFFSET, SearchRequest, SearchResults, Suggestion,
};

/// Score multiplier of performances whose run has ended. Applied while collecting the top
/// documents (`TopDocs::tweak_score`) rather than by re-ranking a page, so paging stays
/// consistent: an ended show still appears when it is the only good match, just after the
/// current ones that match about as well.
const ENDED_PENALTY: Score = 0.3;

/// An embedded full-text index of performances, cast members and venues.
///
/// Cheap to share behind an `Arc`: every method takes `&self`. Writes go through one
/// index-wide writer (tantivy allows a single writer per index) and become visible to
/// searches at [`SearchIndex::commit`], which also bumps [`SearchIndex::generation`].
pub struct SearchIndex {
    fields: Fields,
    writer: Mutex<IndexWriter>,
    reader: IndexReader,
    generation: AtomicU64,
    latin: TextAnalyzer,
    gram: TextAnalyzer,
}

impl SearchIndex {
    /// Opens the index stored in `path`, creating the directory and an empty index if needed.
    ///
    /// Fails if another process holds the index's writer lock, or if the stored index was
    /// built with a different schema (delete the directory and re-index in that case).
    pub fn open_in_dir(path: impl AsRef<Path>) -> Result<Self> {
        std::fs::create_dir_all(path.as_ref())?;
        let directory = MmapDirectory::open(path.as_ref()).map_err(tantivy::TantivyError::from)?;
        let fields = Fields::new();
        let index = Index::open_or_create(directory, fields.schema.clone())?;
        Self::from_index(index, fields)
    }

    /// A fresh index held in memory, for tests and for deployments that rebuild on start.
    pub fn in_memory() -> Result<Self> {
        let fields = Fields::new();
        let index = Index::create_in_ram(fields.schema.clone());
        Self::from_index(index, fields)
    }

    fn from_index(index: Index, fields: Fields) -> Result<Self> {
        let (latin, gram) = (latin_analyzer(), gram_analyzer());
        index.tokenizers().register(LATIN_TOKENIZER, latin.clone());
        index.tokenizers().register(GRAM_TOKENIZER, gram.clone());
        // One indexing thread and one merging thread (tantivy's default is four): the corpus
        // is small, and the machine is shared with the server. The indexing memory budget is
        // the builder's default, tantivy's smallest (15 MB): a box office's catalog events
        // (a few documents each) stay far below it, and the writer's hash table is sized from
        // the budget, so a larger one only makes every catch-up touch memory that the
        // allocator then keeps for a while (the server's idle footprint, P7). A full rebuild
        // of a large catalog (the search bench's 100,000 performances) flushes a segment
        // whenever the budget fills, and merges them after.
        let options = IndexWriterOptions::builder()
            .num_worker_threads(1)
            .num_merge_threads(1)
            .build();
        let writer = index.writer_with_options(options)?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let generation = AtomicU64::new(index.load_metas()?.opstamp);
        Ok(SearchIndex {
            fields,
            writer: Mutex::new(writer),
            reader,
            generation,
            latin,
            gram,
        })
    }

    /// Adds or replaces documents, keyed by `(kind, id)`. Invisible until [`Self::commit`].
    ///
    /// If this fails part-way, the documents before the failure are staged and will be
    /// committed by the next commit; re-upserting is idempotent, so retrying is safe.
    pub fn upsert(&self, docs: impl IntoIterator<Item = Doc>) -> Result<()> {
        let writer = self.writer();
        for doc in docs {
            writer.delete_term(self.fields.key_term(doc.kind(), doc.id()));
            writer.add_document(self.fields.to_document(&doc))?;
        }
        Ok(())
    }

    /// Removes a document (a no-op if absent). Invisible until [`Self::commit`].
    pub fn delete(&self, kind: Kind, id: i64) {
        self.writer().delete_term(self.fields.key_term(kind, id));
    }

    /// Removes every document, e.g. before a full rebuild. Invisible until [`Self::commit`],
    /// so searches keep being served from the old contents while the rebuild runs.
    pub fn clear(&self) -> Result<()> {
        self.writer().delete_all_documents()?;
        Ok(())
    }

    /// Makes pending changes durable and searchable, and returns the new generation.
    pub fn commit(&self) -> Result<u64> {
        let mut writer = self.writer();
        let opstamp = writer.commit()?;
        self.reader.reload()?;
        // The opstamp alone is not enough: right after reopening an index, an empty commit
        // gets the opstamp of the last one. Updated under the writer lock, so no race.
        let generation = opstamp.max(self.generation.load(Ordering::SeqCst) + 1);
        self.generation.store(generation, Ordering::SeqCst);
        Ok(generation)
    }

    /// Identifies the searchable contents: it increases on every commit. Include it in the
    /// cache keys of search results. It follows the commit opstamp, so an on-disk index
    /// starts again from its last commit's opstamp after a restart.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Runs a keyword search. See the crate documentation for the matching rules.
    ///
    /// Returns [`SearchError::EmptyQuery`] for empty or blank queries; any other text,
    /// however odd, is valid and at worst matches nothing.
    pub fn search(&self, req: &SearchRequest) -> Result<SearchResults> {
        if req.query.trim().is_empty() {
            return Err(SearchError::EmptyQuery);
        }
        let words = analyze_query(&req.query, &mut self.latin.clone());
        let Some(text) = text_query(&words, &self.fields.search_groups(), &mut self.gram.clone()) else {
            return Ok(SearchResults::default());
        };
        let query = with_filters(text, filters(&self.fields, req));

        let mut facets = FacetCollector::for_field("facet");
        facets.add_facet(Facet::from_path(["genre"]));
        facets.add_facet(Facet::from_path(["kind"]));
        let limit = req.limit.min(MAX_LIMIT);
        let top = (limit > 0 && req.offset <= MAX_OFFSET).then(|| {
            let today = day_number(req.today);
            TopDocs::with_limit(limit)
                .and_offset(req.offset)
                .tweak_score(move |segment: &SegmentReader| {
                    let kinds = segment.fast_fields().u64(KIND_FIELD).ok();
                    let ends = segment.fast_fields().i64(END_FIELD).ok();
                    move |doc, score: Score| {
                        let is_performance =
                            kinds.as_ref().and_then(|k| k.first(doc)) == Some(Kind::Performance.code());
                        let ended = ends.as_ref().and_then(|e| e.first(doc)).is_some_and(|end| end < today);
                        if is_performance && ended {
                            score * ENDED_PENALTY
                        } else {
                            score
                        }
                    }
                })
        });
        let searcher = self.reader.searcher();
        let (total, facet_counts, top_docs) = searcher.search(&*query, &(Count, facets, top))?;

        let mut highlighter = Highlighter::new(&words, self.latin.clone(), self.gram.clone());
        let mut hits = Vec::new();
        for (score, address) in top_docs.unwrap_or_default() {
            let (kind, id, doc) = self.load(&searcher, address)?;
            let highlights = self.highlights(kind, &doc, &mut highlighter);
            hits.push(Hit {
                kind,
                id,
                score,
                highlights,
            });
        }
        Ok(SearchResults {
            total,
            hits,
            facets: to_facets(&facet_counts),
        })
    }

    /// Titles and names for a type-ahead box: documents whose title or name (Korean or
    /// English) matches what was typed so far, best first by text relevance only (no date
    /// awareness, so that suggestions can be cached per prefix).
    ///
    /// Unlike [`Self::search`], blank input returns no suggestions instead of an error, since
    /// a type-ahead box sends it whenever the user clears the field.
    pub fn suggest(&self, prefix: &str, limit: usize) -> Result<Vec<Suggestion>> {
        let limit = limit.min(MAX_LIMIT);
        if prefix.trim().is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let words: Vec<QueryWord> = analyze_query(prefix, &mut self.latin.clone());
        let groups: [TextGroup; 2] = self.fields.suggest_groups();
        let Some(query) = text_query(&words, &groups, &mut self.gram.clone()) else {
            return Ok(Vec::new());
        };
        let searcher = self.reader.searcher();
        let top_docs = searcher.search(&*query, &TopDocs::with_limit(limit).order_by_score())?;
        let mut suggestions = Vec::with_capacity(top_docs.len());
        for (_, address) in top_docs {
            let (kind, id, doc) = self.load(&searcher, address)?;
            let text = first_text(&doc, self.fields.name.word).unwrap_or_default().to_string();
            suggestions.push(Suggestion { kind, id, text });
        }
        Ok(suggestions)
    }

    fn load(&self, searcher: &tantivy::Searcher, address: DocAddress) -> Result<(Kind, i64, TantivyDocument)> {
        let doc: TantivyDocument = searcher.doc(address)?;
        let kind = doc
            .get_first(self.fields.kind)
            .and_then(|v| v.as_u64())
            .and_then(Kind::from_code);
        let id = doc.get_first(self.fields.id).and_then(|v| v.as_i64());
        match (kind, id) {
            (Some(kind), Some(id)) => Ok((kind, id, doc)),
            _ => Err(tantivy::TantivyError::InternalError(format!("document {address:?} lacks its kind or id")).into()),
        }
    }

    fn highlights(&self, kind: Kind, doc: &TantivyDocument, highlighter: &mut Highlighter) -> Vec<Highlight> {
        let (title, english) = match kind {
            Kind::Performance => ("title", "english_title"),
            Kind::CastMember | Kind::Venue => ("name", "english_name"),
        };
        let groups = [
            (title, self.fields.name),
            (english, self.fields.english),
            ("cast_names", self.fields.cast),
            ("venue_name", self.fields.venue),
        ];
        let mut highlights = Vec::new();
        for (field, group) in groups {
            let marked: Vec<String> = doc
                .get_all(group.word)
                .filter_map(|v| v.as_str())
                .filter_map(|text| highlighter.highlight(text))
                .collect();
            if !marked.is_empty() {
                highlights.push(Highlight {
                    field: field.to_string(),
                    snippet: marked.join(", "),
                });
            }
        }
        highlights
    }

    fn writer(&self) -> MutexGuard<'_, IndexWriter> {
        // A panic while holding the lock cannot leave the writer half-updated in a way that
        // matters: uncommitted operations are either committed later or discarded.
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Genre and kind counts, most frequent first (ties by name, for stable output).
impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchIndex")
            .field("generation", &self.generation())
            .finish_non_exhaustive()
    }
}

fn to_facets(counts: &FacetCounts) -> Facets {
    let children = |name: &str| {
        counts
            .get(Facet::from_path([name]))
            .filter_map(|(facet, count)| Some((facet.to_path().last()?.to_string(), count)))
            .collect::<Vec<_>>()
    };
    let mut genre = children("genre");
    genre.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let mut kind: Vec<(Kind, u64)> = children("kind")
        .into_iter()
        .filter_map(|(name, count)| Some((Kind::from_name(&name)?, count)))
        .collect();
    kind.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Facets { genre, kind }
}

fn first_text(doc: &TantivyDocument, field: tantivy::schema::Field) -> Option<&str> {
    doc.get_first(field).and_then(|v| v.as_str())
}
