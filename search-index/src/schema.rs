//! The index schema and the mapping of [`Doc`]s onto it.
//!
//! Every searchable text is indexed into a *group* of fields analysed differently: words
//! (Latin matching, prefix, typos), n-grams (Korean partial matching) and initial consonants
//! (초성). Groups rather than one catch-all field let the query weigh where a word matched:
//! a title beats a cast list or a venue name.

use tantivy::schema::{
    FAST, Facet, FacetOptions, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing,
    TextOptions,
};
use tantivy::{TantivyDocument, Term};

use crate::tokenize::{GRAM_TOKENIZER, LATIN_TOKENIZER, chosung};
use crate::types::{Doc, Kind};

/// Fast field names read while scoring (see `index.rs`).
pub(crate) const KIND_FIELD: &str = "kind";
pub(crate) const END_FIELD: &str = "end";

/// The fields one piece of searchable text is indexed into.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TextGroup {
    /// Word tokens; also holds the stored original text when the group is highlighted.
    pub word: Field,
    /// Character n-grams, for CJK substrings.
    pub gram: Option<Field>,
    /// N-grams of the initial consonants, for 초성 queries.
    pub cho: Option<Field>,
    /// Weight of a match in this group relative to the others.
    pub boost: f32,
}

/// Handles to every field of the schema.
#[derive(Debug, Clone)]
pub(crate) struct Fields {
    pub schema: Schema,
    /// `"<kind>:<id>"`, the identity used to replace or delete a document.
    pub key: Field,
    pub kind: Field,
    pub id: Field,
    pub genre: Field,
    pub region: Field,
    /// Run start and end as days since 0001-01-01 (only performances have them).
    pub start: Field,
    pub end: Field,
    /// `/genre/<genre>` and `/kind/<kind>`, counted for [`crate::Facets`].
    pub facet: Field,
    /// Performance title, cast member name or venue name (stored).
    pub name: TextGroup,
    /// English title or name (stored).
    pub english: TextGroup,
    /// Cast names of a performance (stored).
    pub cast: TextGroup,
    /// Venue name of a performance (stored).
    pub venue: TextGroup,
    /// Venue address (not stored, never highlighted).
    pub address: TextGroup,
}

/// Boost of title and name matches, which must outrank cast/venue matches on a performance.
const TITLE_BOOST: f32 = 3.0;
const RELATED_BOOST: f32 = 1.0;
const ADDRESS_BOOST: f32 = 0.5;

fn text_options(tokenizer: &str, stored: bool) -> TextOptions {
    let indexing = TextFieldIndexing::default()
        .set_tokenizer(tokenizer)
        .set_index_option(IndexRecordOption::WithFreqs);
    let options = TextOptions::default().set_indexing_options(indexing);
    if stored { options.set_stored() } else { options }
}

impl Fields {
    pub(crate) fn new() -> Fields {
        let mut builder = Schema::builder();
        let mut group = |name: &str, gram: bool, cho: bool, stored: bool, boost: f32| TextGroup {
            word: builder.add_text_field(name, text_options(LATIN_TOKENIZER, stored)),
            gram: gram.then(|| builder.add_text_field(&format!("{name}_gram"), text_options(GRAM_TOKENIZER, false))),
            cho: cho.then(|| builder.add_text_field(&format!("{name}_cho"), text_options(GRAM_TOKENIZER, false))),
            boost,
        };
        let name = group("name", true, true, true, TITLE_BOOST);
        let english = group("english", false, false, true, TITLE_BOOST);
        let cast = group("cast", true, true, true, RELATED_BOOST);
        let venue = group("venue", true, true, true, RELATED_BOOST);
        let address = group("address", true, false, false, ADDRESS_BOOST);
        let key = builder.add_text_field("key", STRING);
        let kind = builder.add_u64_field(KIND_FIELD, INDEXED | FAST | STORED);
        let id = builder.add_i64_field("id", FAST | STORED);
        let genre = builder.add_text_field("genre", STRING);
        let region = builder.add_text_field("region", STRING);
        let start = builder.add_i64_field("start", INDEXED | FAST);
        let end = builder.add_i64_field(END_FIELD, INDEXED | FAST);
        let facet = builder.add_facet_field("facet", FacetOptions::default());
        Fields {
            schema: builder.build(),
            key,
            kind,
            id,
            genre,
            region,
            start,
            end,
            facet,
            name,
            english,
            cast,
            venue,
            address,
        }
    }

