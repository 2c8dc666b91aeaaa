//! Puts every object of an answer in the order its fields were selected (GraphQL spec §7.2.2,
//! "Serialized Map Ordering"), aliases and fragments included.
//!
//! async-graphql resolves the fields of an object concurrently and writes each one as it
//! completes (async-graphql issue #612): a field a dataloader answers lands after the plain
//! ones selected below it. Its executor is not ours to change, so the order is restored after
//! execution, walking the answer beside the operation's selection sets, the way
//! `CollectFields` walks them: fragments in place, first occurrence of a response key wins,
//! `@skip`/`@include` applied. Objects already in order (most of them) are left untouched.
//!
//! A fragment's type condition is known to apply when the object's type is known: always
//! below a field of an object type (validation allows only fragments that can apply there),
//! and below an interface or union field when `__typename` is selected. Otherwise every
//! fragment counts, which can only misplace a response key selected by two fragments on
//! different types, the first of which does not apply.

use std::collections::HashSet;
use std::rc::Rc;
use std::sync::{Arc, LazyLock};

use async_graphql::parser::types::{
    Directive, DocumentOperations, ExecutableDocument, FragmentDefinition, OperationDefinition, Selection,
    SelectionSet, TypeKind, TypeSystemDefinition,
};
use async_graphql::{Name, Positioned, Value, Variables};

/// What ordering one response needs: the operation's selections and the request's variables
/// (for `@skip(if: $x)`). Made once per request and shared by its responses.
pub struct SelectionOrder {
    document: ExecutableDocument,
    operation_name: Option<String>,
    variables: Variables,
    root_type: String,
}

/// The schema's object types: a type condition naming one applies only to that type.
static OBJECT_TYPES: LazyLock<HashSet<String>> = LazyLock::new(|| {
    let sdl = super::sdl();
    let Ok(document) = async_graphql::parser::parse_schema(&sdl) else {
        return HashSet::new();
    };
    document
        .definitions
        .iter()
        .filter_map(|definition| match definition {
            TypeSystemDefinition::Type(ty) if matches!(ty.node.kind, TypeKind::Object(_)) => {
                Some(ty.node.name.node.to_string())
            }
            _ => None,
        })
        .collect()
});

