//! Measures a parsed document in time linear in its size: each fragment is measured once,
//! on first use, and its summary reused at every later spread; a fragment met again while
//! it is still being measured is a cycle. Arithmetic saturates, so a fragment bomb measures
//! as `u64::MAX` instead of overflowing.

use std::collections::HashMap;

use async_graphql::Variables;
use async_graphql::parser::types::{ExecutableDocument, Field, OperationType, Selection, SelectionSet};
use async_graphql::{Pos, Value as ConstValue};

use super::shape::{SchemaShape, TypeShape};
use super::{CostModel, Measures, NESTING_LIMIT, Refusal};

/// Types whose lists hold one item per seat of a session.
const SEAT_TYPES: &[&str] = &["Seat", "SeatStatusChange"];
/// Types whose resolver reads a whole seat map, whatever is selected of it.
const SEAT_MAP_TYPES: &[&str] = &["SeatMap"];
/// Fields that enter introspection: served from memory, so not counted in depth.
const INTROSPECTION_FIELDS: &[&str] = &["__schema", "__type"];
/// Items assumed in an introspection list (types, fields, arguments). Introspection reads
/// the schema from memory, so this is lower than other lists' estimate; it still makes
/// each level of self-nesting introspection (`fields { type { fields { … } } }`) cost ten
/// times the one above.
const INTROSPECTION_LIST_SIZE: u64 = 10;

/// One selection set's measures, relative to where it is used.
#[derive(Debug, Clone, Copy, Default)]
struct Summary {
    /// Estimated cost, apart from the items of an enclosing connection's page.
    fixed: u64,
    /// Estimated cost of one item of the enclosing connection's page (`edges`, `nodes`).
    per_item: u64,
    /// Deepest field nesting.
    depth: u64,
    /// Deepest selection-set nesting, counted as async-graphql's recursion check counts it.
    nesting: u64,
    /// Fields directly at this level, through fragments.
    fields: u64,
    /// Fields and fragments, expanded.
    selections: u64,
    aliases: u64,
    spreads: u64,
}

impl Summary {
    /// Adds a fragment's summary used at this level.
    fn absorb(&mut self, inner: &Summary) {
        self.fixed = self.fixed.saturating_add(inner.fixed);
        self.per_item = self.per_item.saturating_add(inner.per_item);
        self.depth = self.depth.max(inner.depth);
        self.nesting = self.nesting.max(inner.nesting.saturating_add(1));
        self.fields = self.fields.saturating_add(inner.fields);
        self.selections = self.selections.saturating_add(inner.selections).saturating_add(1);
        self.aliases = self.aliases.saturating_add(inner.aliases);
        self.spreads = self.spreads.saturating_add(inner.spreads).saturating_add(1);
    }
}

enum Memo {
    /// Being measured: meeting it again is a cycle.
    Open,
    Done(Summary),
}

pub(super) struct Walk<'a> {
    model: &'a CostModel,
    doc: &'a ExecutableDocument,
    variables: &'a Variables,
    /// The largest numeric default of each variable over the document's operations.
    defaults: HashMap<&'a str, u64>,
    fragments: HashMap<&'a str, Memo>,
}

impl<'a> Walk<'a> {
    pub(super) fn new(model: &'a CostModel, doc: &'a ExecutableDocument, variables: &'a Variables) -> Self {
        let mut defaults: HashMap<&str, u64> = HashMap::new();
        for (_, operation) in doc.operations.iter() {
            for definition in &operation.node.variable_definitions {
                if let Some(ConstValue::Number(n)) = definition.node.default_value.as_ref().map(|v| &v.node) {
                    let value = count(n);
                    let slot = defaults.entry(definition.node.name.node.as_str()).or_default();
                    *slot = (*slot).max(value);
                }
            }
        }
        Self {
            model,
            doc,
            variables,
            defaults,
            fragments: HashMap::new(),
        }
    }

    /// Measures every operation of the document (validation visits them all): counts add
    /// up, depths take the deepest.
    pub(super) fn measure(mut self) -> Result<Measures, Refusal> {
        let mut measures = Measures::default();
        for (_, operation) in self.doc.operations.iter() {
            let shape = self.shape();
            let root = match operation.node.ty {
                OperationType::Query => shape.query.as_deref(),
                OperationType::Mutation => shape.mutation.as_deref(),
                OperationType::Subscription => shape.subscription.as_deref(),
            }
            .and_then(|name| shape.types.get(name));
            let summary = self.selection_set(&operation.node.selection_set.node, root, 0)?;
            measures.complexity = measures
                .complexity
                .saturating_add(summary.fixed.saturating_add(summary.per_item));
            measures.depth = measures.depth.max(summary.depth);
            measures.nesting = measures.nesting.max(summary.nesting);
            measures.root_fields = measures.root_fields.saturating_add(summary.fields);
            measures.selections = measures.selections.saturating_add(summary.selections);
            measures.aliases = measures.aliases.saturating_add(summary.aliases);
            measures.fragment_spreads = measures.fragment_spreads.saturating_add(summary.spreads);
        }
        Ok(measures)
    }

