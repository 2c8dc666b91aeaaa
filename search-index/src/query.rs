//! Building tantivy queries from analysed words and request filters.
//!
//! Every query is assembled programmatically from term, fuzzy and range queries; user text is
//! never parsed as query syntax. The shape is:
//!
//! ```text
//! MUST word₁ ... MUST wordₙ          every query word has to match somewhere
//!   wordᵢ = DisMax(group fields)      scored by the best field, title ×3 > cast/venue ×1
//! MUST filters (score 0)             kind, genre, region, run overlap
//! ```
//!
//! A CJK word matches a field only if the field contains *all* of its grams (the word
//! itself up to three characters, all its trigrams beyond), which is close to a substring
//! match: "미제라" needs the trigram "미제라" and so cannot match "오페라의 유령" through "라".

use std::ops::Bound;

use tantivy::Term;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, DisjunctionMaxQuery, FuzzyTermQuery, Occur, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TextAnalyzer;

use crate::schema::{Fields, TextGroup, day_number, normalize_keyword};
use crate::tokenize::{FUZZY_MIN_CHARS, QueryWord, query_grams};
use crate::types::{Kind, SearchRequest};

/// Share of the non-best fields' score added to the best one, so that a performance matching
/// in title *and* cast edges out one matching in the title only, without letting several
/// weak fields beat one strong field.
const TIE_BREAKER: f32 = 0.1;
/// Score of a prefix or typo match relative to an exact word match (BM25, usually above 1).
const APPROXIMATE_BOOST: f32 = 0.5;

/// The conjunction of all words over the given groups, or `None` when no word produced a
/// clause (e.g. only punctuation was typed), in which case nothing can match.
pub(crate) fn text_query(words: &[QueryWord], groups: &[TextGroup], gram: &mut TextAnalyzer) -> Option<Box<dyn Query>> {
    let clauses: Vec<(Occur, Box<dyn Query>)> = words
        .iter()
        .filter_map(|word| word_query(word, groups, gram))
        .map(|query| (Occur::Must, query))
        .collect();
    (!clauses.is_empty()).then(|| Box::new(BooleanQuery::new(clauses)) as Box<dyn Query>)
}

/// One word against every group that can match it, scored by the best field.
fn word_query(word: &QueryWord, groups: &[TextGroup], gram: &mut TextAnalyzer) -> Option<Box<dyn Query>> {
    let per_field: Vec<(f32, Box<dyn Query>)> = match word {
        QueryWord::Cjk(text) | QueryWord::Chosung(text) => {
            let grams = query_grams(text, gram);
            if grams.is_empty() {
                return None;
            }
            let is_chosung = matches!(word, QueryWord::Chosung(_));
            groups
                .iter()
                .filter_map(|group| {
                    let field = if is_chosung { group.cho } else { group.gram }?;
                    Some((group.boost, all_terms(field, &grams)))
                })
                .collect()
        }
        QueryWord::Latin { term, prefix } => groups
            .iter()
            .map(|group| (group.boost, latin_word(group.word, term, *prefix)))
            .collect(),
    };
    if per_field.is_empty() {
        return None;
    }
    let boosted = per_field
        .into_iter()
        .map(|(boost, query)| Box::new(BoostQuery::new(query, boost)) as Box<dyn Query>);
    Some(Box::new(DisjunctionMaxQuery::with_tie_breaker(
        boosted.collect(),
        TIE_BREAKER,
    )))
}

/// Documents whose `field` holds every gram.
fn all_terms(field: Field, grams: &[String]) -> Box<dyn Query> {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = grams
        .iter()
        .map(|text| (Occur::Must, term_query(Term::from_field_text(field, text))))
        .collect();
    match clauses.len() {
        1 => clauses.remove(0).1,
        _ => Box::new(BooleanQuery::new(clauses)),
    }
}

/// An exact word match, plus a prefix match for the word being typed and a one-edit
/// (transposition included) match for words long enough that a typo is unlikely to make
/// them collide with another word.
fn latin_word(field: Field, term: &str, prefix: bool) -> Box<dyn Query> {
    let exact = Term::from_field_text(field, term);
    let distance = u8::from(term.chars().count() >= FUZZY_MIN_CHARS);
    let approximate = match (prefix, distance) {
        (true, _) => Some(FuzzyTermQuery::new_prefix(exact.clone(), distance, true)),
        (false, 1) => Some(FuzzyTermQuery::new(exact.clone(), distance, true)),
        (false, _) => None,
    };
    let mut clauses = vec![(Occur::Should, term_query(exact))];
    if let Some(approximate) = approximate {
        clauses.push((
            Occur::Should,
            Box::new(BoostQuery::new(Box::new(approximate), APPROXIMATE_BOOST)),
        ));
    }
    Box::new(BooleanQuery::new(clauses))
}

fn term_query(term: Term) -> Box<dyn Query> {
    Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs))
}

/// Non-scoring filters implied by the request, each to be required.
pub(crate) fn filters(fields: &Fields, req: &SearchRequest) -> Vec<Box<dyn Query>> {
    let mut filters: Vec<Box<dyn Query>> = Vec::new();
    let genre = req
        .genre
        .as_deref()
        .map(normalize_keyword)
        .filter(|genre| !genre.is_empty());
    let region = req
        .region
        .as_deref()
        .map(normalize_keyword)
        .filter(|region| !region.is_empty());

    if let Some(kinds) = req.kinds.as_ref().filter(|kinds| !kinds.is_empty()) {
        let any_kind = kinds
            .iter()
            .map(|kind| (Occur::Should, kind_query(fields, *kind)))
            .collect();
        filters.push(Box::new(BooleanQuery::new(any_kind)));
    }
    if genre.is_some() || req.from.is_some() || req.to.is_some() {
        filters.push(kind_query(fields, Kind::Performance));
    }
    if let Some(genre) = genre {
        filters.push(term_query(Term::from_field_text(fields.genre, &genre)));
    }
    if let Some(region) = region {
        filters.push(term_query(Term::from_field_text(fields.region, &region)));
    }
    // The run [start, end] overlaps [from, to] iff end >= from and start <= to.
    if let Some(from) = req.from {
        let bound = Bound::Included(Term::from_field_i64(fields.end, day_number(from)));
        filters.push(Box::new(RangeQuery::new(bound, Bound::Unbounded)));
    }
    if let Some(to) = req.to {
        let bound = Bound::Included(Term::from_field_i64(fields.start, day_number(to)));
        filters.push(Box::new(RangeQuery::new(Bound::Unbounded, bound)));
    }
    filters
}

fn kind_query(fields: &Fields, kind: Kind) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_u64(fields.kind, kind.code()),
        IndexRecordOption::Basic,
    ))
}

/// The text query restricted by the filters; filters do not change scores.
pub(crate) fn with_filters(text: Box<dyn Query>, filters: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    if filters.is_empty() {
        return text;
    }
    let mut clauses = vec![(Occur::Must, text)];
    clauses.extend(filters.into_iter().map(|filter| {
        (
            Occur::Must,
            Box::new(ConstScoreQuery::new(filter, 0.0)) as Box<dyn Query>,
        )
    }));
    Box::new(BooleanQuery::new(clauses))
}
