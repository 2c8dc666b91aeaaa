//! Valid GraphQL documents built from the schema: random selections of real fields, with
//! arguments given as literals or variables, mostly of the right type.

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

use super::schema::{Arg, Field, Kind, Schema, named};
use super::values::{self, KnownIds, Val};
use async_graphql::parser::types::{BaseType, Type};

/// Nesting below which every composite field gets only `__typename`.
const MAX_DEPTH: usize = 5;

/// One operation's text and the JSON text of its variables.
pub(crate) struct Operation {
    pub text: String,
    pub variables: Vec<(String, String)>,
    pub kind: &'static str,
}

pub(crate) struct Builder<'a> {
    schema: &'a Schema,
    known: &'a KnownIds,
    rng: &'a mut StdRng,
    /// Whether this document may break the rules on purpose (wrong types, missing
    /// variables); half do, so that the other half reach the resolvers.
    sloppy: bool,
    /// Bytes of text values still allowed, so that a document stays well under the server's
    /// body limit (a few long strings, not a hundred megabytes of them).
    budget: usize,
    /// Variable definitions (`$v0: Int!`) and their JSON values (`None`: left out).
    definitions: Vec<String>,
    variables: Vec<(String, String)>,
}

impl<'a> Builder<'a> {
    pub(crate) fn new(schema: &'a Schema, known: &'a KnownIds, rng: &'a mut StdRng) -> Self {
        let sloppy = rng.random_bool(0.5);
        Builder {
            budget: 200_000,
            sloppy,
            schema,
            known,
            rng,
            definitions: Vec::new(),
            variables: Vec::new(),
        }
    }

    /// A query (most often), mutation or subscription named `name`.
    pub(crate) fn operation(mut self, name: &str) -> Operation {
        let roll = self.rng.random_range(0..100);
        let (kind, root) = match (&self.schema.mutation, &self.schema.subscription) {
            (Some(mutation), _) if roll < 35 => ("mutation", mutation.clone()),
            (_, Some(subscription)) if roll >= 95 => ("subscription", subscription.clone()),
            _ => ("query", self.schema.query.clone()),
        };
        let fields = if kind == "query" {
            self.rng.random_range(1..4)
        } else {
            1
        };
        let selection = self.selection_set(&root, 0, fields);
        let header = if self.definitions.is_empty() {
            String::new()
        } else {
            format!("({})", self.definitions.join(", "))
        };
        Operation {
            text: format!("{kind} {name}{header} {selection}"),
            variables: self.variables,
            kind,
        }
    }

    fn selection_set(&mut self, type_name: &str, depth: usize, count: usize) -> String {
        let schema = self.schema;
        let Some(Kind::Composite { fields, possible }) = schema.kind(type_name) else {
            return "{ __typename }".into();
        };
        let mut selections = Vec::new();
        for _ in 0..count {
            let abstract_type = possible.len() != 1 || possible[0] != type_name;
            if depth >= MAX_DEPTH || fields.is_empty() && possible.is_empty() || self.rng.random_bool(0.08) {
                selections.push("__typename".to_string());
            } else if abstract_type && (fields.is_empty() || self.rng.random_bool(0.5)) {
                if let Some(concrete) = possible.choose(self.rng) {
                    let count = self.rng.random_range(1..3);
                    let inner = self.selection_set(concrete, depth + 1, count);
                    selections.push(format!("... on {concrete} {inner}"));
                }
            } else if let Some(field) = fields.choose(self.rng) {
                selections.push(self.field(field, depth));
            }
        }
        format!("{{ {} }}", selections.join(" "))
    }

    fn field(&mut self, field: &Field, depth: usize) -> String {
        let mut text = String::new();
        if self.rng.random_bool(0.1) {
            text.push_str(&format!("a{}: ", self.rng.random_range(0..1000)));
        }
        text.push_str(&field.name);
        let mut args = Vec::new();
        for arg in &field.args {
            let wanted = if arg.ty.nullable { 0.4 } else { 0.97 };
            if self.rng.random_bool(wanted) {
                args.push(self.argument(arg, &field.name));
            }
        }
        if !args.is_empty() {
            text.push_str(&format!("({})", args.join(", ")));
        }
        if self.rng.random_bool(0.03) {
            let flag = if self.rng.random_bool(0.5) { "skip" } else { "include" };
            text.push_str(&format!(" @{flag}(if: {})", self.rng.random_bool(0.5)));
        }
        if matches!(self.schema.kind(named(&field.ty)), Some(Kind::Composite { .. })) {
            let count = self.rng.random_range(1..4);
            text.push(' ');
            text.push_str(&self.selection_set(named(&field.ty), depth + 1, count));
        }
        text
    }

    fn argument(&mut self, arg: &Arg, field_name: &str) -> String {
        let hint = if arg.name == "id" { field_name } else { &arg.name };
        if self.rng.random_bool(0.3) {
            let name = format!("v{}", self.definitions.len());
            let declared = if self.sloppy && self.rng.random_bool(0.05) {
                (*["Int", "String!", "[ID!]!", "Boolean", "Nope"]
                    .choose(self.rng)
                    .unwrap_or(&"Int"))
                .to_string()
            } else {
                arg.ty.to_string()
            };
            self.definitions.push(format!("${name}: {declared}"));
            if !(self.sloppy && self.rng.random_bool(0.04)) {
                let value = self.value(&arg.ty, hint, 0);
                self.variables.push((name.clone(), value.json()));
            }
            format!("{}: ${name}", arg.name)
        } else {
            format!("{}: {}", arg.name, self.value(&arg.ty, hint, 0).literal())
        }
    }

    /// A value for `ty`, occasionally of the wrong type or null where null is refused.
    fn value(&mut self, ty: &Type, hint: &str, depth: usize) -> Val {
        if self.sloppy && self.rng.random_bool(0.06) || depth > 6 {
            return values::wrong(self.rng);
        }
        if ty.nullable && self.rng.random_bool(0.1) {
            return Val::Null;
        }
        match &ty.base {
            BaseType::List(inner) => {
                let count = if self.rng.random_bool(0.02) {
                    500
                } else {
                    self.rng.random_range(0..4)
                };
                Val::List((0..count).map(|_| self.value(inner, hint, depth + 1)).collect())
            }
            BaseType::Named(name) => match self.schema.kind(name) {
                Some(Kind::Input(fields)) => {
                    let mut object = Vec::new();
                    for field in fields {
                        if !field.ty.nullable || self.rng.random_bool(0.5) {
                            let value = self.value(&field.ty, &field.name, depth + 1);
                            object.push((field.name.clone(), value));
                        }
                    }
                    if self.sloppy && self.rng.random_bool(0.03) {
                        object.push(("notAField".into(), Val::Bool(true)));
                    }
                    Val::Object(object)
                }
                Some(Kind::Enum(values)) => values::scalar(name, hint, Some(values), self.sloppy, self.known, self.rng),
                _ => match values::scalar(name, hint, None, self.sloppy, self.known, self.rng) {
                    Val::Str(text) if text.len() > self.budget => Val::Str("over budget".into()),
                    Val::Str(text) => {
                        self.budget -= text.len();
                        Val::Str(text)
                    }
                    other => other,
                },
            },
        }
    }
}