    /// Groups searched by [`crate::SearchIndex::search`].
    pub(crate) fn search_groups(&self) -> [TextGroup; 5] {
        [self.name, self.english, self.cast, self.venue, self.address]
    }

    /// Groups searched by [`crate::SearchIndex::suggest`]: only what a suggestion displays.
    pub(crate) fn suggest_groups(&self) -> [TextGroup; 2] {
        [self.name, self.english]
    }

    /// The term identifying the document `(kind, id)`.
    pub(crate) fn key_term(&self, kind: Kind, id: i64) -> Term {
        Term::from_field_text(self.key, &format!("{}:{id}", kind.as_str()))
    }

    /// Converts a document into its tantivy form.
    pub(crate) fn to_document(&self, doc: &Doc) -> TantivyDocument {
        let mut out = TantivyDocument::new();
        let kind = doc.kind();
        out.add_text(self.key, format!("{}:{}", kind.as_str(), doc.id()));
        out.add_u64(self.kind, kind.code());
        out.add_i64(self.id, doc.id());
        out.add_facet(self.facet, Facet::from_path(["kind", kind.as_str()]));
        match doc {
            Doc::Performance(perf) => {
                add_text(&mut out, self.name, &perf.title);
                add_text(
                    &mut out,
                    self.english,
                    perf.english_title.as_deref().unwrap_or_default(),
                );
                for cast_name in &perf.cast_names {
                    add_text(&mut out, self.cast, cast_name);
                }
                add_text(&mut out, self.venue, &perf.venue_name);
                let genre = perf.genre.trim();
                if !genre.is_empty() {
                    out.add_text(self.genre, normalize_keyword(genre));
                    out.add_facet(self.facet, Facet::from_path(["genre", sanitize_facet(genre).as_str()]));
                }
                add_keyword(&mut out, self.region, &perf.region);
                out.add_i64(self.start, day_number(perf.start_date));
                out.add_i64(self.end, day_number(perf.end_date));
            }
            Doc::Cast(cast) => {
                add_text(&mut out, self.name, &cast.name);
                add_text(&mut out, self.english, cast.english_name.as_deref().unwrap_or_default());
            }
            Doc::Venue(venue) => {
                add_text(&mut out, self.name, &venue.name);
                add_keyword(&mut out, self.region, &venue.region);
                add_text(&mut out, self.address, &venue.address);
            }
        }
        out
    }
}

/// Adds one value to every field of a group (blank values are skipped).
fn add_text(out: &mut TantivyDocument, group: TextGroup, text: &str) {
    let text = text.trim();
    if text.is_empty() {
        return;
    }
    out.add_text(group.word, text);
    if let Some(gram) = group.gram {
        out.add_text(gram, text);
    }
    if let Some(cho) = group.cho {
        let consonants = chosung(text);
        if !consonants.is_empty() {
            out.add_text(cho, consonants);
        }
    }
}

fn add_keyword(out: &mut TantivyDocument, field: Field, value: &str) {
    let value = normalize_keyword(value);
    if !value.is_empty() {
        out.add_text(field, value);
    }
}

/// The form genre and region are indexed and filtered in, so "Musical " matches "musical".
pub(crate) fn normalize_keyword(value: &str) -> String {
    value.trim().to_lowercase()
}

/// Facet path segments cannot contain the facet separator (a NUL byte) or other controls.
fn sanitize_facet(value: &str) -> String {
    value.chars().filter(|c| !c.is_control()).collect()
}

/// A date as an integer that orders like the date, for range filters and fast-field reads.
pub(crate) fn day_number(date: chrono::NaiveDate) -> i64 {
    i64::from(chrono::Datelike::num_days_from_ce(&date))
}