    fn shape(&self) -> &'a SchemaShape {
        &self.model.shape
    }

    /// Measures `set`, selected on `parent` (unknown when `None`: validation will say so),
    /// at async-graphql's recursion `level`, refusing as soon as that is too deep so that
    /// this walk's own recursion stays bounded.
    fn selection_set(
        &mut self,
        set: &'a SelectionSet,
        parent: Option<&'a TypeShape>,
        level: u64,
    ) -> Result<Summary, Refusal> {
        if level > NESTING_LIMIT {
            return Err(Refusal::nesting(level));
        }
        let mut summary = Summary::default();
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => self.field(&field.node, parent, level, &mut summary)?,
                Selection::InlineFragment(inline) => {
                    let on = match &inline.node.type_condition {
                        Some(condition) => self.shape().types.get(condition.node.on.node.as_str()),
                        None => parent,
                    };
                    let inner = self.selection_set(&inline.node.selection_set.node, on, level + 1)?;
                    summary.absorb(&inner);
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name;
                    if let Some(inner) = self.fragment(name.node.as_str(), name.pos, level + 1)? {
                        summary.absorb(&inner);
                    }
                }
            }
        }
        Ok(summary)
    }

    fn field(
        &mut self,
        field: &'a Field,
        parent: Option<&'a TypeShape>,
        level: u64,
        summary: &mut Summary,
    ) -> Result<(), Refusal> {
        let shape = self.shape();
        let name = field.name.node.as_str();
        let field_shape = shape.field(parent, name);
        let ty = field_shape.and_then(|f| shape.types.get(f.ty.as_str()));
        let inner = if field.selection_set.node.items.is_empty() {
            Summary::default()
        } else {
            let inner = self.selection_set(&field.selection_set.node, ty, level + 1)?;
            summary.nesting = summary.nesting.max(inner.nesting.saturating_add(1));
            inner
        };
        let page = match ty {
            Some(ty) if ty.connection => self.page_size(field),
            _ => 1,
        };
        let below = inner.fixed.saturating_add(inner.per_item.saturating_mul(page));
        let limits = &self.model.limits;
        let own = match field_shape {
            Some(f) if SEAT_MAP_TYPES.contains(&f.ty.as_str()) => limits.seat_map_size.saturating_add(1),
            _ => 1,
        };
        match field_shape {
            Some(f) if f.list && parent.is_some_and(|p| p.connection) && matches!(name, "edges" | "nodes") => {
                summary.fixed = summary.fixed.saturating_add(own);
                summary.per_item = summary.per_item.saturating_add(below);
            }
            Some(f) if f.list => {
                let items = if SEAT_TYPES.contains(&f.ty.as_str()) {
                    limits.seat_map_size
                } else if f.ty.starts_with("__") {
                    INTROSPECTION_LIST_SIZE
                } else {
                    limits.list_size
                };
                let cost = own.saturating_add(below.saturating_mul(items.max(1)));
                summary.fixed = summary.fixed.saturating_add(cost);
            }
            _ => summary.fixed = summary.fixed.saturating_add(own.saturating_add(below)),
        }
        if !INTROSPECTION_FIELDS.contains(&name) {
            summary.depth = summary.depth.max(inner.depth.saturating_add(1));
        }
        summary.fields = summary.fields.saturating_add(1);
        summary.selections = summary.selections.saturating_add(inner.selections).saturating_add(1);
        summary.aliases = summary
            .aliases
            .saturating_add(inner.aliases)
            .saturating_add(u64::from(field.alias.is_some()));
        summary.spreads = summary.spreads.saturating_add(inner.spreads);
        Ok(())
    }

    /// The summary of fragment `name` spread at `level`, measured on first use; `None` for
    /// an unknown fragment (validation refuses it).
    fn fragment(&mut self, name: &'a str, pos: Pos, level: u64) -> Result<Option<Summary>, Refusal> {
        match self.fragments.get(name) {
            Some(Memo::Open) => return Err(Refusal::cycle(name, pos)),
            Some(Memo::Done(summary)) => {
                if level.saturating_add(summary.nesting) > NESTING_LIMIT {
                    return Err(Refusal::nesting(level.saturating_add(summary.nesting)));
                }
                return Ok(Some(*summary));
            }
            None => {}
        }
        let Some(definition) = self.doc.fragments.get(name) else {
            return Ok(None);
        };
        let on = self
            .shape()
            .types
            .get(definition.node.type_condition.node.on.node.as_str());
        self.fragments.insert(name, Memo::Open);
        let summary = self.selection_set(&definition.node.selection_set.node, on, level)?;
        self.fragments.insert(name, Memo::Done(summary));
        Ok(Some(summary))
    }

    /// Items in the page a connection field asks for: the larger of `first` and `last`
    /// (literal or variable), or the default page size; at least 1, so that what is
    /// selected inside is still counted.
    fn page_size(&self, field: &Field) -> u64 {
        let limits = &self.model.limits;
        let asked = ["first", "last"]
            .iter()
            .filter_map(|arg| field.get_argument(arg))
            .filter_map(|value| {
                // Variables resolve to the request's value, else the largest default.
                let resolved = value.node.clone().into_const_with(|name| {
                    Ok::<_, std::convert::Infallible>(match self.variables.get(&name) {
                        Some(value) => value.clone(),
                        None => self
                            .defaults
                            .get(name.as_str())
                            .map_or(ConstValue::Null, |n| ConstValue::from(*n)),
                    })
                });
                resolved.ok().and_then(|value| requested(&value, limits.max_page_size))
            })
            .max();
        asked.unwrap_or(limits.default_page_size).max(1)
    }
}

/// A page size as requested: `None` when null (the default applies), the largest page
/// when it is not a number (validation will refuse it; until then assume the worst).
fn requested(value: &ConstValue, max_page_size: u64) -> Option<u64> {
    match value {
        ConstValue::Null => None,
        ConstValue::Number(n) => Some(count(n)),
        _ => Some(max_page_size),
    }
}

/// A non-negative count from a number; negatives count as 0, fractions round down.
fn count(n: &async_graphql::Number) -> u64 {
    n.as_u64()
        .or_else(|| n.as_i64().map(|_| 0))
        .or_else(|| n.as_f64().map(|f| f.max(0.0) as u64))
        .unwrap_or(0)
}