impl SelectionOrder {
    pub fn new(
        document: ExecutableDocument,
        operation_name: Option<String>,
        variables: Variables,
        root_type: String,
    ) -> Arc<Self> {
        let mut order = Self {
            document,
            operation_name,
            variables,
            root_type,
        };
        // `@skip(if: $x)` with `$x` left out takes the variable's default.
        let defaults: Vec<(Name, Value)> = order
            .operation()
            .map(|operation| {
                operation
                    .variable_definitions
                    .iter()
                    .filter(|definition| !order.variables.contains_key(&definition.node.name.node))
                    .filter_map(|definition| {
                        let default = definition.node.default_value.as_ref()?;
                        Some((definition.node.name.node.clone(), default.node.clone()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        for (name, value) in defaults {
            order.variables.insert(name, value);
        }
        Arc::new(order)
    }

    /// Reorders `data` (a response's `data`) in place.
    pub fn apply(&self, data: &mut Value) {
        let Some(operation) = self.operation() else {
            return;
        };
        let walk = Walk {
            fragments: &self.document.fragments,
            variables: &self.variables,
        };
        walk.value(data, &[&operation.selection_set.node], Some(&self.root_type));
    }

    fn operation(&self) -> Option<&OperationDefinition> {
        match (&self.document.operations, &self.operation_name) {
            (DocumentOperations::Single(op), _) => Some(&op.node),
            (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name.as_str()).map(|op| &op.node),
            (DocumentOperations::Multiple(ops), None) => ops.values().next().map(|op| &op.node),
        }
    }
}

struct Walk<'a> {
    fragments: &'a std::collections::HashMap<Name, Positioned<FragmentDefinition>>,
    variables: &'a Variables,
}

/// One response key of an object, with the selection sets of its fields (merged, as
/// `CollectFields` merges them).
struct Key<'a> {
    name: &'a Name,
    /// `__typename` under this key.
    typename: bool,
    sets: Vec<&'a SelectionSet>,
}

impl<'a> Walk<'a> {
    fn value(&self, value: &mut Value, sets: &[&'a SelectionSet], object_type: Option<&str>) {
        self.value_with(value, sets, object_type, &mut Vec::new());
    }

    /// `plans`: the keys already collected for these selection sets, by the object's type, so
    /// that the items of a list (a page of a hundred performances) share one collection.
    fn value_with(
        &self,
        value: &mut Value,
        sets: &[&'a SelectionSet],
        object_type: Option<&str>,
        plans: &mut Vec<(Option<String>, Rc<Vec<Key<'a>>>)>,
    ) {
        match value {
            Value::List(items) => {
                for item in items {
                    self.value_with(item, sets, object_type, plans);
                }
            }
            Value::Object(map) => {
                // With its type unknown (an interface or union), `__typename` tells it.
                let concrete = match object_type {
                    Some(ty) => Some(ty.to_owned()),
                    None => {
                        let untyped = self.plan(sets, None, plans);
                        untyped
                            .iter()
                            .find(|key| key.typename)
                            .and_then(|key| match map.get(key.name) {
                                Some(Value::String(name)) => Some(name.clone()),
                                _ => None,
                            })
                    }
                };
                let keys = self.plan(sets, concrete, plans);
                let position = |name: &Name| keys.iter().position(|key| key.name == name).unwrap_or(usize::MAX);
                let mut last = 0;
                let sorted = map.keys().all(|name| {
                    let at = position(name);
                    let ok = at >= last;
                    last = at;
                    ok
                });
                if !sorted {
                    map.sort_by(|a, _, b, _| position(a).cmp(&position(b)));
                }
                for key in keys.iter() {
                    if key.sets.is_empty() {
                        continue;
                    }
                    if let Some(value) = map.get_mut(key.name) {
                        // Below a field the type is the field's: only `__typename` can tell
                        // it, and the walk asks when it needs to.
                        self.value(value, &key.sets, None);
                    }
                }
            }
            _ => {}
        }
    }

    /// The keys `sets` select on an object of type `concrete`, collected once per type.
    fn plan(
        &self,
        sets: &[&'a SelectionSet],
        concrete: Option<String>,
        plans: &mut Vec<(Option<String>, Rc<Vec<Key<'a>>>)>,
    ) -> Rc<Vec<Key<'a>>> {
        if let Some((_, keys)) = plans.iter().find(|(ty, _)| *ty == concrete) {
            return keys.clone();
        }
        let mut keys = Vec::new();
        self.collect(sets, concrete.as_deref(), &mut keys);
        let keys = Rc::new(keys);
        plans.push((concrete, keys.clone()));
        keys
    }

    /// The response keys `sets` select on an object of type `concrete` (unknown: `None`), in
    /// order.
    fn collect(&self, sets: &[&'a SelectionSet], concrete: Option<&str>, keys: &mut Vec<Key<'a>>) {
        for set in sets {
            for selection in &set.items {
                match &selection.node {
                    Selection::Field(field) => {
                        let field = &field.node;
                        if !self.included(&field.directives) {
                            continue;
                        }
                        let name = &field.response_key().node;
                        let sub = &field.selection_set.node;
                        match keys.iter_mut().find(|key| key.name == name) {
                            Some(key) => {
                                if !sub.items.is_empty() {
                                    key.sets.push(sub);
                                }
                            }
                            None => keys.push(Key {
                                name,
                                typename: field.name.node == "__typename",
                                sets: if sub.items.is_empty() { Vec::new() } else { vec![sub] },
                            }),
                        }
                    }
                    Selection::FragmentSpread(spread) => {
                        if !self.included(&spread.node.directives) {
                            continue;
                        }
                        let Some(fragment) = self.fragments.get(&spread.node.fragment_name.node) else {
                            continue;
                        };
                        if applies(&fragment.node.type_condition.node.on.node, concrete) {
                            self.collect(&[&fragment.node.selection_set.node], concrete, keys);
                        }
                    }
                    Selection::InlineFragment(inline) => {
                        if !self.included(&inline.node.directives) {
                            continue;
                        }
                        let condition = inline.node.type_condition.as_ref().map(|c| &c.node.on.node);
                        if condition.is_none_or(|condition| applies(condition, concrete)) {
                            self.collect(&[&inline.node.selection_set.node], concrete, keys);
                        }
                    }
                }
            }
        }
    }

    /// `@skip(if:)` and `@include(if:)`, with literals or variables.
    fn included(&self, directives: &[Positioned<Directive>]) -> bool {
        directives.iter().all(|directive| {
            let directive = &directive.node;
            let condition = || {
                let value = directive.get_argument("if")?;
                match value
                    .node
                    .clone()
                    .into_const_with(|name| self.variables.get(&name).cloned().ok_or(()))
                {
                    Ok(Value::Boolean(b)) => Some(b),
                    _ => None,
                }
            };
            match directive.name.node.as_str() {
                "skip" => condition() != Some(true),
                "include" => condition() != Some(false),
                _ => true,
            }
        })
    }
}

/// Whether a fragment on `condition` applies to an object of type `concrete`: always when the
/// type is unknown, or the condition is an interface or union (the object passed validation).
fn applies(condition: &str, concrete: Option<&str>) -> bool {
    match concrete {
        None => true,
        Some(concrete) => condition == concrete || !OBJECT_TYPES.contains(condition),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(query: &str, data: serde_json::Value, variables: serde_json::Value) -> String {
        let document = async_graphql::parser::parse_query(query).expect("parses");
        let variables = Variables::from_json(variables);
        let order = SelectionOrder::new(document, None, variables, "QueryRoot".into());
        let mut data = Value::from_json(data).expect("value");
        order.apply(&mut data);
        serde_json::to_string(&data).expect("json")
    }

    #[test]
    fn fields_follow_the_selection_through_fragments_and_aliases() {
        let query = "{ z: __typename venues { name id } ...F a: __typename } \
                     fragment F on QueryRoot { c: __typename performances { title venue { name } id } }";
        let data = serde_json::json!({
            "a": "QueryRoot", "c": "QueryRoot", "z": "QueryRoot",
            "performances": [{ "id": "1", "venue": { "name": "v" }, "title": "t" }],
            "venues": [{ "id": "2", "name": "n" }, { "name": "m", "id": "3" }],
        });
        assert_eq!(
            order(query, data, serde_json::Value::Null),
            r#"{"z":"QueryRoot","venues":[{"name":"n","id":"2"},{"name":"m","id":"3"}],"c":"QueryRoot","performances":[{"title":"t","venue":{"name":"v"},"id":"1"}],"a":"QueryRoot"}"#
        );
    }

    #[test]
    fn a_key_selected_twice_stays_where_it_first_appears() {
        let query = "{ a { x } b ... on QueryRoot { a { y } c } }";
        let data = serde_json::json!({ "c": 1, "b": 2, "a": { "y": 3, "x": 4 } });
        assert_eq!(
            order(query, data, serde_json::Value::Null),
            r#"{"a":{"x":4,"y":3},"b":2,"c":1}"#
        );
    }

    #[test]
    fn skipped_fields_do_not_take_a_place() {
        let query = "query($s: Boolean!) { a @skip(if: $s) b a @include(if: true) }";
        let data = serde_json::json!({ "a": 1, "b": 2 });
        assert_eq!(order(query, data, serde_json::json!({ "s": true })), r#"{"b":2,"a":1}"#);
    }

    #[test]
    fn the_items_of_a_list_of_several_types_are_each_ordered_by_their_own_type() {
        let query = "{ e { __typename ... on SeatMapSnapshot { v: version x: availableCount } ... on SeatMapDelta { x: changes v: version } } }";
        let data = serde_json::json!({ "e": [
            { "__typename": "SeatMapDelta", "v": 2, "x": [] },
            { "__typename": "SeatMapSnapshot", "v": 1, "x": 9 },
            { "__typename": "SeatMapDelta", "v": 3, "x": [] },
        ] });
        assert_eq!(
            order(query, data, serde_json::Value::Null),
            r#"{"e":[{"__typename":"SeatMapDelta","x":[],"v":2},{"__typename":"SeatMapSnapshot","v":1,"x":9},{"__typename":"SeatMapDelta","x":[],"v":3}]}"#
        );
    }

    #[test]
    fn variables_left_out_take_their_defaults() {
        let query = "query($s: Boolean! = true) { a @skip(if: $s) b a }";
        let data = serde_json::json!({ "a": 1, "b": 2 });
        assert_eq!(order(query, data, serde_json::json!({})), r#"{"b":2,"a":1}"#);
    }

    #[test]
    fn typename_tells_which_fragments_apply_to_a_union_member() {
        // SeatMapSnapshot and SeatMapDelta are object types of the schema.
        let query = "{ e { ... on SeatMapSnapshot { v: version x: availableCount } ... on SeatMapDelta { x: changes v: version } __typename } }";
        let data = serde_json::json!({ "e": { "__typename": "SeatMapDelta", "v": 2, "x": [] } });
        assert_eq!(
            order(query, data, serde_json::Value::Null),
            r#"{"e":{"x":[],"v":2,"__typename":"SeatMapDelta"}}"#
        );
    }
}
